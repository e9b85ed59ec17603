//! Packets from peers: ESP (in UDP 4500 or raw) → UDP 1701 → L2TP → PPP →
//! IP → TUN, entirely here; control traffic goes up to JS.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

use super::counters::bump;
use super::up::{Control, Event, UpItem};
use super::Shared;
use crate::esp::EspError;
use crate::io::raw;
use crate::io::tun::TunWriter;
use crate::l2tp::{self, L2tpFrame};
use crate::natt::{self, Udp4500};
use crate::policy::Verdict;
use crate::table::Encap;
use crate::tunnel_mode;
use crate::{ip, ppp};

/// ICMPv6 Router Solicitation: answered by the control plane (IPV6CP and
/// router advertisements live in JS).
const ICMPV6_ROUTER_SOLICITATION: u8 = 133;

/// Handles one datagram received on a NAT-T (UDP 4500) socket from `peer`:
/// a keepalive, IKE after the non-ESP marker (up to JS), or ESP.
pub(crate) fn natt_datagram(
    shared: &Shared,
    datagram: &mut [u8],
    peer: SocketAddr,
    (local, local_port): (Option<std::net::IpAddr>, u16),
    tun: Option<&mut TunWriter>,
    up: &mut Vec<UpItem>,
) {
    let c = &shared.counters;
    match natt::classify(datagram) {
        Udp4500::Keepalive => bump(&c.keepalives_in),
        Udp4500::Ike(ike) => {
            bump(&c.ike_in);
            up.push(UpItem::Packet(
                Control::Ike {
                    peer,
                    local,
                    local_port,
                },
                ike.to_vec(),
            ));
        }
        Udp4500::Esp(_) => esp(shared, datagram, peer, Encap::Udp, tun, up),
        Udp4500::Malformed => bump(&c.malformed_udp),
    }
}

/// Handles one datagram read from the raw ESP socket: its IPv4 header, then
/// ESP.
pub(crate) fn raw_datagram(
    shared: &Shared,
    datagram: &mut [u8],
    peer: SocketAddr,
    tun: Option<&mut TunWriter>,
    up: &mut Vec<UpItem>,
) {
    let Some(packet) = raw::strip_ipv4_header(datagram) else {
        return bump(&shared.counters.esp_malformed);
    };
    let start = datagram.len() - packet.len();
    esp(shared, &mut datagram[start..], peer, Encap::Raw, tun, up);
}

