//! UDP sockets for IKE (500) and NAT-T (4500), moved in batches with
//! recvmmsg/sendmmsg.
//!
//! Offloads on the NAT-T sockets: UDP_GRO (the kernel hands us a run of
//! same-sized datagrams from one peer as one buffer with a segment size)
//! and UDP_SEGMENT (we hand it a run of same-sized datagrams to one peer as
//! one message). Both cut the kernel's per-datagram work; both fall back to
//! plain datagrams when the kernel refuses.
//!
//! On every UDP socket, IP_PKTINFO / IPV6_RECVPKTINFO tell which of our
//! addresses each datagram was sent to (a socket bound to 0.0.0.0 cannot
//! know otherwise), and the same control message on a send picks the
//! source address: IKE answers from the address the peer addressed.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::context;

const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;
/// The kernel's limits for one UDP_SEGMENT send (UDP_MAX_SEGMENTS, and the
/// 16-bit IP length).
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 65000;
/// Set when the kernel refused a UDP_SEGMENT send for want of support.
static GSO_REFUSED: AtomicBool = AtomicBool::new(false);

/// Asks for UDP_GRO on a receiving socket; false if the kernel refuses.
pub fn enable_gro(fd: &OwnedFd) -> bool {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int that lives across the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            UDP_GRO,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

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
    enable_pktinfo(&socket, addr.is_ipv6())?;
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

/// Asks the kernel to say, with each datagram, the local address it was
/// sent to (on a dual-stack socket IPv4 ones arrive as ::ffff:a.b.c.d).
fn enable_pktinfo(socket: &Socket, v6: bool) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(context(
            "IP_PKTINFO on a UDP socket",
            io::Error::last_os_error(),
        ))
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
    /// With UDP_GRO: the size of each datagram in `bufs[i]` (the last may be
    /// shorter); 0 when it holds one datagram.
    pub segment: Vec<usize>,
    /// Our address each datagram was sent to (IP_PKTINFO), when known.
    pub local: Vec<Option<IpAddr>>,
    storage: Vec<libc::sockaddr_storage>,
    /// Room for the control messages of each datagram (UDP_GRO, PKTINFO).
    control: Vec<Control>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovs` and `msgs` only ever point into this
// batch's own buffers and are rebuilt before each call; a batch belongs to
// one worker thread at a time.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// `count` datagrams of up to `size` bytes each.
    pub fn new(count: usize, size: usize) -> Self {
        Self {
            bufs: (0..count).map(|_| vec![0u8; size]).collect(),
            lens: vec![0; count],
            peers: vec![None; count],
            segment: vec![0; count],
            local: vec![None; count],
            // SAFETY: all-zero is a valid sockaddr_storage.
            storage: (0..count).map(|_| unsafe { zeroed() }).collect(),
            control: vec![[0u64; CONTROL_WORDS]; count],
            iovs: Vec::with_capacity(count),
            // SAFETY: all-zero is a valid mmsghdr.
            msgs: (0..count).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    /// The datagrams in `bufs[i]`, as (bytes received, size of each): one
    /// datagram, or with UDP_GRO a run of `segment[i]`-sized ones (the last
    /// may be shorter). The size is never 0.
    pub fn datagram_step(&self, i: usize) -> (usize, usize) {
        let len = self.lens[i];
        let step = if self.segment[i] == 0 {
            len
        } else {
            self.segment[i]
        };
        (len, step.max(1))
    }

    /// Receives up to the batch size without blocking; returns how many.
    pub fn recv(&mut self, fd: i32) -> io::Result<usize> {
        let count = self.bufs.len();
        self.iovs.clear();
        self.iovs.extend(self.bufs.iter_mut().map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }));
        for i in 0..count {
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = &mut self.storage[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.control[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = size_of::<Control>() as _;
            h.msg_flags = 0;
        }
        // SAFETY: every pointer in msgs refers to live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
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
        for i in 0..n {
            self.lens[i] = self.msgs[i].msg_len as usize;
            self.peers[i] = sockaddr_to_std(&self.storage[i]);
            let info = control_info(&self.msgs[i].msg_hdr);
            self.segment[i] = info.segment;
            self.local[i] = info.local;
        }
        Ok(n)
    }
}

/// Control data of one message, 8-aligned: room for UDP_GRO (24 bytes)
/// and IPV6_PKTINFO (40 bytes) together, or one PKTINFO on a send.
const CONTROL_WORDS: usize = 12;
type Control = [u64; CONTROL_WORDS];

/// What a received message's control data says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ControlInfo {
    /// The UDP_GRO segment size, or 0.
    pub segment: usize,
    /// The destination address of the datagram (one of ours).
    pub local: Option<IpAddr>,
}

/// Reads UDP_GRO and IP_PKTINFO / IPV6_PKTINFO from a received message's
/// control data; anything else (or a truncated message) is ignored.
pub(crate) fn control_info(h: &libc::msghdr) -> ControlInfo {
    let mut info = ControlInfo::default();
    // SAFETY: `h` is a msghdr the kernel just filled (or a test built the
    // same way); CMSG_FIRSTHDR and CMSG_NXTHDR stay within
    // msg_control[..msg_controllen], and each payload is read unaligned
    // only after checking cmsg_len covers the type read.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let (level, kind, len) = ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len as usize);
            // The payload must lie inside the message and the message
            // inside the control data (CMSG_NXTHDR does not check the last).
            let controllen: usize = h.msg_controllen as _;
            let within = (c as usize - h.msg_control as usize) + len <= controllen;
            let fits = |size: usize| within && len >= libc::CMSG_LEN(size as u32) as usize;
            let data = libc::CMSG_DATA(c);
            if level == libc::SOL_UDP && kind == UDP_GRO && fits(size_of::<libc::c_int>()) {
                let size = std::ptr::read_unaligned(data as *const libc::c_int);
                info.segment = size.max(0) as usize;
            } else if level == libc::IPPROTO_IP
                && kind == libc::IP_PKTINFO
                && fits(size_of::<libc::in_pktinfo>())
            {
                let p = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                info.local = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))));
            } else if level == libc::IPPROTO_IPV6
                && kind == libc::IPV6_PKTINFO
                && fits(size_of::<libc::in6_pktinfo>())
            {
                let p = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                let v6 = Ipv6Addr::from(p.ipi6_addr.s6_addr);
                // A v4 datagram on a dual-stack socket: ::ffff:a.b.c.d.
                info.local = Some(match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(v6),
                });
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    info
}

/// Writes a PKTINFO control message choosing `source` as a send's source
/// address into `control`; returns msg_controllen, or None for a source
/// that picks nothing (unspecified) or cannot go on this socket (v6 on v4).
/// On an IPv6 socket an IPv4 source goes as ::ffff:a.b.c.d (the kernel
/// takes that for v4).
fn write_source(control: &mut Control, v6_socket: bool, source: IpAddr) -> Option<usize> {
    if source.is_unspecified() || (!v6_socket && source.is_ipv6()) {
        return None;
    }
    // SAFETY: all-zero is a valid msghdr.
    let mut h: libc::msghdr = unsafe { zeroed() };
    h.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE is pure arithmetic.
    let space = |size: usize| unsafe { libc::CMSG_SPACE(size as u32) } as usize;
    let (level, kind, size) = if v6_socket {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            size_of::<libc::in6_pktinfo>(),
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
        )
    };
    h.msg_controllen = space(size) as _;
    // SAFETY: `control` is 96 zeroed-or-reused, 8-aligned bytes, more than
    // CMSG_SPACE of either pktinfo (32 or 40), so the header and its
    // payload fit; the payload is written unaligned.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&h);
        std::ptr::write_bytes(c as *mut u8, 0, space(size));
        (*c).cmsg_level = level;
        (*c).cmsg_type = kind;
        (*c).cmsg_len = libc::CMSG_LEN(size as u32) as _;
        let data = libc::CMSG_DATA(c);
        match (v6_socket, source) {
            (false, IpAddr::V4(v4)) => {
                let s_addr = u32::from(v4).to_be();
                let p = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr },
                    ipi_addr: libc::in_addr { s_addr },
                };
                std::ptr::write_unaligned(data as *mut libc::in_pktinfo, p);
            }
            (_, ip) => {
                let v6 = match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                let p = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: v6.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                std::ptr::write_unaligned(data as *mut libc::in6_pktinfo, p);
            }
        }
    }
    Some(space(size))
}

/// A run of packets to one destination sent as one message: all of
/// `segment` bytes but the last, which may be shorter.
struct Run {
    first: usize,
    count: usize,
    segment: usize,
}

fn plan_runs(packets: &[(&[u8], SocketAddr)], gso: bool) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut total = 0;
    for (i, (bytes, dest)) in packets.iter().enumerate() {
        if let Some(run) = runs.last_mut() {
            let last = packets[run.first + run.count - 1].0.len();
            if gso
                && run.count < GSO_MAX_SEGMENTS
                && packets[run.first].1 == *dest
                && last == run.segment
                && bytes.len() <= run.segment
                && total + bytes.len() <= GSO_MAX_BYTES
            {
                run.count += 1;
                total += bytes.len();
                continue;
            }
        }
        total = bytes.len();
        runs.push(Run {
            first: i,
            count: 1,
            segment: bytes.len(),
        });
    }
    runs
}

/// Sends sealed data packets: runs of same-sized datagrams to one peer go
/// as one UDP_SEGMENT message, all messages in as few sendmmsg calls as
/// the kernel allows. Returns (packets sent, system calls made).
pub fn send_batch_gso(
    fd: i32,
    v6_socket: bool,
    packets: &[(&[u8], SocketAddr)],
    gso: bool,
) -> (usize, u64) {
    let gso = gso && !GSO_REFUSED.load(Relaxed);
    let runs = plan_runs(packets, gso);
    if runs.len() == packets.len() {
        let calls = packets.len().div_ceil(1024).max(1) as u64;
        return (send_batch(fd, v6_socket, packets).unwrap_or(0), calls);
    }
    let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> = runs
        .iter()
        .map(|r| std_to_sockaddr(packets[r.first].1, v6_socket))
        .collect();
    let mut iovs: Vec<libc::iovec> = packets
        .iter()
        .map(|(p, _)| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    let mut control: Vec<[u64; 4]> = vec![[0u64; 4]; runs.len()];
    // SAFETY: zeroed mmsghdr is valid; pointers are filled below.
    let mut msgs: Vec<libc::mmsghdr> = (0..runs.len()).map(|_| unsafe { zeroed() }).collect();
    for (i, run) in runs.iter().enumerate() {
        let h = &mut msgs[i].msg_hdr;
        h.msg_name = &mut names[i].0 as *mut _ as *mut libc::c_void;
        h.msg_namelen = names[i].1;
        h.msg_iov = &mut iovs[run.first];
        h.msg_iovlen = run.count as _;
        if run.count > 1 {
            h.msg_control = control[i].as_mut_ptr() as *mut libc::c_void;
            // SAFETY: CMSG_SPACE is pure arithmetic.
            h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
            // SAFETY: msg_control points at 32 zeroed, 8-aligned bytes, more
            // than CMSG_SPACE(2); the header and its u16 fit inside.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, run.segment as u16);
            }
        }
    }
    let mut next = 0usize;
    let mut sent = 0usize;
    let mut calls = 0u64;
    while next < msgs.len() {
        calls += 1;
        // SAFETY: msgs[next..] point at live buffers, addresses and control data.
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
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let run = &runs[next];
            if run.count > 1 {
                // The kernel could not segment this one (no support, or a
                // segment over the route's MTU): send its datagrams one by one.
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EIO) | Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
                ) {
                    GSO_REFUSED.store(true, Relaxed);
                }
                let slice = &packets[run.first..run.first + run.count];
                sent += send_batch(fd, v6_socket, slice).unwrap_or(0);
                calls += 1;
            }
            next += 1;
            continue;
        }
        for run in &runs[next..next + n as usize] {
            sent += run.count;
        }
        next += n as usize;
    }
    (sent, calls)
}

/// Sends `packets` (bytes, destination) with as few sendmmsg calls as the
/// kernel allows; returns how many were sent. Datagrams the kernel refuses
/// (e.g. no route) are skipped and counted by the caller from the return.
pub fn send_batch(fd: i32, v6_socket: bool, packets: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    send_batch_from(fd, v6_socket, packets, &[])
}

/// As send_batch, with `sources[i]` (when given and not None) as the
/// source address of `packets[i]` instead of the one the route picks.
pub fn send_batch_from(
    fd: i32,
    v6_socket: bool,
    packets: &[(&[u8], SocketAddr)],
    sources: &[Option<IpAddr>],
) -> io::Result<usize> {
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
    let mut control: Vec<Control> = vec![[0u64; CONTROL_WORDS]; sources.len()];
    // SAFETY: zeroed mmsghdr is valid; pointers are filled below.
    let mut msgs: Vec<libc::mmsghdr> = (0..packets.len()).map(|_| unsafe { zeroed() }).collect();
    for i in 0..packets.len() {
        msgs[i].msg_hdr.msg_name = &mut names[i].0 as *mut _ as *mut libc::c_void;
        msgs[i].msg_hdr.msg_namelen = names[i].1;
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        let Some(source) = sources.get(i).copied().flatten() else {
            continue;
        };
        if let Some(len) = write_source(&mut control[i], v6_socket, source) {
            msgs[i].msg_hdr.msg_control = control[i].as_mut_ptr() as *mut libc::c_void;
            msgs[i].msg_hdr.msg_controllen = len as _;
        }
    }
    let mut next = 0usize;
    let mut delivered = 0usize;
    let mut last_error = None;
    while next < msgs.len() {
        // SAFETY: msgs[next..] point at live buffers, addresses and control data.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn shape(runs: &[Run]) -> Vec<(usize, usize, usize)> {
        runs.iter().map(|r| (r.first, r.count, r.segment)).collect()
    }

    /// A received message's control data as the kernel lays it out.
    fn parse(control: &mut Control, len: usize) -> ControlInfo {
        // SAFETY: all-zero is a valid msghdr.
        let mut h: libc::msghdr = unsafe { zeroed() };
        h.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        h.msg_controllen = len as _;
        control_info(&h)
    }

    #[test]
    fn pktinfo_gives_the_address_the_peer_sent_to() {
        let v4 = IpAddr::from([10, 250, 0, 3]);
        let v6: IpAddr = "2001:db8::3".parse().unwrap();
        for (v6_socket, source) in [(false, v4), (true, v4), (true, v6)] {
            let mut control = [0u64; CONTROL_WORDS];
            let len = write_source(&mut control, v6_socket, source).unwrap();
            let info = parse(&mut control, len);
            // A v4 datagram on a dual-stack socket reads as v4, not ::ffff:.
            assert_eq!(info.local, Some(source), "v6 socket {v6_socket}");
            assert_eq!(info.segment, 0);
        }
        // Nothing to choose: no control message at all.
        let mut control = [0u64; CONTROL_WORDS];
        assert_eq!(write_source(&mut control, false, v6), None);
        assert_eq!(
            write_source(&mut control, true, IpAddr::from([0u8; 4])),
            None
        );
    }

    #[test]
    fn control_data_with_gro_and_pktinfo_and_truncations() {
        // Bytes as recvmsg fills them on x86_64/aarch64 (cmsghdr of 16
        // bytes, 8-aligned): UDP_GRO = 1400, then IP_PKTINFO for 10.250.0.3.
        let mut bytes = Vec::new();
        let cmsg = |bytes: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]| {
            bytes.extend_from_slice(&((16 + data.len()) as u64).to_ne_bytes());
            bytes.extend_from_slice(&level.to_ne_bytes());
            bytes.extend_from_slice(&kind.to_ne_bytes());
            bytes.extend_from_slice(data);
            bytes.resize(bytes.len().div_ceil(8) * 8, 0);
        };
        cmsg(&mut bytes, libc::SOL_UDP, UDP_GRO, &1400i32.to_ne_bytes());
        let mut pktinfo = 7i32.to_ne_bytes().to_vec(); // ipi_ifindex
        pktinfo.extend_from_slice(&[10, 250, 0, 1]); // ipi_spec_dst (routing)
        pktinfo.extend_from_slice(&[10, 250, 0, 3]); // ipi_addr (header destination)
        cmsg(&mut bytes, libc::IPPROTO_IP, libc::IP_PKTINFO, &pktinfo);
        let mut control = [0u64; CONTROL_WORDS];
        let words: Vec<u64> = bytes
            .chunks(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        control[..words.len()].copy_from_slice(&words);
        assert_eq!(
            parse(&mut control, bytes.len()),
            ControlInfo {
                segment: 1400,
                local: Some(IpAddr::from([10, 250, 0, 3]))
            }
        );
        // Cut inside the PKTINFO message: the GRO size alone is read.
        assert_eq!(
            parse(&mut control, bytes.len() - 8),
            ControlInfo {
                segment: 1400,
                local: None
            }
        );
        // A PKTINFO whose cmsg_len is too short for in_pktinfo is ignored.
        control[3] = 16 + 4;
        assert_eq!(parse(&mut control, bytes.len()).local, None);
        assert_eq!(parse(&mut control, 0), ControlInfo::default());
    }

    #[test]
    fn runs_join_equal_sizes_to_one_peer_with_a_shorter_last() {
        let big = &[0u8; 1400][..];
        let small = &[0u8; 600][..];
        let p = |b, port| (b, addr(port));
        let packets: Vec<(&[u8], SocketAddr)> = vec![
            p(big, 1),
            p(big, 1),
            p(small, 1), // shorter: ends the run
            p(big, 1),   // a new run
            p(big, 2),   // another peer
            p(small, 2),
            p(big, 2), // after a shorter one: new run
        ];
        assert_eq!(
            shape(&plan_runs(&packets, true)),
            [(0, 3, 1400), (3, 1, 1400), (4, 2, 1400), (6, 1, 1400)]
        );
        // Without GSO every datagram is its own message.
        assert_eq!(plan_runs(&packets, false).len(), packets.len());
    }

    #[test]
    fn runs_respect_the_kernel_limits() {
        let seg = &[0u8; 1000][..];
        let packets: Vec<(&[u8], SocketAddr)> = (0..200).map(|_| (seg, addr(1))).collect();
        let runs = plan_runs(&packets, true);
        // 65,000 bytes at most: 65 segments of 1000 would pass the byte
        // limit but not the 64-segment one.
        assert!(runs
            .iter()
            .all(|r| r.count <= GSO_MAX_SEGMENTS && r.count * 1000 <= GSO_MAX_BYTES));
        assert_eq!(runs.iter().map(|r| r.count).sum::<usize>(), 200);
        assert_eq!(shape(&runs)[..2], [(0, 64, 1000), (64, 64, 1000)]);
        let mtu = &[0u8; 1500][..];
        let many: Vec<(&[u8], SocketAddr)> = (0..100).map(|_| (mtu, addr(1))).collect();
        assert_eq!(plan_runs(&many, true)[0].count, 43); // 43 * 1500 <= 65,000
    }
}
