//! The data plane's system calls: UDP sockets with batched receive and send,
//! the raw ESP socket, and the TUN device. Everything above this module works
//! on buffers.

pub mod offload;
pub mod raw;
pub mod sys;
pub mod tun;
pub mod udp;

use std::io;

/// An OS error with what we were doing, so a failure names its cause
/// ("open TUN l2tp0: Operation not permitted (needs CAP_NET_ADMIN)").
pub fn context(what: impl Into<String>, err: io::Error) -> io::Error {
    let hint = match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (needs root or CAP_NET_ADMIN / CAP_NET_RAW)",
        Some(libc::EADDRINUSE) => " (another process holds the port)",
        _ => "",
    };
    io::Error::new(err.kind(), format!("{}: {err}{hint}", what.into()))
}

/// Waits until one of `fds` is readable or `timeout_ms` passes; returns the
/// readiness of each (true = readable).
pub fn poll_readable(fds: &[i32], timeout_ms: i32, ready: &mut [bool]) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pollfd for the duration of the call.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            ready.iter_mut().for_each(|r| *r = false);
            return Ok(());
        }
        return Err(err);
    }
    for (r, p) in ready.iter_mut().zip(&pfds) {
        *r = p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    }
    Ok(())
}
