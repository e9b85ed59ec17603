//! HMAC integrity check values for the non-AEAD ESP suites, truncated as
//! RFC 2403, 2404 and 4868 say. The keyed state (hashed ipad/opad) is built
//! once per SA and cloned per packet.

use hmac::digest::KeyInit;
use hmac::Hmac;
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use super::suite::Integrity;
use crate::io::wipe::Wiped;

/// Each state boxed at its own size (136 bytes for SHA-1, 304 for
/// SHA-512): inline, every SA would carry the largest, GCM SAs included
/// (issue #9, memory per session).
pub(crate) enum Mac {
    Md5(Box<Wiped<Hmac<Md5>>>),
    Sha1(Box<Wiped<Hmac<Sha1>>>),
    Sha256(Box<Wiped<Hmac<Sha256>>>),
    Sha384(Box<Wiped<Hmac<Sha384>>>),
    Sha512(Box<Wiped<Hmac<Sha512>>>),
}

fn keyed<M: KeyInit>(key: &[u8]) -> Option<Box<Wiped<M>>> {
    Some(Box::new(Wiped::new(M::new_from_slice(key).ok()?)))
}

/// Largest ICV of any suite (HMAC-SHA-512-256).
pub(crate) const MAX_ICV: usize = 32;

fn tag<M: hmac::Mac + Clone>(state: &M, data: &[u8], out: &mut [u8]) {
    let mut m = state.clone();
    m.update(data);
    let full = m.finalize().into_bytes();
    out.copy_from_slice(&full[..out.len()]);
}

impl Mac {
    /// `None` for `Integrity::None` (AEAD suites).
    pub(crate) fn new(integrity: Integrity, key: &[u8]) -> Option<Mac> {
        let mac = match integrity {
            Integrity::None => return None,
            Integrity::HmacMd5_96 => Mac::Md5(keyed(key)?),
            Integrity::HmacSha1_96 => Mac::Sha1(keyed(key)?),
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => Mac::Sha256(keyed(key)?),
            Integrity::HmacSha384_192 => Mac::Sha384(keyed(key)?),
            Integrity::HmacSha512_256 => Mac::Sha512(keyed(key)?),
        };
        Some(mac)
    }

    /// Writes the ICV of `data`, truncated to `out.len()`.
    pub(crate) fn compute(&self, data: &[u8], out: &mut [u8]) {
        match self {
            Mac::Md5(s) => tag(&***s, data, out),
            Mac::Sha1(s) => tag(&***s, data, out),
            Mac::Sha256(s) => tag(&***s, data, out),
            Mac::Sha384(s) => tag(&***s, data, out),
            Mac::Sha512(s) => tag(&***s, data, out),
        }
    }

    /// Constant-time comparison of `icv` with the ICV of `data`.
    pub(crate) fn verify(&self, data: &[u8], icv: &[u8]) -> bool {
        let mut expected = [0u8; MAX_ICV];
        let expected = &mut expected[..icv.len()];
        self.compute(data, expected);
        bool::from(expected.ct_eq(icv))
    }
}
