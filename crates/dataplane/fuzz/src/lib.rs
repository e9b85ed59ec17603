//! The bodies of the fuzz targets: one function per target, taking the
//! fuzzer's bytes and panicking when the data plane panics or breaks one of
//! the properties checked here. The targets in `fuzz_targets/` are one-line
//! wrappers, and `crates/dataplane/tests/fuzz_regressions.rs` includes this
//! file (`#[path]`) to replay saved inputs as ordinary tests, so it depends
//! on nothing but the data plane crate and std.
//!
//! Input layouts (byte 0 is a selector wherever there is one):
//! - `esp_open`: `0x00..=0x7f` + an ESP packet, opened by a fresh SA: the
//!   real SA of the recorded sessions (`__test__/vectors/real/`) whose SPI
//!   the packet carries, else SA `selector % n` with the packet's SPI.
//!   `0x80..` + mutation count + 4 bytes per mutation + next header +
//!   payload: sealed by SA `selector % n`, mutated, opened; it must open
//!   exactly when no byte changed.
//! - `natt`: selector + a UDP 4500 payload (classify, IKE framing), and the
//!   same bytes as addresses and a TCP/UDP segment for `natt::checksum`.
//! - `l2tp`, `ppp`: a datagram / a frame; parse, rewrite, parse again.
//! - `ip`: selector, MSS (2), MTU (2), then an IP packet: parse, ports, MSS
//!   clamp (the TCP checksum must stay valid), ICMP too-big (must be a valid
//!   packet quoting the original).
//! - `engine`: selector + bytes, through `l2tp_ipsec_dataplane::fuzzing`:
//!   0 plaintext sealed by the peer then received on UDP 4500, 1 a raw UDP
//!   4500 payload, 2 plaintext sealed and received on the raw ESP socket,
//!   3 a raw-socket datagram as is, 4 an IP packet read from TUN, whose
//!   sealed result the peer must open and find the packet in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};

use l2tp_ipsec_dataplane::esp::{self, EspError, EspSa, Suite};
use l2tp_ipsec_dataplane::fuzzing::Harness;
use l2tp_ipsec_dataplane::l2tp::{self, DataHeaderSpec, L2tpFrame};
use l2tp_ipsec_dataplane::natt::{self, checksum, Udp4500};
use l2tp_ipsec_dataplane::policy::Policy;
use l2tp_ipsec_dataplane::ppp::echo::{Keepalive, KeepaliveConfig};
use l2tp_ipsec_dataplane::table::{
    Direction, Encap, Lifetime, SaEntry, Session, SessionCounters, Tables,
};
use l2tp_ipsec_dataplane::{ip, ppp};

// ---------------------------------------------------------------------------
// SAs

/// Keys of one SA.
#[derive(Debug, Clone)]
pub struct SaSpec {
    pub spi: u32,
    pub suite: Suite,
    pub encryption_key: Vec<u8>,
    pub integrity_key: Vec<u8>,
}

impl SaSpec {
    /// A fresh SA with these keys; `window` 0 turns replay protection off.
    pub fn sa(&self, window: u32) -> EspSa {
        EspSa::new(
            self.spi,
            self.suite,
            &self.encryption_key,
            &self.integrity_key,
            window,
        )
        .expect("valid keys")
        .with_iv_seed(&[0x5a; esp::IV_SEED_LEN])
    }

    fn with_spi(&self, spi: u32) -> SaSpec {
        SaSpec {
            spi,
            ..self.clone()
        }
    }
}

