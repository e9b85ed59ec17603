//! The ESP encryption transforms over caller-owned buffers.
//! AES-GCM comes from ring; AES-CBC and 3DES-CBC from RustCrypto (`aes`
//! picks AES-NI at run time; see `bench/` for the comparison that chose it).

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use des::TdesEde3;
use ring::aead;

use super::suite::Encryption;
use crate::wipe::Wiped;

pub(crate) enum Cipher {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
    TripleDes(TdesEde3),
    Gcm {
        key: Wiped<aead::LessSafeKey>,
        salt: Wiped<[u8; 4]>,
    },
}

/// Why a GCM packet did not open. Carries nothing so nothing leaks.
pub(crate) struct TagMismatch;

fn cbc_encrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8])
where
    C: BlockEncryptMut + cbc::cipher::BlockCipher + Clone,
{
    let len = buf.len();
    cbc::Encryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .expect("IV length fixed by the suite")
        .encrypt_padded_mut::<NoPadding>(buf, len)
        .expect("caller passes whole blocks");
}

fn cbc_decrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8])
where
    C: BlockDecryptMut + cbc::cipher::BlockCipher + Clone,
{
    cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .expect("IV length fixed by the suite")
        .decrypt_padded_mut::<NoPadding>(buf)
        .expect("caller passes whole blocks");
}

impl Cipher {
    /// `key` has the length the suite names (checked by the caller).
    pub(crate) fn new(encryption: Encryption, key: &[u8]) -> Cipher {
        match encryption {
            Encryption::AesCbc128 => Cipher::Aes128(Aes128::new_from_slice(key).expect("len")),
            Encryption::AesCbc192 => Cipher::Aes192(Aes192::new_from_slice(key).expect("len")),
            Encryption::AesCbc256 => Cipher::Aes256(Aes256::new_from_slice(key).expect("len")),
            Encryption::TripleDesCbc => {
                Cipher::TripleDes(TdesEde3::new_from_slice(key).expect("len"))
            }
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => {
                let algorithm = if encryption == Encryption::AesGcm16_128 {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let (aes_key, salt) = key.split_at(key.len() - 4);
                let unbound = aead::UnboundKey::new(algorithm, aes_key).expect("len");
                Cipher::Gcm {
                    key: Wiped::new(aead::LessSafeKey::new(unbound)),
                    salt: Wiped::new(salt.try_into().expect("4 bytes")),
                }
            }
        }
    }

    /// CBC-encrypts whole blocks in place.
    pub(crate) fn cbc_encrypt(&self, iv: &[u8], buf: &mut [u8]) {
        match self {
            Cipher::Aes128(c) => cbc_encrypt(c, iv, buf),
            Cipher::Aes192(c) => cbc_encrypt(c, iv, buf),
            Cipher::Aes256(c) => cbc_encrypt(c, iv, buf),
            Cipher::TripleDes(c) => cbc_encrypt(c, iv, buf),
            Cipher::Gcm { .. } => unreachable!("GCM is sealed with gcm_seal"),
        }
    }

    /// CBC-decrypts whole blocks in place.
    pub(crate) fn cbc_decrypt(&self, iv: &[u8], buf: &mut [u8]) {
        match self {
            Cipher::Aes128(c) => cbc_decrypt(c, iv, buf),
            Cipher::Aes192(c) => cbc_decrypt(c, iv, buf),
            Cipher::Aes256(c) => cbc_decrypt(c, iv, buf),
            Cipher::TripleDes(c) => cbc_decrypt(c, iv, buf),
            Cipher::Gcm { .. } => unreachable!("GCM is opened with gcm_open"),
        }
    }

    fn gcm_parts(&self, iv: &[u8; 8]) -> (&aead::LessSafeKey, aead::Nonce) {
        let Cipher::Gcm { key, salt } = self else {
            unreachable!("CBC is sealed with cbc_encrypt")
        };
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
