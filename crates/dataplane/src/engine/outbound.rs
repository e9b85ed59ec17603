//! Packets to peers: TUN → session by destination → PPP → L2TP → UDP → ESP
//! → UDP 4500 or raw ESP; and the control traffic JS sends.
//!
//! Packets are built in place: the TUN read lands at `HEADROOM` and every
//! header is written in front of it, then ESP seals the whole in the same
//! buffer (its trailer fits in `TAILROOM`).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::counters::bump;
use super::inbound::mss_for;
use super::up::Control;
use super::Shared;
use crate::io::tun::TunSink;
use crate::io::udp;
use crate::l2tp::{self, DataHeaderSpec};
use crate::table::{Binding, Encap, Session};
use crate::{esp, ip, natt, ppp};

/// ESP header and IV (24) + UDP (8) + L2TP data header + PPP header (4).
pub(crate) const HEADROOM: usize = 24 + 8 + l2tp::MAX_DATA_HEADER_LEN + 4;
pub(crate) const TAILROOM: usize = esp::MAX_TAIL_LEN;

/// A sealed packet in a buffer, ready to send.
pub(crate) struct Outgoing {
    pub start: usize,
    pub len: usize,
    pub dest: SocketAddr,
    pub encap: Encap,
}

/// Handles the IP packet at `buf[HEADROOM..HEADROOM + len]` read from TUN.
pub(crate) fn from_tun(
    shared: &Shared,
    buf: &mut [u8],
    len: usize,
    tun: TunSink,
) -> Option<Outgoing> {
    let c = &shared.counters;
    bump(&c.tun_in);
    let header = match ip::parse(&buf[HEADROOM..HEADROOM + len]) {
        Ok(h) => h,
        Err(_) => {
            bump(&c.tun_malformed);
            return None;
        }
    };
    if let Some(site) = shared.tables.sites.route(header.dst) {
        return super::tunnel::outbound(shared, &site, buf, &header);
    }
    let Some(session) = shared.tables.session_for_destination(header.dst) else {
        bump(&c.tun_no_session);
        return None;
    };
    let packet_len = header.total_len;
    // Over the peer's MRU with DF: tell the sender to use smaller packets
    // rather than black-holing them (RFC 1191 / RFC 8201). Without DF the
    // packet goes as it is; the peer's PPP may still take it.
    if packet_len > session.mru as usize && header.dont_fragment {
        let mut icmp = [0u8; 1280];
        let from = tun_source_for(&header);
        if let Some(n) = ip::icmp_too_big(
            &buf[HEADROOM..HEADROOM + len],
            &header,
            session.mru,
            from,
            &mut icmp,
        ) {
            let _ = tun.write(&icmp[..n]);
        }
        session.counters.too_big.fetch_add(1, Relaxed);
        bump(&c.too_big);
        return None;
    }
    ip::clamp_tcp_mss(
        &mut buf[HEADROOM..HEADROOM + len],
        &header,
        mss_for(session.mru, header.dst),
    );
    shared
        .tables
        .captures
        .record(session.id, &buf[HEADROOM..HEADROOM + packet_len]);
    let protocol = if header.version == 4 {
        ppp::PROTO_IPV4
    } else {
        ppp::PROTO_IPV6
    };
    let ppp_len = ppp::header_len(protocol, session.acfc, session.pfc);
    let ppp_start = HEADROOM - ppp_len;
    ppp::write_header(
        &mut buf[ppp_start..HEADROOM],
        protocol,
        session.acfc,
        session.pfc,
    )
    .ok()?;
    let out = seal_l2tp_data(shared, &session, buf, ppp_start, ppp_len + packet_len)?;
    session.counters.tx_packets.fetch_add(1, Relaxed);
    session
        .counters
        .tx_bytes
        .fetch_add(packet_len as u64, Relaxed);
    session.touch(shared.now_ns());
    Some(out)
}

/// The address ICMP errors toward the TUN side come from: the destination
/// the sender tried to reach (we stand in for the tunnel's far end).
fn tun_source_for(header: &ip::IpHeader) -> std::net::IpAddr {
    header.dst
}

/// Wraps the PPP frame at `buf[ppp_start..][..ppp_len]` in the session's
/// L2TP data header, UDP 1701, and ESP.
fn seal_l2tp_data(
    shared: &Shared,
    session: &Session,
    buf: &mut [u8],
    ppp_start: usize,
    ppp_len: usize,
) -> Option<Outgoing> {
    let ns_nr = session
        .sequencing
        .then(|| (session.next_ns.fetch_add(1, Relaxed), 0));
    let spec = DataHeaderSpec {
        tunnel_id: session.peer_tunnel,
        session_id: session.peer_session,
        ns_nr,
        priority: false,
        with_length: false,
        payload_len: ppp_len,
    };
    let l2tp_start = ppp_start - spec.header_len();
    if l2tp::write_data_header(&mut buf[l2tp_start..], &spec).is_err() {
        bump(&shared.counters.seal_failed);
        return None;
    }
    let binding = shared.tables.binding(session.binding)?;
    seal_udp_1701(
        shared,
        &binding,
        session.peer_port,
        buf,
        l2tp_start,
        ppp_start + ppp_len - l2tp_start,
    )
}