/// Handles one ESP packet (SPI first) that came from `from`. Control
/// packets and events found are appended to `up`, which the worker hands to
/// the dispatcher once per batch.
pub(crate) fn esp(
    shared: &Shared,
    packet: &mut [u8],
    from: SocketAddr,
    encap: Encap,
    tun: Option<&mut TunWriter>,
    up: &mut Vec<UpItem>,
) {
    let c = &shared.counters;
    let Some(spi) = crate::esp::peek_spi(packet) else {
        return bump(&c.esp_malformed);
    };
    let Some(sa) = shared.tables.sas_in.get(&spi).map(|s| s.clone()) else {
        return bump(&c.unknown_spi);
    };
    let opened = sa.esp.lock().expect("SA lock").open_in_place(packet);
    let opened = match opened {
        Ok(o) => o,
        Err(EspError::IcvMismatch) => return bump(&c.esp_icv_failures),
        Err(EspError::Replay | EspError::TooOld) => return bump(&c.esp_replays),
        Err(_) => return bump(&c.esp_malformed),
    };
    bump(&c.esp_in);
    let Some(binding) = shared.tables.binding(sa.binding) else {
        return bump(&c.unknown_spi);
    };
    // RFC 3948 / 3947: an authenticated packet from a new address or port
    // means the NAT mapping changed; answer where it came from.
    if encap == Encap::Udp {
        let mut peer = binding.peer.lock().expect("peer lock");
        if *peer != from {
            let old = *peer;
            *peer = from;
            drop(peer);
            up.push(UpItem::Event(Event::PeerChanged {
                binding: binding.id,
                old,
                new: from,
            }));
        }
    }
    if opened.next_header == tunnel_mode::NEXT_HEADER_IPV4
        || opened.next_header == tunnel_mode::NEXT_HEADER_IPV6
    {
        let payload = opened.payload;
        return super::tunnel::inbound(
            shared,
            binding.id,
            packet,
            payload,
            opened.next_header,
            tun,
        );
    }
    if opened.next_header != 17 {
        return bump(&c.not_l2tp);
    }
    let payload = opened.payload;
    let udp = &packet[payload.clone()];
    if udp.len() < 8 {
        return bump(&c.not_l2tp);
    }
    let src_port = u16::from_be_bytes([udp[0], udp[1]]);
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    // Only L2TP, and only from the port the SA's selectors name.
    if dst_port != l2tp::UDP_PORT {
        return bump(&c.not_l2tp);
    }
    if binding.peer_l2tp_port != 0 && src_port != binding.peer_l2tp_port {
        return bump(&c.selector_mismatch);
    }
    let l2tp_start = payload.start + 8;
    let frame = match l2tp::parse(&packet[l2tp_start..payload.end]) {
        Ok(f) => f,
        Err(_) => return bump(&c.l2tp_malformed),
    };
    let data = match frame {
        L2tpFrame::Control { message, .. } => {
            // A site's SAs carry routed subnets, never an L2TP tunnel.
            if shared.tables.sites.is_site_binding(binding.id) {
                return bump(&c.not_l2tp);
            }
            bump(&c.l2tp_control_in);
            up.push(UpItem::Packet(
                Control::L2tp {
                    binding: binding.id,
                    peer: from,
                    peer_port: src_port,
                },
                message.to_vec(),
            ));
            return;
        }
        L2tpFrame::Data(d) => d,
    };
    let Some(session) = shared
        .tables
        .session_by_l2tp(binding.id, data.tunnel_id, data.session_id)
    else {
        return bump(&c.unknown_session);
    };
    let ppp_start = offset_in(packet, data.payload);
    let ppp_end = ppp_start + data.payload.len();
    let frame = match ppp::parse(&packet[ppp_start..ppp_end]) {
        Ok(f) => f,
        Err(_) => return bump(&c.ppp_malformed),
    };
    let now = shared.now_ns();
    // Only IP traffic counts as activity: LCP echoes must not keep an idle
    // session alive.
    if !ppp::is_network_data(frame.protocol) {
        // LCP keepalive handed over to the data plane stays here.
        if frame.protocol == ppp::PROTO_LCP
            && super::keepalive::inbound(shared, &session, frame.info)
        {
            return;
        }
        bump(&c.ppp_control_in);
        session.counters.control_up.fetch_add(1, Relaxed);
        up.push(UpItem::Packet(
            Control::Ppp {
                session: session.id,
            },
            packet[ppp_start..ppp_end].to_vec(),
        ));
        return;
    }
    let ip_start = offset_in(packet, frame.info);
    let ip_end = ip_start + frame.info.len();
    let protocol = frame.protocol;
    let inner = &mut packet[ip_start..ip_end];
    let header = match ip::parse(inner) {
        Ok(h) => h,
        Err(_) => return bump(&c.ip_malformed),
    };
    let expected_version = if protocol == ppp::PROTO_IPV4 { 4 } else { 6 };
    if header.version != expected_version {
        return bump(&c.ip_malformed);
    }
    if header.protocol == ip::PROTO_ICMPV6 && is_router_solicitation(inner, &header) {
        bump(&c.ppp_control_in);
        up.push(UpItem::Packet(
            Control::Ppp {
                session: session.id,
            },
            packet[ppp_start..ppp_end].to_vec(),
        ));
        return;
    }
    if !session.default_route && is_link_scoped(header.src, header.dst) {
        // Not spoofing: the client's link-local address (fe80::<its IPV6CP
        // interface identifier>) and link-scope multicast belong to the PPP
        // link and are never routed off it (RFC 4291 2.5.6, 2.7), so they
        // cannot reach anyone else whatever their source. The control plane
        // needs only the Router Solicitation above; MLD reports (RFC 3810 5),
        // DAD probes from :: and LLMNR/mDNS are dropped, counted apart. A
        // default-route session is our own client: the server's Router
        // Advertisements arrive this way and go to its TUN.
        return bump(&c.link_scoped);
    }
    if !session.owns_source(header.src) {
        session.counters.spoofed.fetch_add(1, Relaxed);
        return bump(&c.spoofed);
    }
    let dst_port = ip::transport_ports(inner, &header).map(|(_, dst)| dst);
    if shared.tables.anomaly.recording.load(Relaxed) {
        let port = dst_port.unwrap_or(0);
        session
            .counters
            .destinations
            .record(header.dst, header.protocol, port);
    }
    let verdict = session.policy.lock().expect("policy lock").admit(
        header.dst,
        header.protocol,
        dst_port,
        header.total_len,
        now,
    );
    match verdict {
        Verdict::Allow => {}
        Verdict::Denied => {
            session.counters.policy_denied.fetch_add(1, Relaxed);
            return bump(&c.policy_denied);
        }
        Verdict::RateLimited => {
            session.counters.rate_limited.fetch_add(1, Relaxed);
            return bump(&c.rate_limited);
        }
    }
    session.touch(now);
    ip::clamp_tcp_mss(inner, &header, mss_for(session.mru, header.dst));
    shared
        .tables
        .captures
        .record(session.id, &inner[..header.total_len]);
    let Some(tun) = tun else {
        return bump(&c.tun_write_failed);
    };
    match tun.write(&inner[..header.total_len]) {
        Ok(()) => {
            bump(&c.tun_out);
            session.counters.rx_packets.fetch_add(1, Relaxed);
            session
                .counters
                .rx_bytes
                .fetch_add(header.total_len as u64, Relaxed);
        }
        Err(_) => bump(&c.tun_write_failed),
    }
}

