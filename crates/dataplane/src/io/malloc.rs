//! glibc's allocator, seen and tuned from the process: how many bytes its
//! heap hands out now (to measure what a structure costs, chunk headers
//! and rounding included), and how much it keeps free.

/// What glibc's malloc holds, over every arena (`mallinfo2(3)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MallocStats {
    /// Handed out and not given back (`uordblks`, chunk headers included).
    pub in_use: usize,
    /// Free chunks the arenas keep for later (`fordblks`): RSS as far as
    /// they were touched, reusable only by the arena that holds them.
    pub free: usize,
    /// Large blocks mmapped one by one (`hblkhd`), given back when freed.
    pub mmapped: usize,
}

pub fn stats() -> MallocStats {
    // SAFETY: mallinfo2(3) takes no arguments and returns a struct by value;
    // it only reads the allocator's own bookkeeping under its locks.
    let m = unsafe { libc::mallinfo2() };
    MallocStats {
        in_use: m.uordblks,
        free: m.fordblks,
        mmapped: m.hblkhd,
    }
}

/// Bytes the process's allocations hold now: in use in the arenas plus the
/// mmapped blocks, without the free memory the arenas keep.
pub fn heap_in_use() -> usize {
    let s = stats();
    s.in_use + s.mmapped
}

/// Gives the arenas' free memory back to the kernel where it can
/// (`malloc_trim(3)` with no padding kept); true if any was given back.
pub fn trim() -> bool {
    // SAFETY: malloc_trim(3) takes a padding size and only works on the
    // allocator's own free lists under its locks.
    unsafe { libc::malloc_trim(0) == 1 }
}
