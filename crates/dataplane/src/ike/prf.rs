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

/// SKEYID_d, SKEYID_a and SKEYID_e of RFC 2409 section 5, under one HMAC
/// key (one key schedule for the three, one call from JS):
/// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0),
/// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1),
/// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2).
pub fn skeyids(
    hash: PrfHash,
    skeyid: &[u8],
    gxy: &[u8],
    cky_i: &[u8],
    cky_r: &[u8],
) -> [hmac::Tag; 3] {
    let key = hmac::Key::new(hash.algorithm(), skeyid);
    let derive = |previous: &[u8], n: u8| {
        let mut ctx = hmac::Context::with_key(&key);
        for part in [previous, gxy, cky_i, cky_r, &[n]] {
            ctx.update(part);
        }
        ctx.sign()
    };
    let d = derive(&[], 0);
    let a = derive(d.as_ref(), 1);
    let e = derive(a.as_ref(), 2);
    [d, a, e]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::test_hex::hex;

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
    fn skeyids_of_a_strongswan_session() {
        // __test__/vectors/ike-crypto/strongswan-apple-sha256-modp2048.json:
        // charon's logged values of a real exchange (PRF HMAC-SHA2-256).
        let gxy = hex(concat!(
            "f74d8f160439b5fbe727fb8492126163292f53aa1a62440e584de8d9ebd7815d",
            "11a403ba3641060121c406789e8355d9f6a3fa063239608fa001f65bc819b60f",
            "81c4a4a9aeb36a4e6c1c2fa7d89e38061879f970ac9b386f24e2defd4476371c",
            "0b31af1b6ac2f868d1747f7cd9cff2ba2db658370cdf65b5f33ab5e4fc3a8a78",
            "73b9b0438368673612f2b15b9515e8c41bb73bf1798b87a55625a47c3e7c4fd5",
            "e174ab2c84612f402f902ad6380fd1583aea37f1ed54e279202b0c4d54a6a05b",
            "4fc92b12c75b1adc736267ac0dab7e4ec8e5f395c840f74a94fb73b003d361b8",
            "c4239fa70d928eb4237fe8b45890b26625cfcb5e5d641f83579f3ac05e5699c0",
        ));
        let skeyid = hex("9fdf2c46301f7b971d756e359f6bbd7288ab9483cc5207ac6724432c46db8891");
        let (cky_i, cky_r) = (hex("db61e990cac1d394"), hex("2e250e23bcc6ca69"));
        let [d, a, e] = skeyids(PrfHash::Sha256, &skeyid, &gxy, &cky_i, &cky_r);
        assert_eq!(
            d.as_ref(),
            hex("b791f559bee3ea3826fb593a489a1a52f52a0b23f58ef665b69e771db9fca2ea")
        );
        assert_eq!(
            a.as_ref(),
            hex("bbc0bbb47384767572c7a273e7985b4d641eadd6e51fded2175cf8b00346d56e")
        );
        assert_eq!(
            e.as_ref(),
            hex("ee6f1853e9fd504a187006700a5647262eab945c1e507e27a5089a68f1336e22")
        );
        // The same as separate PRFs.
        let d2 = prf(PrfHash::Sha256, &skeyid, &[&gxy, &cky_i, &cky_r, &[0]]);
        assert_eq!(d.as_ref(), d2.as_ref());
    }

    #[test]
    fn ids() {
        assert_eq!(PrfHash::from_id(384), Some(PrfHash::Sha384));
        assert_eq!(PrfHash::from_id(5), None, "MD5 is not here");
        assert_eq!(prf(PrfHash::Sha512, b"k", &[]).as_ref().len(), 64);
    }
}
