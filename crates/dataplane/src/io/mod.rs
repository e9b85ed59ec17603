//! The data plane's system calls: UDP sockets with batched receive and send,
//! the raw ESP socket, and the TUN device; and the two other places that
//! touch memory the compiler cannot see through: the zeroing of key
//! material (`wipe`) and writable views of JS typed arrays (`js_views`).
//! Everything above this module works on buffers, and is `unsafe`-free
//! (lib.rs denies `unsafe_code` outside `io`).

#[cfg(feature = "napi")]
pub(crate) mod js_views;
pub mod malloc;
pub mod offload;
pub mod raw;
pub mod sys;
pub mod tun;
pub mod udp;
pub(crate) mod wipe;

use std::io;

/// Which offloads to try. `from_env` reads `L2TP_IPSEC_NO_OFFLOAD` (a comma
/// list of `tun`, `tun-gro`, `udp-gso`, `udp-gro`, or `all`) once, when a
/// data plane opens, never from a worker: a benchmark knob to measure what
/// each one gains, and an escape hatch for a kernel that misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offloads {
    /// TUN with IFF_VNET_HDR and TSO.
    pub tun: bool,
    /// Inbound TCP segments coalesced toward TUN (needs `tun`).
    pub tun_gro: bool,
    pub udp_gso: bool,
    pub udp_gro: bool,
}

impl Offloads {
    pub const ALL: Offloads = Offloads {
        tun: true,
        tun_gro: true,
        udp_gso: true,
        udp_gro: true,
    };
    pub const NONE: Offloads = Offloads {
        tun: false,
        tun_gro: false,
        udp_gso: false,
        udp_gro: false,
    };

    pub fn from_env() -> Offloads {
        let value = std::env::var("L2TP_IPSEC_NO_OFFLOAD").unwrap_or_default();
        Self::without(&value)
    }

    /// All but those named in `list` (as in `L2TP_IPSEC_NO_OFFLOAD`).
    pub fn without(list: &str) -> Offloads {
        let off = |what: &str| {
            list.split(',')
                .any(|w| w.trim() == what || w.trim() == "all")
        };
        Offloads {
            tun: !off("tun"),
            tun_gro: !off("tun-gro"),
            udp_gso: !off("udp-gso"),
            udp_gro: !off("udp-gro"),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::Offloads;

    #[test]
    fn offload_list_turns_off_exactly_what_it_names() {
        assert_eq!(Offloads::without(""), Offloads::ALL);
        assert_eq!(Offloads::without("all"), Offloads::NONE);
        assert_eq!(
            Offloads::without("udp-gso, tun-gro"),
            Offloads {
                tun_gro: false,
                udp_gso: false,
                ..Offloads::ALL
            }
        );
        // Unknown words change nothing.
        assert_eq!(Offloads::without("gso"), Offloads::ALL);
    }
}
