//! AES-CBC of IKEv1 message bodies (RFC 2409 appendix B; whole blocks, the
//! caller pads) through aws-lc, which wipes its key schedules when freed.
//! One call per message, for the same reason as `prf`: node:crypto's
//! `createCipheriv` costs far more than the cipher. 3DES stays with
//! node:crypto: aws-lc refuses keys whose thirds repeat, which node takes,
//! and nobody needs 3DES fast.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128,
    AES_192, AES_256,
};
use aws_lc_rs::iv::FixedLength;

/// Why a CBC call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbcError {
    /// Not an AES key length.
    BadKey,
    /// IV not one block.
    BadIv,
    /// Empty, or not whole blocks.
    BadLength,
}

impl CbcError {
    /// The code JS sees (lib/ike's IkeCryptoError codes).
    pub fn code(self) -> &'static str {
        match self {
            CbcError::BadKey => "IKE_BAD_KEY_LENGTH",
            CbcError::BadIv => "IKE_BAD_IV",
            CbcError::BadLength => "IKE_BAD_CIPHERTEXT",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CbcError::BadKey => "AES takes a 16, 24 or 32-byte key",
            CbcError::BadIv => "IV must be one 16-byte block",
            CbcError::BadLength => "data must be whole blocks",
        }
    }
}

/// `data` AES-CBC-encrypted (`encrypt`) or decrypted in place: AES-128,
/// 192 or 256 by the key's length. Nothing is written when refused.
pub fn aes_cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CbcError> {
    let algorithm = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        32 => &AES_256,
        _ => return Err(CbcError::BadKey),
    };
    let iv: [u8; 16] = iv.try_into().map_err(|_| CbcError::BadIv)?;
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(CbcError::BadLength);
    }
    let key = UnboundCipherKey::new(algorithm, key).map_err(|_| CbcError::BadKey)?;
    if encrypt {
        EncryptingKey::cbc(key)
            .map_err(|_| CbcError::BadKey)?
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| CbcError::BadLength)?;
    } else {
        DecryptingKey::cbc(key)
            .map_err(|_| CbcError::BadKey)?
            .decrypt(data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| CbcError::BadLength)?;
    }
    Ok(())
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
    fn rfc3602_case_2() {
        // AES-128-CBC, 32 bytes: RFC 3602 section 4, case #2.
        let key = hex("c286696d887c9aa0611bbb3e2025a45a");
        let iv = hex("562e17996d093d28ddb3ba695a2e6f58");
        let plain = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        let mut data = plain.clone();
        aes_cbc(true, &key, &iv, &mut data).unwrap();
        assert_eq!(
            data,
            hex("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1")
        );
        aes_cbc(false, &key, &iv, &mut data).unwrap();
        assert_eq!(data, plain);
    }

    #[test]
    fn refusals() {
        let mut d = [0u8; 16];
        assert_eq!(
            aes_cbc(true, &[0; 15], &[0; 16], &mut d),
            Err(CbcError::BadKey)
        );
        assert_eq!(
            aes_cbc(true, &[1; 16], &[0; 8], &mut d),
            Err(CbcError::BadIv)
        );
        assert_eq!(
            aes_cbc(true, &[1; 16], &[0; 16], &mut d[..15]),
            Err(CbcError::BadLength)
        );
        assert_eq!(
            aes_cbc(false, &[1; 16], &[0; 16], &mut []),
            Err(CbcError::BadLength)
        );
        assert_eq!(d, [0u8; 16], "nothing written on refusal");
        for len in [24, 32] {
            aes_cbc(true, &vec![7; len], &[3; 16], &mut d).unwrap();
            assert_ne!(d, [0u8; 16]);
            aes_cbc(false, &vec![7; len], &[3; 16], &mut d).unwrap();
            assert_eq!(d, [0u8; 16]);
        }
    }
}
