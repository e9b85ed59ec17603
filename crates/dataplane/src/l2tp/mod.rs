//! L2TPv2 header (RFC 2661 section 3.1), sans-IO: parse the UDP payload of
//! a port-1701 datagram, and write data headers in caller-owned buffers.
//!
//! Wire layout (every field big-endian):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Tunnel ID           |           Session ID          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Ns (opt)          |             Nr (opt)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Offset Size (opt)        |    Offset pad... (opt)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! T: control (1) or data (0). L: Length present. S: Ns and Nr present.
//! O: Offset Size present, then that many bytes of padding. P: priority.
//! The seven x bits are reserved: "MUST be set to 0 on outgoing messages
//! and ignored on incoming messages". The fields that are present appear in
//! this order with nothing between them, so a data header is 6 to 12 bytes
//! plus any offset padding; a control header is always the 12 bytes of
//! flags, Length, IDs, Ns and Nr.
//!
//! The data plane only forwards data messages (PPP frames, see `ppp`);
//! control messages go whole to the control plane, which runs the
//! reliable-delivery state machine of section 5.8.

mod error;

pub use error::L2tpError;

/// The well-known L2TP port (RFC 2661 section 8.1).
pub const UDP_PORT: u16 = 1701;

/// The only version this module accepts and writes.
pub const VERSION: u8 = 2;

/// A data header with no optional field: flags, Tunnel ID, Session ID.
pub const MIN_HEADER_LEN: usize = 6;

/// A control header: flags, Length, Tunnel ID, Session ID, Ns, Nr.
pub const CONTROL_HEADER_LEN: usize = 12;

/// The longest data header `write_data_header` produces (L and S set).
pub const MAX_DATA_HEADER_LEN: usize = 12;

const FLAG_T: u16 = 0x8000;
const FLAG_L: u16 = 0x4000;
const FLAG_S: u16 = 0x0800;
const FLAG_O: u16 = 0x0200;
const FLAG_P: u16 = 0x0100;
const VERSION_MASK: u16 = 0x000f;

/// What `parse` found in a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2tpFrame<'a> {
    /// A control message, for the control plane. `message` is the whole
    /// message, header included, cut at its Length field (bytes after
    /// Length are not part of it).
    Control {
        tunnel_id: u16,
        session_id: u16,
        message: &'a [u8],
    },
    /// A data message: a PPP frame for the session.
    Data(DataFrame<'a>),
}

/// A parsed data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    /// The receiver's Tunnel ID (IDs in a header are always the
    /// recipient's, RFC 2661 section 3.1).
    pub tunnel_id: u16,
    /// The receiver's Session ID.
    pub session_id: u16,
    /// Ns and Nr when S is set. In data messages "Nr is reserved and, if
    /// present (as indicated by the S-bit), MUST be ignored upon receipt";
    /// it is returned only so that nothing is hidden.
    pub ns_nr: Option<(u16, u16)>,
    /// P: "this data message should receive preferential treatment in its
    /// local queuing and transmission" (LCP keepalives, for instance).
    pub priority: bool,
    /// The PPP frame: from the end of the header (after any offset padding)
    /// to Length when L is set, else to the end of the datagram.
    pub payload: &'a [u8],
}

/// What `write_data_header` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataHeaderSpec {
    /// The peer's Tunnel ID.
    pub tunnel_id: u16,
    /// The peer's Session ID.
    pub session_id: u16,
    /// `Some((ns, nr))` sets S and writes both: for a session whose peer
    /// asked for sequencing (section 5.4). Nr is reserved in data messages
    /// (section 3.1): 0 is the natural value.
    pub ns_nr: Option<(u16, u16)>,
    /// Sets P.
    pub priority: bool,
    /// Sets L and writes Length = header length + `payload_len`. Linux and
    /// xl2tpd leave it out of data messages (UDP already delimits them).
    pub with_length: bool,
    /// Bytes of payload after the header: the Length field when
    /// `with_length`, and how much `encapsulate_in_place` frames.
    pub payload_len: usize,
}

