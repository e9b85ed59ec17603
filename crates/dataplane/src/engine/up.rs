//! What goes up to JS: control packets and events, queued by the workers
//! and delivered in batches by one dispatcher thread (at most one JS call
//! per batch, never one per packet).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A control packet for the control plane.
#[derive(Debug, Clone)]
pub enum Control {
    /// An IKE message (on 4500 with the non-ESP marker already removed).
    /// `local`: our address the peer sent it to (IP_PKTINFO), or on the
    /// way out the source address to send from; None: the route's choice.
    Ike {
        peer: SocketAddr,
        local: Option<IpAddr>,
        local_port: u16,
    },
    /// An L2TP control message that arrived inside ESP over `binding`.
    L2tp {
        binding: u32,
        peer: SocketAddr,
        peer_port: u16,
    },
    /// A PPP frame that is not IP data (LCP, auth, IPCP, ...) for a session,
    /// or an ICMPv6 Router Solicitation to answer.
    Ppp { session: u32 },
}

/// Something the control plane should know.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SaSoftLifetime {
        spi: u32,
        reason: &'static str,
    },
    SaHardLifetime {
        spi: u32,
        reason: &'static str,
    },
    /// The 32-bit sequence counter is near its end: rekey now.
    SaSequenceNearExhaustion {
        spi: u32,
        seq: u64,
    },
    /// ICV failures and replays on an SA in the last interval.
    SaAuthFailures {
        spi: u32,
        count: u64,
    },
    /// An authenticated packet came from a new outer address or port (a NAT
    /// rebinding, RFC 3948); replies follow it.
    PeerChanged {
        binding: u32,
        old: SocketAddr,
        new: SocketAddr,
    },
    SessionIdle {
        session: u32,
        idle_ms: u64,
    },
    /// A session's traffic crossed an anomaly threshold (`kind`:
    /// "rate-jump", packets/s; "destinations", distinct destinations in the
    /// interval). Raised once per crossing.
    SessionAnomaly {
        session: u32,
        kind: &'static str,
        value: u64,
        threshold: u64,
    },
    /// Dropped packets since the last report, by reason (at most one event
    /// per second).
    Drops {
        counts: Vec<(&'static str, u64)>,
    },
    /// A worker caught a panic while handling a batch; the batch was dropped.
    WorkerPanic {
        worker: usize,
        message: String,
    },
}

pub enum UpItem {
    Packet(Control, Vec<u8>),
    Event(Event),
}

/// One delivery to JS.
#[derive(Default)]
pub struct UpBatch {
    pub packets: Vec<u8>,
    pub offsets: Vec<u32>,
    pub meta: Vec<Control>,
    pub events: Vec<Event>,
    /// The batch's place in the up queue, given back when it is dropped.
    pub permit: UpPermit,
}

/// Items counted against the up-queue limit (`security.limits.controlQueue`)
/// until the permit is dropped. A sink keeps it until JS has handled the
/// batch: a batch waiting for a busy JS thread (in napi's threadsafe-function
/// queue, which has no bound of its own) still holds its place, so a flood
/// faster than JS drains is dropped and counted by the workers instead of
/// piling up in memory.
#[derive(Default)]
pub struct UpPermit {
    pending: Option<Arc<AtomicUsize>>,
    items: usize,
}

impl UpPermit {
    pub(crate) fn new(pending: Arc<AtomicUsize>, items: usize) -> Self {
        UpPermit {
            pending: Some(pending),
            items,
        }
    }
}

impl Drop for UpPermit {
    fn drop(&mut self) {
        if let Some(p) = &self.pending {
            p.fetch_sub(self.items, Ordering::Relaxed);
        }
    }
}

impl UpBatch {
    pub fn push(&mut self, item: UpItem) {
        match item {
            UpItem::Packet(meta, data) => {
                if self.offsets.is_empty() {
                    self.offsets.push(0);
                }
                self.packets.extend_from_slice(&data);
                self.offsets.push(self.packets.len() as u32);
                self.meta.push(meta);
            }
            UpItem::Event(e) => self.events.push(e),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty() && self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.meta.len() + self.events.len()
    }
}

/// Where batches go: the napi binding delivers them to a JS callback; tests
/// collect them.
pub trait UpSink: Send + 'static {
    fn deliver(&self, batch: UpBatch);
}
