//! Site-to-site: ESP tunnel mode (RFC 4303 3.1.2) between two gateways,
//! with no L2TP or PPP. A site is a set of traffic selectors (our local
//! subnets, the peer's remote subnets) bound to the IPsec peer ("binding")
//! whose SAs carry it; a rekey swaps the binding's SAs and the site follows
//! without a lost packet, as L2TP sessions do.
//!
//! This module is sans-IO: the table, the selector checks and the route
//! lookup. `engine::tunnel` moves the packets.
//!
//! Security rule kept here: an inner packet is taken from a site's SA only
//! when its source is in the site's remote subnets and its destination in
//! our local subnets (RFC 4301 5.2: the selectors bind inbound traffic too),
//! so a gateway cannot inject traffic for subnets it was not given.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;

use crate::ip;
use crate::policy::Prefix;

/// ESP Next Header of a tunnel-mode payload (IANA protocol numbers).
pub const NEXT_HEADER_IPV4: u8 = 4;
pub const NEXT_HEADER_IPV6: u8 = 41;

/// Per-site traffic and drops.
#[derive(Default)]
pub struct SiteCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Inner packets outside the selectors (either direction).
    pub selector_mismatch: AtomicU64,
    /// Last packet either way, monotonic ns of the engine's clock.
    pub last_activity_ns: AtomicU64,
}

/// One site: its selectors and the binding whose SAs carry it now (0: none
/// yet, outbound packets are dropped and counted as `no_outbound_sa`).
pub struct Site {
    pub id: u32,
    binding: AtomicU32,
    pub local: Vec<Prefix>,
    pub remote: Vec<Prefix>,
    pub counters: SiteCounters,
}

impl Site {
    pub fn new(id: u32, binding: u32, local: Vec<Prefix>, remote: Vec<Prefix>) -> Site {
        Site {
            id,
            binding: AtomicU32::new(binding),
            local,
            remote,
            counters: SiteCounters::default(),
        }
    }

    pub fn binding(&self) -> u32 {
        self.binding.load(Relaxed)
    }

    /// Whether an inner packet from the peer may be taken: source in the
    /// remote subnets, destination in ours.
    pub fn admits_inbound(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.remote.iter().any(|p| p.contains(src)) && self.local.iter().any(|p| p.contains(dst))
    }

    /// Whether a packet to the peer is inside the selectors (the peer drops
    /// anything else, so it is not worth sending).
    pub fn admits_outbound(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.local.iter().any(|p| p.contains(src)) && self.remote.iter().any(|p| p.contains(dst))
    }
}

/// Why a tunnel-mode packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelDrop {
    /// Not an IP packet, or its version does not match ESP's Next Header.
    Malformed,
    /// Source or destination outside the site's selectors.
    SelectorMismatch,
    /// Tunnel-mode ESP over a binding that carries no site (an L2TP client's SA).
    NoSite,
}

/// Checks the inner packet of a tunnel-mode ESP payload against `site`;
/// returns the packet's length (bytes after it are ESP padding, never
/// written to TUN).
pub fn check_inbound(site: &Site, inner: &[u8], next_header: u8) -> Result<usize, TunnelDrop> {
    let header = ip::parse(inner).map_err(|_| TunnelDrop::Malformed)?;
    let expected = match next_header {
        NEXT_HEADER_IPV4 => 4,
        NEXT_HEADER_IPV6 => 6,
        _ => return Err(TunnelDrop::Malformed),
    };
    if header.version != expected {
        return Err(TunnelDrop::Malformed);
    }
    if !site.admits_inbound(header.src, header.dst) {
        return Err(TunnelDrop::SelectorMismatch);
    }
    Ok(header.total_len)
}

/// The ESP Next Header for an inner packet of IP version `version`.
pub fn next_header_for(version: u8) -> u8 {
    if version == 4 {
        NEXT_HEADER_IPV4
    } else {
        NEXT_HEADER_IPV6
    }
}