impl DataHeaderSpec {
    /// Length of the header this spec writes.
    pub fn header_len(&self) -> usize {
        data_header_len(self.with_length, self.ns_nr.is_some())
    }
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

/// Parses an L2TP datagram (a UDP payload).
///
/// Checks, in order: the version (discarded unless 2, section 3.1), the
/// control-message flags (T requires L and S, and forbids O), that every
/// field the flags announce (and the offset padding) is present, and that
/// Length, when present, covers the header and no more than the datagram.
/// Reserved bits are ignored as the RFC requires; so is P on a control
/// message (it "MUST be set to 0" by the sender but changes no layout).
pub fn parse(datagram: &[u8]) -> Result<L2tpFrame<'_>, L2tpError> {
    let flags = be16(datagram, 0).ok_or(L2tpError::Truncated)?;
    let version = (flags & VERSION_MASK) as u8;
    if version != VERSION {
        return Err(L2tpError::BadVersion(version));
    }
    let control = flags & FLAG_T != 0;
    let has_length = flags & FLAG_L != 0;
    let has_sequence = flags & FLAG_S != 0;
    let has_offset = flags & FLAG_O != 0;
    // Section 3.1: L "MUST be set to 1 for control messages", S "MUST be
    // set to 1 for control messages", O "MUST be set to 0 (zero) for
    // control messages". Without L and S the control plane cannot run
    // reliable delivery; with O its AVPs would start at an unknown place.
    if control && (!has_length || !has_sequence || has_offset) {
        return Err(L2tpError::BadControlFlags);
    }

    let mut at = 2;
    let length = if has_length {
        at += 2;
        Some(be16(datagram, 2).ok_or(L2tpError::Truncated)? as usize)
    } else {
        None
    };
    let tunnel_id = be16(datagram, at).ok_or(L2tpError::Truncated)?;
    let session_id = be16(datagram, at + 2).ok_or(L2tpError::Truncated)?;
    at += 4;
    let ns_nr = if has_sequence {
        let ns = be16(datagram, at).ok_or(L2tpError::Truncated)?;
        let nr = be16(datagram, at + 2).ok_or(L2tpError::Truncated)?;
        at += 4;
        Some((ns, nr))
    } else {
        None
    };
    if has_offset {
        // "The Offset Size field, if present, specifies the number of
        // octets past the L2TP header at which the payload data is expected
        // to start. [...] If the offset field is present, the L2TP header
        // ends after the last octet of the offset padding." The padding
        // follows the two-byte Offset Size field, as every implementation
        // reads it.
        let size = be16(datagram, at).ok_or(L2tpError::Truncated)? as usize;
        at += 2 + size;
    }
    if at > datagram.len() {
        return Err(L2tpError::Truncated);
    }

    // "The Length field indicates the total length of the message in
    // octets": header included. Bytes beyond it (UDP padding) are not part
    // of the message.
    let end = match length {
        Some(len) if len < at || len > datagram.len() => return Err(L2tpError::BadLength),
        Some(len) => len,
        None => datagram.len(),
    };

    if control {
        return Ok(L2tpFrame::Control {
            tunnel_id,
            session_id,
            message: &datagram[..end],
        });
    }
    Ok(L2tpFrame::Data(DataFrame {
        tunnel_id,
        session_id,
        ns_nr,
        priority: flags & FLAG_P != 0,
        payload: &datagram[at..end],
    }))
}

/// Length of a data header written with or without Length and Ns/Nr (this
/// module never writes Offset Size).
pub const fn data_header_len(with_length: bool, sequence: bool) -> usize {
    MIN_HEADER_LEN + if with_length { 2 } else { 0 } + if sequence { 4 } else { 0 }
}

