//! What goes up to JS: control packets and events, queued by the workers
//! and delivered in batches by one dispatcher thread (at most one JS call
//! per batch, never one per packet).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::counters::{bump, Counters};

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
    /// The peer left `unanswered` LCP Echo-Requests of the data plane's
    /// keepalive unanswered: the control plane takes the link down ('echo
    /// timeout'). Raised once.
    SessionEchoTimeout {
        session: u32,
        unanswered: u32,
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

/// The bounds of the queue to JS: items (`security.limits.controlQueue`)
/// and payload bytes (`security.limits.controlQueueBytes`). The byte bound
/// is what holds memory when the items are large: 65,536 IKE datagrams of
/// 60 KB would be ~4 GB.
#[derive(Debug, Clone, Copy)]
pub struct UpLimits {
    pub items: usize,
    pub bytes: usize,
}

/// Why an item was not queued: which bound it met (counted `up_queue_full`
/// and `up_queue_bytes_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Items,
    Bytes,
}

/// What is queued for JS and not yet handled by it, against `UpLimits`.
///
/// IKE from the network (anyone can send it, unauthenticated) may fill only
/// `limit - limit/8` of either bound; the last eighth is kept for what came
/// inside an authenticated ESP SA (L2TP and PPP control of established
/// sessions) and for events, so a flood of junk IKE while JS is slow or
/// stalled does not also drop the control frames that keep established
/// sessions alive (L2TP Hello, LCP Echo). There is no per-source fairness
/// within IKE: an established peer's own IKE (DPD, Quick Mode rekey)
/// competes with the flood and relies on its retransmissions.
#[derive(Debug)]
pub struct UpBudget {
    limits: UpLimits,
    items: AtomicUsize,
    bytes: AtomicUsize,
}

impl UpBudget {
    pub fn new(limits: UpLimits) -> Self {
        UpBudget {
            limits: UpLimits {
                items: limits.items.max(1),
                bytes: limits.bytes.max(1),
            },
            items: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    /// Items queued and not yet handled (a gauge).
    pub fn items(&self) -> usize {
        self.items.load(Ordering::Relaxed)
    }

    /// Payload bytes queued and not yet handled (a gauge).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Takes `item`'s place in both bounds, or neither.
    pub fn take(&self, item: &UpItem) -> Result<(), Refused> {
        let (items, bytes) = if item.authenticated() {
            (self.limits.items, self.limits.bytes)
        } else {
            (
                unauthenticated_share(self.limits.items),
                unauthenticated_share(self.limits.bytes),
            )
        };
        if !reserve(&self.items, items, 1) {
            return Err(Refused::Items);
        }
        if !reserve(&self.bytes, bytes, item.payload_len()) {
            self.items.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::Bytes);
        }
        Ok(())
    }

    /// Keeps the items that fit and drops the rest, each counted under the
    /// bound it met.
    pub fn admit(&self, items: &mut Vec<UpItem>, counters: &Counters) {
        items.retain(|item| match self.take(item) {
            Ok(()) => true,
            Err(Refused::Items) => {
                bump(&counters.up_queue_full);
                false
            }
            Err(Refused::Bytes) => {
                bump(&counters.up_queue_bytes_full);
                false
            }
        });
    }

    /// Gives back the places of items that were taken but not queued.
    pub fn give_back(&self, items: &[UpItem]) {
        let bytes = items.iter().map(UpItem::payload_len).sum();
        self.release(items.len(), bytes);
    }

    fn release(&self, items: usize, bytes: usize) {
        self.items.fetch_sub(items, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What unauthenticated items may fill of a bound (at least 1).
fn unauthenticated_share(limit: usize) -> usize {
    (limit - limit / 8).max(1)
}

/// Adds `n` to `pending` if the sum stays within `limit`; all or nothing.
fn reserve(pending: &AtomicUsize, limit: usize, n: usize) -> bool {
    pending
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
            (p + n <= limit).then_some(p + n)
        })
        .is_ok()
}

/// A batch's places in the up queue (`UpBudget`) until the permit is
/// dropped. A sink keeps it until JS has handled the batch: a batch waiting
/// for a busy JS thread (in napi's threadsafe-function queue, which has no
/// bound of its own) still holds its places, so a flood faster than JS
/// drains is dropped and counted by the workers instead of piling up in
/// memory.
#[derive(Default)]
pub struct UpPermit {
    budget: Option<Arc<UpBudget>>,
    items: usize,
    bytes: usize,
}

impl UpPermit {
    pub(crate) fn new(budget: Arc<UpBudget>, items: usize, bytes: usize) -> Self {
        UpPermit {
            budget: Some(budget),
            items,
            bytes,
        }
    }
}

impl Drop for UpPermit {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.release(self.items, self.bytes);
        }
    }
}

impl UpItem {
    /// The bytes it brings (packet data; an event counts as none).
    pub fn payload_len(&self) -> usize {
        match self {
            UpItem::Packet(_, data) => data.len(),
            UpItem::Event(_) => 0,
        }
    }

