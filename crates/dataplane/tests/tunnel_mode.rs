//! Site-to-site through the engine's packet path (the socket-free
//! harness): gateway A seals a TUN packet to B's subnet in ESP tunnel mode,
//! B opens it and takes it only inside the site's selectors; a rekey swaps
//! A's outbound SA with no packet refused by B; L2TP clients' SAs carry no
//! tunnel mode and sites' SAs no L2TP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU16, AtomicU64};
use std::sync::{Arc, Mutex};

use l2tp_ipsec_dataplane::esp::{EspSa, Suite};
use l2tp_ipsec_dataplane::fuzzing::Harness;
use l2tp_ipsec_dataplane::policy::Prefix;
use l2tp_ipsec_dataplane::table::{Direction, Encap, Lifetime, SaEntry, Tables};
use l2tp_ipsec_dataplane::tunnel_mode::Site;

const A: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4500);
const B: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 4500);
const SITE_BINDING: u32 = 7;
const CLIENT_BINDING: u32 = 8;

fn esp(spi: u32, key: u8, window: u32) -> EspSa {
    let suite = Suite::parse("aes128-sha256").unwrap();
    EspSa::new(spi, suite, &[key; 16], &[key ^ 0x5a; 32], window).unwrap()
}

fn install(
    tables: &Tables,
    spi: u32,
    key: u8,
    binding: u32,
    direction: Direction,
    peer: SocketAddr,
) {
    install_encap(tables, spi, key, binding, direction, peer, Encap::Udp)
}

fn install_encap(
    tables: &Tables,
    spi: u32,
    key: u8,
    binding: u32,
    direction: Direction,
    peer: SocketAddr,
    encap: Encap,
) {
    let window = if direction == Direction::In { 1024 } else { 0 };
    tables.install_sa(
        SaEntry {
            spi,
            binding,
            direction,
            esp: Mutex::new(esp(spi, key, window)),
            lifetime: Lifetime::default(),
            reported: AtomicU16::new(0),
            failures_seen: AtomicU64::new(0),
        },
        peer,
        encap,
        0,
    );
}

fn prefixes(list: &[&str]) -> Vec<Prefix> {
    list.iter().map(|p| Prefix::parse(p).unwrap()).collect()
}

/// A minimal IPv4 ICMP echo from `src` to `dst` (checksums do not matter here).
fn ipv4(src: [u8; 4], dst: [u8; 4], payload: usize) -> Vec<u8> {
    let len = 20 + 8 + payload;
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20] = 8;
    p
}

/// Gateway A (local 10.1.0.0/24, 10.1.5.0/24) and B (local 10.2.0.0/24,
/// taking only 10.1.0.0/24 from A), one SA pair between them.
fn pair() -> (Harness, Harness) {
    let a = Harness::new(Arc::new(Tables::default())).unwrap();
    let b = Harness::new(Arc::new(Tables::default())).unwrap();
    install(a.tables(), 0x1000, 1, SITE_BINDING, Direction::Out, B);
    install(a.tables(), 0x2000, 2, SITE_BINDING, Direction::In, B);
    install(b.tables(), 0x1000, 1, SITE_BINDING, Direction::In, A);
    install(b.tables(), 0x2000, 2, SITE_BINDING, Direction::Out, A);
    a.tables()
        .sites
        .upsert(Site::new(
            1,
            SITE_BINDING,
            prefixes(&["10.1.0.0/24", "10.1.5.0/24"]),
            prefixes(&["10.2.0.0/24"]),
        ))
        .unwrap();
    b.tables()
        .sites
        .upsert(Site::new(
            1,
            SITE_BINDING,
            prefixes(&["10.2.0.0/24"]),
            prefixes(&["10.1.0.0/24"]),
        ))
        .unwrap();
    (a, b)
}

fn site_counter(
    h: &Harness,
    f: impl Fn(&l2tp_ipsec_dataplane::tunnel_mode::SiteCounters) -> &AtomicU64,
) -> u64 {
    f(&h.tables().sites.by_binding(SITE_BINDING).unwrap().counters).load(Relaxed)
}

