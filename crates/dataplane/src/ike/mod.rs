//! Cryptography for the IKE core (`lib/ike`, in JS) where node:crypto is
//! slow for what IKE asks of it: ECP Diffie-Hellman, the PRF, the AES-CBC
//! of message bodies. Sans-IO: values in, values out.

pub mod cbc;
pub mod ecdh;
pub mod prf;

pub use cbc::{aes_cbc, CbcError};
pub use ecdh::{EcdhError, EcdhKeyPair};
pub use prf::{prf, skeyids, PrfHash};

/// Hex test vectors (RFCs quote them as hex) to bytes.
#[cfg(test)]
pub(crate) mod test_hex {
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
