//! What the data plane knows, as JS told it: ESP SAs by SPI, IPsec peers
//! ("bindings"), and L2TP sessions by their L2TP ids and inner addresses.
//!
//! Lookups on the packet path go through sharded maps (DashMap), never one
//! global lock; an SA's mutable state (sequence counter, replay window) has
//! its own lock, taken by the one flow that uses it.
//!
//! Security rules kept here: a session is reachable only through the binding
//! (IPsec peer) that created it, so L2TP ids arriving over another peer's SA
//! find nothing; inner source addresses are checked against the session's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use dashmap::DashMap;

use crate::esp::EspSa;
use crate::policy::Policy;
use crate::ppp::echo::Keepalive;

/// How ESP reaches a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encap {
    /// ESP in UDP 4500 (RFC 3948): the peer is behind NAT, or we are.
    Udp,
    /// Raw IP protocol 50.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// Soft and hard limits of an SA's lifetime in bytes and packets (0: none).
#[derive(Debug, Default, Clone, Copy)]
pub struct Lifetime {
    pub soft_bytes: u64,
    pub hard_bytes: u64,
    pub soft_packets: u64,
    pub hard_packets: u64,
}

pub struct SaEntry {
    pub spi: u32,
    pub binding: u32,
    pub direction: Direction,
    pub esp: Mutex<EspSa>,
    pub lifetime: Lifetime,
    /// Bit 0: soft limit reported, bit 1: hard limit reported, bit 2:
    /// sequence exhaustion reported. Events are sent once.
    pub reported: AtomicU16,
    /// ICV failures + replays at the last scan, to report bursts.
    pub failures_seen: AtomicU64,
}

/// One IPsec peer as the data plane sees it: where its packets come from and
/// go to, and which outbound SA carries traffic to it now. Rekeyed SAs keep
/// the binding, so sessions survive a rekey.
pub struct Binding {
    pub id: u32,
    pub peer: Mutex<SocketAddr>,
    pub encap: Encap,
    pub out_sa: ArcSwapOption<SaEntry>,
    /// The peer's L2TP UDP port from its selectors (0: any).
    pub peer_l2tp_port: u16,
}

#[derive(Default)]
pub struct SessionCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub spoofed: AtomicU64,
    pub policy_denied: AtomicU64,
    pub rate_limited: AtomicU64,
    pub too_big: AtomicU64,
    pub control_up: AtomicU64,
    /// An LCP Echo-Request or Echo-Reply from the peer was handled in the
    /// data plane since the control plane last read the counters: the peer
    /// is alive (IKE DPD need not ask), though no frame went up.
    pub keepalive_heard: AtomicBool,
    /// Monotonic ns of the last packet either way.
    pub last_activity_ns: AtomicU64,
    /// Where the client sent to lately (anomaly flags, while they are on).
    pub destinations: crate::anomaly::LazySketch,
}

/// An L2TP session carrying PPP.
pub struct Session {
    pub id: u32,
    pub binding: u32,
    /// Our ids: what arriving L2TP headers carry.
    pub local_tunnel: u16,
    pub local_session: u16,
    /// The peer's ids: what we write.
    pub peer_tunnel: u16,
    pub peer_session: u16,
    /// The peer's L2TP UDP port (1701 for nearly every client).
    pub peer_port: u16,
    /// The inner addresses assigned to the peer. An LNS session has a /32
    /// (and maybe an IPv6 prefix); `default_route` sessions (our own client,
    /// site-to-site) take any source and carry every destination.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub default_route: bool,
    pub mru: u16,
    /// Send PPP with address/control and protocol compressed (what LCP agreed).
    pub acfc: bool,
    pub pfc: bool,
    /// Send L2TP data with Ns/Nr (RFC 2661 5.4) when the peer asked.
    pub sequencing: bool,
    pub next_ns: AtomicU16,
    pub idle_timeout_ns: u64,
    pub policy: Mutex<Policy>,
    pub counters: SessionCounters,
    pub idle_reported: AtomicBool,
    /// LCP keepalive handed over by the control plane (none: LCP echoes go up to it).
    pub keepalive: Mutex<Option<Keepalive>>,
}