const XFRM_STATES: [&str; 5] = [
    include_str!(
        "../../../../__test__/vectors/real/strongswan-aes128-sha1-modp2048/xfrm-state-server.txt"
    ),
    include_str!(
        "../../../../__test__/vectors/real/strongswan-windows-ecp384/xfrm-state-server.txt"
    ),
    include_str!(
        "../../../../__test__/vectors/real/strongswan-apple-sha256-modp2048/xfrm-state-server.txt"
    ),
    include_str!(
        "../../../../__test__/vectors/real/strongswan-legacy-3des-modp1024/xfrm-state-server.txt"
    ),
    include_str!(
        "../../../../__test__/vectors/real/strongswan-esp-aes128gcm16/xfrm-state-server.txt"
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// The SAs of `ip xfrm state` output: GCM (`aead`), CBC (`enc`) with HMAC
/// (`auth-trunc`).
fn parse_xfrm(text: &str) -> Vec<SaSpec> {
    let mut out = Vec::new();
    for block in text.split("\nsrc ") {
        let mut spi = None;
        let (mut cipher, mut mac, mut enc, mut int) =
            (String::new(), String::new(), vec![], vec![]);
        for line in block.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["proto", "esp", "spi", s, ..] => {
                    spi = Some(u32::from_str_radix(s.trim_start_matches("0x"), 16).expect("spi"))
                }
                ["aead", _, key, _] => {
                    enc = unhex(key);
                    cipher = format!("aes{}gcm-16", (enc.len() - 4) * 8);
                }
                ["enc", "cbc(aes)", key] => {
                    enc = unhex(key);
                    cipher = format!("aes{}", enc.len() * 8);
                }
                ["enc", "cbc(des3_ede)", key] => {
                    enc = unhex(key);
                    cipher = "3des".into();
                }
                ["auth-trunc", alg, key, bits] => {
                    int = unhex(key);
                    let hash = alg.trim_start_matches("hmac(").trim_end_matches(')');
                    mac = match (hash, *bits) {
                        ("sha256", "96") => "sha256_96".into(),
                        (h, _) => h.to_string(),
                    };
                }
                _ => {}
            }
        }
        let Some(spi) = spi else { continue };
        let name = if mac.is_empty() {
            cipher
        } else {
            format!("{cipher}-{mac}")
        };
        out.push(SaSpec {
            spi,
            suite: Suite::parse(&name).expect("known suite"),
            encryption_key: enc,
            integrity_key: int,
        });
    }
    out
}

fn synthetic(spi: u32, name: &str) -> SaSpec {
    let suite = Suite::parse(name).expect("known suite");
    SaSpec {
        spi,
        suite,
        encryption_key: (0..suite.encryption_key_len())
            .map(|i| i as u8 ^ 0x3c)
            .collect(),
        integrity_key: (0..suite.integrity_key_len())
            .map(|i| i as u8 ^ 0xa5)
            .collect(),
    }
}

/// Both SAs of each recorded session (GCM, AES-CBC + HMAC-SHA1, 3DES +
/// HMAC-MD5), then suites no recording has (other key and ICV lengths).
pub fn sas() -> &'static [SaSpec] {
    static SAS: OnceLock<Vec<SaSpec>> = OnceLock::new();
    SAS.get_or_init(|| {
        let mut sas: Vec<SaSpec> = XFRM_STATES.iter().flat_map(|t| parse_xfrm(t)).collect();
        assert_eq!(sas.len(), 10, "two SAs per recorded session");
        sas.extend([
            synthetic(0x0100_0001, "aes256gcm-16"),
            synthetic(0x0100_0002, "aes192-sha256_96"),
            synthetic(0x0100_0003, "aes256-sha512"),
            synthetic(0x0100_0004, "aes128-sha384"),
            synthetic(0x0100_0005, "aes256-sha256"),
        ]);
        sas
    })
}

// ---------------------------------------------------------------------------
// esp_open

pub fn esp_open(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let sas = sas();
    if selector & 0x80 == 0 {
        let spec = match esp::peek_spi(rest) {
            Some(spi) => match sas.iter().find(|s| s.spi == spi) {
                Some(s) => s.clone(),
                None => sas[selector as usize % sas.len()].with_spi(spi),
            },
            None => sas[selector as usize % sas.len()].clone(),
        };
        open_once(&spec, rest, selector & 0x40 != 0);
    } else {
        seal_mutate_open(&sas[(selector & 0x7f) as usize % sas.len()], rest);
    }
}

