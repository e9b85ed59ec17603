//! TUN devices: create or attach to a named layer-3 device without packet
//! information headers (IFF_NO_PI), optionally with one queue per worker
//! (IFF_MULTI_QUEUE: the kernel keeps a flow on one queue), set its MTU and
//! bring it up.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::context;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

#[repr(C)]
struct IfReqMtu {
    name: [u8; libc::IFNAMSIZ],
    mtu: libc::c_int,
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
}

impl Tun {
    /// Creates the device `name` (or attaches to it if it exists and is a
    /// TUN device owned by us) with `queues` queues.
    pub fn open(name: &str, queues: usize) -> io::Result<Tun> {
        let req_name = ifname(name)?;
        let mut flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        if queues > 1 {
            flags |= libc::IFF_MULTI_QUEUE as libc::c_short;
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
        Ok(Tun {
            name: actual,
            queues: fds,
        })
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
        let sock = Self::control_socket()?;
        let mut req = IfReqMtu {
            name: ifname(&self.name)?,
            mtu: mtu as libc::c_int,
            _pad: [0; 20],
        };
        // SAFETY: req is a valid ifreq for SIOCSIFMTU.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &mut req) } < 0 {
            return Err(context(
                format!("set MTU {mtu} on {}", self.name),
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
