//! The IKEv1 PRF (RFC 2409 section 5: the HMAC version of the negotiated
//! hash) with SHA-1 and SHA-2, through aws-lc, whose HMAC contexts are
//! wiped when freed. One call per PRF value: node:crypto's `createHmac`
//! costs a JS object, a stream and an OpenSSL 3.0 algorithm fetch per call,
//! several times the HMAC of IKE's short inputs.

use aws_lc_rs::hmac;

/// A PRF hash by its number in the JS binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrfHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl PrfHash {
    /// 1 SHA-1, 256, 384, 512: the SHA-2 sizes; anything else is not ours
    /// (MD5 stays with node:crypto).
    pub fn from_id(id: u32) -> Option<PrfHash> {
        match id {
            1 => Some(PrfHash::Sha1),
            256 => Some(PrfHash::Sha256),
            384 => Some(PrfHash::Sha384),
            512 => Some(PrfHash::Sha512),
            _ => None,
        }
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            PrfHash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            PrfHash::Sha256 => hmac::HMAC_SHA256,
            PrfHash::Sha384 => hmac::HMAC_SHA384,
            PrfHash::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// prf(key, part0 | part1 | ...).
pub fn prf(hash: PrfHash, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(hash.algorithm(), key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    ctx.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc4231_case_2_in_parts() {
        // HMAC-SHA-256 of "what do ya want for nothing?" under "Jefe".
        let tag = prf(
            PrfHash::Sha256,
            b"Jefe",
            &[b"what do ya want ", b"", b"for nothing?"],
        );
        assert_eq!(
            tag.as_ref(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn rfc2202_sha1_case_2() {
        let tag = prf(PrfHash::Sha1, b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(
            tag.as_ref(),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
    }

    #[test]
    fn ids() {
        assert_eq!(PrfHash::from_id(384), Some(PrfHash::Sha384));
        assert_eq!(PrfHash::from_id(5), None, "MD5 is not here");
        assert_eq!(prf(PrfHash::Sha512, b"k", &[]).as_ref().len(), 64);
    }
}