/// Opens `packet` with a fresh SA and checks what the result says against
/// the packet and the SA's counters.
fn open_once(spec: &SaSpec, packet: &[u8], no_replay_window: bool) {
    let mut sa = spec.sa(if no_replay_window { 0 } else { 1024 });
    let mut buf = packet.to_vec();
    let result = sa.open_in_place(&mut buf);
    let c = sa.counters();
    match result {
        Ok(opened) => {
            assert_eq!(
                (c.packets_in, c.icv_failures, c.replays, c.malformed),
                (1, 0, 0, 0)
            );
            assert_eq!(opened.payload.start, sa.head_len());
            let tail = 2 + spec.suite.icv_len();
            assert!(
                opened.payload.end + tail <= buf.len(),
                "payload runs into the tail"
            );
            assert_eq!(c.bytes_in, opened.payload.len() as u64);
            assert_eq!(
                opened.seq,
                u32::from_be_bytes(packet[4..8].try_into().unwrap()) as u64
            );
            // The same packet again is a replay (or, without a window, opens again).
            let again = sa.open_in_place(&mut packet.to_vec());
            if no_replay_window {
                assert_eq!(again.map(|o| o.payload), Ok(opened.payload));
            } else {
                assert_eq!(again, Err(EspError::Replay));
            }
        }
        Err(e) => {
            assert_eq!(c.packets_in + c.bytes_in, 0);
            assert_eq!(
                c.icv_failures + c.replays + c.malformed,
                1,
                "{e:?} counted once"
            );
            if matches!(e, EspError::Truncated | EspError::WrongSpi) {
                assert_eq!(buf, packet, "{e:?} must not touch the packet");
            }
        }
    }
}

fn seal_mutate_open(spec: &SaSpec, rest: &[u8]) {
    let Some((&count, rest)) = rest.split_first() else {
        return;
    };
    let count = (count % 4) as usize;
    if rest.len() < count * 4 + 1 {
        return;
    }
    let (mutations, rest) = rest.split_at(count * 4);
    let (next_header, payload) = (rest[0], &rest[1..]);

    let mut sealer = spec.sa(0);
    let mut sealed = vec![0u8; sealer.sealed_len(payload.len())];
    let n = sealer
        .seal(payload, next_header, &mut sealed)
        .expect("seal");
    assert_eq!(n, sealed.len());

    let mut packet = sealed.clone();
    for m in mutations.chunks_exact(4) {
        let at = u16::from_be_bytes([m[1], m[2]]) as usize;
        match m[0] % 3 {
            0 if !packet.is_empty() => {
                let i = at % packet.len();
                packet[i] ^= m[3];
            }
            1 => packet.truncate(at % (packet.len() + 1)),
            _ => packet.push(m[3]),
        }
    }

    let mut opener = spec.sa(1024);
    let mut buf = packet.clone();
    let result = opener.open_in_place(&mut buf);
    if packet == sealed {
        let opened = result.expect("an untouched sealed packet opens");
        assert_eq!(opened.next_header, next_header);
        assert_eq!(&buf[opened.payload], payload);
        assert_eq!(
            opener.open_in_place(&mut sealed.clone()),
            Err(EspError::Replay)
        );
    } else {
        assert!(result.is_err(), "a changed packet opened: {result:?}");
        // A forgery moves nothing: the real packet still opens.
        let opened = opener.open_in_place(&mut sealed.clone()).expect("opens");
        assert_eq!(opened.next_header, next_header);
    }
}

// ---------------------------------------------------------------------------
// natt