#[test]
fn a_tun_packet_crosses_in_tunnel_mode_and_is_taken_inside_the_selectors() {
    let (a, b) = pair();
    let inner = ipv4([10, 1, 0, 10], [10, 2, 0, 10], 56);
    let sent = a.from_tun(&inner).expect("sealed to the site");
    assert_eq!(sent.dest, B);
    assert_eq!(sent.encap, Encap::Udp);
    assert_eq!(
        &sent.packet[..4],
        &0x1000u32.to_be_bytes(),
        "under A's outbound SA"
    );
    // The inner packet travels whole (ESP Next Header 4): B opens it and writes it to TUN.
    let mut datagram = sent.packet.clone();
    b.natt(&mut datagram, A);
    assert_eq!(b.counters().tun_out.load(Relaxed), 1);
    assert_eq!(site_counter(&b, |c| &c.rx_packets), 1);
    assert_eq!(site_counter(&b, |c| &c.rx_bytes), inner.len() as u64);
    assert_eq!(site_counter(&a, |c| &c.tx_packets), 1);

    // The way back: B seals to A's subnet.
    let back = b
        .from_tun(&ipv4([10, 2, 0, 10], [10, 1, 0, 10], 56))
        .unwrap();
    assert_eq!(&back.packet[..4], &0x2000u32.to_be_bytes());
    let mut datagram = back.packet.clone();
    a.natt(&mut datagram, B);
    assert_eq!(a.counters().tun_out.load(Relaxed), 1);
}

#[test]
fn packets_outside_the_selectors_are_dropped_and_counted() {
    let (a, b) = pair();
    // 10.1.5.7 is A's but not what B takes from A: A seals it, B drops it.
    let sent = a.from_tun(&ipv4([10, 1, 5, 7], [10, 2, 0, 10], 8)).unwrap();
    let mut datagram = sent.packet.clone();
    b.natt(&mut datagram, A);
    assert_eq!(b.counters().tun_out.load(Relaxed), 0);
    assert_eq!(b.counters().tunnel_selector_mismatch.load(Relaxed), 1);
    assert_eq!(site_counter(&b, |c| &c.selector_mismatch), 1);
    // A source that is not A's at all never leaves A.
    assert!(a
        .from_tun(&ipv4([10, 9, 9, 9], [10, 2, 0, 10], 8))
        .is_none());
    assert_eq!(a.counters().tunnel_selector_mismatch.load(Relaxed), 1);
    // A destination outside B's subnets, sealed by a peer that ignores its selectors.
    let mut rogue = esp(0x1000, 1, 0).with_last_seq_out(100);
    let inner = ipv4([10, 1, 0, 10], [192, 168, 1, 1], 8);
    let mut buf = vec![0u8; rogue.sealed_len(inner.len())];
    buf[rogue.head_len()..rogue.head_len() + inner.len()].copy_from_slice(&inner);
    let n = rogue.seal_in_place(&mut buf, inner.len(), 4).unwrap();
    b.natt(&mut buf[..n], A);
    assert_eq!(b.counters().tunnel_selector_mismatch.load(Relaxed), 2);
    assert_eq!(b.counters().tun_out.load(Relaxed), 0);
}

#[test]
fn a_rekey_swaps_the_outbound_sa_and_both_pairs_are_taken_meanwhile() {
    let (a, b) = pair();
    let packet = ipv4([10, 1, 0, 10], [10, 2, 0, 10], 20);
    let mut old = a.from_tun(&packet).unwrap().packet;
    // New pair: B installs its inbound first (Quick Mode message 2), A both at message 2.
    install(b.tables(), 0x3000, 3, SITE_BINDING, Direction::In, A);
    install(a.tables(), 0x3000, 3, SITE_BINDING, Direction::Out, B);
    let mut new = a.from_tun(&packet).unwrap().packet;
    assert_eq!(
        &new[..4],
        &0x3000u32.to_be_bytes(),
        "the newest outbound SA carries traffic at once"
    );
    // A packet sealed just before the swap still arrives after it.
    b.natt(&mut new, A);
    b.natt(&mut old, A);
    assert_eq!(b.counters().tun_out.load(Relaxed), 2);
    // The old pair removed: the new one stays current.
    a.tables().remove_sa(0x1000, Direction::Out);
    assert_eq!(
        &a.from_tun(&packet).unwrap().packet[..4],
        &0x3000u32.to_be_bytes()
    );
}

