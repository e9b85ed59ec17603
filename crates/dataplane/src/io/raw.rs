//! Raw ESP (IP protocol 50) for clients that are not behind NAT. Needs
//! CAP_NET_RAW. Received datagrams start with the IPv4 header; sent ones
//! do not (the kernel writes it).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::context;

pub const IPPROTO_ESP: i32 = 50;

/// Opens the raw ESP socket bound to `addr` (port ignored).
pub fn bind(addr: SocketAddr) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::RAW, Some(Protocol::from(IPPROTO_ESP))).map_err(|e| {
        context(
            "raw ESP socket (protocol 50) for clients not behind NAT; grant CAP_NET_RAW or set rawEsp: false",
            e,
        )
    })?;
    socket
        .bind(&SockAddr::from(SocketAddr::new(addr.ip(), 0)))
        .map_err(|e| context(format!("bind raw ESP {}", addr.ip()), e))?;
    // SAFETY: the fd is owned by `socket` and handed over whole.
    Ok(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
}

/// The ESP packet inside a datagram read from a raw IPv4 socket.
pub fn strip_ipv4_header(datagram: &[u8]) -> Option<&[u8]> {
    let ihl = (*datagram.first()? & 0x0f) as usize * 4;
    if datagram[0] >> 4 != 4 || ihl < 20 || datagram.len() < ihl {
        return None;
    }
    Some(&datagram[ihl..])
}