pub fn natt(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    match natt::classify(payload) {
        Udp4500::Keepalive => assert_eq!(payload, natt::KEEPALIVE),
        Udp4500::Ike(ike) => {
            assert!(!ike.is_empty() && payload[..4] == natt::NON_ESP_MARKER);
            let mut framed = vec![0u8; payload.len()];
            assert_eq!(natt::frame_ike(ike, &mut framed), Some(payload.len()));
            assert_eq!(framed, payload);
            assert_eq!(natt::frame_ike(ike, &mut framed[1..]), None);
        }
        Udp4500::Esp(esp) => {
            assert_eq!(esp, payload);
            assert!(esp.len() >= 8 && esp[..4] != natt::NON_ESP_MARKER);
        }
        Udp4500::Malformed => {
            assert!(payload.len() < 8 || payload[..4] == natt::NON_ESP_MARKER)
        }
    }
    nat_checksums(selector, payload);
}

/// Bits of `selector`: protocol (TCP, UDP, other), address family, and
/// whether the families mix. The bytes are four addresses, then the segment.
fn nat_checksums(selector: u8, bytes: &[u8]) {
    let protocol = [checksum::PROTO_TCP, checksum::PROTO_UDP, 1][selector as usize % 3];
    let len = if selector & 0x08 != 0 { 16 } else { 4 };
    let other = if selector & 0x10 != 0 { 20 - len } else { len };
    let need = 2 * len + 2 * other;
    if bytes.len() < need {
        return;
    }
    let (addrs, segment) = bytes.split_at(need);
    let (orig_src, rest) = addrs.split_at(len);
    let (orig_dst, rest) = rest.split_at(other);
    let (new_src, new_dst) = rest.split_at(len);
    let mixed = len != other;

    let plain = checksum::verify(protocol, orig_src, orig_dst, segment);
    let mut seg = segment.to_vec();
    let recomputed = checksum::recompute(protocol, orig_src, orig_dst, &mut seg);
    assert_eq!(plain.is_err(), recomputed.is_err());
    if protocol == 1 {
        assert_eq!((plain, recomputed), (Ok(true), Ok(())));
        return;
    }
    let min_len = if protocol == checksum::PROTO_TCP {
        20
    } else {
        8
    };
    if segment.len() < min_len {
        assert_eq!(recomputed, Err(checksum::ChecksumError::Truncated));
        return;
    }
    if mixed {
        assert_eq!(recomputed, Err(checksum::ChecksumError::AddressFamily));
        return;
    }
    assert_eq!(
        checksum::verify(protocol, orig_src, orig_dst, &seg),
        Ok(true)
    );
    checksum::update_incrementally(protocol, (orig_src, orig_dst), (new_src, new_dst), &mut seg)
        .expect("same families");
    assert_eq!(
        checksum::verify(protocol, new_src, new_dst, &seg),
        Ok(true),
        "incremental update disagrees with the checksum over the new addresses"
    );
}

// ---------------------------------------------------------------------------
// l2tp

/// Whether `inner` lies within `outer`.
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

pub fn l2tp(data: &[u8]) {
    let frame = match l2tp::parse(data) {
        Ok(f) => f,
        Err(_) => return,
    };
    let d = match frame {
        L2tpFrame::Control { message, .. } => {
            assert!(message.len() >= l2tp::CONTROL_HEADER_LEN);
            assert_eq!(message, &data[..message.len()]);
            return;
        }
        L2tpFrame::Data(d) => d,
    };
    assert!(within(data, d.payload));
    for with_length in [false, true] {
        let spec = DataHeaderSpec {
            tunnel_id: d.tunnel_id,
            session_id: d.session_id,
            ns_nr: d.ns_nr,
            priority: d.priority,
            with_length,
            payload_len: d.payload.len(),
        };
        let mut buf = vec![0u8; spec.header_len() + d.payload.len()];
        buf[spec.header_len()..].copy_from_slice(d.payload);
        match l2tp::encapsulate_in_place(&mut buf, &spec) {
            Ok(n) => assert_eq!(n, buf.len()),
            Err(e) => {
                assert!(with_length && buf.len() > u16::MAX as usize, "{e:?}");
                continue;
            }
        }
        assert_eq!(l2tp::parse(&buf), Ok(L2tpFrame::Data(d)));
    }
}

// ---------------------------------------------------------------------------
// ppp

