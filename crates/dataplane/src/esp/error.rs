use core::fmt;

/// Why an ESP packet was not sealed or opened. Every variant has a stable
/// `code()` that crosses the native boundary and appears in counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspError {
    /// Shorter than SPI + sequence + IV + minimum ciphertext + ICV.
    Truncated,
    /// Ciphertext length is not a multiple of the cipher's block size.
    BadLength,
    /// The SPI in the packet is not this SA's.
    WrongSpi,
    /// Sequence number 0 is never sent (RFC 4303 3.3.3: the first packet is 1).
    ZeroSequence,
    /// Already received (RFC 4303 3.4.3).
    Replay,
    /// Left of the anti-replay window.
    TooOld,
    /// Integrity check failed (or AEAD tag mismatch).
    IcvMismatch,
    /// Pad Length exceeds the payload, or pad bytes are not 1, 2, 3, ...
    BadPadding,
    /// The caller's buffer cannot hold the result.
    BufferTooSmall,
    /// The 32-bit sequence counter would wrap: the SA must be rekeyed.
    SequenceExhausted,
}

impl EspError {
    pub const ALL: [EspError; 10] = [
        EspError::Truncated,
        EspError::BadLength,
        EspError::WrongSpi,
        EspError::ZeroSequence,
        EspError::Replay,
        EspError::TooOld,
        EspError::IcvMismatch,
        EspError::BadPadding,
        EspError::BufferTooSmall,
        EspError::SequenceExhausted,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EspError::Truncated => "ESP_TRUNCATED",
            EspError::BadLength => "ESP_BAD_LENGTH",
            EspError::WrongSpi => "ESP_WRONG_SPI",
            EspError::ZeroSequence => "ESP_ZERO_SEQUENCE",
            EspError::Replay => "ESP_REPLAY",
            EspError::TooOld => "ESP_TOO_OLD",
            EspError::IcvMismatch => "ESP_ICV_MISMATCH",
            EspError::BadPadding => "ESP_BAD_PADDING",
            EspError::BufferTooSmall => "ESP_BUFFER_TOO_SMALL",
            EspError::SequenceExhausted => "ESP_SEQUENCE_EXHAUSTED",
        }
    }

    /// Small number used as a per-packet status in batch results; 0 means OK.
    pub fn status(self) -> u8 {
        EspError::ALL.iter().position(|e| *e == self).unwrap_or(0) as u8 + 1
    }
}

impl fmt::Display for EspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for EspError {}

/// Why an SA could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaError {
    UnknownSuite(String),
    KeyLength {
        which: &'static str,
        expected: usize,
        got: usize,
    },
    ReplayWindow(u32),
    /// A 3DES key whose thirds repeat (single DES in disguise) or a DES weak key.
    WeakKey,
}

impl SaError {
    pub fn code(&self) -> &'static str {
        match self {
            SaError::UnknownSuite(_) => "ERR_ESP_UNKNOWN_SUITE",
            SaError::KeyLength { .. } => "ERR_ESP_KEY_LENGTH",
            SaError::ReplayWindow(_) => "ERR_ESP_REPLAY_WINDOW",
            SaError::WeakKey => "ERR_ESP_WEAK_KEY",
        }
    }
}

impl fmt::Display for SaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaError::UnknownSuite(name) => write!(
                f,
                "unknown ESP suite {name:?}; expected one of {}",
                super::suite::Suite::NAMES.join(", ")
            ),
            SaError::KeyLength {
                which,
                expected,
                got,
            } => write!(f, "{which} key must be {expected} bytes, got {got}"),
            SaError::ReplayWindow(w) => write!(
                f,
                "replay window must be 0 (off) or a multiple of 64 between 64 and 65536, got {w}"
            ),
            SaError::WeakKey => f.write_str(
                "encryption key is weak: 3DES keys need three different 8-byte parts and no DES weak key",
            ),
        }
    }
}

impl std::error::Error for SaError {}
