//! Session captures for troubleshooting (`l2tp-ipsec capture`): the inner
//! (decrypted) IP packets of one session, both directions, written by the
//! worker that handles them into a classic pcap file (LINKTYPE_RAW).
//!
//! Cost when nothing is armed: one relaxed atomic load per packet. Only an
//! armed session takes the map lookup and the file lock.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// pcap's LINKTYPE_RAW: each record is an IPv4 or IPv6 packet.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// What a stopped capture wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    pub bytes: u64,
}

struct Capture {
    file: Mutex<BufWriter<File>>,
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// The armed captures, by data-plane session id.
#[derive(Default)]
pub struct Captures {
    armed: AtomicBool,
    by_session: RwLock<HashMap<u32, Arc<Capture>>>,
}

impl Captures {
    /// Starts writing `session`'s packets to a new file at `path` (mode
    /// 0600; an existing file is refused rather than overwritten).
    pub fn start(&self, session: u32, path: &str) -> io::Result<()> {
        let mut map = self.by_session.write().expect("captures lock");
        if map.contains_key(&session) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("session {session} is already being captured"),
            ));
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut out = BufWriter::new(file);
        out.write_all(&global_header())?;
        out.flush()?;
        map.insert(
            session,
            Arc::new(Capture {
                file: Mutex::new(out),
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }),
        );
        self.armed.store(true, Relaxed);
        Ok(())
    }

    /// Stops and flushes `session`'s capture; None when none was armed.
    pub fn stop(&self, session: u32) -> Option<io::Result<CaptureStats>> {
        let mut map = self.by_session.write().expect("captures lock");
        let capture = map.remove(&session)?;
        self.armed.store(!map.is_empty(), Relaxed);
        drop(map);
        let flushed = capture.file.lock().expect("capture lock").flush();
        Some(flushed.map(|_| CaptureStats {
            packets: capture.packets.load(Relaxed),
            bytes: capture.bytes.load(Relaxed),
        }))
    }

    /// Records one inner IP packet of `session` if it is being captured.
    #[inline]
    pub fn record(&self, session: u32, packet: &[u8]) {
        if !self.armed.load(Relaxed) {
            return;
        }
        self.record_armed(session, packet);
    }

    #[cold]
    fn record_armed(&self, session: u32, packet: &[u8]) {
        let Some(capture) = self
            .by_session
            .read()
            .expect("captures lock")
            .get(&session)
            .cloned()
        else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = packet.len().min(SNAPLEN as usize);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&(now.as_secs() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&now.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        let mut file = capture.file.lock().expect("capture lock");
        // A failed write (disk full) loses this packet only; stop() reports the flush.
        if file.write_all(&header).is_ok() && file.write_all(&packet[..len]).is_ok() {
            capture.packets.fetch_add(1, Relaxed);
            capture.bytes.fetch_add(packet.len() as u64, Relaxed);
        }
    }
}

/// The pcap global header, little-endian, microsecond timestamps.
fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_pcap_with_only_the_armed_session() {
        let dir = std::env::temp_dir().join(format!("dp-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s7.pcap");
        let _ = std::fs::remove_file(&path);
        let captures = Captures::default();
        captures.record(7, &[0x45; 20]);
        captures.start(7, path.to_str().unwrap()).unwrap();
        assert!(captures.start(7, path.to_str().unwrap()).is_err());
        captures.record(7, &[0x45; 28]);
        captures.record(8, &[0x45; 40]);
        let stats = captures.stop(7).unwrap().unwrap();
        assert_eq!(
            stats,
            CaptureStats {
                packets: 1,
                bytes: 28
            }
        );
        assert!(captures.stop(7).is_none());
        captures.record(7, &[0x45; 20]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 28);
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
        assert_eq!(&bytes[32..36], &28u32.to_le_bytes());
        // An existing file is never overwritten.
        assert!(captures.start(9, path.to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