pub fn ppp(data: &[u8]) {
    let Ok(frame) = ppp::parse(data) else {
        return;
    };
    assert!(ppp::is_valid_protocol(frame.protocol));
    assert_eq!(frame.info, &data[data.len() - frame.info.len()..]);
    assert!(!frame.pfc || frame.protocol < 0x100, "one byte of Protocol");
    let len = ppp::header_len(frame.protocol, frame.acfc, frame.pfc);
    let mut buf = vec![0u8; len + frame.info.len()];
    assert_eq!(
        ppp::write_header(&mut buf, frame.protocol, frame.acfc, frame.pfc),
        Ok(len)
    );
    buf[len..].copy_from_slice(frame.info);
    let again = ppp::parse(&buf).expect("what we write parses");
    assert_eq!((again.protocol, again.info), (frame.protocol, frame.info));
    if frame.protocol != ppp::PROTO_LCP {
        assert_eq!((again.acfc, again.pfc), (frame.acfc, frame.pfc));
    }
}

// ---------------------------------------------------------------------------
// ip

fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for (i, b) in data.iter().enumerate() {
        acc += if i % 2 == 0 {
            (*b as u64) << 8
        } else {
            *b as u64
        };
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub fn ip(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let selector = data[0];
    let max_mss = u16::from_be_bytes([data[1], data[2]]);
    let mtu = u16::from_be_bytes([data[3], data[4]]);
    let mut packet = data[5..].to_vec();
    let Ok(h) = ip::parse(&packet) else {
        return;
    };
    assert!(
        h.header_len <= h.total_len && h.total_len <= packet.len(),
        "{h:?}"
    );
    assert_eq!(h.version, packet[0] >> 4);
    let _ = ip::transport_ports(&packet, &h);
    assert_eq!(h.payload(&packet).len(), h.total_len - h.header_len);

    // MSS clamping: changes only a SYN's MSS, keeps the checksum valid.
    let tcp_valid_before = (h.protocol == ip::PROTO_TCP && !h.is_fragment)
        .then(|| {
            let seg = &packet[h.header_len..h.total_len];
            checksum::verify(ip::PROTO_TCP, &addr_bytes(h.src), &addr_bytes(h.dst), seg).ok()
        })
        .flatten();
    let before = packet.clone();
    if ip::clamp_tcp_mss(&mut packet, &h, max_mss) {
        assert_eq!(ip::parse(&packet), Ok(h));
        assert!(
            !ip::clamp_tcp_mss(&mut packet.clone(), &h, max_mss),
            "clamps twice"
        );
        // Only the checksum and the options changed.
        let tcp = h.header_len;
        let options = tcp + 20..tcp + (packet[tcp + 12] >> 4) as usize * 4;
        for i in (0..packet.len()).filter(|&i| packet[i] != before[i]) {
            assert!(
                i == tcp + 16 || i == tcp + 17 || options.contains(&i),
                "byte {i} changed"
            );
        }
        if tcp_valid_before == Some(true) {
            let seg = &packet[h.header_len..h.total_len];
            assert_eq!(
                checksum::verify(ip::PROTO_TCP, &addr_bytes(h.src), &addr_bytes(h.dst), seg),
                Ok(true),
                "MSS clamping broke the TCP checksum"
            );
        }
    } else {
        assert_eq!(packet, before);
    }

    // ICMP too big.
    let from = match (selector % 3, h.version) {
        (0, _) => h.dst,
        (1, _) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    };
    let room = [1500, 60, 575, 1279, 48][(selector as usize >> 2) % 5];
    let mut out = vec![0u8; room];
    let Some(n) = ip::icmp_too_big(&packet, &h, mtu, from, &mut out) else {
        return;
    };
    assert!(n <= out.len());
    let error = &out[..n];
    let eh = ip::parse(error).expect("the ICMP error parses");
    assert_eq!((eh.total_len, eh.src, eh.dst), (n, from, h.src));
    assert!(!h.is_fragment);
    let quote_len = if eh.version == 4 {
        assert!(n <= 576);
        assert_eq!(eh.protocol, ip::PROTO_ICMP);
        assert_eq!(ones_sum(&error[..20]), 0xffff, "IPv4 header checksum");
        assert_eq!(ones_sum(&error[20..]), 0xffff, "ICMP checksum");
        assert_eq!(&error[20..22], &[3, 4]);
        assert_eq!(u16::from_be_bytes([error[26], error[27]]), mtu);
        n - 28
    } else {
        assert!(n <= 1280);
        assert_eq!(eh.protocol, ip::PROTO_ICMPV6);
        let icmp = &error[40..];
        let mut pseudo = error[8..40].to_vec();
        pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, ip::PROTO_ICMPV6]);
        pseudo.extend_from_slice(icmp);
        assert_eq!(ones_sum(&pseudo), 0xffff, "ICMPv6 checksum");
        assert_eq!(&icmp[..2], &[2, 0]);
        assert_eq!(
            u32::from_be_bytes(icmp[4..8].try_into().unwrap()),
            mtu as u32
        );
        n - 48
    };
    assert_eq!(&error[n - quote_len..], &packet[..quote_len]);
    assert!(quote_len >= (h.header_len + 8).min(h.total_len));
}

