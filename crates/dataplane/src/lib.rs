//! Data plane of l2tp-ipsec.
//!
//! Protocol cores (`esp`, `natt`) are sans-IO: they work on caller-owned
//! buffers and never touch sockets or clocks. `napi` is the one binding file.

pub mod engine;
pub mod esp;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod ip;
pub mod l2tp;
pub mod natt;
pub mod policy;
pub mod ppp;
pub mod table;
pub mod tunnel_mode;
mod wipe;

#[cfg(feature = "napi")]
mod napi;
