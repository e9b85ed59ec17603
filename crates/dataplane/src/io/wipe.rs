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
        // SAFETY: `value` is initialised since `new` and dropped only here,
        // once. After its destructor the storage is plain memory we own:
        // each write stays within its `size_of::<T>()` bytes, and goes
        // through a raw pointer, so no `&[u8]` is made over padding bytes
        // that may never have been initialised.
        unsafe {
            self.value.assume_init_drop();
            let bytes = self.value.as_mut_ptr().cast::<u8>();
            for i in 0..core::mem::size_of::<T>() {
                core::ptr::write_volatile(bytes.add(i), 0);
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

    /// The value's own destructor runs exactly once before its bytes are
    /// zeroed: a heap-owning value (an `Rc`) is released, not leaked or
    /// freed twice. Under Miri this also checks the zeroing itself.
    #[test]
    fn drops_the_value_once_then_wipes() {
        let shared = std::rc::Rc::new([9u8; 16]);
        let w = Wiped::new((std::rc::Rc::clone(&shared), [0x5au8; 24]));
        assert_eq!(std::rc::Rc::strong_count(&shared), 2);
        assert_eq!(w.1[23], 0x5a);
        drop(w);
        assert_eq!(std::rc::Rc::strong_count(&shared), 1);
    }
}