// ---------------------------------------------------------------------------
// engine

pub const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 4500);
const IN_SPI: u32 = 0xc000_0001;
const OUT_SPI: u32 = 0xc000_0002;
const BINDING: u32 = 7;
/// The session with an address: the L2TP ids and address of the client in
/// `strongswan-windows-ecp384` (its ping is in the seeds).
const S1_IDS: (u16, u16) = (38036, 49340);
const S1_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 242, 10);
/// A default-route session (any source, any destination), sequencing on.
const S2_IDS: (u16, u16) = (34182, 52798);
const PEER_IDS: (u16, u16) = (26657, 18467);

fn in_spec() -> SaSpec {
    synthetic(IN_SPI, "aes128gcm-16")
}

fn out_spec() -> SaSpec {
    synthetic(OUT_SPI, "aes128-sha1")
}

fn session(
    id: u32,
    ids: (u16, u16),
    v4: Option<Ipv4Addr>,
    default_route: bool,
    mru: u16,
) -> Session {
    Session {
        id,
        binding: BINDING,
        local_tunnel: ids.0,
        local_session: ids.1,
        peer_tunnel: PEER_IDS.0,
        peer_session: PEER_IDS.1 + id as u16,
        peer_port: l2tp::UDP_PORT,
        ipv4: v4,
        ipv6: v4.map(|_| (Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 64)),
        default_route,
        mru,
        acfc: default_route,
        pfc: default_route,
        sequencing: default_route,
        next_ns: AtomicU16::new(0),
        idle_timeout_ns: 0,
        policy: Mutex::new(Policy::allow_all()),
        counters: SessionCounters::default(),
        idle_reported: AtomicBool::new(false),
        // Handed over, as the server does once LCP is Opened: LCP echoes take the keepalive's path.
        keepalive: Mutex::new(Some(Keepalive::new(
            KeepaliveConfig {
                magic: 0x1122_3344,
                peer_magic: 0x5566_7788,
                peer_mru: mru,
                interval_ns: 30_000_000_000,
                failures: 4,
            },
            0,
            30_000_000_000,
            0,
            0,
        ))),
    }
}

/// One peer (binding) with an inbound and an outbound SA and two sessions.
pub fn engine_harness(encap: Encap) -> Harness {
    let tables = Arc::new(Tables::default());
    for (spec, direction) in [(in_spec(), Direction::In), (out_spec(), Direction::Out)] {
        tables.install_sa(
            SaEntry {
                spi: spec.spi,
                binding: BINDING,
                direction,
                esp: Mutex::new(spec.sa(1024)),
                lifetime: Lifetime::default(),
                reported: AtomicU16::new(0),
                failures_seen: AtomicU64::new(0),
            },
            PEER,
            encap,
            l2tp::UDP_PORT,
        );
    }
    tables
        .upsert_session(session(1, S1_IDS, Some(S1_V4), false, 1280))
        .expect("session 1");
    tables
        .upsert_session(session(2, S2_IDS, None, true, 1400))
        .expect("session 2");
    Harness::new(tables).expect("eventfd")
}

