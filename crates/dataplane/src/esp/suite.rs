//! ESP transform suites: an encryption algorithm and, unless it is an AEAD,
//! an integrity algorithm. Names follow strongSwan's proposal keywords
//! (`aes128-sha1`, `3des-md5`, `aes256-sha256_96`), with `aes128gcm-16` for
//! AES-GCM with a 16-octet ICV.

use super::error::SaError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// RFC 3602
    AesCbc128,
    AesCbc192,
    AesCbc256,
    /// RFC 2451
    TripleDesCbc,
    /// RFC 4106, 16-octet ICV
    AesGcm16_128,
    AesGcm16_256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// Only with an AEAD cipher.
    None,
    /// RFC 2403
    HmacMd5_96,
    /// RFC 2404
    HmacSha1_96,
    /// RFC 4868
    HmacSha256_128,
    /// HMAC-SHA-256 truncated to 96 bits, as Android 6/7 and old Linux
    /// kernels send it (libreswan's `sha2-truncbug`, strongSwan's `sha256_96`).
    HmacSha256_96,
    HmacSha384_192,
    HmacSha512_256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub encryption: Encryption,
    pub integrity: Integrity,
}

const CIPHERS: [(&str, Encryption); 4] = [
    ("aes128", Encryption::AesCbc128),
    ("aes192", Encryption::AesCbc192),
    ("aes256", Encryption::AesCbc256),
    ("3des", Encryption::TripleDesCbc),
];

const MACS: [(&str, Integrity); 6] = [
    ("md5", Integrity::HmacMd5_96),
    ("sha1", Integrity::HmacSha1_96),
    ("sha256", Integrity::HmacSha256_128),
    ("sha256_96", Integrity::HmacSha256_96),
    ("sha384", Integrity::HmacSha384_192),
    ("sha512", Integrity::HmacSha512_256),
];

const AEADS: [(&str, Encryption); 2] = [
    ("aes128gcm-16", Encryption::AesGcm16_128),
    ("aes256gcm-16", Encryption::AesGcm16_256),
];

impl Suite {
    /// Every suite name `parse` accepts, AEADs first.
    pub const NAMES: [&'static str; 26] = [
        "aes128gcm-16",
        "aes256gcm-16",
        "aes128-md5",
        "aes128-sha1",
        "aes128-sha256",
        "aes128-sha256_96",
        "aes128-sha384",
        "aes128-sha512",
        "aes192-md5",
        "aes192-sha1",
        "aes192-sha256",
        "aes192-sha256_96",
        "aes192-sha384",
        "aes192-sha512",
        "aes256-md5",
        "aes256-sha1",
        "aes256-sha256",
        "aes256-sha256_96",
        "aes256-sha384",
        "aes256-sha512",
        "3des-md5",
        "3des-sha1",
        "3des-sha256",
        "3des-sha256_96",
        "3des-sha384",
        "3des-sha512",
    ];

    pub fn parse(name: &str) -> Result<Suite, SaError> {
        let unknown = || SaError::UnknownSuite(name.to_string());
        if let Some((_, enc)) = AEADS.iter().find(|(n, _)| *n == name) {
            return Ok(Suite {
                encryption: *enc,
                integrity: Integrity::None,
            });
        }
        let (cipher, mac) = name.split_once('-').ok_or_else(unknown)?;
        let encryption = CIPHERS
            .iter()
            .find(|(n, _)| *n == cipher)
            .map(|(_, e)| *e)
            .ok_or_else(unknown)?;
        let integrity = MACS
            .iter()
            .find(|(n, _)| *n == mac)
            .map(|(_, i)| *i)
            .ok_or_else(unknown)?;
        Ok(Suite {
            encryption,
            integrity,
        })
    }

    pub fn name(&self) -> String {
        if let Some((n, _)) = AEADS.iter().find(|(_, e)| *e == self.encryption) {
            return (*n).to_string();
        }
        let cipher = CIPHERS
            .iter()
            .find(|(_, e)| *e == self.encryption)
            .map_or("?", |(n, _)| n);
        let mac = MACS
            .iter()
            .find(|(_, i)| *i == self.integrity)
            .map_or("?", |(n, _)| n);
        format!("{cipher}-{mac}")
    }

    pub fn is_aead(&self) -> bool {
        matches!(
            self.encryption,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256
        )
    }

    /// KEYMAT length for encryption; for AES-GCM the key followed by its
    /// 4-byte salt (RFC 4106 section 8.1).
    pub fn encryption_key_len(&self) -> usize {
        match self.encryption {
            Encryption::AesCbc128 => 16,
            Encryption::AesCbc192 => 24,
            Encryption::AesCbc256 => 32,
            Encryption::TripleDesCbc => 24,
            Encryption::AesGcm16_128 => 20,
            Encryption::AesGcm16_256 => 36,
        }
    }

    pub fn integrity_key_len(&self) -> usize {
        match self.integrity {
            Integrity::None => 0,
            Integrity::HmacMd5_96 => 16,
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// Bytes of explicit IV carried in each packet.
    pub fn iv_len(&self) -> usize {
        match self.encryption {
            Encryption::AesCbc128 | Encryption::AesCbc192 | Encryption::AesCbc256 => 16,
            Encryption::TripleDesCbc => 8,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => 8,
        }
    }

    /// What the padded plaintext (payload, padding, pad length, next header)
    /// must be a multiple of. RFC 4303 2.4 asks for 4-byte alignment at least.
    pub fn block_len(&self) -> usize {
        match self.encryption {
            Encryption::AesCbc128 | Encryption::AesCbc192 | Encryption::AesCbc256 => 16,
            Encryption::TripleDesCbc => 8,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => 4,
        }
    }

    pub fn icv_len(&self) -> usize {
        match self.integrity {
            Integrity::None => 16,
            Integrity::HmacMd5_96 | Integrity::HmacSha1_96 | Integrity::HmacSha256_96 => 12,
            Integrity::HmacSha256_128 => 16,
            Integrity::HmacSha384_192 => 24,
            Integrity::HmacSha512_256 => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_parses_and_round_trips() {
        for name in Suite::NAMES {
            let suite = Suite::parse(name).unwrap();
            assert_eq!(suite.name(), name);
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        for name in [
            "",
            "aes128",
            "aes128-",
            "des-sha1",
            "aes128gcm-8",
            "aes128-sha1-x",
        ] {
            let err = Suite::parse(name).unwrap_err();
            assert_eq!(err.code(), "ERR_ESP_UNKNOWN_SUITE");
            assert!(err.to_string().contains("aes128gcm-16"));
        }
    }
}
