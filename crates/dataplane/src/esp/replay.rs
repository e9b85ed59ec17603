//! Anti-replay window (RFC 4303 section 3.4.3), as a ring of bits indexed by
//! sequence number modulo the window size (the layout of RFC 6479): moving
//! the right edge clears only the bits it passes over, never shifts.

use super::error::EspError;

pub struct ReplayWindow {
    /// Highest sequence number authenticated so far (0: none yet).
    top: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    pub const DEFAULT_SIZE: u32 = 1024;
    pub const MAX_SIZE: u32 = 65536;

    /// `size` in packets: a multiple of 64, 64..=65536.
    pub fn new(size: u32) -> Option<Self> {
        if !(64..=Self::MAX_SIZE).contains(&size) || !size.is_multiple_of(64) {
            return None;
        }
        Some(Self {
            top: 0,
            bits: vec![0u64; size as usize / 64].into_boxed_slice(),
        })
    }

    pub fn size(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    fn position(&self, seq: u64) -> (usize, u64) {
        let index = seq % self.size();
        ((index / 64) as usize, 1u64 << (index % 64))
    }

    /// Whether `seq` may be accepted, before its ICV is checked. Changes
    /// nothing, so a forged packet cannot move the window.
    pub fn check(&self, seq: u64) -> Result<(), EspError> {
        if seq == 0 {
            return Err(EspError::ZeroSequence);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size() {
            return Err(EspError::TooOld);
        }
        let (word, bit) = self.position(seq);
        if self.bits[word] & bit != 0 {
            return Err(EspError::Replay);
        }
        Ok(())
    }

    /// Records `seq` as received; call only after its ICV verified and
    /// `check` passed.
    pub fn accept(&mut self, seq: u64) {
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= self.size() {
                self.bits.fill(0);
            } else {
                // Clear the slots of top+1 ..= seq, a word at a time where we can.
                let mut s = self.top + 1;
                while s <= seq {
                    let (word, bit) = self.position(s);
                    if bit == 1 && seq - s >= 63 {
                        self.bits[word] = 0;
                        s += 64;
                    } else {
                        self.bits[word] &= !bit;
                        s += 1;
                    }
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.position(seq);
        self.bits[word] |= bit;
    }

    /// Highest sequence number accepted so far.
    pub fn top(&self) -> u64 {
        self.top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(w: &mut ReplayWindow, seq: u64) -> Result<(), EspError> {
        w.check(seq)?;
        w.accept(seq);
        Ok(())
    }

    #[test]
    fn sizes_are_validated() {
        assert!(ReplayWindow::new(0).is_none());
        assert!(ReplayWindow::new(100).is_none());
        assert!(ReplayWindow::new(65536 + 64).is_none());
        assert_eq!(ReplayWindow::new(1024).unwrap().size(), 1024);
    }

    #[test]
    fn in_order_then_duplicate() {
        let mut w = ReplayWindow::new(1024).unwrap();
        for s in 1..=5000 {
            receive(&mut w, s).unwrap();
        }
        assert_eq!(receive(&mut w, 5000), Err(EspError::Replay));
        assert_eq!(receive(&mut w, 4000), Err(EspError::Replay));
    }

    #[test]
    fn zero_is_never_valid() {
        let w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.check(0), Err(EspError::ZeroSequence));
    }

    #[test]
    fn edges_of_the_window() {
        let mut w = ReplayWindow::new(1024).unwrap();
        receive(&mut w, 2000).unwrap();
        // 2000 - 1023 = 977 is the oldest still inside a 1024-packet window.
        assert_eq!(receive(&mut w, 976), Err(EspError::TooOld));
        receive(&mut w, 977).unwrap();
        assert_eq!(receive(&mut w, 977), Err(EspError::Replay));
        receive(&mut w, 1999).unwrap();
    }

    #[test]
    fn out_of_order_inside_the_window_is_accepted_once() {
        let mut w = ReplayWindow::new(1024).unwrap();
        let order = [10u64, 3, 7, 1, 2, 9, 8, 4, 6, 5];
        for s in order {
            receive(&mut w, s).unwrap();
        }
        for s in order {
            assert_eq!(receive(&mut w, s), Err(EspError::Replay));
        }
    }

    #[test]
    fn far_ahead_clears_the_whole_window() {
        let mut w = ReplayWindow::new(1024).unwrap();
        for s in 1..=100 {
            receive(&mut w, s).unwrap();
        }
        receive(&mut w, 1_000_000).unwrap();
        assert_eq!(receive(&mut w, 100), Err(EspError::TooOld));
        // Slots reused by the ring must read as not-yet-received.
        receive(&mut w, 1_000_000 - 1023).unwrap();
        receive(&mut w, 999_999).unwrap();
    }

    #[test]
    fn advancing_by_less_than_the_window_clears_the_passed_slots() {
        for jump in [1u64, 63, 64, 65, 127, 128, 500, 1023] {
            let mut w = ReplayWindow::new(1024).unwrap();
            for s in 1..=1024 {
                receive(&mut w, s).unwrap();
            }
            receive(&mut w, 1024 + jump).unwrap();
            // Every number skipped over is new.
            for s in 1025..1024 + jump {
                assert_eq!(w.check(s), Ok(()), "jump {jump}, seq {s}");
            }
            // Numbers still inside the window stay received.
            let oldest = 1024 + jump - 1023;
            for s in oldest.max(1)..=1024 {
                assert_eq!(w.check(s), Err(EspError::Replay), "jump {jump}, seq {s}");
            }
        }
    }

    #[test]
    fn top_of_the_32_bit_space() {
        let mut w = ReplayWindow::new(1024).unwrap();
        let max = u32::MAX as u64;
        receive(&mut w, max - 1).unwrap();
        receive(&mut w, max).unwrap();
        assert_eq!(receive(&mut w, max), Err(EspError::Replay));
        receive(&mut w, max - 2).unwrap();
        assert_eq!(w.top(), max);
    }
}
