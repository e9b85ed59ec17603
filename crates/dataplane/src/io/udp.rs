//! UDP sockets for IKE (500) and NAT-T (4500), moved in batches with
//! recvmmsg/sendmmsg.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::context;

/// Opens a UDP socket bound to `addr`. `reuse_port` lets several workers
/// bind the same port so the kernel spreads peers over them by flow hash.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<OwnedFd> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| context(format!("UDP socket for {addr}"), e))?;
    if addr.is_ipv6() {
        // Dual-stack only when bound to [::]; a specific v6 address is v6 only.
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_recv_buffer_size(8 << 20).ok();
    socket.set_send_buffer_size(8 << 20).ok();
    set_pmtudisc_dont(&socket, addr.is_ipv6())?;
    socket
        .bind(&SockAddr::from(addr))
        .map_err(|e| context(format!("bind UDP {addr}"), e))?;
    // SAFETY: the fd is owned by `socket` and handed over whole.
    Ok(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
}

/// Sealed packets larger than the path MTU must be fragmented by the kernel,
/// not dropped: clients behind small-MTU links rely on it.
fn set_pmtudisc_dont(socket: &Socket, v6: bool) -> io::Result<()> {
    let (level, name, value) = if v6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DONT,
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DONT,
        )
    };
    // SAFETY: value is a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The port a bound socket got (for port 0 in tests).
pub fn local_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let socket = socket2::SockRef::from(fd);
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))
}

pub(crate) fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                u32::from_be(sin.sin_addr.s_addr).into(),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let addr = SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            );
            // A v4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
            Some(match addr.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, addr.port())),
                None => SocketAddr::V6(addr),
            })
        }
        _ => None,
    }
}

pub(crate) fn std_to_sockaddr(
    addr: SocketAddr,
    v6_socket: bool,
) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let addr = match (addr, v6_socket) {
        (SocketAddr::V4(v4), true) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        (a, _) => a,
    };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Reusable buffers for one recvmmsg call.
pub struct RecvBatch {
    pub bufs: Vec<Vec<u8>>,
    pub lens: Vec<usize>,
    pub peers: Vec<Option<SocketAddr>>,
    storage: Vec<libc::sockaddr_storage>,
}

impl RecvBatch {
    /// `count` datagrams of up to `size` bytes each.
    pub fn new(count: usize, size: usize) -> Self {
        Self {
            bufs: (0..count).map(|_| vec![0u8; size]).collect(),
            lens: vec![0; count],
            peers: vec![None; count],
            // SAFETY: all-zero is a valid sockaddr_storage.
            storage: (0..count).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    /// Receives up to the batch size without blocking; returns how many.
    pub fn recv(&mut self, fd: i32) -> io::Result<usize> {
        let count = self.bufs.len();
        let mut iovs: Vec<libc::iovec> = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: zeroed mmsghdr is valid; we fill the pointers below.
        let mut msgs: Vec<libc::mmsghdr> = (0..count).map(|_| unsafe { zeroed() }).collect();
        for i in 0..count {
            msgs[i].msg_hdr.msg_name = &mut self.storage[i] as *mut _ as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer in msgs refers to live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        let n = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            self.lens[i] = msg.msg_len as usize;
            self.peers[i] = sockaddr_to_std(&self.storage[i]);
        }
        Ok(n)
    }
}

/// Sends `packets` (bytes, destination) with as few sendmmsg calls as the
/// kernel allows; returns how many were sent. Datagrams the kernel refuses
/// (e.g. no route) are skipped and counted by the caller from the return.
pub fn send_batch(fd: i32, v6_socket: bool, packets: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    if packets.is_empty() {
        return Ok(0);
    }
    let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> = packets
        .iter()
        .map(|(_, a)| std_to_sockaddr(*a, v6_socket))
        .collect();
    let mut iovs: Vec<libc::iovec> = packets
        .iter()
        .map(|(p, _)| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is valid; pointers are filled below.
    let mut msgs: Vec<libc::mmsghdr> = (0..packets.len()).map(|_| unsafe { zeroed() }).collect();
    for i in 0..packets.len() {
        msgs[i].msg_hdr.msg_name = &mut names[i].0 as *mut _ as *mut libc::c_void;
        msgs[i].msg_hdr.msg_namelen = names[i].1;
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    let mut next = 0usize;
    let mut delivered = 0usize;
    let mut last_error = None;
    while next < msgs.len() {
        // SAFETY: msgs[next..] point at live buffers and addresses.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                msgs[next..].as_mut_ptr(),
                (msgs.len() - next) as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                // The datagram at `next` failed (no route, too big): skip it.
                next += 1;
                last_error = Some(err);
            }
            continue;
        }
        next += n as usize;
        delivered += n as usize;
    }
    match last_error {
        Some(err) if delivered == 0 => Err(err),
        _ => Ok(delivered),
    }
}
