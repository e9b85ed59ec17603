//! UDP encapsulation of ESP (RFC 3948) and the NAT-T framing on port 4500.
//!
//! ```text
//! UDP 4500 payload:  0xFF                      NAT keepalive (section 2.3)
//!                    00 00 00 00 | IKE ...     non-ESP marker, then IKE (section 2.2)
//!                    SPI != 0 | seq | ...      ESP (section 2.1)
//! ```

pub mod checksum;

/// Marks IKE on port 4500 (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0, 0, 0, 0];

/// The one-byte NAT keepalive (RFC 3948 section 2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// What a datagram received on UDP 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500<'a> {
    Keepalive,
    /// The IKE message after the non-ESP marker.
    Ike(&'a [u8]),
    /// A whole ESP packet, SPI first.
    Esp(&'a [u8]),
    /// Too short to be any of them: drop and count.
    Malformed,
}

/// Tells apart keepalives, IKE and ESP on port 4500.
pub fn classify(payload: &[u8]) -> Udp4500<'_> {
    match payload {
        [0xff] => Udp4500::Keepalive,
        [0, 0, 0, 0, ike @ ..] if !ike.is_empty() => Udp4500::Ike(ike),
        [0, 0, 0, 0, ..] => Udp4500::Malformed,
        // ESP header (8) is the least an ESP packet can be; the SA checks the rest.
        esp if esp.len() >= 8 => Udp4500::Esp(esp),
        _ => Udp4500::Malformed,
    }
}

/// Writes `NON_ESP_MARKER || ike` into `out`; returns the length, or `None`
/// when `out` is too small.
pub fn frame_ike(ike: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = NON_ESP_MARKER.len() + ike.len();
    let out = out.get_mut(..len)?;
    out[..4].copy_from_slice(&NON_ESP_MARKER);
    out[4..].copy_from_slice(ike);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        assert_eq!(classify(&[0xff]), Udp4500::Keepalive);
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), Udp4500::Ike(&[1, 2]));
        assert_eq!(classify(&[0, 0, 0, 0]), Udp4500::Malformed);
        assert_eq!(classify(&[]), Udp4500::Malformed);
        assert_eq!(classify(&[0xfe]), Udp4500::Malformed);
        assert_eq!(classify(&[1, 2, 3]), Udp4500::Malformed);
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp), Udp4500::Esp(&esp));
    }

    #[test]
    fn frames_ike_with_the_marker() {
        let mut out = [0xaa; 8];
        assert_eq!(frame_ike(&[1, 2, 3], &mut out), Some(7));
        assert_eq!(&out[..7], &[0, 0, 0, 0, 1, 2, 3]);
        assert_eq!(frame_ike(&[1; 5], &mut out), None);
    }
}
