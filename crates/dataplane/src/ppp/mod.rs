//! PPP frames (RFC 1661) as L2TP data messages carry them, sans-IO: parse a
//! frame's header, write one in a caller-owned buffer.
//!
//! Wire layout:
//!
//! ```text
//! | Address 0xff (opt) | Control 0x03 (opt) | Protocol (1 or 2) | Information ... |
//!   '------- absent with ACFC (6.6) -----'   '-- 1 with PFC (6.5)
//! ```
//!
//! L2TP carries the frame without the HDLC-like framing of RFC 1662: no
//! flag bytes, no FCS, no byte stuffing; UDP delimits the frame. What is
//! left of the HDLC header is the Address and Control bytes, which a peer
//! may omit after negotiating Address-and-Control-Field-Compression, and
//! the Protocol field, which it may send as one byte after negotiating
//! Protocol-Field-Compression. A receiver recognises both without knowing
//! what was negotiated: 0xff 0x03 can only be Address and Control (6.6:
//! "If they contain the values 0xff and 0x03, they are assumed to be the
//! Address and Control fields"), and a one-byte Protocol is one whose first
//! byte is odd (6.5: "The presence of a binary "1" as the LSB marks the last
//! octet of the Protocol field").
//!
//! Padding (RFC 1661 section 2) is not removed: only the protocol above
//! knows its own length (IPv4 Total Length, an LCP packet's Length).

pub mod echo;
mod error;

pub use error::PppError;

/// The HDLC all-stations address (RFC 1662 section 3.1).
pub const ADDRESS: u8 = 0xff;
/// Unnumbered Information with P/F 0 (RFC 1662 section 3.1).
pub const CONTROL: u8 = 0x03;

/// Address, Control and a two-byte Protocol.
pub const MAX_HEADER_LEN: usize = 4;

/// Internet Protocol version 4 (RFC 1332).
pub const PROTO_IPV4: u16 = 0x0021;
/// Internet Protocol version 6 (RFC 5072).
pub const PROTO_IPV6: u16 = 0x0057;
/// Link Control Protocol (RFC 1661).
pub const PROTO_LCP: u16 = 0xc021;
/// Password Authentication Protocol (RFC 1334).
pub const PROTO_PAP: u16 = 0xc023;
/// Challenge Handshake Authentication Protocol (RFC 1994), also MS-CHAP
/// and MS-CHAPv2 (RFC 2433, RFC 2759).
pub const PROTO_CHAP: u16 = 0xc223;
/// Extensible Authentication Protocol (RFC 3748).
pub const PROTO_EAP: u16 = 0xc227;
/// IP Control Protocol (RFC 1332).
pub const PROTO_IPCP: u16 = 0x8021;
/// IPv6 Control Protocol (RFC 5072).
pub const PROTO_IPV6CP: u16 = 0x8057;
/// Compression Control Protocol (RFC 1962).
pub const PROTO_CCP: u16 = 0x80fd;

/// A parsed PPP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PppFrame<'a> {
    pub protocol: u16,
    /// Everything after the Protocol field, padding included.
    pub info: &'a [u8],
    /// Address and Control were absent (compressed away, RFC 1661 6.6).
    /// RFC 1661 lets a receiver that did not negotiate ACFC discard such a
    /// frame ("MAY silently discard"); that is the caller's decision.
    pub acfc: bool,
    /// The Protocol field was one byte (RFC 1661 6.5).
    pub pfc: bool,
}

/// Whether `protocol` follows RFC 1661 section 2: "All Protocols MUST be
/// odd; the least significant bit of the least significant octet MUST equal
/// "1". Also, all Protocols MUST be assigned such that the least significant
/// bit of the most significant octet equals "0"."
pub const fn is_valid_protocol(protocol: u16) -> bool {
    protocol & 0x0001 == 0x0001 && protocol & 0x0100 == 0
}

/// IPv4 or IPv6: the frames the data plane forwards to the TUN device.
/// Everything else (LCP, authentication, NCPs, CCP, unknown protocols) goes
/// to the control plane.
pub const fn is_network_data(protocol: u16) -> bool {
    matches!(protocol, PROTO_IPV4 | PROTO_IPV6)
}