    /// It came inside an authenticated ESP SA, or from the data plane
    /// itself: not something any stranger can send.
    fn authenticated(&self) -> bool {
        !matches!(self, UpItem::Packet(Control::Ike { .. }, _))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const KIB: usize = 1024;

    fn ike(len: usize) -> UpItem {
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
        UpItem::Packet(
            Control::Ike {
                peer,
                local: None,
                local_port: 500,
            },
            vec![0; len],
        )
    }

    fn l2tp(len: usize) -> UpItem {
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4500);
        UpItem::Packet(
            Control::L2tp {
                binding: 1,
                peer,
                peer_port: 1701,
            },
            vec![0; len],
        )
    }

    /// What the dispatcher does with what was admitted: one batch holding
    /// its places until dropped.
    fn batch_of(budget: &Arc<UpBudget>, items: Vec<UpItem>) -> UpBatch {
        let mut batch = UpBatch::default();
        let n = items.len();
        items.into_iter().for_each(|i| batch.push(i));
        batch.permit = UpPermit::new(budget.clone(), n, batch.packets.len());
        batch
    }

    fn counts(c: &Counters) -> (u64, u64) {
        (
            c.up_queue_full.load(Ordering::Relaxed),
            c.up_queue_bytes_full.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn the_byte_bound_admits_up_to_it_drops_and_counts_beyond_and_admits_again_once_drained() {
        // 1 MiB: IKE may fill 7/8 of it, 917,504 bytes: 15 datagrams of 60,000.
        let budget = Arc::new(UpBudget::new(UpLimits {
            items: 65536,
            bytes: 1024 * KIB,
        }));
        let counters = Counters::default();
        let mut first: Vec<UpItem> = (0..10).map(|_| ike(60_000)).collect();
        budget.admit(&mut first, &counters);
        assert_eq!(first.len(), 10);
        let mut second: Vec<UpItem> = (0..10).map(|_| ike(60_000)).collect();
        budget.admit(&mut second, &counters);
        assert_eq!(second.len(), 5, "only what fits in the byte bound");
        assert_eq!(budget.bytes(), 15 * 60_000);
        assert_eq!(budget.items(), 15);
        assert_eq!(
            counts(&counters),
            (0, 5),
            "each drop counted under the byte bound"
        );

        // A small one still fits in what is left; another large one does not.
        let mut more = vec![ike(17_504), ike(1)];
        budget.admit(&mut more, &counters);
        assert_eq!(more.len(), 1);
        assert_eq!(budget.bytes(), 7 * 128 * KIB, "IKE's share, exactly full");
        assert_eq!(counts(&counters), (0, 6));

        // Control from an established session still gets the last eighth.
        let mut session = vec![l2tp(60_000), l2tp(60_000), l2tp(60_000)];
        budget.admit(&mut session, &counters);
        assert_eq!(session.len(), 2, "128 KiB kept: two of 60,000");
        assert_eq!(counts(&counters), (0, 7));

        // JS handles the batches: their places come back, and the queue admits again.
        let batches = [
            batch_of(&budget, first),
            batch_of(&budget, second),
            batch_of(&budget, more),
            batch_of(&budget, session),
        ];
        drop(batches);
        assert_eq!((budget.items(), budget.bytes()), (0, 0));
        let mut again: Vec<UpItem> = (0..15).map(|_| ike(60_000)).collect();
        budget.admit(&mut again, &counters);
        assert_eq!(again.len(), 15);
        assert_eq!(counts(&counters), (0, 7), "nothing more dropped");
    }

    #[test]
    fn the_item_bound_admits_up_to_it_and_counts_beyond_under_its_own_reason() {
        let budget = Arc::new(UpBudget::new(UpLimits {
            items: 16,
            bytes: 1024 * KIB,
        }));
        let counters = Counters::default();
        let mut flood: Vec<UpItem> = (0..20).map(|_| ike(100)).collect();
        budget.admit(&mut flood, &counters);
        assert_eq!(flood.len(), 14, "IKE may take 16 - 16/8");
        assert_eq!(counts(&counters), (6, 0));
        let mut session = vec![
            l2tp(100),
            UpItem::Event(Event::Drops { counts: Vec::new() }),
            l2tp(100),
        ];
        budget.admit(&mut session, &counters);
        assert_eq!(session.len(), 2, "the last two places are the session's");
        assert_eq!(counts(&counters), (7, 0));
        assert_eq!((budget.items(), budget.bytes()), (16, 15 * 100));
    }

    #[test]
    fn a_batch_holds_its_places_until_dropped_and_one_without_a_permit_gives_nothing_back() {
        let budget = Arc::new(UpBudget::new(UpLimits {
            items: 8,
            bytes: 1024 * KIB,
        }));
        let counters = Counters::default();
        let mut items: Vec<UpItem> = (0..8).map(|_| l2tp(10)).collect();
        budget.admit(&mut items, &counters);
        let batch = batch_of(&budget, items);
        assert_eq!(
            budget.take(&l2tp(1)),
            Err(Refused::Items),
            "queued for JS, not yet handled"
        );
        drop(batch);
        assert_eq!((budget.items(), budget.bytes()), (0, 0));
        assert_eq!(budget.take(&l2tp(1)), Ok(()));
        drop(UpBatch::default());
        assert_eq!((budget.items(), budget.bytes()), (1, 1));
        budget.give_back(&[l2tp(1)]);
        assert_eq!((budget.items(), budget.bytes()), (0, 0));
    }
}
