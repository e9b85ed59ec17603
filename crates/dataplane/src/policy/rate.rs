/// Nanoseconds per second: tokens are kept in bit-nanoseconds so that a
/// refill of `rate × elapsed` is exact.
const NS_PER_S: u128 = 1_000_000_000;

/// What one byte costs, in bit-nanoseconds.
const BYTE: u128 = 8 * NS_PER_S;

/// The least default burst: 64 KiB.
const MIN_DEFAULT_BURST: u64 = 64 * 1024;

/// A token bucket in integer arithmetic: `rate_bits_per_second` bits of
/// credit accrue per second up to `burst_bytes`, and a packet passes when
/// its whole length is covered.
///
/// Credit is counted in bit-nanoseconds (bits × 10⁹): `elapsed_ns × rate`
/// is then an exact integer, so no fraction of a byte is ever rounded away
/// however small the steps between calls, and there is no floating-point
/// drift. `u128` holds `u64 × u64` without overflow.
///
/// The bucket starts full. Time comes from the caller (`now_ns`, any
/// monotonic origin); a `now_ns` earlier than one already seen counts as
/// no time passed, and credit resumes from the latest time seen, so a clock
/// that steps back and forth never earns the same interval twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate_bits_per_second: u64,
    burst_bytes: u64,
    /// Credit in bit-nanoseconds, at most `burst_bytes × BYTE`.
    credit: u128,
    /// Latest `now_ns` seen; `None` until the first call.
    last_ns: Option<u64>,
}

impl TokenBucket {
    /// `burst_bytes == 0` picks the default: 50 ms at the rate, at least
    /// 64 KiB (`max(rate / 8 × 0.05 s, 65536)`). The burst should be at
    /// least the largest packet, which otherwise never passes. A rate of 0
    /// lets the burst through once and nothing after.
    pub fn new(rate_bits_per_second: u64, burst_bytes: u64) -> TokenBucket {
        let burst_bytes = if burst_bytes == 0 {
            (rate_bits_per_second / 8 / 20).max(MIN_DEFAULT_BURST)
        } else {
            burst_bytes
        };
        TokenBucket {
            rate_bits_per_second,
            burst_bytes,
            credit: burst_bytes as u128 * BYTE,
            last_ns: None,
        }
    }

    pub fn rate_bits_per_second(&self) -> u64 {
        self.rate_bits_per_second
    }

    pub fn burst_bytes(&self) -> u64 {
        self.burst_bytes
    }

    fn capacity(&self) -> u128 {
        self.burst_bytes as u128 * BYTE
    }

    /// Credit at `now_ns`, without recording the time.
    fn credit_at(&self, now_ns: u64) -> u128 {
        let elapsed = match self.last_ns {
            Some(last) => now_ns.saturating_sub(last),
            None => 0,
        };
        let earned = self.rate_bits_per_second as u128 * elapsed as u128;
        self.credit.saturating_add(earned).min(self.capacity())
    }

    /// Whole bytes that would pass at `now_ns`.
    pub fn available_bytes(&self, now_ns: u64) -> u64 {
        (self.credit_at(now_ns) / BYTE) as u64
    }

    /// Whether a packet of `bytes` passes at `now_ns`; if it does, its
    /// length is taken from the bucket. A refused packet takes nothing.
    pub fn allow(&mut self, bytes: usize, now_ns: u64) -> bool {
        self.credit = self.credit_at(now_ns);
        self.last_ns = Some(self.last_ns.map_or(now_ns, |last| last.max(now_ns)));
        let cost = bytes as u128 * BYTE;
        if cost <= self.credit {
            self.credit -= cost;
            true
        } else {
            false
        }
    }
}
