//! Data plane of l2tp-ipsec.
//!
//! Protocol cores (`esp`, `natt`, and `ike`'s cryptography for the JS IKE
//! core) are sans-IO: they work on caller-owned
//! buffers and never touch sockets or clocks. `napi` is the one binding file.
//! Every `unsafe` is in `io` and carries a `// SAFETY:` comment (both lints
//! below make that a build error, not a convention).

#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod anomaly;
pub mod capture;
pub mod engine;
pub mod esp;
#[doc(hidden)]
pub mod fuzzing;
pub mod ike;
#[allow(unsafe_code)]
pub mod io;
pub mod ip;
pub mod l2tp;
pub mod natt;
pub mod policy;
pub mod ppp;
pub mod table;
pub mod tunnel_mode;

#[cfg(feature = "napi")]
mod napi;
