use core::fmt;

/// Why an L2TP datagram was not parsed or a header not written. Every
/// variant has a stable `code()` that crosses the native boundary and
/// appears in counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2tpError {
    /// The datagram ends inside the header (its flags announce fields, or an
    /// Offset padding, that are not there).
    Truncated,
    /// Ver is not 2 (RFC 2661 section 3.1: "Packets received with an unknown
    /// Ver field MUST be discarded"). 1 is L2F, 3 is L2TPv3.
    BadVersion(u8),
    /// On receive: the Length field is shorter than the header or longer
    /// than the datagram. On send: header plus payload do not fit the
    /// 16-bit Length field.
    BadLength,
    /// A control message (T set) without L or S, or with O (RFC 2661
    /// section 3.1).
    BadControlFlags,
    /// The caller's buffer cannot hold the header (and payload).
    BufferTooSmall,
}

impl L2tpError {
    pub fn code(self) -> &'static str {
        match self {
            L2tpError::Truncated => "L2TP_TRUNCATED",
            L2tpError::BadVersion(_) => "L2TP_BAD_VERSION",
            L2tpError::BadLength => "L2TP_BAD_LENGTH",
            L2tpError::BadControlFlags => "L2TP_BAD_CONTROL_FLAGS",
            L2tpError::BufferTooSmall => "L2TP_BUFFER_TOO_SMALL",
        }
    }
}

impl fmt::Display for L2tpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            L2tpError::BadVersion(v) => write!(f, "{} (version {v})", self.code()),
            _ => f.write_str(self.code()),
        }
    }
}

impl std::error::Error for L2tpError {}