/// One route: a remote subnet and the site behind it.
struct Route {
    prefix: Prefix,
    site: Arc<Site>,
}

/// The sites, by id and by binding, and the routes to their remote subnets
/// (longest prefix first). Lookups on the packet path take no lock and
/// allocate nothing: the route list is swapped whole when a site changes.
#[derive(Default)]
pub struct SiteTable {
    by_id: DashMap<u32, Arc<Site>>,
    by_binding: DashMap<u32, Arc<Site>>,
    routes: ArcSwap<Vec<Route>>,
}

/// Why a site was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteError {
    /// Another site already routes this remote subnet.
    RouteInUse(Prefix, u32),
    /// Another site is bound to this binding.
    BindingInUse(u32, u32),
    NoSelectors,
}

impl SiteError {
    pub fn code(&self) -> &'static str {
        match self {
            SiteError::RouteInUse(..) => "ERR_DP_SITE_ROUTE_IN_USE",
            SiteError::BindingInUse(..) => "ERR_DP_SITE_BINDING_IN_USE",
            SiteError::NoSelectors => "ERR_DP_SITE_SELECTORS",
        }
    }
}

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteError::RouteInUse(p, s) => {
                write!(f, "remote subnet {p} is already routed to site {s}")
            }
            SiteError::BindingInUse(b, s) => write!(f, "binding {b} already carries site {s}"),
            SiteError::NoSelectors => {
                write!(f, "a site needs at least one local and one remote subnet")
            }
        }
    }
}

impl SiteTable {
    /// Adds a site or replaces the one with the same id (its counters start
    /// afresh). Refused, changing nothing, when a remote subnet or the
    /// binding belongs to another site.
    pub fn upsert(&self, site: Site) -> Result<Arc<Site>, SiteError> {
        if site.local.is_empty() || site.remote.is_empty() {
            return Err(SiteError::NoSelectors);
        }
        for other in self.by_id.iter() {
            if other.id == site.id {
                continue;
            }
            if let Some(p) = site.remote.iter().find(|p| other.remote.contains(p)) {
                return Err(SiteError::RouteInUse(*p, other.id));
            }
            if site.binding() != 0 && other.binding() == site.binding() {
                return Err(SiteError::BindingInUse(site.binding(), other.id));
            }
        }
        let site = Arc::new(site);
        if let Some(old) = self.by_id.insert(site.id, site.clone()) {
            self.by_binding
                .remove_if(&old.binding(), |_, s| s.id == old.id);
        }
        if site.binding() != 0 {
            self.by_binding.insert(site.binding(), site.clone());
        }
        self.rebuild_routes();
        Ok(site)
    }

    /// Points a site at another binding (the IKE SA was negotiated anew);
    /// 0 unbinds it. Returns false when there is no such site.
    pub fn rebind(&self, id: u32, binding: u32) -> Result<bool, SiteError> {
        let Some(site) = self.by_id.get(&id).map(|s| s.clone()) else {
            return Ok(false);
        };
        if binding != 0 {
            if let Some(other) = self.by_binding.get(&binding) {
                if other.id != id {
                    return Err(SiteError::BindingInUse(binding, other.id));
                }
            }
        }
        let old = site.binding.swap(binding, Relaxed);
        self.by_binding.remove_if(&old, |_, s| s.id == id);
        if binding != 0 {
            self.by_binding.insert(binding, site);
        }
        Ok(true)
    }

    pub fn remove(&self, id: u32) -> Option<Arc<Site>> {
        let (_, site) = self.by_id.remove(&id)?;
        self.by_binding
            .remove_if(&site.binding(), |_, s| s.id == id);
        self.rebuild_routes();
        Some(site)
    }

