//! glibc's allocator, seen and tuned from the process: how many bytes its
//! heap hands out now (to measure what a structure costs, chunk headers
//! and rounding included), and the cap on its per-thread arenas.

/// Bytes glibc's malloc has handed out and not had back, over every arena
/// (`mallinfo2().uordblks`), plus large blocks it mmapped (`hblkhd`):
/// what the process's own allocations hold, chunk overhead included,
/// without the free memory the arenas keep.
pub fn heap_in_use() -> usize {
    // SAFETY: mallinfo2(3) takes no arguments and returns a struct by value;
    // it only reads the allocator's own bookkeeping under its locks.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// Caps glibc's malloc arenas at `n` (`mallopt(M_ARENA_MAX, n)`), as the
/// `MALLOC_ARENA_MAX` environment variable does at start-up. Each thread
/// that allocates gets an arena of its own up to the cap (8 × cores by
/// default), and memory freed into one arena is not reused by another.
/// Returns whether glibc accepted it. Arenas made before the call stay.
pub fn limit_arenas(n: u32) -> bool {
    let n = n.clamp(1, i32::MAX as u32) as libc::c_int;
    // SAFETY: mallopt(3) takes two integers and changes a malloc parameter
    // under the allocator's lock; no pointers are involved.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}