impl Session {
    /// Whether an inner packet from the peer may carry `src` (anti-spoofing).
    pub fn owns_source(&self, src: IpAddr) -> bool {
        if self.default_route {
            return true;
        }
        match src {
            IpAddr::V4(v4) => self.ipv4 == Some(v4),
            IpAddr::V6(v6) => self
                .ipv6
                .is_some_and(|(prefix, len)| in_prefix6(v6, prefix, len)),
        }
    }

    pub fn touch(&self, now_ns: u64) {
        self.counters.last_activity_ns.store(now_ns, Relaxed);
    }
}

fn in_prefix6(addr: Ipv6Addr, prefix: Ipv6Addr, len: u8) -> bool {
    let len = len.min(128) as u32;
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    u128::from(addr) & mask == u128::from(prefix) & mask
}

fn v6_key(addr: Ipv6Addr) -> u64 {
    (u128::from(addr) >> 64) as u64
}

#[derive(Default)]
pub struct Tables {
    pub sas_in: DashMap<u32, Arc<SaEntry>>,
    pub sas_out: DashMap<u32, Arc<SaEntry>>,
    pub bindings: DashMap<u32, Arc<Binding>>,
    pub sessions: DashMap<u32, Arc<Session>>,
    by_l2tp: DashMap<(u32, u16, u16), Arc<Session>>,
    by_v4: DashMap<Ipv4Addr, Arc<Session>>,
    /// Keyed by the top 64 bits: assigned IPv6 prefixes are /64 or longer.
    by_v6: DashMap<u64, Arc<Session>>,
    default_route: ArcSwapOption<Session>,
    /// Thresholds of the per-session anomaly flags (off by default).
    pub anomaly: crate::anomaly::AnomalySettings,
    /// Site-to-site tunnels (ESP tunnel mode) and their routes.
    pub sites: crate::tunnel_mode::SiteTable,
    /// Sessions whose inner packets are being written to a pcap file.
    pub captures: crate::capture::Captures,
}

/// Why a table change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    UnknownBinding(u32),
    AddressInUse(IpAddr, u32),
    L2tpIdsInUse(u16, u16),
    Ipv6PrefixTooShort(u8),
}

impl TableError {
    pub fn code(&self) -> &'static str {
        match self {
            TableError::UnknownBinding(_) => "ERR_DP_UNKNOWN_BINDING",
            TableError::AddressInUse(..) => "ERR_DP_ADDRESS_IN_USE",
            TableError::L2tpIdsInUse(..) => "ERR_DP_L2TP_IDS_IN_USE",
            TableError::Ipv6PrefixTooShort(_) => "ERR_DP_IPV6_PREFIX",
        }
    }
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::UnknownBinding(b) => {
                write!(f, "no binding {b}: install an SA for it first")
            }
            TableError::AddressInUse(a, s) => {
                write!(f, "address {a} is already assigned to session {s}")
            }
            TableError::L2tpIdsInUse(t, s) => {
                write!(
                    f,
                    "L2TP tunnel {t} session {s} already exists on this binding"
                )
            }
            TableError::Ipv6PrefixTooShort(l) => {
                write!(f, "an IPv6 prefix must be /64 or longer, got /{l}")
            }
        }
    }
}

impl Tables {
    /// Installs an SA; an outbound SA becomes the binding's current one
    /// (the newest wins, as after a rekey). Creates or updates the binding.
    pub fn install_sa(
        &self,
        sa: SaEntry,
        peer: SocketAddr,
        encap: Encap,
        peer_l2tp_port: u16,
    ) -> Arc<SaEntry> {
        let sa = Arc::new(sa);
        let binding = self
            .bindings
            .entry(sa.binding)
            .or_insert_with(|| {
                Arc::new(Binding {
                    id: sa.binding,
                    peer: Mutex::new(peer),
                    encap,
                    out_sa: ArcSwapOption::empty(),
                    peer_l2tp_port,
                })
            })
            .clone();
        *binding.peer.lock().expect("peer lock") = peer;
        match sa.direction {
            Direction::In => {
                self.sas_in.insert(sa.spi, sa.clone());
            }
            Direction::Out => {
                self.sas_out.insert(sa.spi, sa.clone());
                binding.out_sa.store(Some(sa.clone()));
            }
        }
        sa
    }