/// Writes a data-message header (T = 0, Ver = 2, reserved bits 0) at the
/// start of `out` and returns its length.
///
/// O is never set: offset padding only helps a receiver that wants the
/// payload aligned, and the RFC lets a sender omit it. `BadLength` when
/// `with_length` and header plus payload exceed the 16-bit Length field.
pub fn write_data_header(out: &mut [u8], h: &DataHeaderSpec) -> Result<usize, L2tpError> {
    let header_len = h.header_len();
    if out.len() < header_len {
        return Err(L2tpError::BufferTooSmall);
    }
    let mut flags = VERSION as u16;
    let mut at = 2;
    if h.with_length {
        let total = header_len
            .checked_add(h.payload_len)
            .filter(|t| *t <= u16::MAX as usize)
            .ok_or(L2tpError::BadLength)?;
        flags |= FLAG_L;
        out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        at = 4;
    }
    if h.ns_nr.is_some() {
        flags |= FLAG_S;
    }
    if h.priority {
        flags |= FLAG_P;
    }
    out[..2].copy_from_slice(&flags.to_be_bytes());
    out[at..at + 2].copy_from_slice(&h.tunnel_id.to_be_bytes());
    out[at + 2..at + 4].copy_from_slice(&h.session_id.to_be_bytes());
    at += 4;
    if let Some((ns, nr)) = h.ns_nr {
        out[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        out[at + 2..at + 4].copy_from_slice(&nr.to_be_bytes());
        at += 4;
    }
    debug_assert_eq!(at, header_len);
    Ok(header_len)
}

/// Writes the data header in front of the `h.payload_len`-byte payload that
/// the caller already placed at `buf[h.header_len()..]`, and returns the
/// datagram's length. Nothing is copied: the payload stays where it is.
pub fn encapsulate_in_place(buf: &mut [u8], h: &DataHeaderSpec) -> Result<usize, L2tpError> {
    let total = h
        .header_len()
        .checked_add(h.payload_len)
        .ok_or(L2tpError::BufferTooSmall)?;
    if buf.len() < total {
        return Err(L2tpError::BufferTooSmall);
    }
    write_data_header(buf, h)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        assert_eq!(data_header_len(false, false), 6);
        assert_eq!(data_header_len(true, false), 8);
        assert_eq!(data_header_len(false, true), 10);
        assert_eq!(data_header_len(true, true), MAX_DATA_HEADER_LEN);
    }

    #[test]
    fn writes_what_linux_sends() {
        // Flags 0x0002: no L, no S, as in every data message of the
        // recorded sessions.
        let spec = DataHeaderSpec {
            tunnel_id: 0x8586,
            session_id: 0xce3e,
            ..Default::default()
        };
        let mut out = [0u8; 6];
        assert_eq!(write_data_header(&mut out, &spec), Ok(6));
        assert_eq!(out, [0x00, 0x02, 0x85, 0x86, 0xce, 0x3e]);
    }

    #[test]
    fn writes_every_field() {
        let spec = DataHeaderSpec {
            tunnel_id: 1,
            session_id: 2,
            ns_nr: Some((3, 4)),
            priority: true,
            with_length: true,
            payload_len: 5,
        };
        let mut out = [0u8; 12];
        assert_eq!(write_data_header(&mut out, &spec), Ok(12));
        assert_eq!(out, [0x49, 0x02, 0, 17, 0, 1, 0, 2, 0, 3, 0, 4]);
    }

    #[test]
    fn control_needs_twelve_bytes() {
        let msg = [0xc8, 0x02, 0x00, 0x0c, 0, 1, 0, 0, 0, 0, 0, 0];
        for n in 0..msg.len() {
            assert_eq!(parse(&msg[..n]), Err(L2tpError::Truncated), "{n}");
        }
        assert!(matches!(parse(&msg), Ok(L2tpFrame::Control { .. })));
    }

    #[test]
    fn error_codes() {
        assert_eq!(L2tpError::Truncated.code(), "L2TP_TRUNCATED");
        assert_eq!(
            L2tpError::BadVersion(3).to_string(),
            "L2TP_BAD_VERSION (version 3)"
        );
        assert_eq!(
            L2tpError::BadControlFlags.to_string(),
            "L2TP_BAD_CONTROL_FLAGS"
        );
    }
}
