//! The binding: everything JS can call in the data plane. Errors that cross
//! the boundary carry a stable `code`; a malformed packet is never an
//! exception, only a status or a counter.
#![cfg_attr(test, allow(dead_code))]

mod dataplane;
mod esp;
mod ike;
mod process;

use napi::Error;

/// Errors thrown to JS carry `code` = our stable code (napi-rs puts the
/// status string there).
pub(crate) type Result<T> = std::result::Result<T, Error<String>>;

pub(crate) fn error(code: &str, message: impl Into<String>) -> Error<String> {
    Error::new(code.to_string(), message.into())
}
