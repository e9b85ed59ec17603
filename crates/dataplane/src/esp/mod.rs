//! ESP (RFC 4303) packet protection, sans-IO: seal and open packets in
//! caller-owned buffers.
//!
//! Wire layout of a packet this module produces or accepts:
//!
//! ```text
//! | SPI (4) | Sequence (4) | IV (8 or 16) | payload | padding | pad len (1) | next header (1) | ICV |
//!                                         '------------- encrypted ---------------------------'
//! ```
//! The ICV covers SPI through the end of the ciphertext (HMAC suites); for
//! AES-GCM, SPI and sequence number are the AAD (RFC 4106 section 5).

mod cipher;
pub mod error;
mod integrity;
mod iv;
#[doc(hidden)]
pub mod primitives;
pub mod replay;
pub mod suite;

use core::ops::Range;

use cipher::Cipher;
pub use error::{EspError, SaError};
use integrity::Mac;
use iv::IvGenerator;
pub use iv::IV_SEED_LEN;
pub use replay::ReplayWindow;
pub use suite::{Encryption, Integrity, Suite};

/// SPI and sequence number.
pub const ESP_HEADER_LEN: usize = 8;

/// "No next header": a dummy packet (RFC 4303 section 2.6), to be discarded.
pub const NEXT_HEADER_NONE: u8 = 59;

/// Largest tail any suite adds: 15 bytes of padding, pad length, next header
/// and a 32-byte ICV.
pub const MAX_TAIL_LEN: usize = 15 + 2 + 32;

/// Packet and byte counts of one SA. Bytes are payload bytes (inner packets).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub icv_failures: u64,
    /// Duplicates and packets left of the window.
    pub replays: u64,
    /// Truncated, misaligned, wrong SPI, zero sequence, bad padding.
    pub malformed: u64,
}

/// What `open_in_place` found: the inner payload is `packet[payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub next_header: u8,
    pub payload: Range<usize>,
    pub seq: u64,
}

/// One ESP security association. The same object seals (outbound: sequence
/// counter) and opens (inbound: replay window); IKE installs one per
/// direction.
pub struct EspSa {
    spi: u32,
    suite: Suite,
    cipher: Cipher,
    mac: Option<Mac>,
    iv: IvGenerator,
    seq_out: u64,
    replay: Option<ReplayWindow>,
    counters: Counters,
}

/// Writes the default padding (RFC 4303 2.4: 1, 2, 3, ...), Pad Length and
/// Next Header after the payload; `trailer` is everything from the end of
/// the payload to the end of the padded plaintext.
pub(crate) fn write_trailer(trailer: &mut [u8], next_header: u8) {
    let pad_len = trailer.len() - 2;
    for (i, b) in trailer[..pad_len].iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    trailer[pad_len] = pad_len as u8;
    trailer[pad_len + 1] = next_header;
}

/// Reads the trailer of a decrypted ESP plaintext: returns the payload's
/// length and the next header, or `BadPadding` when Pad Length overruns the
/// plaintext or the pad bytes are not the default 1, 2, 3, ...
pub fn parse_trailer(plaintext: &[u8]) -> Result<(usize, u8), EspError> {
    let len = plaintext.len();
    if len < 2 {
        return Err(EspError::BadPadding);
    }
    let next_header = plaintext[len - 1];
    let pad_len = plaintext[len - 2] as usize;
    if pad_len + 2 > len {
        return Err(EspError::BadPadding);
    }
    let payload_len = len - 2 - pad_len;
    let padding = &plaintext[payload_len..len - 2];
    if padding.iter().enumerate().any(|(i, b)| *b != i as u8 + 1) {
        return Err(EspError::BadPadding);
    }
    Ok((payload_len, next_header))
}

/// The SPI of an ESP packet, to find its SA.
pub fn peek_spi(packet: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(packet.get(..4)?.try_into().ok()?))
}

fn check_key_len(which: &'static str, expected: usize, key: &[u8]) -> Result<(), SaError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(SaError::KeyLength {
            which,
            expected,
            got: key.len(),
        })
    }
}

impl EspSa {
    /// `replay_window`: packets, a multiple of 64 up to 65536, or 0 to turn
    /// replay protection off (RFC 4303 3.4.3 lets the receiver do so).
    pub fn new(
        spi: u32,
        suite: Suite,
        encryption_key: &[u8],
        integrity_key: &[u8],
        replay_window: u32,
    ) -> Result<Self, SaError> {
        check_key_len("encryption", suite.encryption_key_len(), encryption_key)?;
        check_key_len("integrity", suite.integrity_key_len(), integrity_key)?;
        let replay = match replay_window {
            0 => None,
            w => Some(ReplayWindow::new(w).ok_or(SaError::ReplayWindow(w))?),
        };
        Ok(Self {
            spi,
            suite,
            cipher: Cipher::new(suite.encryption, encryption_key).map_err(|_| SaError::WeakKey)?,
            mac: Mac::new(suite.integrity, integrity_key),
            iv: IvGenerator::random(),
            seq_out: 0,
            replay,
            counters: Counters::default(),
        })
    }

    /// Replaces the random IV generator with one from `seed`, for
    /// reproducible packets in tests.
    pub fn with_iv_seed(mut self, seed: &[u8; IV_SEED_LEN]) -> Self {
        self.iv = IvGenerator::new(seed);
        self
    }

