//! ECP Diffie-Hellman for IKE groups 19, 20 and 21 (RFC 5903: NIST P-256,
//! P-384, P-521) through aws-lc-rs.
//!
//! Why not node:crypto: its `ECDH.computeSecret` checks our own key pair
//! (`EC_KEY_check_key`, two more scalar multiplications) on every call, so
//! a P-256 shared secret costs it about twice OpenSSL's derivation. Here a
//! derivation is one scalar multiplication and the peer's point is checked
//! to be on the curve, as RFC 5903 section 7 asks, by aws-lc's point decoding.
//!
//! Wire formats (RFC 5903 section 7): a public value is x | y, each
//! coordinate as long as the field, with no point-format octet; the shared
//! secret is the x coordinate alone.

use std::fmt;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, ECDH_P256, ECDH_P384, ECDH_P521};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};

/// Why a key pair could not be made or a secret not computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdhError {
    /// Not group 19, 20 or 21.
    UnknownGroup,
    /// A given private scalar is zero, not below the group order, or longer than the field.
    BadPrivateKey,
    /// The peer's value has the wrong length or is not a point on the curve.
    BadPublicValue,
    /// The library failed to make a key.
    Internal,
}

impl EcdhError {
    /// The code JS sees (the same as lib/ike's IkeCryptoError codes).
    pub fn code(self) -> &'static str {
        match self {
            EcdhError::UnknownGroup => "IKE_UNKNOWN_GROUP",
            EcdhError::BadPrivateKey => "IKE_BAD_PRIVATE_KEY",
            EcdhError::BadPublicValue => "IKE_BAD_KE",
            EcdhError::Internal => "IKE_DH_FAILED",
        }
    }
}

impl fmt::Display for EcdhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcdhError::UnknownGroup => "not an ECP Diffie-Hellman group (19, 20, 21)",
            EcdhError::BadPrivateKey => "private key out of range",
            EcdhError::BadPublicValue => "public value is not a point on the curve",
            EcdhError::Internal => "key generation failed",
        })
    }
}

impl std::error::Error for EcdhError {}

/// The curve of an IKE group and the length of one coordinate in bytes.
fn curve(group: u32) -> Result<(&'static agreement::Algorithm, usize), EcdhError> {
    match group {
        19 => Ok((&ECDH_P256, 32)),
        20 => Ok((&ECDH_P384, 48)),
        21 => Ok((&ECDH_P521, 66)),
        _ => Err(EcdhError::UnknownGroup),
    }
}

/// Longest SEC 1 uncompressed point: 0x04 and two P-521 coordinates.
const MAX_POINT: usize = 1 + 2 * 66;

/// Our half of one ECP Diffie-Hellman exchange. The private scalar lives in
/// aws-lc, which wipes it when the key is freed (on drop).
pub struct EcdhKeyPair {
    algorithm: &'static agreement::Algorithm,
    coordinate: usize,
    private: PrivateKey,
    /// x | y, as the KE payload carries it.
    public: Vec<u8>,
}

impl EcdhKeyPair {
    /// A fresh key pair in IKE group `group`.
    pub fn generate(group: u32) -> Result<Self, EcdhError> {
        let (algorithm, coordinate) = curve(group)?;
        let private = PrivateKey::generate(algorithm).map_err(|_| EcdhError::Internal)?;
        Self::with(algorithm, coordinate, private)
    }

    /// The key pair of a known private scalar (big-endian, at most one
    /// coordinate long; shorter is left-padded): known-answer tests only.
    pub fn from_private(group: u32, scalar: &[u8]) -> Result<Self, EcdhError> {
        let (algorithm, coordinate) = curve(group)?;
        if scalar.len() > coordinate {
            return Err(EcdhError::BadPrivateKey);
        }
        let mut padded = [0u8; 66];
        padded[coordinate - scalar.len()..coordinate].copy_from_slice(scalar);
        let private = PrivateKey::from_private_key(algorithm, &padded[..coordinate]);
        padded.fill(0);
        Self::with(
            algorithm,
            coordinate,
            private.map_err(|_| EcdhError::BadPrivateKey)?,
        )
    }

    fn with(
        algorithm: &'static agreement::Algorithm,
        coordinate: usize,
        private: PrivateKey,
    ) -> Result<Self, EcdhError> {
        let point = private
            .compute_public_key()
            .map_err(|_| EcdhError::Internal)?;
        // SEC 1 uncompressed: 0x04 | x | y; the KE payload has no 0x04.
        let public = point.as_ref()[1..].to_vec();
        debug_assert_eq!(public.len(), 2 * coordinate);
        Ok(EcdhKeyPair {
            algorithm,
            coordinate,
            private,
            public,
        })
    }

