//! `Wiped<T>`: owns a value holding key material and overwrites its bytes
//! with zeros when dropped.
//!
//! ring's AEAD keys and the RustCrypto HMAC states do not zero themselves on
//! drop; their expanded schedules and ipad/opad states are as good as the key.
//! They are plain inline data (no heap), so after running their destructor we
//! overwrite the storage itself.

use core::mem::MaybeUninit;
use core::ops::Deref;

pub(crate) struct Wiped<T> {
    value: MaybeUninit<T>,
}

impl<T> Wiped<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: MaybeUninit::new(value),
        }
    }
}

impl<T> Deref for Wiped<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `value` is initialised in `new` and only de-initialised in `drop`.
        unsafe { self.value.assume_init_ref() }
    }
}

impl<T> Drop for Wiped<T> {
    fn drop(&mut self) {
        // SAFETY: initialised since `new`; after `drop_in_place` the storage is
        // treated as raw bytes only, and we own it.
        unsafe {
            self.value.assume_init_drop();
            let bytes = core::slice::from_raw_parts_mut(
                self.value.as_mut_ptr() as *mut u8,
                core::mem::size_of::<T>(),
            );
            for b in bytes.iter_mut() {
                core::ptr::write_volatile(b, 0);
            }
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::Wiped;

    #[test]
    fn derefs_to_the_value() {
        let w = Wiped::new([7u8; 32]);
        assert_eq!(w[31], 7);
    }
}
