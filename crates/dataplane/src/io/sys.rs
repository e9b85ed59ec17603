//! The engine's own system calls that are not about packets: the shutdown
//! eventfd, entering a network namespace, and the calling thread's CPU
//! clock (benchmarks). Kept here so that every
//! `unsafe` FFI call of the crate is in `io/`.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A new non-blocking, close-on-exec eventfd with a count of 0.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd(2) takes no pointers; it returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns or closes.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to an eventfd's count, making it readable for whoever polls it.
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes the 8 bytes of `one`, which lives across the call, to a
    // descriptor that `fd` borrows (so it stays open during the call).
    let n = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `ns` (an open
/// /run/netns/NAME or /proc/PID/ns/net). Only this thread moves: callers
/// run it on a thread of its own.
pub fn enter_netns(ns: &File) -> io::Result<()> {
    // SAFETY: setns(2) on a descriptor that `ns` keeps open; no pointers.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CPU time the calling thread has used, in nanoseconds
/// (CLOCK_THREAD_CPUTIME_ID): for benchmarks timing one thread's work
/// without getrusage(RUSAGE_SELF), which sums every thread of the process
/// and costs tens of microseconds on a loaded machine.
pub fn thread_cpu_nanos() -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes one timespec to `ts`, which lives
    // across the call; the clock id is a constant the kernel knows.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}