/// Largest TCP MSS that fits the session's MRU (RFC 879 / 6691: minus 40
/// for IPv4 + TCP headers, minus 60 for IPv6).
pub(crate) fn mss_for(mru: u16, dst: IpAddr) -> u16 {
    let overhead = if dst.is_ipv4() { 40 } else { 60 };
    mru.saturating_sub(overhead)
}

fn is_router_solicitation(packet: &[u8], h: &ip::IpHeader) -> bool {
    !h.is_fragment && packet.get(h.header_len) == Some(&ICMPV6_ROUTER_SOLICITATION)
}

/// IPv6 that stays on the PPP link: a link-local or unspecified source, or a
/// link-local or interface/link-scope multicast destination (ff01::/16, ff02::/16).
fn is_link_scoped(src: IpAddr, dst: IpAddr) -> bool {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) else {
        return false;
    };
    let link_local = |a: Ipv6Addr| a.segments()[0] & 0xffc0 == 0xfe80;
    let [first, flags_scope, ..] = dst.octets();
    let link_multicast = first == 0xff && flags_scope & 0x0f <= 2;
    src.is_unspecified() || link_local(src) || link_local(dst) || link_multicast
}

/// Where a sub-slice starts within its parent buffer.
fn offset_in(parent: &[u8], child: &[u8]) -> usize {
    child.as_ptr() as usize - parent.as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::is_link_scoped;
    use std::net::IpAddr;

    fn scoped(src: &str, dst: &str) -> bool {
        is_link_scoped(
            src.parse::<IpAddr>().unwrap(),
            dst.parse::<IpAddr>().unwrap(),
        )
    }

    #[test]
    fn link_scoped_ipv6_is_told_apart_from_routable_traffic() {
        // MLDv2 report, DAD probe, LLMNR, ping to all nodes, to the server's link-local
        assert!(scoped("fe80::1234:5678:9abc:def0", "ff02::16"));
        assert!(scoped("::", "ff02::1:ff00:1"));
        assert!(scoped("2001:db8:42:1::1", "ff02::1:3"));
        assert!(scoped("fe80::1", "ff02::1"));
        assert!(scoped("2001:db8:42:1::1", "fe80::2"));
        assert!(scoped("febf::1", "2001:db8::1"), "fe80::/10 reaches febf");
        // routable: global to global, site and global multicast, IPv4
        assert!(!scoped("2001:db8:42:1::1", "2001:db8::1"));
        assert!(!scoped("2001:db8:42:1::1", "ff05::1:3"));
        assert!(!scoped("2001:db8:42:1::1", "ff0e::1"));
        assert!(!scoped("fec0::1", "2001:db8::1"));
        assert!(!scoped("192.168.42.10", "224.0.0.1"));
    }
}
