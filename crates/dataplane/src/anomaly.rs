//! Per-session traffic anomaly flags: a sudden rise of the packet rate
//! against the session's moving average, and many distinct destinations in
//! a short time (a scan). They are reported as events, never acted on here.
//!
//! The packet path does one thing per packet from a client, and only while
//! flags are on: it sets one bit of the session's [`DestinationSketch`]
//! (4096 bits, a hash of destination address, protocol and port; one
//! relaxed load, and a `fetch_or` only for a bit not yet set; the sketch
//! itself is allocated by the session's first such packet). Everything else runs in the dispatcher's once-a-second scan
//! ([`AnomalyTracker`]), from counters the packet path keeps anyway.
//!
//! Distinct destinations are estimated by linear counting (Whang et al.,
//! "A linear-time probabilistic counting algorithm", 1990): with `m` bits
//! and `z` of them still clear, `n ≈ m · ln(m / z)`; for `m` = 4096 the
//! standard error stays under 2 % up to several thousand destinations.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use crate::engine::Event;
use crate::table::{Session, Tables};

const WORDS: usize = 64;
const BITS: usize = WORDS * 64;

/// A fixed-size set of hashed destinations, shared by the workers.
pub struct DestinationSketch {
    words: [AtomicU64; WORDS],
}

impl Default for DestinationSketch {
    fn default() -> Self {
        DestinationSketch {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A session's sketch, allocated by its first recorded packet: 512 bytes
/// per session only while the destinations flag is on and the session
/// sends (issue #9: every session carried one, flags on or off).
#[derive(Default)]
pub struct LazySketch(OnceLock<Box<DestinationSketch>>);

impl LazySketch {
    #[inline]
    pub fn record(&self, dst: IpAddr, protocol: u8, port: u16) {
        self.0
            .get_or_init(|| Box::new(DestinationSketch::default()))
            .record(dst, protocol, port);
    }

    /// 0 when nothing was recorded yet.
    pub fn estimate(&self) -> u64 {
        self.0.get().map_or(0, |s| s.estimate())
    }

    pub fn clear(&self) {
        if let Some(s) = self.0.get() {
            s.clear();
        }
    }
}

impl DestinationSketch {
    /// Records one packet to `dst` (`port` 0 when the protocol has none).
    #[inline]
    pub fn record(&self, dst: IpAddr, protocol: u8, port: u16) {
        let addr = match dst {
            IpAddr::V4(a) => u32::from(a) as u64,
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64).rotate_left(17)
            }
        };
        let h = mix(addr ^ ((protocol as u64) << 40) ^ ((port as u64) << 48));
        let bit = (h >> (64 - 12)) as usize;
        let word = &self.words[bit / 64];
        let mask = 1u64 << (bit % 64);
        // A repeated destination only reads: the cache line stays shared.
        if word.load(Relaxed) & mask == 0 {
            word.fetch_or(mask, Relaxed);
        }
    }

    /// Estimated distinct destinations recorded since the last clear; a
    /// full sketch answers its ceiling (`BITS · ln BITS`, about 34,000).
    pub fn estimate(&self) -> u64 {
        let set: u32 = self
            .words
            .iter()
            .map(|w| w.load(Relaxed).count_ones())
            .sum();
        let zero = BITS as f64 - set as f64;
        let m = BITS as f64;
        if zero < 1.0 {
            return (m * m.ln()) as u64;
        }
        (m * (m / zero).ln()).round() as u64
    }

    pub fn clear(&self) {
        for w in &self.words {
            w.store(0, Relaxed);
        }
    }
}

/// splitmix64's finaliser: every input bit reaches every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Packets per second above `factor` × the session's moving average (over
/// `average_seconds`), and at least `min_pps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateJump {
    pub factor: f64,
    pub min_pps: u64,
    pub average_seconds: u32,
}

/// More than `max` distinct destinations within `interval_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destinations {
    pub max: u64,
    pub interval_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AnomalyConfig {
    pub rate_jump: Option<RateJump>,
    pub destinations: Option<Destinations>,
}

/// The thresholds, as JS set them; `recording` tells the packet path
/// whether to fill the sketches.
#[derive(Default)]
pub struct AnomalySettings {
    pub recording: AtomicBool,
    config: Mutex<AnomalyConfig>,
}

impl AnomalySettings {
    pub fn set(&self, config: AnomalyConfig) {
        *self.config.lock().expect("anomaly config lock") = config;
        self.recording.store(config.destinations.is_some(), Relaxed);
    }

    pub fn get(&self) -> AnomalyConfig {
        *self.config.lock().expect("anomaly config lock")
    }
}

