//! Per-packet IVs.
//!
//! CBC needs an IV the attacker cannot predict (RFC 3602 section 3): we
//! encrypt a per-packet nonce under the SA's own cipher key, the first
//! method of NIST SP 800-38A appendix C; the nonce is the 64-bit packet
//! counter beside (AES) or XORed with (3DES) a random per-SA mask, unique
//! for every packet under that key. GCM needs an IV that never repeats
//! under one key (RFC 4106 section 3.1): the counter, masked so it does
//! not reveal how many packets were sent.
//!
//! Before, CBC IVs came from a separate random AES key per SA: its key
//! schedule was 704 bytes in every SA, inbound and GCM ones included
//! (issue #9, memory per session); the SA's cipher does the same job.

/// Bytes of randomness an `IvGenerator` is seeded with: the mask.
pub const IV_SEED_LEN: usize = 8;

pub(crate) struct IvGenerator {
    mask: u64,
}

impl IvGenerator {
    pub(crate) fn new(seed: &[u8; IV_SEED_LEN]) -> Self {
        Self {
            mask: u64::from_be_bytes(*seed),
        }
    }

    pub(crate) fn random() -> Self {
        let mut seed = [0u8; IV_SEED_LEN];
        getrandom::getrandom(&mut seed).expect("the OS random source is available");
        let generator = Self::new(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        generator
    }

    /// Fills `out` (one cipher block: 16 bytes for AES, 8 for 3DES) with the
    /// nonce of packet `counter`, which the caller then encrypts in place
    /// under the SA's key to make the IV.
    pub(crate) fn cbc_nonce(&self, counter: u64, out: &mut [u8]) {
        match out.len() {
            16 => {
                out[..8].copy_from_slice(&self.mask.to_be_bytes());
                out[8..].copy_from_slice(&counter.to_be_bytes());
            }
            _ => out.copy_from_slice(&(counter ^ self.mask).to_be_bytes()),
        }
    }

    pub(crate) fn gcm_iv(&self, counter: u64) -> [u8; 8] {
        (counter ^ self.mask).to_be_bytes()
    }
}
