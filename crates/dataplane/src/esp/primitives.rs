//! The ciphers and MACs of the ESP suites, callable one at a time so the
//! published test vectors (RFC 2202, 3602, 4231, NIST, the GCM spec) can be
//! run against exactly the code that protects packets. Not for other uses.

use super::cipher::Cipher;
use super::integrity::Mac;
use super::suite::{Encryption, Integrity};

fn integrity_for(hash: &str) -> Integrity {
    match hash {
        "md5" => Integrity::HmacMd5_96,
        "sha1" => Integrity::HmacSha1_96,
        "sha256" => Integrity::HmacSha256_128,
        "sha384" => Integrity::HmacSha384_192,
        "sha512" => Integrity::HmacSha512_256,
        other => panic!("no HMAC for {other}"),
    }
}

/// HMAC of `data` under `key`, truncated to `len` bytes (at most the hash length).
pub fn hmac(hash: &str, key: &[u8], data: &[u8], len: usize) -> Vec<u8> {
    let mac = Mac::new(integrity_for(hash), key).expect("HMAC takes any key length");
    let mut out = vec![0u8; len];
    mac.compute(data, &mut out);
    out
}

/// CBC over whole blocks; `encryption` is one of the CBC ciphers.
pub fn cbc(encryption: Encryption, key: &[u8], iv: &[u8], data: &[u8], encrypt: bool) -> Vec<u8> {
    let mut cipher = Cipher::new(encryption, key).ok().expect("not a weak key");
    let mut buf = data.to_vec();
    if encrypt {
        cipher.cbc_encrypt(iv, &mut buf);
    } else {
        cipher.cbc_decrypt(iv, &mut buf);
    }
    buf
}

/// AES-GCM with a 96-bit nonce, split the way ESP carries it: the first 4
/// bytes are the salt from the KEYMAT, the last 8 the explicit IV.
/// Returns ciphertext || tag.
pub fn gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = gcm(key, nonce);
    let mut buf = plaintext.to_vec();
    let tag = cipher.gcm_seal(nonce[4..].try_into().expect("8"), aad, &mut buf);
    buf.extend_from_slice(&tag);
    buf
}

/// Opens ciphertext || tag; `None` when the tag does not verify.
pub fn gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let cipher = gcm(key, nonce);
    let mut buf = sealed.to_vec();
    cipher
        .gcm_open(nonce[4..].try_into().expect("8"), aad, &mut buf)
        .ok()?;
    buf.truncate(sealed.len() - 16);
    Some(buf)
}

fn gcm(key: &[u8], nonce: &[u8; 12]) -> Cipher {
    let encryption = match key.len() {
        16 => Encryption::AesGcm16_128,
        32 => Encryption::AesGcm16_256,
        n => panic!("no AES-GCM with a {n}-byte key"),
    };
    let keymat = [key, &nonce[..4]].concat();
    Cipher::new(encryption, &keymat)
        .ok()
        .expect("GCM has no weak keys")
}
