use core::fmt;

/// Why an inner IP packet could not be read. Every variant has a stable
/// `code()` for drop counters and the native boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpError {
    /// Shorter than the fixed IPv4 (20) or IPv6 (40) header, or than the
    /// IPv4 header length announced by IHL.
    Truncated,
    /// The version nibble is neither 4 nor 6.
    BadVersion,
    /// IPv4 IHL below 5, or IPv6 extension headers that overrun the payload.
    BadHeaderLength,
    /// IPv4 Total Length shorter than the header or longer than the buffer;
    /// IPv6 Payload Length + 40 longer than the buffer.
    BadTotalLength,
}

impl IpError {
    pub const ALL: [IpError; 4] = [
        IpError::Truncated,
        IpError::BadVersion,
        IpError::BadHeaderLength,
        IpError::BadTotalLength,
    ];

    pub fn code(self) -> &'static str {
        match self {
            IpError::Truncated => "IP_TRUNCATED",
            IpError::BadVersion => "IP_BAD_VERSION",
            IpError::BadHeaderLength => "IP_BAD_HEADER_LENGTH",
            IpError::BadTotalLength => "IP_BAD_TOTAL_LENGTH",
        }
    }
}

impl fmt::Display for IpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for IpError {}
