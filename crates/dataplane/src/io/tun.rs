//! TUN devices: create or attach to a named layer-3 device without packet
//! information headers (IFF_NO_PI), optionally with one queue per worker
//! (IFF_MULTI_QUEUE: the kernel keeps a flow on one queue), set its MTU and
//! bring it up.
//!
//! Offloads: the device is opened with IFF_VNET_HDR (a `virtio_net_hdr` in
//! front of every packet, see `offload.rs`) and TUNSETOFFLOAD asks for TCP
//! segmentation offload (TSO4/TSO6) with partial checksums, so one read
//! brings a TCP super-packet of up to 64 KiB. A kernel that refuses either
//! gets the plain device (or the header without offloads): same packets,
//! one per read.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{context, Offloads};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// _IOW('T', 208, unsigned int)
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_VNET_HDR: libc::c_int = 0x4000;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;
const TUN_F_TSO_ECN: libc::c_ulong = 0x08;

#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// struct ifreq with one int after the name (ifr_mtu, ifr_qlen).
#[repr(C)]
struct IfReqInt {
    name: [u8; libc::IFNAMSIZ],
    value: libc::c_int,
    _pad: [u8; 20],
}

fn ifname(name: &str) -> io::Result<[u8; libc::IFNAMSIZ]> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TUN name {name:?} must be 1 to 15 bytes, without '/' or NUL"),
        ));
    }
    let mut out = [0u8; libc::IFNAMSIZ];
    out[..name.len()].copy_from_slice(name.as_bytes());
    Ok(out)
}

/// An open TUN device: one fd per queue.
pub struct Tun {
    pub name: String,
    pub queues: Vec<OwnedFd>,
    /// Every packet read or written carries a `virtio_net_hdr`.
    pub vnet_hdr: bool,
    /// The kernel agreed to hand us TCP super-packets (TSO4/TSO6).
    pub tso: bool,
    /// Inbound TCP segments are joined before writing.
    pub coalesce: bool,
}

/// Where packets for the TUN device go: a queue's fd and whether it wants
/// the `virtio_net_hdr` in front.
#[derive(Debug, Clone, Copy)]
pub struct TunSink {
    pub fd: i32,
    pub vnet_hdr: bool,
    /// Join inbound TCP segments into super-packets (needs `vnet_hdr`).
    pub coalesce: bool,
}

impl TunSink {
    /// Writes one whole IP packet (with a zero `virtio_net_hdr` first when
    /// the device wants one: no GSO, checksums complete).
    pub fn write(&self, packet: &[u8]) -> io::Result<()> {
        if !self.vnet_hdr {
            return write(self.fd, packet);
        }
        write_vnet(self.fd, &[0u8; super::offload::VNET_HDR_LEN], packet)
    }
}

/// The inbound path's way to the TUN device: with IFF_VNET_HDR, TCP
/// segments are coalesced (`offload::Gro`) until `flush`, which the worker
/// calls at the end of every receive batch. Counts its system calls.
pub struct TunWriter {
    pub sink: TunSink,
    gro: Option<super::offload::Gro>,
    /// write(v) calls, of which GSO super-packets, and failed ones.
    pub calls: u64,
    pub gso_writes: u64,
    pub failed: u64,
}

impl TunWriter {
    pub fn new(sink: TunSink) -> TunWriter {
        let coalesce = sink.vnet_hdr && sink.coalesce;
        TunWriter {
            sink,
            gro: coalesce.then(super::offload::Gro::new),
            calls: 0,
            gso_writes: 0,
            failed: 0,
        }
    }

    /// Takes one IP packet; written now, or held to be joined with the
    /// next segments of its TCP flow.
    pub fn write(&mut self, packet: &[u8]) -> io::Result<()> {
        let TunWriter {
            sink,
            gro,
            calls,
            gso_writes,
            failed,
        } = self;
        match gro {
            None => {
                *calls += 1;
                sink.write(packet)
            }
            Some(gro) => {
                gro.push(packet, &mut |hdr, bytes| {
                    emit(sink.fd, hdr, bytes, calls, gso_writes, failed)
                });
                Ok(())
            }
        }
    }

    /// Writes everything held.
    pub fn flush(&mut self) {
        let TunWriter {
            sink,
            gro,
            calls,
            gso_writes,
            failed,
        } = self;
        if let Some(gro) = gro {
            gro.flush(&mut |hdr, bytes| emit(sink.fd, hdr, bytes, calls, gso_writes, failed));
        }
    }
}

fn emit(fd: i32, hdr: &[u8], bytes: &[u8], calls: &mut u64, gso: &mut u64, failed: &mut u64) {
    *calls += 1;
    if hdr[1] != super::offload::GSO_NONE {
        *gso += 1;
    }
    if write_vnet(fd, hdr, bytes).is_err() {
        *failed += 1;
    }
}

