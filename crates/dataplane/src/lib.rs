//! Data plane of l2tp-ipsec.
//!
//! Protocol cores (`esp`, `natt`) are sans-IO: they work on caller-owned
//! buffers and never touch sockets or clocks. `napi` is the one binding file.

pub mod esp;
pub mod natt;
mod wipe;

mod napi;