#[test]
fn no_binding_no_site_and_no_l2tp_over_a_site() {
    let (a, b) = pair();
    // A site with no SA yet: dropped as no_outbound_sa.
    a.tables().sites.rebind(1, 0).unwrap();
    assert!(a
        .from_tun(&ipv4([10, 1, 0, 10], [10, 2, 0, 10], 8))
        .is_none());
    assert_eq!(a.counters().no_outbound_sa.load(Relaxed), 1);

    // Tunnel-mode ESP over an L2TP client's binding (no site): refused.
    install(b.tables(), 0x4000, 4, CLIENT_BINDING, Direction::In, A);
    let mut client = esp(0x4000, 4, 0);
    let inner = ipv4([10, 1, 0, 10], [10, 2, 0, 10], 8);
    let mut buf = vec![0u8; client.sealed_len(inner.len())];
    buf[client.head_len()..client.head_len() + inner.len()].copy_from_slice(&inner);
    let n = client.seal_in_place(&mut buf, inner.len(), 4).unwrap();
    b.natt(&mut buf[..n], A);
    assert_eq!(b.counters().tunnel_no_site.load(Relaxed), 1);
    assert_eq!(b.counters().tun_out.load(Relaxed), 0);

    // An L2TP control message (UDP 1701, T bit) over the site's SA never goes up to JS.
    let mut l2tp = vec![0u8; 8 + 12];
    l2tp[0..2].copy_from_slice(&1701u16.to_be_bytes());
    l2tp[2..4].copy_from_slice(&1701u16.to_be_bytes());
    l2tp[4..6].copy_from_slice(&20u16.to_be_bytes());
    l2tp[8] = 0xc8;
    l2tp[9] = 0x02;
    l2tp[10..12].copy_from_slice(&12u16.to_be_bytes());
    let mut site = esp(0x1000, 1, 0).with_last_seq_out(10);
    let mut buf = vec![0u8; site.sealed_len(l2tp.len())];
    buf[site.head_len()..site.head_len() + l2tp.len()].copy_from_slice(&l2tp);
    let n = site.seal_in_place(&mut buf, l2tp.len(), 17).unwrap();
    let up = b.natt(&mut buf[..n], A);
    assert!(up.is_empty(), "nothing goes up to JS");
    assert_eq!(b.counters().l2tp_control_in.load(Relaxed), 0);
    assert_eq!(b.counters().not_l2tp.load(Relaxed), 1);
}

#[test]
fn raw_esp_when_the_peers_negotiated_no_udp_encapsulation() {
    let a = Harness::new(Arc::new(Tables::default())).unwrap();
    let b = Harness::new(Arc::new(Tables::default())).unwrap();
    let raw = |ip: SocketAddr| SocketAddr::new(ip.ip(), 0);
    install_encap(
        a.tables(),
        0x5000,
        5,
        SITE_BINDING,
        Direction::Out,
        raw(B),
        Encap::Raw,
    );
    install_encap(
        b.tables(),
        0x5000,
        5,
        SITE_BINDING,
        Direction::In,
        raw(A),
        Encap::Raw,
    );
    for (h, local, remote) in [
        (&a, "10.1.0.0/24", "10.2.0.0/24"),
        (&b, "10.2.0.0/24", "10.1.0.0/24"),
    ] {
        h.tables()
            .sites
            .upsert(Site::new(
                1,
                SITE_BINDING,
                prefixes(&[local]),
                prefixes(&[remote]),
            ))
            .unwrap();
    }
    let sent = a
        .from_tun(&ipv4([10, 1, 0, 10], [10, 2, 0, 10], 32))
        .unwrap();
    assert_eq!(sent.encap, Encap::Raw, "IP protocol 50, no UDP");
    assert_eq!(sent.dest.ip(), B.ip());
    // What B's raw socket reads: the outer IPv4 header (protocol 50), then ESP.
    let mut datagram = ipv4([192, 0, 2, 1], [192, 0, 2, 2], 0)[..20].to_vec();
    datagram[9] = 50;
    datagram.extend_from_slice(&sent.packet);
    b.raw(&mut datagram, raw(A));
    assert_eq!(b.counters().tun_out.load(Relaxed), 1);
    assert_eq!(site_counter(&b, |c| &c.rx_packets), 1);
}