/// What the peer sends: `plaintext` sealed in the inbound SA.
pub fn peer_seal(plaintext: &[u8], next_header: u8) -> Vec<u8> {
    let mut sa = in_spec().sa(0);
    let mut out = vec![0u8; sa.sealed_len(plaintext.len())];
    sa.seal(plaintext, next_header, &mut out).expect("seal");
    out
}

fn ipv4_esp_header(esp_len: usize) -> Vec<u8> {
    let total = (20 + esp_len) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[203, 0, 113, 5, 198, 51, 100, 1]);
    h
}

pub fn engine(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The packet comes from where the binding says, or from a new port (a
    // NAT rebinding).
    let from = if selector & 0x80 != 0 {
        SocketAddr::new(PEER.ip(), 4501)
    } else {
        PEER
    };
    match selector & 0x7f {
        0 | 2 => {
            let Some((&next_header, plaintext)) = rest.split_first() else {
                return;
            };
            let sealed = peer_seal(plaintext, next_header);
            if selector & 0x7f == 0 {
                engine_harness(Encap::Udp).natt(&mut sealed.clone(), from);
            } else {
                let mut datagram = ipv4_esp_header(sealed.len());
                datagram.extend_from_slice(&sealed);
                engine_harness(Encap::Raw).raw(&mut datagram, from);
            }
        }
        1 => {
            engine_harness(Encap::Udp).natt(&mut rest.to_vec(), from);
        }
        3 => {
            engine_harness(Encap::Raw).raw(&mut rest.to_vec(), from);
        }
        _ => from_tun_round_trip(rest),
    }
}

/// An IP packet read from TUN: if it is sent, the peer opens it and finds
/// UDP 1701, the session's L2TP ids, PPP, and the packet (MSS clamped).
fn from_tun_round_trip(packet: &[u8]) {
    let harness = engine_harness(Encap::Udp);
    let Some(sent) = harness.from_tun(packet) else {
        return;
    };
    assert_eq!((sent.dest, sent.encap), (PEER, Encap::Udp));
    let mut buf = sent.packet.clone();
    let opened = out_spec()
        .sa(1024)
        .open_in_place(&mut buf)
        .expect("the peer opens it");
    assert_eq!(opened.next_header, 17);
    let udp = &buf[opened.payload];
    assert_eq!(&udp[..4], &[0x06, 0xa5, 0x06, 0xa5]);
    assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, udp.len());
    let Ok(L2tpFrame::Data(d)) = l2tp::parse(&udp[8..]) else {
        panic!("not an L2TP data message");
    };
    let frame = ppp::parse(d.payload).expect("PPP");
    let h = ip::parse(packet).expect("it was sent, so it parsed");
    let tables = harness.tables();
    let session = tables.session_for_destination(h.dst).expect("a session");
    assert_eq!(
        (d.tunnel_id, d.session_id),
        (session.peer_tunnel, session.peer_session)
    );
    assert_eq!(d.ns_nr.is_some(), session.sequencing);
    let expected_protocol = if h.version == 4 {
        ppp::PROTO_IPV4
    } else {
        ppp::PROTO_IPV6
    };
    assert_eq!(frame.protocol, expected_protocol);
    let mut clamped = packet[..h.total_len].to_vec();
    let overhead = if h.version == 4 { 40 } else { 60 };
    ip::clamp_tcp_mss(&mut clamped, &h, session.mru.saturating_sub(overhead));
    assert_eq!(frame.info, &clamped[..]);
    assert!(h.total_len <= session.mru as usize || !h.dont_fragment);
}