    fn rebuild_routes(&self) {
        let mut routes: Vec<Route> = self
            .by_id
            .iter()
            .flat_map(|s| {
                let site = s.clone();
                s.remote
                    .iter()
                    .map(move |p| Route {
                        prefix: *p,
                        site: site.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.prefix_len()));
        self.routes.store(Arc::new(routes));
    }

    /// The site carrying a binding's tunnel-mode traffic.
    pub fn by_binding(&self, binding: u32) -> Option<Arc<Site>> {
        self.by_binding.get(&binding).map(|s| s.clone())
    }

    /// Whether a binding carries a site (its SAs must not carry L2TP).
    pub fn is_site_binding(&self, binding: u32) -> bool {
        self.by_binding.contains_key(&binding)
    }

    /// The site whose remote subnets hold `dst` (longest prefix wins).
    pub fn route(&self, dst: IpAddr) -> Option<Arc<Site>> {
        let routes = self.routes.load();
        routes
            .iter()
            .find(|r| r.prefix.contains(dst))
            .map(|r| r.site.clone())
    }

    /// Every site, for stats.
    pub fn all(&self) -> Vec<Arc<Site>> {
        self.by_id.iter().map(|s| s.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<Prefix> {
        list.iter().map(|s| Prefix::parse(s).unwrap()).collect()
    }

    fn ipv4_packet(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = 1;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn inbound_selectors_are_checked() {
        let site = Site::new(1, 7, prefixes(&["10.1.0.0/24"]), prefixes(&["10.2.0.0/24"]));
        let good = ipv4_packet([10, 2, 0, 5], [10, 1, 0, 9]);
        assert_eq!(check_inbound(&site, &good, NEXT_HEADER_IPV4), Ok(28));
        let wrong_source = ipv4_packet([10, 3, 0, 5], [10, 1, 0, 9]);
        assert_eq!(
            check_inbound(&site, &wrong_source, NEXT_HEADER_IPV4),
            Err(TunnelDrop::SelectorMismatch)
        );
        let wrong_destination = ipv4_packet([10, 2, 0, 5], [192, 168, 0, 1]);
        assert_eq!(
            check_inbound(&site, &wrong_destination, NEXT_HEADER_IPV4),
            Err(TunnelDrop::SelectorMismatch)
        );
        assert_eq!(
            check_inbound(&site, &good, NEXT_HEADER_IPV6),
            Err(TunnelDrop::Malformed)
        );
        assert_eq!(
            check_inbound(&site, &good[..10], NEXT_HEADER_IPV4),
            Err(TunnelDrop::Malformed)
        );
    }

    #[test]
    fn routes_take_the_longest_prefix_and_follow_changes() {
        let table = SiteTable::default();
        table
            .upsert(Site::new(
                1,
                0,
                prefixes(&["10.1.0.0/16"]),
                prefixes(&["10.2.0.0/16"]),
            ))
            .unwrap();
        table
            .upsert(Site::new(
                2,
                9,
                prefixes(&["10.1.0.0/16"]),
                prefixes(&["10.2.7.0/24"]),
            ))
            .unwrap();
        let dst = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(table.route(dst("10.2.7.1")).unwrap().id, 2);
        assert_eq!(table.route(dst("10.2.8.1")).unwrap().id, 1);
        assert!(table.route(dst("10.3.0.1")).is_none());
        assert_eq!(table.by_binding(9).unwrap().id, 2);
        assert!(table.rebind(1, 9).is_err());
        assert!(table.rebind(1, 4).unwrap());
        assert_eq!(table.by_binding(4).unwrap().id, 1);
        assert!(table.rebind(1, 5).unwrap());
        assert!(table.by_binding(4).is_none());
        let clash = Site::new(3, 0, prefixes(&["10.1.0.0/16"]), prefixes(&["10.2.7.0/24"]));
        assert_eq!(
            table.upsert(clash).err().map(|e| e.code()),
            Some("ERR_DP_SITE_ROUTE_IN_USE")
        );
        table.remove(2).unwrap();
        assert_eq!(table.route(dst("10.2.7.1")).unwrap().id, 1);
        assert!(table.by_binding(9).is_none());
    }
}