/// Writes UDP 1701 → `peer_port` in front of the L2TP message at
/// `buf[l2tp_start..][..l2tp_len]` and seals it with the binding's current
/// outbound SA.
fn seal_udp_1701(
    shared: &Shared,
    binding: &Binding,
    peer_port: u16,
    buf: &mut [u8],
    l2tp_start: usize,
    l2tp_len: usize,
) -> Option<Outgoing> {
    let c = &shared.counters;
    let Some(sa) = binding.out_sa.load_full() else {
        bump(&c.no_outbound_sa);
        return None;
    };
    let udp_start = l2tp_start - 8;
    // UDP Length is 16 bits: a longer datagram cannot be sent, and writing
    // its length `as u16` would wrap (a 65535-byte TUN packet gave 18).
    let Ok(udp_len) = u16::try_from(8 + l2tp_len) else {
        bump(&c.seal_failed);
        return None;
    };
    let port = if peer_port == 0 {
        l2tp::UDP_PORT
    } else {
        peer_port
    };
    buf[udp_start..udp_start + 2].copy_from_slice(&l2tp::UDP_PORT.to_be_bytes());
    buf[udp_start + 2..udp_start + 4].copy_from_slice(&port.to_be_bytes());
    buf[udp_start + 4..udp_start + 6].copy_from_slice(&udp_len.to_be_bytes());
    // Checksum 0: allowed for IPv4 transport mode behind ESP, and what
    // clients expect after NAT anyway (RFC 3948 3.1.2).
    buf[udp_start + 6..udp_start + 8].fill(0);
    let mut esp = sa.esp.lock().expect("SA lock");
    let Some(esp_start) = udp_start.checked_sub(esp.head_len()) else {
        bump(&c.seal_failed);
        return None;
    };
    match esp.seal_in_place(&mut buf[esp_start..], udp_len.into(), 17) {
        Ok(len) => {
            drop(esp);
            bump(&c.esp_out);
            Some(Outgoing {
                start: esp_start,
                len,
                dest: *binding.peer.lock().expect("peer lock"),
                encap: binding.encap,
            })
        }
        Err(_) => {
            bump(&c.seal_failed);
            None
        }
    }
}

/// The socket index (into `natt`) that can reach `dest`.
pub(crate) fn natt_socket_for(shared: &Shared, dest: SocketAddr) -> Option<usize> {
    let addrs = &shared.io.natt_addrs;
    addrs
        .iter()
        .position(|a| a.is_ipv4() == dest.is_ipv4())
        .or_else(|| {
            addrs
                .iter()
                .position(|a| a.is_ipv6() && a.ip().is_unspecified())
        })
}

/// Sends sealed packets from `worker`'s sockets.
pub(crate) fn transmit(
    shared: &Shared,
    worker: usize,
    bufs: &[Vec<u8>],
    outs: &[(usize, Outgoing)],
) {
    let c = &shared.counters;
    let mut udp_batch: Vec<Vec<(&[u8], SocketAddr)>> = vec![Vec::new(); shared.io.natt_addrs.len()];
    for (i, out) in outs {
        let bytes = &bufs[*i][out.start..out.start + out.len];
        match out.encap {
            Encap::Udp => match natt_socket_for(shared, out.dest) {
                Some(s) => udp_batch[s].push((bytes, out.dest)),
                None => bump(&c.send_failed),
            },
            Encap::Raw => send_raw(shared, bytes, out.dest),
        }
    }
    for (s, batch) in udp_batch.iter().enumerate() {
        if batch.is_empty() {
            continue;
        }
        let fd = shared.io.natt[worker][s].as_raw_fd();
        let gso = shared.io.offloads.udp_gso;
        let (sent, calls) = udp::send_batch_gso(fd, shared.io.natt_v6[s], batch, gso);
        c.udp_send_calls.fetch_add(calls, Relaxed);
        c.send_failed
            .fetch_add((batch.len() - sent) as u64, Relaxed);
    }
}

fn send_raw(shared: &Shared, bytes: &[u8], dest: SocketAddr) {
    let Some(raw) = &shared.io.raw else {
        return bump(&shared.counters.send_failed);
    };
    let dest = SocketAddr::new(dest.ip(), 0);
    if udp::send_batch(raw.as_raw_fd(), dest.is_ipv6(), &[(bytes, dest)]).unwrap_or(0) == 0 {
        bump(&shared.counters.send_failed);
    }
}

/// Why JS's control packet was not sent.
pub type SendError = &'static str;

/// A control packet built and sealed, waiting to go out in a batch.
pub(crate) struct Prepared {
    buf: Vec<u8>,
    start: usize,
    len: usize,
    dest: SocketAddr,
    /// Our source address (IKE: the one the peer addressed); None: the route's.
    source: Option<std::net::IpAddr>,
    route: Route,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Ike(usize),
    Natt(usize),
    Raw,
}

