//! The engine's packet path without sockets, TUN queues or threads, for the
//! fuzz targets (`fuzz/`) and the regression tests. Not for other uses.
//!
//! A [`Harness`] runs exactly the functions a worker runs on each datagram
//! it reads (`inbound::natt_datagram`, `inbound::raw_datagram`,
//! `outbound::from_tun`), over tables the caller fills. What a worker would
//! write to TUN goes to /dev/null when it can be opened, and is dropped
//! otherwise; what it would send is returned.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Instant;

use crate::engine::outbound::{self, HEADROOM, TAILROOM};
use crate::engine::{inbound, Counters, Io, Shared, UpBudget, UpItem, UpLimits};
use crate::io::sys;
use crate::io::tun::{TunSink, TunWriter};
use crate::table::{Encap, Tables};

/// A packet `from_tun` sealed: what a worker would send to `dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub packet: Vec<u8>,
    pub dest: SocketAddr,
    pub encap: Encap,
}

pub struct Harness {
    shared: Shared,
    _up: Receiver<Vec<UpItem>>,
    tun_sink: Option<OwnedFd>,
}

impl Harness {
    /// A data plane over `tables` with no socket and no TUN device. Needs
    /// one eventfd (the engine's shutdown signal, never signalled here).
    pub fn new(tables: Arc<Tables>) -> io::Result<Harness> {
        let (up, rx) = sync_channel(1);
        let tun_sink = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()
            .map(OwnedFd::from);
        Ok(Harness {
            shared: Shared {
                tables,
                counters: Counters::default(),
                io: Io {
                    ike: Vec::new(),
                    ike_addrs: Vec::new(),
                    ike_v6: Vec::new(),
                    natt: vec![Vec::new()],
                    natt_v6: Vec::new(),
                    natt_addrs: Vec::new(),
                    raw: None,
                    tun: None,
                    offloads: crate::io::Offloads::NONE,
                },
                up,
                up_budget: Arc::new(UpBudget::new(UpLimits { items: 1, bytes: 1 })),
                started: Instant::now(),
                stop: AtomicBool::new(false),
                wake: sys::eventfd()?,
            },
            _up: rx,
            tun_sink,
        })
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.shared.tables
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn tun_fd(&self) -> Option<TunSink> {
        self.tun_sink.as_ref().map(|fd| TunSink {
            fd: fd.as_raw_fd(),
            vnet_hdr: false,
            coalesce: false,
        })
    }

    /// A datagram received on UDP 4500 (local port 4500) from `peer`;
    /// returns what would go up to JS.
    pub fn natt(&self, datagram: &mut [u8], peer: SocketAddr) -> Vec<UpItem> {
        let mut up = Vec::new();
        let mut tun = self.tun_fd().map(TunWriter::new);
        inbound::natt_datagram(
            &self.shared,
            datagram,
            peer,
            (None, 4500),
            tun.as_mut(),
            &mut up,
        );
        up
    }

    /// A datagram read from the raw ESP socket (IPv4 header first).
    pub fn raw(&self, datagram: &mut [u8], peer: SocketAddr) -> Vec<UpItem> {
        let mut up = Vec::new();
        let mut tun = self.tun_fd().map(TunWriter::new);
        inbound::raw_datagram(&self.shared, datagram, peer, tun.as_mut(), &mut up);
        up
    }

    /// An IP packet read from TUN, in a buffer with exactly the headroom and
    /// tailroom a worker's buffers have; returns the ESP packet to send.
    pub fn from_tun(&self, packet: &[u8]) -> Option<Sent> {
        let mut buf = vec![0u8; HEADROOM + packet.len() + TAILROOM];
        buf[HEADROOM..HEADROOM + packet.len()].copy_from_slice(packet);
        let tun_fd = self.tun_fd().unwrap_or(TunSink {
            fd: -1,
            vnet_hdr: false,
            coalesce: false,
        });
        let out = outbound::from_tun(&self.shared, &mut buf, packet.len(), tun_fd)?;
        Some(Sent {
            packet: buf[out.start..out.start + out.len].to_vec(),
            dest: out.dest,
            encap: out.encap,
        })
    }
}