/// Parses the header of a PPP frame taken from an L2TP data message.
///
/// Accepts every combination of ACFC and PFC, and reports which was used;
/// LCP is accepted compressed too, although a sender "MUST NOT" compress it
/// (6.5, 6.6), since the frame is still unambiguous. `BadProtocol` for a
/// two-byte Protocol with an even low byte (RFC 1661 section 2); a Protocol
/// whose first byte is odd is, by the extension rule, a one-byte one.
pub fn parse(frame: &[u8]) -> Result<PppFrame<'_>, PppError> {
    let (acfc, rest) = match frame {
        [ADDRESS, CONTROL, rest @ ..] => (false, rest),
        // A lone 0xff is an Address field cut short, not the one-byte
        // Protocol 0x00ff ("reserved, compression inefficient": never sent).
        [ADDRESS] => return Err(PppError::Truncated),
        _ => (true, frame),
    };
    let first = *rest.first().ok_or(PppError::Truncated)?;
    if first & 1 == 1 {
        return Ok(PppFrame {
            protocol: first as u16,
            info: &rest[1..],
            acfc,
            pfc: true,
        });
    }
    let second = *rest.get(1).ok_or(PppError::Truncated)?;
    let protocol = u16::from_be_bytes([first, second]);
    if second & 1 == 0 {
        return Err(PppError::BadProtocol(protocol));
    }
    Ok(PppFrame {
        protocol,
        info: &rest[2..],
        acfc,
        pfc: false,
    })
}

/// The compression actually applied when sending `protocol` with the
/// negotiated `acfc` and `pfc`: none for LCP ("The Address and Control
/// fields MUST NOT be compressed when sending any LCP packet", 6.6; "The
/// Protocol field is never compressed when sending any LCP packet", 6.5),
/// and PFC only for protocols that fit one byte.
const fn effective(protocol: u16, acfc: bool, pfc: bool) -> (bool, bool) {
    if protocol == PROTO_LCP {
        (false, false)
    } else {
        (acfc, pfc && protocol < 0x100)
    }
}

/// Length of the header `write_header` writes for these arguments (LCP is
/// always 4 bytes, a PFC request for a protocol ≥ 0x100 gives 2 bytes of
/// Protocol).
pub const fn header_len(protocol: u16, acfc: bool, pfc: bool) -> usize {
    let (acfc, pfc) = effective(protocol, acfc, pfc);
    (if acfc { 0 } else { 2 }) + if pfc { 1 } else { 2 }
}

/// Writes a PPP header at the start of `out` and returns its length.
///
/// `acfc` and `pfc` say what the peer accepts (what LCP negotiated); this
/// function applies them only where the RFC allows, so an LCP packet always
/// gets 0xff 0x03 and a two-byte Protocol whatever the flags say.
/// `BadProtocol` for a value that breaks RFC 1661 section 2.
pub fn write_header(
    out: &mut [u8],
    protocol: u16,
    acfc: bool,
    pfc: bool,
) -> Result<usize, PppError> {
    if !is_valid_protocol(protocol) {
        return Err(PppError::BadProtocol(protocol));
    }
    let len = header_len(protocol, acfc, pfc);
    if out.len() < len {
        return Err(PppError::BufferTooSmall);
    }
    let (acfc, pfc) = effective(protocol, acfc, pfc);
    let mut at = 0;
    if !acfc {
        out[..2].copy_from_slice(&[ADDRESS, CONTROL]);
        at = 2;
    }
    if pfc {
        out[at] = protocol as u8;
    } else {
        out[at..at + 2].copy_from_slice(&protocol.to_be_bytes());
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_constants_are_valid() {
        for p in [
            PROTO_IPV4,
            PROTO_IPV6,
            PROTO_LCP,
            PROTO_PAP,
            PROTO_CHAP,
            PROTO_EAP,
            PROTO_IPCP,
            PROTO_IPV6CP,
            PROTO_CCP,
        ] {
            assert!(is_valid_protocol(p), "{p:#06x}");
        }
    }

    #[test]
    fn lcp_is_never_compressed() {
        let mut out = [0u8; 4];
        assert_eq!(write_header(&mut out, PROTO_LCP, true, true), Ok(4));
        assert_eq!(out, [0xff, 0x03, 0xc0, 0x21]);
        assert_eq!(header_len(PROTO_LCP, true, true), 4);
    }

    #[test]
    fn fully_compressed_ipv4() {
        let mut out = [0u8; 1];
        assert_eq!(write_header(&mut out, PROTO_IPV4, true, true), Ok(1));
        assert_eq!(out, [0x21]);
    }

    #[test]
    fn error_codes() {
        assert_eq!(PppError::Truncated.code(), "PPP_TRUNCATED");
        assert_eq!(
            PppError::BadProtocol(0xc020).to_string(),
            "PPP_BAD_PROTOCOL (0xc020)"
        );
        assert_eq!(PppError::BufferTooSmall.code(), "PPP_BUFFER_TOO_SMALL");
    }
}