/// Builds one control packet from JS: IKE for UDP 500/4500, or an L2TP
/// control message or a PPP frame sealed in the binding's or session's SA.
pub(crate) fn prepare_control(
    shared: &Shared,
    meta: &Control,
    frame: &[u8],
    local_port: u16,
) -> Result<Prepared, SendError> {
    let c = &shared.counters;
    match meta {
        Control::Ike { peer, local, .. } => {
            let on_natt =
                local_port != 500 && shared.io.natt_addrs.iter().any(|a| a.port() == local_port);
            let route = if on_natt {
                Route::Natt(natt_socket_for(shared, *peer).ok_or("ERR_DP_NO_NATT_SOCKET")?)
            } else {
                let i = shared
                    .io
                    .ike_addrs
                    .iter()
                    .position(|a| {
                        a.is_ipv4() == peer.is_ipv4() || a.ip().is_unspecified() && a.is_ipv6()
                    })
                    .ok_or("ERR_DP_NO_IKE_SOCKET")?;
                Route::Ike(i)
            };
            let mut buf = Vec::with_capacity(frame.len() + 4);
            if on_natt {
                buf.extend_from_slice(&natt::NON_ESP_MARKER);
            }
            buf.extend_from_slice(frame);
            bump(&c.ike_out);
            Ok(Prepared {
                len: buf.len(),
                buf,
                start: 0,
                dest: *peer,
                source: *local,
                route,
            })
        }
        Control::L2tp {
            binding, peer_port, ..
        } => {
            let binding = shared
                .tables
                .binding(*binding)
                .ok_or("ERR_DP_UNKNOWN_BINDING")?;
            let mut buf = vec![0u8; HEADROOM + frame.len() + TAILROOM];
            buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
            let out = seal_udp_1701(
                shared,
                &binding,
                *peer_port,
                &mut buf,
                HEADROOM,
                frame.len(),
            )
            .ok_or("ERR_DP_NO_OUTBOUND_SA")?;
            bump(&c.l2tp_control_out);
            prepared(shared, buf, out)
        }
        Control::Ppp { session } => {
            let session: Arc<Session> = shared
                .tables
                .sessions
                .get(session)
                .map(|s| s.clone())
                .ok_or("ERR_DP_UNKNOWN_SESSION")?;
            let p = prepare_ppp(shared, &session, frame)?;
            bump(&c.ppp_control_out);
            Ok(p)
        }
    }
}

/// Builds a PPP frame (FF 03 and the protocol first) to a session's peer:
/// L2TP data, UDP 1701, ESP, as the control plane's PPP frames go.
pub(crate) fn prepare_ppp(
    shared: &Shared,
    session: &Session,
    frame: &[u8],
) -> Result<Prepared, SendError> {
    let mut buf = vec![0u8; HEADROOM + frame.len() + TAILROOM];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let out = seal_l2tp_data(shared, session, &mut buf, HEADROOM, frame.len())
        .ok_or("ERR_DP_NO_OUTBOUND_SA")?;
    prepared(shared, buf, out)
}

fn prepared(shared: &Shared, buf: Vec<u8>, out: Outgoing) -> Result<Prepared, SendError> {
    let route = match out.encap {
        Encap::Udp => {
            Route::Natt(natt_socket_for(shared, out.dest).ok_or("ERR_DP_NO_NATT_SOCKET")?)
        }
        Encap::Raw => Route::Raw,
    };
    Ok(Prepared {
        buf,
        start: out.start,
        len: out.len,
        dest: out.dest,
        source: None,
        route,
    })
}

/// Sends prepared control packets, one sendmmsg per socket; returns how
/// many the kernel took.
pub(crate) fn send_prepared(shared: &Shared, packets: &[Prepared]) -> usize {
    let mut sent = 0;
    let mut routes: Vec<Route> = packets.iter().map(|p| p.route).collect();
    routes.dedup();
    routes.sort_by_key(|r| match r {
        Route::Ike(i) => *i,
        Route::Natt(i) => 1000 + *i,
        Route::Raw => 2000,
    });
    routes.dedup();
    for route in routes {
        let batch: Vec<(&[u8], SocketAddr)> = packets
            .iter()
            .filter(|p| p.route == route)
            .map(|p| (&p.buf[p.start..p.start + p.len], p.dest))
            .collect();
        let sources: Vec<Option<std::net::IpAddr>> = packets
            .iter()
            .filter(|p| p.route == route)
            .map(|p| p.source)
            .collect();
        let n = match route {
            Route::Ike(i) => udp::send_batch_from(
                shared.io.ike[i].as_raw_fd(),
                shared.io.ike_v6[i],
                &batch,
                &sources,
            ),
            Route::Natt(i) => udp::send_batch_from(
                shared.io.natt[0][i].as_raw_fd(),
                shared.io.natt_v6[i],
                &batch,
                &sources,
            ),
            Route::Raw => {
                for (bytes, dest) in &batch {
                    send_raw(shared, bytes, *dest);
                }
                Ok(batch.len())
            }
        }
        .unwrap_or(0);
        shared
            .counters
            .send_failed
            .fetch_add((batch.len() - n) as u64, Relaxed);
        sent += n;
    }
    sent
}