    /// Removes an SA. If it was its binding's current outbound SA, the
    /// newest remaining outbound SA of the binding takes over. A binding left
    /// with no SA at all is removed.
    pub fn remove_sa(&self, spi: u32, direction: Direction) -> Option<Arc<SaEntry>> {
        let removed = match direction {
            Direction::In => self.sas_in.remove(&spi),
            Direction::Out => self.sas_out.remove(&spi),
        }
        .map(|(_, sa)| sa)?;
        if let Some(binding) = self.bindings.get(&removed.binding).map(|b| b.clone()) {
            let current = binding.out_sa.load_full();
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &removed)) {
                let successor = self
                    .sas_out
                    .iter()
                    .filter(|e| e.binding == binding.id)
                    .max_by_key(|e| e.esp.lock().map(|s| s.last_seq_out()).unwrap_or(0))
                    .map(|e| e.clone());
                binding.out_sa.store(successor);
            }
            let has_any = self.sas_in.iter().any(|e| e.binding == binding.id)
                || self.sas_out.iter().any(|e| e.binding == binding.id);
            if !has_any {
                self.bindings.remove(&binding.id);
            }
        }
        Some(removed)
    }

    pub fn binding(&self, id: u32) -> Option<Arc<Binding>> {
        self.bindings.get(&id).map(|b| b.clone())
    }

    /// Adds or replaces a session (same id: replaced in place).
    pub fn upsert_session(&self, session: Session) -> Result<Arc<Session>, TableError> {
        if !self.bindings.contains_key(&session.binding) {
            return Err(TableError::UnknownBinding(session.binding));
        }
        if let Some((_, len)) = session.ipv6 {
            if len < 64 {
                return Err(TableError::Ipv6PrefixTooShort(len));
            }
        }
        if let Some(v4) = session.ipv4 {
            if let Some(other) = self.by_v4.get(&v4) {
                if other.id != session.id {
                    return Err(TableError::AddressInUse(IpAddr::V4(v4), other.id));
                }
            }
        }
        if let Some((v6, _)) = session.ipv6 {
            if let Some(other) = self.by_v6.get(&v6_key(v6)) {
                if other.id != session.id {
                    return Err(TableError::AddressInUse(IpAddr::V6(v6), other.id));
                }
            }
        }
        let key = (session.binding, session.local_tunnel, session.local_session);
        if let Some(other) = self.by_l2tp.get(&key) {
            if other.id != session.id {
                return Err(TableError::L2tpIdsInUse(key.1, key.2));
            }
        }
        self.remove_session(session.id);
        let session = Arc::new(session);
        self.by_l2tp.insert(key, session.clone());
        if let Some(v4) = session.ipv4 {
            self.by_v4.insert(v4, session.clone());
        }
        if let Some((v6, _)) = session.ipv6 {
            self.by_v6.insert(v6_key(v6), session.clone());
        }
        if session.default_route {
            self.default_route.store(Some(session.clone()));
        }
        self.sessions.insert(session.id, session.clone());
        Ok(session)
    }

    pub fn remove_session(&self, id: u32) -> Option<Arc<Session>> {
        let (_, s) = self.sessions.remove(&id)?;
        self.by_l2tp
            .remove(&(s.binding, s.local_tunnel, s.local_session));
        if let Some(v4) = s.ipv4 {
            self.by_v4.remove_if(&v4, |_, cur| cur.id == id);
        }
        if let Some((v6, _)) = s.ipv6 {
            self.by_v6.remove_if(&v6_key(v6), |_, cur| cur.id == id);
        }
        if s.default_route {
            let current = self.default_route.load_full();
            if current.is_some_and(|c| c.id == id) {
                self.default_route.store(None);
            }
        }
        Some(s)
    }

    /// The session an L2TP data message over `binding` belongs to.
    pub fn session_by_l2tp(&self, binding: u32, tunnel: u16, session: u16) -> Option<Arc<Session>> {
        self.by_l2tp
            .get(&(binding, tunnel, session))
            .map(|s| s.clone())
    }

    /// The session that carries packets to inner address `dst`.
    pub fn session_for_destination(&self, dst: IpAddr) -> Option<Arc<Session>> {
        let hit = match dst {
            IpAddr::V4(v4) => self.by_v4.get(&v4).map(|s| s.clone()),
            IpAddr::V6(v6) => self
                .by_v6
                .get(&v6_key(v6))
                .filter(|s| s.ipv6.is_some_and(|(p, l)| in_prefix6(v6, p, l)))
                .map(|s| s.clone()),
        };
        hit.or_else(|| self.default_route.load_full())
    }
}