/// Writes `hdr` and `packet` as one packet (writev: no copy to join them).
pub fn write_vnet(fd: i32, hdr: &[u8], packet: &[u8]) -> io::Result<()> {
    let iov = [
        libc::iovec {
            iov_base: hdr.as_ptr() as *mut libc::c_void,
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: packet.as_ptr() as *mut libc::c_void,
            iov_len: packet.len(),
        },
    ];
    // SAFETY: both iovecs point at slices that live across the call; the
    // kernel only reads them.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Tun {
    /// Creates the device `name` (or attaches to it if it exists and is a
    /// TUN device owned by us) with `queues` queues.
    pub fn open(name: &str, queues: usize, offloads: Offloads) -> io::Result<Tun> {
        if offloads.tun {
            match Self::open_with(name, queues, true, offloads.tun_gro) {
                Ok(tun) => return Ok(tun),
                // A kernel without IFF_VNET_HDR says EINVAL; anything else is
                // a real failure (permissions, a device of another kind).
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Self::open_with(name, queues, false, false)
    }

    fn open_with(name: &str, queues: usize, vnet_hdr: bool, coalesce: bool) -> io::Result<Tun> {
        let req_name = ifname(name)?;
        let mut flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        if queues > 1 {
            flags |= libc::IFF_MULTI_QUEUE as libc::c_short;
        }
        if vnet_hdr {
            flags |= IFF_VNET_HDR as libc::c_short;
        }
        let mut fds = Vec::with_capacity(queues.max(1));
        for _ in 0..queues.max(1) {
            // SAFETY: plain open(2) of a path literal.
            let fd =
                unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(context("open /dev/net/tun", io::Error::last_os_error()));
            }
            // SAFETY: fd was just opened and is owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut req = IfReqFlags {
                name: req_name,
                flags,
                _pad: [0; 22],
            };
            // SAFETY: req is a valid ifreq-shaped struct for TUNSETIFF.
            if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
                return Err(context(
                    format!("create TUN {name}"),
                    io::Error::last_os_error(),
                ));
            }
            fds.push(fd);
        }
        let actual = CStr::from_bytes_until_nul(&req_name)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| name.to_string());
        let tso = vnet_hdr && fds.iter().all(|fd| set_offload(fd.as_raw_fd()));
        if vnet_hdr && !tso {
            // Refused: no offloads at all, so no queue gets super-packets.
            for fd in &fds {
                // SAFETY: TUNSETOFFLOAD takes its argument by value.
                unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, 0 as libc::c_ulong) };
            }
        }
        Ok(Tun {
            name: actual,
            queues: fds,
            vnet_hdr,
            tso,
            coalesce: vnet_hdr && coalesce,
        })
    }

    /// The sink for queue `i`.
    pub fn sink(&self, i: usize) -> TunSink {
        TunSink {
            fd: self.queues[i].as_raw_fd(),
            vnet_hdr: self.vnet_hdr,
            coalesce: self.coalesce,
        }
    }

    fn control_socket() -> io::Result<OwnedFd> {
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just created and is owned here.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        self.set_int(libc::SIOCSIFMTU, mtu, "MTU")
    }

    /// Sets the device's transmit queue length: how many packets routed into
    /// the device wait for a worker's read, per queue, before the kernel
    /// drops them (counted as the device's tx_dropped).
    pub fn set_tx_queue_len(&self, len: u32) -> io::Result<()> {
        self.set_int(libc::SIOCSIFTXQLEN, len, "txqueuelen")
    }

    /// One int-valued interface setting (`request`: SIOCSIFMTU, SIOCSIFTXQLEN).
    fn set_int(&self, request: libc::Ioctl, value: u32, what: &str) -> io::Result<()> {
        let sock = Self::control_socket()?;
        let mut req = IfReqInt {
            name: ifname(&self.name)?,
            value: value as libc::c_int,
            _pad: [0; 20],
        };
        // SAFETY: req is a valid ifreq whose int field is what `request` reads.
        if unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut req) } < 0 {
            return Err(context(
                format!("set {what} {value} on {}", self.name),
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Brings the link up (IFF_UP); addresses and routes are the operator's.
    pub fn set_up(&self) -> io::Result<()> {
        let sock = Self::control_socket()?;
        let mut req = IfReqFlags {
            name: ifname(&self.name)?,
            flags: 0,
            _pad: [0; 22],
        };
        // SAFETY: req is a valid ifreq for SIOCGIFFLAGS / SIOCSIFFLAGS.
        unsafe {
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
                return Err(context(
                    format!("get flags of {}", self.name),
                    io::Error::last_os_error(),
                ));
            }
            req.flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) < 0 {
                return Err(context(
                    format!("bring {} up", self.name),
                    io::Error::last_os_error(),
                ));
            }
        }
        Ok(())
    }
}

/// Asks for TCP segmentation offload with partial checksums; false if the
/// kernel refuses.
fn set_offload(fd: i32) -> bool {
    let features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    // SAFETY: TUNSETOFFLOAD takes its argument by value; no pointers.
    unsafe { libc::ioctl(fd, TUNSETOFFLOAD, features) == 0 }
}

/// Reads one packet without blocking; `Ok(None)` when none is waiting.
pub fn read(fd: i32, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: buf is valid for writes of its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(n as usize))
}

/// Writes one packet; the kernel takes a whole packet per write.
pub fn write(fd: i32, packet: &[u8]) -> io::Result<()> {
    // SAFETY: packet is valid for reads of its length.
    let n = unsafe { libc::write(fd, packet.as_ptr() as *const libc::c_void, packet.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts an fd in non-blocking mode (reads are driven by poll).
pub fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