/// What the scan keeps of one session.
struct Watch {
    /// The table entry it was measured on: a reinstall starts counters afresh.
    entry: usize,
    packets: u64,
    average: f64,
    samples: u32,
    rate_flagged: bool,
    window_start: Instant,
    destinations_flagged: bool,
    /// The scan that last saw the session (older: the session is gone).
    seen: u64,
}

/// Samples a session needs before its average is trusted.
const MAX_WARMUP: u32 = 10;

/// The scan's side: per-session moving averages and windows.
#[derive(Default)]
pub struct AnomalyTracker {
    watches: HashMap<u32, Watch>,
    last: Option<Instant>,
    scans: u64,
}

impl AnomalyTracker {
    /// One scan at `now`: updates every session and appends the flags raised.
    pub fn scan(&mut self, tables: &Tables, now: Instant, events: &mut Vec<Event>) {
        let config = tables.anomaly.get();
        if config.rate_jump.is_none() && config.destinations.is_none() {
            self.watches.clear();
            self.last = None;
            return;
        }
        let elapsed = self
            .last
            .map_or(1.0, |l| now.duration_since(l).as_secs_f64().max(1e-3));
        self.last = Some(now);
        self.scans += 1;
        let scan = self.scans;
        for entry in tables.sessions.iter() {
            let session: &Session = entry.value();
            let key = session as *const Session as usize;
            let c = &session.counters;
            // What the client tried to send: passed, denied or over its rate.
            let packets = c.rx_packets.load(Relaxed)
                + c.policy_denied.load(Relaxed)
                + c.rate_limited.load(Relaxed);
            let fresh = !self.watches.contains_key(&session.id);
            let watch = self.watches.entry(session.id).or_insert_with(|| Watch {
                entry: key,
                packets,
                average: 0.0,
                samples: 0,
                rate_flagged: false,
                window_start: now,
                destinations_flagged: false,
                seen: scan,
            });
            watch.seen = scan;
            if watch.entry != key {
                // Reinstalled: its counters and sketch started again.
                watch.entry = key;
                watch.packets = 0;
                watch.window_start = now;
                watch.destinations_flagged = false;
            }
            // A new watch has no previous count to measure a rate against.
            if let Some(r) = config.rate_jump.filter(|_| !fresh) {
                let pps = packets.saturating_sub(watch.packets) as f64 / elapsed;
                let warm = watch.samples >= r.average_seconds.min(MAX_WARMUP);
                let jump = warm && pps >= r.min_pps as f64 && pps > r.factor * watch.average;
                if jump && !watch.rate_flagged {
                    events.push(Event::SessionAnomaly {
                        session: session.id,
                        kind: "rate-jump",
                        value: pps.round() as u64,
                        threshold: (r.factor * watch.average).max(r.min_pps as f64).round() as u64,
                    });
                }
                watch.rate_flagged = jump;
                watch.average = if watch.samples == 0 {
                    pps
                } else {
                    watch.average + (pps - watch.average) / r.average_seconds.max(1) as f64
                };
                watch.samples = watch.samples.saturating_add(1);
            }
            watch.packets = packets;
            if let Some(d) = config.destinations {
                let seen = c.destinations.estimate();
                if seen > d.max && !watch.destinations_flagged {
                    watch.destinations_flagged = true;
                    events.push(Event::SessionAnomaly {
                        session: session.id,
                        kind: "destinations",
                        value: seen,
                        threshold: d.max,
                    });
                }
                if now.duration_since(watch.window_start).as_secs() >= d.interval_seconds as u64 {
                    c.destinations.clear();
                    watch.window_start = now;
                    watch.destinations_flagged = false;
                }
            }
        }
        self.watches.retain(|_, w| w.seen == scan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn sketch_counts_distinct_destinations_within_a_few_percent() {
        for n in [1u32, 10, 100, 256, 1000, 3000] {
            let s = DestinationSketch::default();
            for i in 0..n {
                let dst = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
                // each destination several times: repeats do not count
                for _ in 0..3 {
                    s.record(dst, 6, 443);
                }
            }
            let e = s.estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(
                err < 0.05 || (e - n as f64).abs() <= 1.0,
                "n={n} estimate={e}"
            );
        }
    }

    #[test]
    fn sketch_tells_ports_and_protocols_apart_and_clears() {
        let s = DestinationSketch::default();
        let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        for port in 0..500u16 {
            s.record(dst, 6, port);
        }
        s.record(dst, 17, 53);
        let e = s.estimate();
        assert!((480..=525).contains(&e), "{e}");
        s.clear();
        assert_eq!(s.estimate(), 0);
    }

    fn session(id: u32) -> Session {
        use crate::policy::Policy;
        use crate::table::SessionCounters;
        use std::sync::atomic::AtomicU16;
        Session {
            id,
            binding: 1,
            local_tunnel: 1,
            local_session: id as u16,
            peer_tunnel: 1,
            peer_session: id as u16,
            peer_port: 1701,
            ipv4: Some(Ipv4Addr::new(192, 168, 42, id as u8)),
            ipv6: None,
            default_route: false,
            mru: 1400,
            acfc: false,
            pfc: false,
            sequencing: false,
            next_ns: AtomicU16::new(0),
            idle_timeout_ns: 0,
            policy: Mutex::new(Policy::allow_all()),
            counters: SessionCounters::default(),
            idle_reported: AtomicBool::new(false),
            keepalive: Mutex::new(None),
        }
    }

    #[test]
    fn rate_jump_against_the_average_raised_once_per_crossing() {
        let tables = Tables::default();
        tables.anomaly.set(AnomalyConfig {
            rate_jump: Some(RateJump {
                factor: 5.0,
                min_pps: 100,
                average_seconds: 4,
            }),
            destinations: None,
        });
        let s = std::sync::Arc::new(session(7));
        tables.sessions.insert(7, s.clone());
        let quiet = std::sync::Arc::new(session(8));
        tables.sessions.insert(8, quiet.clone());
        let mut tracker = AnomalyTracker::default();
        let t0 = Instant::now();
        let mut events = Vec::new();
        let mut second = 0u64;
        let mut tick = |tracker: &mut AnomalyTracker, events: &mut Vec<Event>, add: u64| {
            s.counters.rx_packets.fetch_add(add, Relaxed);
            second += 1;
            tracker.scan(&tables, t0 + std::time::Duration::from_secs(second), events);
        };
        for _ in 0..8 {
            tick(&mut tracker, &mut events, 50);
        }
        assert!(events.is_empty(), "steady traffic: {events:?}");
        tick(&mut tracker, &mut events, 1000);
        assert_eq!(
            events,
            vec![Event::SessionAnomaly {
                session: 7,
                kind: "rate-jump",
                value: 1000,
                threshold: 250,
            }]
        );
        tick(&mut tracker, &mut events, 2000);
        assert_eq!(events.len(), 1, "still high: no second event");
        for _ in 0..20 {
            tick(&mut tracker, &mut events, 50);
        }
        assert_eq!(events.len(), 1);
        // denied packets count too: the client tried to send them
        s.counters.policy_denied.fetch_add(5000, Relaxed);
        tick(&mut tracker, &mut events, 0);
        assert_eq!(events.len(), 2, "{events:?}");
    }

    #[test]
    fn distinct_destinations_over_the_limit_raised_once_per_interval() {
        let tables = Tables::default();
        tables.anomaly.set(AnomalyConfig {
            rate_jump: None,
            destinations: Some(Destinations {
                max: 50,
                interval_seconds: 10,
            }),
        });
        assert!(tables.anomaly.recording.load(Relaxed));
        let s = std::sync::Arc::new(session(3));
        tables.sessions.insert(3, s.clone());
        let mut tracker = AnomalyTracker::default();
        let t0 = Instant::now();
        let at = |sec: u64| t0 + std::time::Duration::from_secs(sec);
        let mut events = Vec::new();
        let sweep = |n: u32| {
            for i in 0..n {
                s.counters
                    .destinations
                    .record(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 1, 0);
            }
        };
        sweep(40);
        tracker.scan(&tables, at(1), &mut events);
        assert!(events.is_empty());
        sweep(120);
        tracker.scan(&tables, at(2), &mut events);
        assert_eq!(events.len(), 1);
        let Event::SessionAnomaly {
            kind,
            value,
            threshold,
            ..
        } = events[0]
        else {
            panic!("{events:?}")
        };
        assert_eq!((kind, threshold), ("destinations", 50));
        assert!((115..=125).contains(&value), "{value}");
        tracker.scan(&tables, at(3), &mut events);
        assert_eq!(events.len(), 1, "once per interval");
        tracker.scan(&tables, at(11), &mut events);
        assert_eq!(s.counters.destinations.estimate(), 0, "a new interval");
        sweep(120);
        tracker.scan(&tables, at(12), &mut events);
        assert_eq!(events.len(), 2);
        tables.anomaly.set(AnomalyConfig::default());
        assert!(!tables.anomaly.recording.load(Relaxed));
    }

    #[test]
    fn a_full_sketch_answers_its_ceiling() {
        let s = DestinationSketch::default();
        for w in &s.words {
            w.store(u64::MAX, Relaxed);
        }
        assert!(s.estimate() > 30_000);
    }
}