    /// Our public value, x | y.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Bits of the private scalar (tests).
    pub fn private_key_bits(&self) -> Result<u32, EcdhError> {
        let bin: EcPrivateKeyBin = self
            .private
            .as_be_bytes()
            .map_err(|_| EcdhError::Internal)?;
        let bytes = bin.as_ref();
        Ok(match bytes.iter().position(|&b| b != 0) {
            Some(i) => ((bytes.len() - i) * 8) as u32 - bytes[i].leading_zeros(),
            None => 0,
        })
    }

    /// The shared secret, the x coordinate of our scalar times the peer's
    /// point; `peer` is its KE payload data, x | y.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<Vec<u8>, EcdhError> {
        if peer.len() != 2 * self.coordinate {
            return Err(EcdhError::BadPublicValue);
        }
        let mut point = [0u8; MAX_POINT];
        point[0] = 0x04;
        point[1..=peer.len()].copy_from_slice(peer);
        let peer = UnparsedPublicKey::new(self.algorithm, &point[..=peer.len()]);
        agreement::agree(&self.private, peer, EcdhError::BadPublicValue, |x| {
            Ok(x.to_vec())
        })
    }
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

    // RFC 5903 section 8.1 (256-bit random ECP group): i, g^i, r, g^r, g^ir.
    const I: &str = "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433";
    const GI: &str = "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C37725811805271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
    const R: &str = "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53";
    const GR: &str = "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF6356FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB";
    const GIR: &str = "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE";

    #[test]
    fn rfc5903_p256_vector() {
        let i = EcdhKeyPair::from_private(19, &hex(I)).unwrap();
        let r = EcdhKeyPair::from_private(19, &hex(R)).unwrap();
        assert_eq!(i.public_value(), hex(GI));
        assert_eq!(r.public_value(), hex(GR));
        assert_eq!(i.shared_secret(r.public_value()).unwrap(), hex(GIR));
        assert_eq!(r.shared_secret(i.public_value()).unwrap(), hex(GIR));
    }

    #[test]
    fn fresh_pairs_agree_in_every_group() {
        for (group, coordinate) in [(19, 32), (20, 48), (21, 66)] {
            let a = EcdhKeyPair::generate(group).unwrap();
            let b = EcdhKeyPair::generate(group).unwrap();
            assert_eq!(a.public_value().len(), 2 * coordinate);
            assert_ne!(a.public_value(), b.public_value());
            let s = a.shared_secret(b.public_value()).unwrap();
            assert_eq!(s.len(), coordinate);
            assert_eq!(s, b.shared_secret(a.public_value()).unwrap());
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert_eq!(
            EcdhKeyPair::generate(14).err(),
            Some(EcdhError::UnknownGroup)
        );
        assert_eq!(
            EcdhKeyPair::from_private(19, &[0; 32]).err(),
            Some(EcdhError::BadPrivateKey)
        );
        assert_eq!(
            EcdhKeyPair::from_private(19, &[0xff; 32]).err(),
            Some(EcdhError::BadPrivateKey),
            "not below the order"
        );
        assert_eq!(
            EcdhKeyPair::from_private(19, &[1; 33]).err(),
            Some(EcdhError::BadPrivateKey)
        );
        let a = EcdhKeyPair::generate(19).unwrap();
        let b = EcdhKeyPair::generate(19).unwrap();
        let mut off = b.public_value().to_vec();
        *off.last_mut().unwrap() ^= 1;
        for bad in [&off[..], &[0u8; 64][..], &b.public_value()[1..]] {
            assert_eq!(a.shared_secret(bad), Err(EcdhError::BadPublicValue));
        }
    }

    #[test]
    fn short_scalar_is_left_padded() {
        let k = EcdhKeyPair::from_private(19, &[3]).unwrap();
        assert_eq!(k.private_key_bits().unwrap(), 2);
        let g = EcdhKeyPair::from_private(19, &[1]).unwrap();
        // 3G from the generator's own arithmetic: G's secret with 3 is (3G).x.
        assert_eq!(
            g.shared_secret(k.public_value()).unwrap(),
            k.public_value()[..32]
        );
    }
}
