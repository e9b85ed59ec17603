//! The process's native memory as glibc's allocator sees it, for the
//! benchmarks (bench/README.md "Sessions at scale"): what RSS outside the
//! JS heap is live allocations and what is free memory the arenas keep.

use napi_derive::napi;

use crate::io::malloc;

#[napi(object)]
pub struct MallocStats {
    /// Bytes handed out by malloc and not freed (chunk headers included).
    pub in_use: f64,
    /// Free bytes the arenas keep (reusable only by their own arena).
    pub free: f64,
    /// Large blocks mmapped one by one.
    pub mmapped: f64,
}

/// glibc's `mallinfo2()` over every arena.
#[napi]
pub fn malloc_stats() -> MallocStats {
    let s = malloc::stats();
    MallocStats {
        in_use: s.in_use as f64,
        free: s.free as f64,
        mmapped: s.mmapped as f64,
    }
}

/// glibc's `malloc_trim(0)`: the arenas' free memory back to the kernel
/// (the benchmarks' "what glibc keeps of freed memory"); true if any was.
#[napi]
pub fn malloc_trim() -> bool {
    malloc::trim()
}
