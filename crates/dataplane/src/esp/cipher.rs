//! The ESP encryption transforms over caller-owned buffers.
//!
//! AES-GCM comes from ring, AES-CBC and 3DES-CBC from aws-lc-rs: measured
//! on this project's machines, ring's GCM is ~1.6x aws-lc's, and aws-lc's
//! CBC is 10-20% faster than RustCrypto's (3DES 2.8x). Both pick AES-NI,
//! VAES and friends at run time. aws-lc-rs zeroes its key schedules on drop;
//! ring does not, hence `Wiped`.

use aws_lc_rs::cipher::{
    Algorithm, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use ring::aead;
use zeroize::Zeroizing;

use super::suite::Encryption;
use crate::io::wipe::Wiped;

/// Longest CBC key: AES-256 (3DES is 24 bytes).
const MAX_CBC_KEY: usize = 32;

/// An SA's cipher. Sized for memory per session (issue #9): an SA is kept
/// for every established session, and the key schedules are most of it.
/// GCM's key (AES schedule and GHASH table, 544 bytes) is boxed so a CBC
/// SA does not carry its room; CBC keeps its key and expands only the
/// direction the SA is used in, at its first packet: aws-lc's
/// `EncryptingKey` and `DecryptingKey` each hold both AES schedules
/// (504 bytes), and an SA only ever seals (outbound) or opens (inbound).
pub(crate) enum Cipher {
    Cbc(Cbc),
    Gcm(Box<Gcm>),
}

pub(crate) struct Cbc {
    algorithm: &'static Algorithm,
    key: Zeroizing<[u8; MAX_CBC_KEY]>,
    key_len: u8,
    encrypt: Option<Box<EncryptingKey>>,
    decrypt: Option<Box<DecryptingKey>>,
}

pub(crate) struct Gcm {
    key: Wiped<aead::LessSafeKey>,
    salt: Wiped<[u8; 4]>,
}

impl Cbc {
    fn unbound(&self) -> UnboundCipherKey {
        UnboundCipherKey::new(self.algorithm, &self.key[..self.key_len as usize])
            .expect("the key's length was checked when the SA was made")
    }

    fn encrypting_key(&mut self) -> &EncryptingKey {
        if self.encrypt.is_none() {
            let key = EncryptingKey::cbc(self.unbound()).expect("checked when the SA was made");
            self.encrypt = Some(Box::new(key));
        }
        self.encrypt.as_deref().expect("just set")
    }

    fn decrypting_key(&mut self) -> &DecryptingKey {
        if self.decrypt.is_none() {
            let key = DecryptingKey::cbc(self.unbound()).expect("checked when the SA was made");
            self.decrypt = Some(Box::new(key));
        }
        self.decrypt.as_deref().expect("just set")
    }
}

/// Why a GCM packet did not open. Carries nothing so nothing leaks.
pub(crate) struct TagMismatch;

/// aws-lc refuses 3DES keys whose parts repeat (K1 = K2 or K2 = K3, which
/// make it single DES) and DES weak keys.
pub(crate) struct WeakKey;

fn encryption_context(iv: &[u8]) -> EncryptionContext {
    match iv.len() {
        16 => EncryptionContext::Iv128(FixedLength::from(<[u8; 16]>::try_from(iv).expect("16"))),
        _ => EncryptionContext::Iv64(FixedLength::from(<[u8; 8]>::try_from(iv).expect("8"))),
    }
}

fn decryption_context(iv: &[u8]) -> DecryptionContext {
    match iv.len() {
        16 => DecryptionContext::Iv128(FixedLength::from(<[u8; 16]>::try_from(iv).expect("16"))),
        _ => DecryptionContext::Iv64(FixedLength::from(<[u8; 8]>::try_from(iv).expect("8"))),
    }
}

impl Cipher {
    /// `key` has the length the suite names (checked by the caller).
    pub(crate) fn new(encryption: Encryption, key: &[u8]) -> Result<Cipher, WeakKey> {
        #[allow(deprecated)] // 3DES is legacy; RFC 2451 SAs still need it.
        let algorithm = match encryption {
            Encryption::AesCbc128 => &AES_128,
            Encryption::AesCbc192 => &AES_192,
            Encryption::AesCbc256 => &AES_256,
            Encryption::TripleDesCbc => &aws_lc_rs::cipher::DES_EDE3_FOR_LEGACY_USE_ONLY,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => {
                return Ok(Self::gcm(encryption, key))
            }
        };
        // Refuse a weak key now, not at the first packet: expand it once.
        let unbound = UnboundCipherKey::new(algorithm, key).map_err(|_| WeakKey)?;
        EncryptingKey::cbc(unbound).map_err(|_| WeakKey)?;
        let mut stored = Zeroizing::new([0u8; MAX_CBC_KEY]);
        stored[..key.len()].copy_from_slice(key);
        Ok(Cipher::Cbc(Cbc {
            algorithm,
            key: stored,
            key_len: key.len() as u8,
            encrypt: None,
            decrypt: None,
        }))
    }

    fn gcm(encryption: Encryption, key: &[u8]) -> Cipher {
        let algorithm = if encryption == Encryption::AesGcm16_128 {
            &aead::AES_128_GCM
        } else {
            &aead::AES_256_GCM
        };
        let (aes_key, salt) = key.split_at(key.len() - 4);
        let unbound =
            aead::UnboundKey::new(algorithm, aes_key).expect("length checked by the suite");
        Cipher::Gcm(Box::new(Gcm {
            key: Wiped::new(aead::LessSafeKey::new(unbound)),
            salt: Wiped::new(salt.try_into().expect("4 bytes")),
        }))
    }

    /// CBC-encrypts whole blocks in place.
    pub(crate) fn cbc_encrypt(&mut self, iv: &[u8], buf: &mut [u8]) {
        let Cipher::Cbc(cbc) = self else {
            unreachable!("GCM is sealed with gcm_seal")
        };
        cbc.encrypting_key()
            .less_safe_encrypt(buf, encryption_context(iv))
            .expect("whole blocks and an IV of the cipher's size");
    }

    /// Encrypts one block in place (CBC over one block with a zero IV is
    /// the bare block cipher): makes an IV from a nonce (see `iv`).
    pub(crate) fn cbc_encrypt_block(&mut self, block: &mut [u8]) {
        let zero = [0u8; 16];
        self.cbc_encrypt(&zero[..block.len()], block);
    }

    /// CBC-decrypts whole blocks in place.
    pub(crate) fn cbc_decrypt(&mut self, iv: &[u8], buf: &mut [u8]) {
        let Cipher::Cbc(cbc) = self else {
            unreachable!("GCM is opened with gcm_open")
        };
        cbc.decrypting_key()
            .decrypt(buf, decryption_context(iv))
            .expect("whole blocks and an IV of the cipher's size");
    }

    fn gcm_parts(&self, iv: &[u8; 8]) -> (&aead::LessSafeKey, aead::Nonce) {
        let Cipher::Gcm(gcm) = self else {
            unreachable!("CBC is sealed with cbc_encrypt")
        };
        let Gcm { key, salt } = &**gcm;
        // RFC 4106 section 4: nonce = salt || explicit IV.
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&salt[..]);
        nonce[4..].copy_from_slice(iv);
        (key, aead::Nonce::assume_unique_for_key(nonce))
    }

    /// Encrypts `buf` in place and returns the 16-byte tag.
    pub(crate) fn gcm_seal(&self, iv: &[u8; 8], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let (key, nonce) = self.gcm_parts(iv);
        let tag = key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), buf)
            .expect("ESP packets are far below GCM's length limit");
        tag.as_ref().try_into().expect("16-byte tag")
    }

    /// Opens `ciphertext || tag` in place; the plaintext is the first
    /// `len - 16` bytes.
    pub(crate) fn gcm_open(
        &self,
        iv: &[u8; 8],
        aad: &[u8],
        ciphertext_and_tag: &mut [u8],
    ) -> Result<(), TagMismatch> {
        let (key, nonce) = self.gcm_parts(iv);
        key.open_in_place(nonce, aead::Aad::from(aad), ciphertext_and_tag)
            .map(|_| ())
            .map_err(|_| TagMismatch)
    }
}
