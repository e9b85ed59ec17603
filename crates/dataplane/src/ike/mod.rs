//! Cryptography for the IKE core (`lib/ike`, in JS) where node:crypto is
//! slow for what IKE asks of it: ECP Diffie-Hellman, the PRF, the AES-CBC
//! of message bodies. Sans-IO: values in, values out.

pub mod cbc;
pub mod ecdh;
pub mod prf;

pub use cbc::{aes_cbc, CbcError};
pub use ecdh::{EcdhError, EcdhKeyPair};
pub use prf::{prf, PrfHash};
