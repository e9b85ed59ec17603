//! Writable access to the JS typed arrays a binding call received.
//!
//! napi-rs makes `as_mut` on a typed array unsafe because JS may pass
//! several views of one ArrayBuffer as different arguments: a `&mut` to
//! bytes that another argument also reads or writes would alias. These
//! functions refuse a view that shares a byte with any other view of the
//! call (the caller lists them all, beside the call), after which the
//! `&mut` is the one way to its bytes until the call returns: the binding
//! calls are synchronous, so the JS thread cannot run meanwhile.

use napi::bindgen_prelude::{Uint32Array, Uint8Array};

/// The address and length in bytes of a view, for the overlap check.
pub(crate) fn span<T>(view: &[T]) -> (usize, usize) {
    (view.as_ptr() as usize, std::mem::size_of_val(view))
}

/// True when the two (address, length) ranges share a byte.
pub(crate) fn overlap((a, n): (usize, usize), (b, m): (usize, usize)) -> bool {
    n > 0 && m > 0 && a < b + m && b < a + n
}

/// `view` as `&mut [u32]`, or None when it shares a byte with one of `others`.
pub(crate) fn u32_mut<'a>(
    view: &'a mut Uint32Array,
    others: &[(usize, usize)],
) -> Option<&'a mut [u32]> {
    let own = span(view);
    if others.iter().any(|o| overlap(own, *o)) {
        return None;
    }
    // SAFETY: no other argument of this synchronous call views these bytes
    // (checked just above against every other view the caller passed), and
    // JS cannot run until the call returns: this is the only reference to
    // them for its lifetime. (A worker thread writing a SharedArrayBuffer
    // meanwhile would race on every Buffer argument alike; callers pass
    // plain memory.)
    Some(unsafe { view.as_mut() })
}

/// `view` as `&mut [u8]`, or None when it shares a byte with one of `others`.
pub(crate) fn u8_mut<'a>(
    view: &'a mut Uint8Array,
    others: &[(usize, usize)],
) -> Option<&'a mut [u8]> {
    let own = span(view);
    if others.iter().any(|o| overlap(own, *o)) {
        return None;
    }
    // SAFETY: as in `u32_mut`: checked disjoint from every other view of a
    // synchronous call, so the only reference to these bytes meanwhile.
    Some(unsafe { view.as_mut() })
}
