use core::fmt;

/// Why a PPP frame was not parsed or a header not written. Every variant has
/// a stable `code()` that crosses the native boundary and appears in
/// counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PppError {
    /// The frame ends before its Protocol field does.
    Truncated,
    /// A Protocol value that breaks RFC 1661 section 2: even low octet, or
    /// (on send) odd high octet. On receive such frames "MUST be treated as
    /// having an unrecognized Protocol", so the control plane may answer
    /// with an LCP Protocol-Reject (section 5.7) for the value carried here.
    BadProtocol(u16),
    /// The caller's buffer cannot hold the header.
    BufferTooSmall,
}

impl PppError {
    pub fn code(self) -> &'static str {
        match self {
            PppError::Truncated => "PPP_TRUNCATED",
            PppError::BadProtocol(_) => "PPP_BAD_PROTOCOL",
            PppError::BufferTooSmall => "PPP_BUFFER_TOO_SMALL",
        }
    }
}

impl fmt::Display for PppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PppError::BadProtocol(p) => write!(f, "{} (0x{p:04x})", self.code()),
            _ => f.write_str(self.code()),
        }
    }
}

impl std::error::Error for PppError {}