    /// Starts the outbound counter after `seq`, for tests of the top of the
    /// sequence space.
    pub fn with_last_seq_out(mut self, seq: u32) -> Self {
        self.seq_out = seq as u64;
        self
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Sequence number of the last packet sealed.
    pub fn last_seq_out(&self) -> u64 {
        self.seq_out
    }

    /// Bytes before the payload: SPI, sequence number, IV.
    pub fn head_len(&self) -> usize {
        ESP_HEADER_LEN + self.suite.iv_len()
    }

    fn padded_len(&self, payload_len: usize) -> usize {
        let block = self.suite.block_len();
        (payload_len + 2).div_ceil(block) * block
    }

    /// Length of the ESP packet that carries `payload_len` bytes.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        self.head_len() + self.padded_len(payload_len) + self.suite.icv_len()
    }

    /// Seals the payload that the caller placed at `buf[head_len()..][..payload_len]`
    /// and returns the packet's length (`sealed_len(payload_len)`).
    pub fn seal_in_place(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
        next_header: u8,
    ) -> Result<usize, EspError> {
        let head = self.head_len();
        let total = self.sealed_len(payload_len);
        if buf.len() < total {
            return Err(EspError::BufferTooSmall);
        }
        // RFC 4303 3.3.3: without ESN the counter must not cycle.
        if self.seq_out >= u32::MAX as u64 {
            return Err(EspError::SequenceExhausted);
        }
        let seq = self.seq_out + 1;
        let plain_end = head + self.padded_len(payload_len);

        buf[..4].copy_from_slice(&self.spi.to_be_bytes());
        buf[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        write_trailer(&mut buf[head + payload_len..plain_end], next_header);

        match &self.mac {
            None => {
                let iv = self.iv.gcm_iv(seq);
                buf[ESP_HEADER_LEN..head].copy_from_slice(&iv);
                let (aad, rest) = buf.split_at_mut(ESP_HEADER_LEN);
                let tag = self.cipher.gcm_seal(
                    &iv,
                    aad,
                    &mut rest[head - ESP_HEADER_LEN..plain_end - ESP_HEADER_LEN],
                );
                buf[plain_end..total].copy_from_slice(&tag);
            }
            Some(mac) => {
                let (header, rest) = buf.split_at_mut(head);
                let iv = &mut header[ESP_HEADER_LEN..];
                self.iv.cbc_nonce(seq, iv);
                self.cipher.cbc_encrypt_block(iv);
                self.cipher
                    .cbc_encrypt(&header[ESP_HEADER_LEN..], &mut rest[..plain_end - head]);
                let (covered, icv) = buf.split_at_mut(plain_end);
                mac.compute(covered, &mut icv[..total - plain_end]);
            }
        }
        self.seq_out = seq;
        self.counters.packets_out += 1;
        self.counters.bytes_out += payload_len as u64;
        Ok(total)
    }

    /// Copies `payload` into `out` and seals it there; returns the length.
    pub fn seal(
        &mut self,
        payload: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        let head = self.head_len();
        if out.len() < self.sealed_len(payload.len()) {
            return Err(EspError::BufferTooSmall);
        }
        out[head..head + payload.len()].copy_from_slice(payload);
        self.seal_in_place(out, payload.len(), next_header)
    }

    /// Authenticates, checks replay, and decrypts `packet` in place. A packet
    /// that fails any check changes nothing but the error counters.
    pub fn open_in_place(&mut self, packet: &mut [u8]) -> Result<Opened, EspError> {
        let result = self.open_checked(packet);
        match &result {
            Ok(opened) => {
                self.counters.packets_in += 1;
                self.counters.bytes_in += opened.payload.len() as u64;
            }
            Err(EspError::IcvMismatch) => self.counters.icv_failures += 1,
            Err(EspError::Replay | EspError::TooOld) => self.counters.replays += 1,
            Err(_) => self.counters.malformed += 1,
        }
        result
    }

    fn open_checked(&mut self, packet: &mut [u8]) -> Result<Opened, EspError> {
        let head = self.head_len();
        let icv_len = self.suite.icv_len();
        let block = self.suite.block_len();
        let min_ciphertext = if self.suite.is_aead() { 2 } else { block };
        let len = packet.len();
        if len < head + min_ciphertext + icv_len {
            return Err(EspError::Truncated);
        }
        if peek_spi(packet) != Some(self.spi) {
            return Err(EspError::WrongSpi);
        }
        let seq = u32::from_be_bytes(packet[4..8].try_into().expect("4 bytes")) as u64;
        if let Some(window) = &self.replay {
            window.check(seq)?;
        } else if seq == 0 {
            return Err(EspError::ZeroSequence);
        }
        let ciphertext_len = len - head - icv_len;
        let plain_end = head + ciphertext_len;
        match &self.mac {
            None => {
                let iv: [u8; 8] = packet[ESP_HEADER_LEN..head].try_into().expect("8 bytes");
                let (aad, rest) = packet.split_at_mut(ESP_HEADER_LEN);
                self.cipher
                    .gcm_open(&iv, aad, &mut rest[head - ESP_HEADER_LEN..])
                    .map_err(|_| EspError::IcvMismatch)?;
            }
            Some(mac) => {
                if !ciphertext_len.is_multiple_of(block) {
                    return Err(EspError::BadLength);
                }
                let (covered, icv) = packet.split_at(plain_end);
                if !mac.verify(covered, icv) {
                    return Err(EspError::IcvMismatch);
                }
                let (header, rest) = packet.split_at_mut(head);
                self.cipher
                    .cbc_decrypt(&header[ESP_HEADER_LEN..], &mut rest[..ciphertext_len]);
            }
        }
        let (payload_len, next_header) = parse_trailer(&packet[head..plain_end])?;
        if let Some(window) = &mut self.replay {
            window.accept(seq);
        }
        Ok(Opened {
            next_header,
            payload: head..head + payload_len,
            seq,
        })
    }
}
