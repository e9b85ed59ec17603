//! Per-packet IVs.
//!
//! CBC needs an IV the attacker cannot predict (RFC 3602 section 3): we
//! encrypt the 64-bit packet counter under an AES key drawn at random for
//! this SA, like Linux's seqiv/echainiv. GCM needs an IV that never repeats
//! under one key (RFC 4106 section 3.1): the counter, masked so it does not
//! reveal how many packets were sent.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;

pub(crate) struct IvGenerator {
    key: Aes128,
    mask: u64,
}

/// Bytes of randomness an `IvGenerator` is seeded with.
pub const IV_SEED_LEN: usize = 24;

impl IvGenerator {
    pub(crate) fn new(seed: &[u8; IV_SEED_LEN]) -> Self {
        let key = Aes128::new_from_slice(&seed[..16]).expect("16 bytes");
        let mask = u64::from_be_bytes(seed[16..].try_into().expect("8 bytes"));
        Self { key, mask }
    }

    pub(crate) fn random() -> Self {
        let mut seed = [0u8; IV_SEED_LEN];
        getrandom::getrandom(&mut seed).expect("the OS random source is available");
        let generator = Self::new(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        generator
    }

    /// Fills `out` (8 or 16 bytes) with an unpredictable IV for packet `counter`.
    pub(crate) fn cbc_iv(&self, counter: u64, out: &mut [u8]) {
        let mut block = GenericArray::from([0u8; 16]);
        block[8..].copy_from_slice(&counter.to_be_bytes());
        self.key.encrypt_block(&mut block);
        out.copy_from_slice(&block[..out.len()]);
    }

    pub(crate) fn gcm_iv(&self, counter: u64) -> [u8; 8] {
        (counter ^ self.mask).to_be_bytes()
    }
}
