//! Inner IP packets (parsing, ports, MSS clamping, ICMP "too big") and the
//! per-session policy (rules, rate limit), on hand-made packets and on
//! packets from real captures. Checksums are verified with a sum written
//! here independently of the crate's.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use l2tp_ipsec_dataplane::ip::{
    self, clamp_tcp_mss, icmp_too_big, parse, transport_ports, IpError, IpHeader,
};
use l2tp_ipsec_dataplane::policy::{
    Action, Policy, PolicyError, Prefix, Rule, TokenBucket, Verdict,
};

// ---------------------------------------------------------------------------
// Real packets.

/// An ICMP echo request from the client (192.168.242.10) to the server's PPP
/// address (192.168.242.1), 84 bytes: frame 45 of
/// `__test__/vectors/real/strongswan-aes128-sha1-modp2048/session.pcap`
/// (strongSwan 5.9.8 + xl2tpd + pppd on Linux 6.1), decrypted by tshark 4.0
/// with the keys of that folder's `xfrm-state-*.txt` (esp.icv_good == 1) and
/// taken from inside L2TP and PPP (protocol 0x0021).
const REAL_PING: &str = "45000054fbb240004001d998c0a8f20ac0a8f201\
    0800c25601370001a990076b00000000b7a20d0000000000\
    101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

/// TCP SYNs of Linux 6.18 to a closed port, captured here with
/// `dumpcap -i lo` while Python's `socket.connect(("127.0.0.1", 9))` and
/// `(("::1", 9))` ran (frames 1 and 3; the Ethernet header of `lo` removed).
/// MSS 65495 / 65476, SACK_PERM, timestamps, window scale. Loopback uses
/// checksum offload, so their TCP checksum field holds only the folded
/// pseudo-header sum (CHECKSUM_PARTIAL); the tests check that and then
/// complete the checksum as a NIC would.
const LOOPBACK_SYN_V4: &str = "4500003cc93a40004006737f7f0000017f000001\
    a3ac0009318448a000000000a002ffd7fe3000000204ffd70402080afd11382d000000000103030a";
const LOOPBACK_SYN_V6: &str =
    "60089c36002806400000000000000000000000000000000100000000000000000000000000000001\
    c8100009ed33d0df00000000a002ffc4003000000204ffc40402080a666afa47000000000103030a";

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// An independent RFC 1071 sum: bytes weighted by position, then folded.

fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut total: u64 = 0;
    for part in parts {
        assert!(part.len() % 2 == 0 || std::ptr::eq(*part, *parts.last().unwrap()));
        for (i, b) in part.iter().enumerate() {
            total += if i % 2 == 0 {
                (*b as u64) * 256
            } else {
                *b as u64
            };
        }
    }
    while total >> 16 != 0 {
        total = (total >> 16) + (total & 0xffff);
    }
    total as u16
}

fn pseudo_header(packet: &[u8], protocol: u8, upper_len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    if packet[0] >> 4 == 4 {
        p.extend_from_slice(&packet[12..20]);
        p.extend_from_slice(&[0, protocol]);
        p.extend_from_slice(&(upper_len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&packet[8..40]);
        p.extend_from_slice(&(upper_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, protocol]);
    }
    p
}

/// Whether the upper-layer checksum at `offset` verifies (the sum over
/// everything, checksum included, is all ones).
fn upper_checksum_ok(packet: &[u8], with_pseudo_header: bool) -> bool {
    let h = parse(packet).unwrap();
    let upper = &packet[h.header_len..h.total_len];
    if with_pseudo_header {
        let ph = pseudo_header(packet, h.protocol, upper.len());
        ones_sum(&[&ph, upper]) == 0xffff
    } else {
        ones_sum(&[upper]) == 0xffff
    }
}

fn ipv4_header_ok(packet: &[u8]) -> bool {
    let ihl = (packet[0] & 0x0f) as usize * 4;
    ones_sum(&[&packet[..ihl]]) == 0xffff
}

/// Writes the TCP/UDP checksum (at `field` within the upper layer) from
/// scratch.
fn set_upper_checksum(packet: &mut [u8], field: usize) {
    let h = parse(packet).unwrap();
    let start = h.header_len;
    packet[start + field..start + field + 2].fill(0);
    let ph = pseudo_header(packet, h.protocol, h.total_len - start);
    let c = !ones_sum(&[&ph, &packet[start..h.total_len]]);
    packet[start + field..start + field + 2].copy_from_slice(&c.to_be_bytes());
}

// ---------------------------------------------------------------------------
// Packet builders.

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const SERVER4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x10);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 7);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);

fn ipv4(protocol: u8, src: Ipv4Addr, dst: Ipv4Addr, flags_offset: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, protocol, 0, 0];
    p[6..8].copy_from_slice(&flags_offset.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let c = !ones_sum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// IPv6 with `headers`: (next header value of the *previous* header chain
/// is given by `first`), then the raw extension headers and payload.
fn ipv6(first: u8, src: Ipv6Addr, dst: Ipv6Addr, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    p.extend_from_slice(&[first, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(rest);
    p
}

/// An 8-byte hop-by-hop or destination options header (PadN only).
fn ext8(next: u8) -> Vec<u8> {
    vec![next, 0, 1, 4, 0, 0, 0, 0]
}

fn fragment_header(next: u8, offset_units: u16, more: bool) -> Vec<u8> {
    let field = (offset_units << 3) | more as u16;
    let mut f = vec![next, 0];
    f.extend_from_slice(&field.to_be_bytes());
    f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;

/// A TCP header with `options` (padded with EOL to a multiple of 4) and
/// `flags`, ports 40000 -> 443, checksum zero (set it afterwards).
fn tcp(flags: u8, options: &[u8]) -> Vec<u8> {
    let mut opts = options.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(0);
    }
    let data_offset = (20 + opts.len()) / 4;
    let mut t = vec![0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0];
    t.push((data_offset as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(&opts);
    t
}

fn mss_option(mss: u16) -> [u8; 4] {
    let m = mss.to_be_bytes();
    [2, 4, m[0], m[1]]
}

fn syn_v4(flags: u8, options: &[u8]) -> Vec<u8> {
    let mut p = ipv4(ip::PROTO_TCP, A, B, 0x4000, &tcp(flags, options));
    set_upper_checksum(&mut p, 16);
    p
}

fn syn_v6(flags: u8, options: &[u8]) -> Vec<u8> {
    let mut p = ipv6(ip::PROTO_TCP, A6, B6, &tcp(flags, options));
    set_upper_checksum(&mut p, 16);
    p
}

/// The MSS values of the packet's options (walked here independently).
fn mss_values(packet: &[u8]) -> Vec<u16> {
    let h = parse(packet).unwrap();
    let t = &packet[h.header_len..];
    let end = (t[12] >> 4) as usize * 4;
    let mut found = Vec::new();
    let mut i = 20;
    while i < end {
        match t[i] {
            0 => break,
            1 => i += 1,
            k => {
                let len = t[i + 1] as usize;
                if len < 2 {
                    break;
                }
                if k == 2 {
                    found.push(u16::from_be_bytes([t[i + 2], t[i + 3]]));
                }
                i += len;
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Parsing.

#[test]
fn real_ping_parses_with_valid_checksums() {
    let p = hex(REAL_PING);
    assert_eq!(p.len(), 84);
    let h = parse(&p).unwrap();
    assert_eq!(
        h,
        IpHeader {
            version: 4,
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 242, 10)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 242, 1)),
            protocol: ip::PROTO_ICMP,
            header_len: 20,
            total_len: 84,
            dont_fragment: true,
            is_fragment: false,
        }
    );
    assert!(ipv4_header_ok(&p));
    assert!(upper_checksum_ok(&p, false));
    assert_eq!(p[20], 8, "echo request");
    assert_eq!(transport_ports(&p, &h), None);
    let mut copy = p.clone();
    assert!(!clamp_tcp_mss(&mut copy, &h, 536));
    assert_eq!(copy, p);
}

#[test]
fn real_syns_parse() {
    let p = hex(LOOPBACK_SYN_V4);
    let h = parse(&p).unwrap();
    assert_eq!(
        (h.version, h.protocol, h.header_len, h.total_len),
        (4, 6, 20, 60)
    );
    assert_eq!(h.src, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(h.dont_fragment && !h.is_fragment);
    assert_eq!(transport_ports(&p, &h), Some((41900, 9)));
    assert!(ipv4_header_ok(&p));

    let p = hex(LOOPBACK_SYN_V6);
    let h = parse(&p).unwrap();
    assert_eq!(
        (h.version, h.protocol, h.header_len, h.total_len),
        (6, 6, 40, 80)
    );
    assert_eq!(h.dst, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert!(h.dont_fragment && !h.is_fragment);
    assert_eq!(transport_ports(&p, &h), Some((51216, 9)));
}

#[test]
fn ipv4_errors_have_codes() {
    let good = ipv4(ip::PROTO_UDP, A, B, 0, &[0; 8]);
    assert!(parse(&good).is_ok());
    // Link padding after Total Length is not part of the packet.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xee; 6]);
    assert_eq!(parse(&padded).unwrap().total_len, 28);

    assert_eq!(parse(&[]), Err(IpError::Truncated));
    assert_eq!(parse(&good[..19]), Err(IpError::Truncated));
    let mut p = good.clone();
    p[0] = 0x46; // IHL 6 = 24 bytes, buffer 28: fine, but Total Length 28 is too
    p[3] = 23;
    assert_eq!(parse(&p), Err(IpError::BadTotalLength));
    p[0] = 0x4f; // 60-byte header in a 28-byte buffer
    assert_eq!(parse(&p), Err(IpError::Truncated));
    p[0] = 0x43;
    assert_eq!(parse(&p), Err(IpError::BadHeaderLength));
    let mut p = good.clone();
    p[3] = 29;
    assert_eq!(parse(&p), Err(IpError::BadTotalLength));
    p[3] = 19;
    assert_eq!(parse(&p), Err(IpError::BadTotalLength));
    p[0] = 0x25;
    assert_eq!(parse(&p), Err(IpError::BadVersion));

    let codes: Vec<_> = IpError::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(
        codes,
        [
            "IP_TRUNCATED",
            "IP_BAD_VERSION",
            "IP_BAD_HEADER_LENGTH",
            "IP_BAD_TOTAL_LENGTH"
        ]
    );
    assert_eq!(IpError::Truncated.to_string(), "IP_TRUNCATED");
}

#[test]
fn ipv4_fragments() {
    let udp = [0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0];
    // First fragment: MF set, offset 0: the transport header is there.
    let first = ipv4(ip::PROTO_UDP, A, B, 0x2000, &udp);
    let h = parse(&first).unwrap();
    assert!(!h.is_fragment && !h.dont_fragment);
    assert_eq!(transport_ports(&first, &h), Some((12345, 53)));
    // Offset 1 (8 bytes): no transport header.
    let later = ipv4(ip::PROTO_UDP, A, B, 0x0001, &udp);
    let h = parse(&later).unwrap();
    assert!(h.is_fragment);
    assert_eq!(transport_ports(&later, &h), None);
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let udp = [0x30, 0x39, 0x01, 0xf4, 0, 8, 0, 0];
    let mut rest = ext8(ip::PROTO_IPV6_DEST_OPTS); // hop-by-hop
    rest.extend(ext8(ip::PROTO_IPV6_ROUTING)); // destination options
    rest.extend([ip::PROTO_IPV6_FRAGMENT, 1, 0, 0, 0, 0, 0, 0]); // routing, 16 bytes
    rest.extend([0; 8]);
    rest.extend(fragment_header(ip::PROTO_UDP, 0, true)); // first fragment
    rest.extend(udp);
    let p = ipv6(ip::PROTO_HOP_BY_HOP, A6, B6, &rest);
    let h = parse(&p).unwrap();
    assert_eq!(h.protocol, ip::PROTO_UDP);
    assert_eq!(h.header_len, 40 + 8 + 8 + 16 + 8);
    assert_eq!(h.total_len, p.len());
    assert!(h.dont_fragment && !h.is_fragment);
    assert_eq!(transport_ports(&p, &h), Some((12345, 500)));

    // A non-first fragment: the protocol is known, the ports are not.
    let mut rest = fragment_header(ip::PROTO_TCP, 185, false);
    rest.extend([0xaa; 16]);
    let p = ipv6(ip::PROTO_IPV6_FRAGMENT, A6, B6, &rest);
    let h = parse(&p).unwrap();
    assert_eq!((h.protocol, h.header_len), (ip::PROTO_TCP, 48));
    assert!(h.is_fragment);
    assert_eq!(transport_ports(&p, &h), None);

    // The walk stops at headers it does not know (AH, ESP, no next header).
    let p = ipv6(ip::PROTO_IPV6_NO_NEXT, A6, B6, &[]);
    let h = parse(&p).unwrap();
    assert_eq!((h.protocol, h.header_len, h.total_len), (59, 40, 40));
    let mut rest = ext8(51);
    rest.extend([0; 16]);
    let h = parse(&ipv6(ip::PROTO_HOP_BY_HOP, A6, B6, &rest)).unwrap();
    assert_eq!((h.protocol, h.header_len), (51, 48));
}

#[test]
fn ipv6_errors() {
    assert_eq!(parse(&[0x60; 39]), Err(IpError::Truncated));
    let p = ipv6(ip::PROTO_UDP, A6, B6, &[0; 8]);
    assert!(parse(&p).is_ok());
    assert_eq!(parse(&p[..47]), Err(IpError::BadTotalLength));
    // An extension header longer than the payload.
    let mut rest = ext8(ip::PROTO_UDP);
    rest[1] = 1; // 16 bytes
    let p = ipv6(ip::PROTO_HOP_BY_HOP, A6, B6, &rest);
    assert_eq!(parse(&p), Err(IpError::BadHeaderLength));
    // A header that does not even have its first 8 bytes in the payload.
    let p = ipv6(ip::PROTO_IPV6_DEST_OPTS, A6, B6, &[6, 0, 1, 2]);
    assert_eq!(parse(&p), Err(IpError::BadHeaderLength));
    let p = ipv6(ip::PROTO_IPV6_FRAGMENT, A6, B6, &[6, 0, 0, 0]);
    assert_eq!(parse(&p), Err(IpError::BadHeaderLength));
    // Payload Length counts; the bytes after it are ignored.
    let mut p = ipv6(ip::PROTO_IPV6_NO_NEXT, A6, B6, &[]);
    p.extend([1, 2, 3]);
    assert_eq!(parse(&p).unwrap().total_len, 40);
}

#[test]
fn ports_of_each_protocol() {
    let four = [0x00, 0x50, 0x1f, 0x90];
    for proto in [ip::PROTO_TCP, ip::PROTO_UDP, ip::PROTO_SCTP] {
        let p = ipv4(proto, A, B, 0, &four);
        assert_eq!(
            transport_ports(&p, &parse(&p).unwrap()),
            Some((80, 8080)),
            "{proto}"
        );
        let short = ipv4(proto, A, B, 0, &four[..3]);
        assert_eq!(transport_ports(&short, &parse(&short).unwrap()), None);
    }
    let p = ipv4(ip::PROTO_ICMP, A, B, 0, &four);
    assert_eq!(transport_ports(&p, &parse(&p).unwrap()), None);
    assert!(ip::has_ports(6) && ip::has_ports(17) && ip::has_ports(132) && !ip::has_ports(1));
}

// ---------------------------------------------------------------------------
// MSS clamping.

#[test]
fn real_syn_v4_is_clamped_with_a_valid_checksum() {
    let mut p = hex(LOOPBACK_SYN_V4);
    let h = parse(&p).unwrap();
    // As captured: the pseudo-header sum only, left for the NIC to finish.
    let ph = pseudo_header(&p, 6, 40);
    assert_eq!(u16::from_be_bytes([p[36], p[37]]), ones_sum(&[&ph]));
    set_upper_checksum(&mut p, 16);
    assert!(upper_checksum_ok(&p, true));
    assert_eq!(mss_values(&p), [65495]);

    let before = p.clone();
    assert!(clamp_tcp_mss(&mut p, &h, 1400 - 40));
    assert_eq!(mss_values(&p), [1360]);
    assert!(upper_checksum_ok(&p, true));
    // Only the MSS and the checksum changed.
    let changed: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
    assert!(
        changed.iter().all(|i| [36, 37, 42, 43].contains(i)),
        "{changed:?}"
    );
    // The same as computing the checksum from scratch.
    let mut fresh = p.clone();
    set_upper_checksum(&mut fresh, 16);
    assert_eq!(fresh, p);
    // Already low enough: nothing to do.
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
    assert!(!clamp_tcp_mss(&mut p, &h, 1400));
    assert_eq!(fresh, p);
}

#[test]
fn real_syn_v6_is_clamped_with_a_valid_checksum() {
    let mut p = hex(LOOPBACK_SYN_V6);
    let h = parse(&p).unwrap();
    let ph = pseudo_header(&p, 6, 40);
    assert_eq!(u16::from_be_bytes([p[56], p[57]]), ones_sum(&[&ph]));
    set_upper_checksum(&mut p, 16);
    assert!(upper_checksum_ok(&p, true));
    assert!(clamp_tcp_mss(&mut p, &h, 1400 - 60));
    assert_eq!(mss_values(&p), [1340]);
    assert!(upper_checksum_ok(&p, true));
}

#[test]
fn mss_is_clamped_on_syn_and_syn_ack_only() {
    let opts = mss_option(1460);
    for (flags, clamped) in [
        (SYN, true),
        (SYN | ACK, true),
        (ACK, false),
        (RST | ACK, false),
        (0, false),
    ] {
        let mut p = syn_v4(flags, &opts);
        let h = parse(&p).unwrap();
        assert_eq!(clamp_tcp_mss(&mut p, &h, 1360), clamped, "flags {flags:#x}");
        assert_eq!(mss_values(&p), [if clamped { 1360 } else { 1460 }]);
        assert!(upper_checksum_ok(&p, true));
    }
}

#[test]
fn mss_is_clamped_only_when_larger() {
    for (mss, max, expect) in [
        (1200, 1360, 1200),
        (1360, 1360, 1360),
        (1361, 1360, 1360),
        (65535, 1240, 1240),
        (536, 1360, 536),
    ] {
        let mut p = syn_v4(SYN, &mss_option(mss));
        let before = p.clone();
        let h = parse(&p).unwrap();
        assert_eq!(clamp_tcp_mss(&mut p, &h, max), mss != expect);
        assert_eq!(mss_values(&p), [expect]);
        if mss == expect {
            assert_eq!(p, before);
        }
        assert!(upper_checksum_ok(&p, true));
    }
}

#[test]
fn mss_at_an_odd_offset_and_after_other_options() {
    // NOP, then MSS at byte 21 of the header: the value spans two checksum
    // words.
    let mut opts = vec![1];
    opts.extend(mss_option(1460));
    opts.extend([1, 1, 1]);
    for many in [0u16, 1, 0x7fff, 0xfffe] {
        // Vary the other words so the checksum takes different values.
        let mut p = syn_v4(SYN, &opts);
        p[24..26].copy_from_slice(&many.to_be_bytes()); // sequence number
        set_upper_checksum(&mut p, 16);
        let h = parse(&p).unwrap();
        assert!(clamp_tcp_mss(&mut p, &h, 1360));
        assert_eq!(mss_values(&p), [1360]);
        assert!(upper_checksum_ok(&p, true), "seq word {many:#x}");
    }
    // SACK permitted, timestamps, window scale, then MSS (Linux orders them
    // differently; any order is legal).
    let mut opts = vec![4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 7];
    opts.extend(mss_option(8960));
    let mut p = syn_v6(SYN, &opts);
    let h = parse(&p).unwrap();
    assert!(clamp_tcp_mss(&mut p, &h, 1220));
    assert_eq!(mss_values(&p), [1220]);
    assert!(upper_checksum_ok(&p, true));
}

#[test]
fn malformed_option_lists_are_not_touched() {
    let cases: [Vec<u8>; 4] = [
        // EOL ends the list: the MSS after it is padding, not an option.
        [vec![0, 0, 0, 0], mss_option(1460).to_vec()].concat(),
        // A length of 0 or 1 would loop or overlap.
        [vec![8, 0, 0, 0], mss_option(1460).to_vec()].concat(),
        [vec![8, 1, 0, 0], mss_option(1460).to_vec()].concat(),
        // A length past the header.
        [
            vec![1, 1, 1, 1],
            vec![5, 40, 0, 0],
            mss_option(1460).to_vec(),
        ]
        .concat(),
    ];
    for opts in cases {
        let mut p = syn_v4(SYN, &opts);
        let before = p.clone();
        let h = parse(&p).unwrap();
        assert!(!clamp_tcp_mss(&mut p, &h, 1360), "{opts:?}");
        assert_eq!(p, before);
    }
    // An MSS option with a wrong length is not an MSS.
    let mut p = syn_v4(SYN, &[2, 6, 0x05, 0xb4, 0, 0]);
    let h = parse(&p).unwrap();
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
    // Data Offset beyond the segment; Data Offset below 5.
    let mut p = syn_v4(SYN, &mss_option(1460));
    p[32] = 0xf0;
    let h = parse(&p).unwrap();
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
    p[32] = 0x40;
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
    // A segment shorter than the TCP header.
    let mut p = ipv4(ip::PROTO_TCP, A, B, 0, &tcp(SYN, &[])[..19]);
    let h = parse(&p).unwrap();
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
}

#[test]
fn mss_behind_ipv6_extension_headers_and_not_in_fragments() {
    let mut rest = ext8(ip::PROTO_TCP);
    rest.extend(tcp(SYN, &mss_option(1440)));
    let mut p = ipv6(ip::PROTO_HOP_BY_HOP, A6, B6, &rest);
    set_upper_checksum(&mut p, 16);
    let h = parse(&p).unwrap();
    assert_eq!(h.header_len, 48);
    assert!(clamp_tcp_mss(&mut p, &h, 1340));
    assert_eq!(mss_values(&p), [1340]);
    assert!(upper_checksum_ok(&p, true));

    // A non-first IPv4 fragment whose payload looks like a SYN.
    let mut p = ipv4(ip::PROTO_TCP, A, B, 0x0010, &tcp(SYN, &mss_option(1460)));
    let h = parse(&p).unwrap();
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
    // UDP that happens to look like TCP.
    let mut p = ipv4(ip::PROTO_UDP, A, B, 0, &tcp(SYN, &mss_option(1460)));
    let h = parse(&p).unwrap();
    assert!(!clamp_tcp_mss(&mut p, &h, 1360));
}

// ---------------------------------------------------------------------------
// ICMP "too big".

fn udp_v4(len: usize, flags_offset: u16) -> Vec<u8> {
    let mut udp = vec![0x30, 0x39, 0x11, 0x94, 0, 0, 0, 0];
    udp.extend((0..len - 28).map(|i| i as u8));
    let ulen = udp.len() as u16;
    udp[4..6].copy_from_slice(&ulen.to_be_bytes());
    let mut p = ipv4(ip::PROTO_UDP, A, B, flags_offset, &udp);
    set_upper_checksum(&mut p, 6);
    p
}

fn udp_v6(len: usize) -> Vec<u8> {
    let mut udp = vec![0x30, 0x39, 0x11, 0x94, 0, 0, 0, 0];
    udp.extend((0..len - 48).map(|i| (i * 3) as u8));
    let ulen = udp.len() as u16;
    udp[4..6].copy_from_slice(&ulen.to_be_bytes());
    let mut p = ipv6(ip::PROTO_UDP, A6, B6, &udp);
    set_upper_checksum(&mut p, 6);
    p
}

fn too_big(original: &[u8], mtu: u16, from: IpAddr, out_len: usize) -> Option<Vec<u8>> {
    let h = parse(original).unwrap();
    let mut out = vec![0u8; out_len];
    let n = icmp_too_big(original, &h, mtu, from, &mut out)?;
    out.truncate(n);
    Some(out)
}

#[test]
fn fragmentation_needed_for_ipv4() {
    let original = udp_v4(1400, 0x4000);
    let icmp = too_big(&original, 1360, SERVER4.into(), 2000).unwrap();
    // RFC 1812 4.3.2.3: no more than 576 bytes.
    assert_eq!(icmp.len(), 576);
    let h = parse(&icmp).unwrap();
    assert_eq!(h.src, IpAddr::V4(SERVER4));
    assert_eq!(h.dst, IpAddr::V4(A));
    assert_eq!((h.protocol, h.total_len), (ip::PROTO_ICMP, 576));
    assert!(ipv4_header_ok(&icmp));
    assert!(upper_checksum_ok(&icmp, false));
    assert_eq!(&icmp[20..22], &[3, 4]);
    assert_eq!(&icmp[24..26], &[0, 0]);
    assert_eq!(u16::from_be_bytes([icmp[26], icmp[27]]), 1360);
    assert_eq!(&icmp[28..], &original[..548]);

    // A short original is quoted whole (the real ping, to the client).
    let ping = hex(REAL_PING);
    let server = IpAddr::V4(Ipv4Addr::new(192, 168, 242, 1));
    let icmp = too_big(&ping, 68, server, 1500).unwrap();
    assert_eq!(icmp.len(), 28 + 84);
    assert_eq!(&icmp[28..], &ping[..]);
    assert!(ipv4_header_ok(&icmp) && upper_checksum_ok(&icmp, false));
    assert_eq!(&icmp[16..20], &[192, 168, 242, 10]);

    // A small output buffer: as much as fits, but at least header + 8.
    let icmp = too_big(&original, 1360, SERVER4.into(), 28 + 40).unwrap();
    assert_eq!(icmp.len(), 68);
    assert!(ipv4_header_ok(&icmp) && upper_checksum_ok(&icmp, false));
    assert_eq!(too_big(&original, 1360, SERVER4.into(), 28 + 27), None);
    assert_eq!(too_big(&original, 1360, SERVER4.into(), 10), None);
}

#[test]
fn packet_too_big_for_ipv6() {
    let original = udp_v6(1400);
    let icmp = too_big(&original, 1280, SERVER6.into(), 2000).unwrap();
    assert_eq!(icmp.len(), 1280);
    let h = parse(&icmp).unwrap();
    assert_eq!(h.src, IpAddr::V6(SERVER6));
    assert_eq!(h.dst, IpAddr::V6(A6));
    assert_eq!((h.protocol, h.total_len), (ip::PROTO_ICMPV6, 1280));
    assert!(upper_checksum_ok(&icmp, true));
    assert_eq!(&icmp[40..42], &[2, 0]);
    assert_eq!(&icmp[44..48], &1280u32.to_be_bytes());
    assert_eq!(&icmp[48..], &original[..1232]);

    // Odd length quote, whole.
    let original = udp_v6(101);
    let icmp = too_big(&original, 1400, SERVER6.into(), 2000).unwrap();
    assert_eq!(icmp.len(), 48 + 101);
    assert!(upper_checksum_ok(&icmp, true));
    assert_eq!(&icmp[44..48], &1400u32.to_be_bytes());

    // The real IPv6 SYN, to a multicast destination would still be answered
    // (RFC 4443 2.4 (e.3) exception); here to ::1 from ::1 it is not.
    let syn = hex(LOOPBACK_SYN_V6);
    assert_eq!(too_big(&syn, 1280, SERVER6.into(), 1280), None);
    let mut to_multicast = udp_v6(200);
    to_multicast[24..40].copy_from_slice(&"ff0e::1".parse::<Ipv6Addr>().unwrap().octets());
    assert!(too_big(&to_multicast, 1280, SERVER6.into(), 1280).is_some());
}

#[test]
fn no_icmp_error_about_icmp_errors_fragments_or_non_hosts() {
    let from4 = IpAddr::V4(SERVER4);
    // ICMP errors (destination unreachable, time exceeded...) are not
    // answered; echo requests are.
    for (kind, answered) in [
        (3, false),
        (11, false),
        (12, false),
        (5, false),
        (8, true),
        (0, true),
        (200, false),
    ] {
        let mut icmp = vec![kind, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend([0x45; 28]);
        let p = ipv4(ip::PROTO_ICMP, A, B, 0x4000, &icmp);
        assert_eq!(
            too_big(&p, 576, from4, 1500).is_some(),
            answered,
            "type {kind}"
        );
    }
    // ICMP without even its type byte.
    let p = ipv4(ip::PROTO_ICMP, A, B, 0x4000, &[]);
    assert_eq!(too_big(&p, 576, from4, 1500), None);
    // Non-first fragment; no DF (to be fragmented instead).
    assert_eq!(
        too_big(&udp_v4(1400, 0x4000 | 0x0020), 576, from4, 1500),
        None
    );
    assert_eq!(too_big(&udp_v4(1400, 0), 576, from4, 1500), None);
    // Sources that are not one host; destinations multicast or broadcast.
    for src in [
        "0.0.0.0",
        "224.0.0.5",
        "255.255.255.255",
        "127.0.0.1",
        "240.0.0.1",
    ] {
        let mut p = udp_v4(100, 0x4000);
        p[12..16].copy_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
        assert_eq!(too_big(&p, 576, from4, 1500), None, "{src}");
    }
    for dst in ["239.1.2.3", "255.255.255.255"] {
        let mut p = udp_v4(100, 0x4000);
        p[16..20].copy_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        assert_eq!(too_big(&p, 576, from4, 1500), None, "{dst}");
    }
    // `from` of the wrong family or not unicast.
    assert_eq!(
        too_big(&udp_v4(100, 0x4000), 576, SERVER6.into(), 1500),
        None
    );
    assert_eq!(
        too_big(
            &udp_v4(100, 0x4000),
            576,
            Ipv4Addr::UNSPECIFIED.into(),
            1500
        ),
        None
    );

    let from6 = IpAddr::V6(SERVER6);
    for (kind, answered) in [
        (1, false),
        (3, false),
        (4, false),
        (2, false),
        (128, true),
        (129, true),
        (137, false),
    ] {
        let mut icmp = vec![kind, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend([0x60; 48]);
        let p = ipv6(ip::PROTO_ICMPV6, A6, B6, &icmp);
        assert_eq!(
            too_big(&p, 1280, from6, 1500).is_some(),
            answered,
            "type {kind}"
        );
    }
    // ICMPv6 error behind an extension header is still an error.
    let mut rest = ext8(ip::PROTO_ICMPV6);
    rest.extend([1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(too_big(&ipv6(0, A6, B6, &rest), 1280, from6, 1500), None);
    // Non-first IPv6 fragment.
    let mut rest = fragment_header(ip::PROTO_UDP, 100, true);
    rest.extend([0; 64]);
    assert_eq!(too_big(&ipv6(44, A6, B6, &rest), 1280, from6, 1500), None);
    for src in ["::", "ff02::1", "::1"] {
        let mut p = udp_v6(100);
        p[8..24].copy_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(too_big(&p, 1280, from6, 1500), None, "{src}");
    }
    assert_eq!(too_big(&udp_v6(100), 1280, from4, 1500), None);
}

/// tshark's fields (first occurrence) for raw IP packets, IP checksums
/// checked.
fn tshark_fields(packets: &[&[u8]], fields: &[&str]) -> Vec<String> {
    common::tshark_fields(
        packets,
        &format!("ip_policy_{}", fields[0]),
        &["ip.check_checksum:TRUE"],
        fields,
    )
}

#[test]
#[cfg_attr(miri, ignore = "runs tshark: Miri cannot start processes")]
fn tshark_decodes_our_icmp_errors() {
    let v4 = too_big(&udp_v4(1400, 0x4000), 1360, SERVER4.into(), 2000).unwrap();
    let ping = too_big(
        &hex(REAL_PING),
        1000,
        Ipv4Addr::new(192, 168, 242, 1).into(),
        2000,
    )
    .unwrap();
    let lines = tshark_fields(
        &[&v4, &ping],
        &[
            "icmp.type",
            "icmp.code",
            "icmp.checksum.status",
            "icmp.mtu",
            "ip.checksum.status",
        ],
    );
    // Status 1 is "Good" (first occurrences: ours, not the quote's).
    assert_eq!(lines, ["3,4,1,1360,1", "3,4,1,1000,1"]);
    let v6 = too_big(&udp_v6(1400), 1280, SERVER6.into(), 2000).unwrap();
    let short = too_big(&udp_v6(101), 1400, SERVER6.into(), 2000).unwrap();
    let lines = tshark_fields(
        &[&v6, &short],
        &[
            "icmpv6.type",
            "icmpv6.code",
            "icmpv6.checksum.status",
            "icmpv6.mtu",
        ],
    );
    assert_eq!(lines, ["2,0,1,1280", "2,0,1,1400"]);
}

// ---------------------------------------------------------------------------
// Policy.

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

fn rule(action: &str, prefix: &str, protocol: Option<&str>, ports: Option<&str>) -> Rule {
    Rule::parse(action, prefix, protocol, ports).unwrap()
}

#[test]
fn first_matching_rule_wins_else_default() {
    let policy = Policy {
        default: Action::Deny,
        rules: vec![
            rule("deny", "10.0.0.5", None, None),
            rule("allow", "10.0.0.0/8", None, None),
            rule("allow", "0.0.0.0/0", Some("udp"), Some("53")),
        ],
        rate: None,
    };
    assert_eq!(policy.check(v4("10.0.0.5"), 6, Some(443)), Action::Deny);
    assert_eq!(policy.check(v4("10.0.0.6"), 6, Some(443)), Action::Allow);
    assert_eq!(policy.check(v4("10.255.255.255"), 1, None), Action::Allow);
    assert_eq!(policy.check(v4("11.0.0.0"), 6, Some(443)), Action::Deny);
    assert_eq!(policy.check(v4("8.8.8.8"), 17, Some(53)), Action::Allow);
    assert_eq!(policy.check(v4("8.8.8.8"), 6, Some(53)), Action::Deny);

    // The same rules in the other order: the broad allow shadows the deny.
    let mut reordered = policy.clone();
    reordered.rules.swap(0, 1);
    assert_eq!(reordered.check(v4("10.0.0.5"), 6, Some(443)), Action::Allow);
}

#[test]
fn defaults() {
    let all = Policy::allow_all();
    assert_eq!(all, Policy::default());
    assert!(all.rules.is_empty() && all.rate.is_none());
    assert_eq!(all.check(v4("203.0.113.1"), 6, Some(22)), Action::Allow);
    assert_eq!(all.check(v6("2001:db8::1"), 58, None), Action::Allow);
    let none = Policy {
        default: Action::Deny,
        ..Policy::allow_all()
    };
    assert_eq!(none.check(v4("203.0.113.1"), 6, Some(22)), Action::Deny);
}

#[test]
fn families_never_cross() {
    let policy = Policy {
        default: Action::Deny,
        rules: vec![rule("allow", "0.0.0.0/0", None, None)],
        rate: None,
    };
    assert_eq!(policy.check(v4("1.2.3.4"), 6, None), Action::Allow);
    assert_eq!(policy.check(v6("2001:db8::1"), 6, None), Action::Deny);
    // An IPv4-mapped IPv6 address is IPv6.
    assert_eq!(policy.check(v6("::ffff:1.2.3.4"), 6, None), Action::Deny);

    let policy = Policy {
        default: Action::Deny,
        rules: vec![
            rule("deny", "2001:db8:bad::/48", None, None),
            rule("allow", "::/0", None, None),
        ],
        rate: None,
    };
    assert_eq!(
        policy.check(v6("2001:db8:bad:1::1"), 17, Some(1)),
        Action::Deny
    );
    assert_eq!(
        policy.check(v6("2001:db8:bae::1"), 17, Some(1)),
        Action::Allow
    );
    assert_eq!(policy.check(v4("0.0.0.0"), 17, Some(1)), Action::Deny);
}

#[test]
fn ports_and_protocols() {
    let policy = Policy {
        default: Action::Deny,
        rules: vec![
            rule("allow", "192.0.2.0/24", Some("tcp"), Some("443")),
            rule("allow", "192.0.2.0/24", Some("udp"), Some("1000-2000")),
            rule("allow", "192.0.2.0/24", None, Some("8080")),
            rule("allow", "192.0.2.0/24", Some("icmp"), None),
            rule("allow", "2001:db8::/32", Some("icmpv6"), None),
            rule("allow", "2001:db8::/32", Some("47"), None),
        ],
        rate: None,
    };
    let dst = v4("192.0.2.9");
    assert_eq!(policy.check(dst, 6, Some(443)), Action::Allow);
    assert_eq!(policy.check(dst, 6, Some(444)), Action::Deny);
    assert_eq!(policy.check(dst, 17, Some(443)), Action::Deny);
    assert_eq!(policy.check(dst, 17, Some(999)), Action::Deny);
    assert_eq!(policy.check(dst, 17, Some(1000)), Action::Allow);
    assert_eq!(policy.check(dst, 17, Some(2000)), Action::Allow);
    assert_eq!(policy.check(dst, 17, Some(2001)), Action::Deny);
    // Ports without a protocol: any protocol with that port.
    assert_eq!(policy.check(dst, 6, Some(8080)), Action::Allow);
    assert_eq!(policy.check(dst, 132, Some(8080)), Action::Allow);
    // A rule with ports never matches a packet without: TCP fragment.
    assert_eq!(policy.check(dst, 6, None), Action::Deny);
    assert_eq!(policy.check(dst, 1, None), Action::Allow);
    assert_eq!(policy.check(v6("2001:db8::1"), 58, None), Action::Allow);
    assert_eq!(policy.check(v6("2001:db8::1"), 47, None), Action::Allow);
    assert_eq!(policy.check(v6("2001:db8::1"), 1, None), Action::Deny);
}

#[test]
fn check_packet_reads_the_header() {
    let policy = Policy {
        default: Action::Deny,
        rules: vec![
            rule("allow", "127.0.0.1", Some("tcp"), Some("9")),
            rule("allow", "192.168.242.1", Some("icmp"), None),
        ],
        rate: None,
    };
    let syn = hex(LOOPBACK_SYN_V4);
    assert_eq!(
        policy.check_packet(&syn, &parse(&syn).unwrap()),
        Action::Allow
    );
    let ping = hex(REAL_PING);
    assert_eq!(
        policy.check_packet(&ping, &parse(&ping).unwrap()),
        Action::Allow
    );
    let syn6 = hex(LOOPBACK_SYN_V6);
    assert_eq!(
        policy.check_packet(&syn6, &parse(&syn6).unwrap()),
        Action::Deny
    );
}

#[test]
fn rules_parse_from_strings() {
    let r = rule("allow", "10.0.0.0/8", Some("tcp"), Some("1000-2000"));
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.prefix.addr(), v4("10.0.0.0"));
    assert_eq!(r.prefix.prefix_len(), 8);
    assert_eq!(r.protocol, Some(6));
    assert_eq!(r.ports, Some(1000..=2000));
    let r = rule("DENY", " 2001:db8::/32 ", Some("ICMPv6"), None);
    assert_eq!(
        (r.action, r.protocol, r.ports),
        (Action::Deny, Some(58), None)
    );
    assert_eq!(r.prefix.to_string(), "2001:db8::/32");
    assert_eq!(
        rule("allow", "192.0.2.7", None, None).prefix.prefix_len(),
        32
    );
    assert_eq!(
        rule("allow", "2001:db8::7", None, None).prefix.prefix_len(),
        128
    );
    assert_eq!(
        rule("allow", "0.0.0.0/0", Some("udp"), Some("53")).ports,
        Some(53..=53)
    );
    assert_eq!(rule("allow", "::/0", Some("0"), None).protocol, Some(0));
    assert_eq!(
        rule("allow", "::/0", Some("sctp"), Some("0-65535")).ports,
        Some(0..=65535)
    );
    assert_eq!(
        Prefix::parse("198.51.100.0/24").unwrap(),
        Prefix::new(v4("198.51.100.0"), 24).unwrap()
    );
    assert_eq!(Prefix::host(v4("1.2.3.4")).to_string(), "1.2.3.4/32");
}

fn refused(action: &str, prefix: &str, protocol: Option<&str>, ports: Option<&str>) -> PolicyError {
    Rule::parse(action, prefix, protocol, ports).unwrap_err()
}

#[test]
fn bad_rules_name_the_field_and_the_problem() {
    let e = refused("permit", "10.0.0.0/8", None, None);
    assert_eq!((e.code(), e.field()), ("ERR_POLICY_ACTION", "action"));
    assert_eq!(
        e.to_string(),
        "policy rule action \"permit\": expected \"allow\" or \"deny\""
    );

    // Host bits beyond the length are refused, naming the network meant.
    let e = refused("allow", "10.1.2.3/8", None, None);
    assert_eq!((e.code(), e.field()), ("ERR_POLICY_PREFIX", "prefix"));
    assert_eq!(
        e.to_string(),
        "policy rule prefix \"10.1.2.3/8\": host bits set beyond /8; the network is 10.0.0.0/8"
    );
    let e = refused("allow", "2001:db8::1/64", None, None);
    assert!(
        e.to_string().contains("the network is 2001:db8::/64"),
        "{e}"
    );
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "::/300",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0/8",
        "example.com",
        "",
        "10.0.0.0/8/8",
    ] {
        let e = refused("allow", bad, None, None);
        assert_eq!(e.code(), "ERR_POLICY_PREFIX", "{bad}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
    assert!(refused("allow", "10.0.0.0/33", None, None)
        .to_string()
        .contains("longer than 32 bits"));

    for (bad, says) in [
        ("gre", "expected tcp, udp"),
        ("256", "0 to 255"),
        ("", "expected tcp"),
        ("-1", "expected tcp"),
    ] {
        let e = refused("allow", "10.0.0.0/8", Some(bad), None);
        assert_eq!((e.code(), e.field()), ("ERR_POLICY_PROTOCOL", "protocol"));
        assert!(e.to_string().contains(says), "{e}");
    }
    let e = refused("allow", "2001:db8::/32", Some("icmp"), None);
    assert!(e.to_string().contains("use icmpv6"), "{e}");
    let e = refused("allow", "10.0.0.0/8", Some("58"), None);
    assert!(e.to_string().contains("use icmp"), "{e}");

    for (bad, says) in [
        ("65536", "0 to 65535"),
        ("2000-1000", "first port is above its last"),
        ("1000-", "expected a port"),
        ("https", "expected a port"),
        ("1-2-3", "expected a port"),
        ("", "expected a port"),
    ] {
        let e = refused("allow", "10.0.0.0/8", Some("tcp"), Some(bad));
        assert_eq!((e.code(), e.field()), ("ERR_POLICY_PORTS", "ports"));
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    let e = refused("allow", "10.0.0.0/8", Some("icmp"), Some("80"));
    assert_eq!(e.code(), "ERR_POLICY_PORTS");
    assert!(e.to_string().contains("protocol 1 has no ports"), "{e}");
}

#[test]
fn prefix_lengths_at_the_edges() {
    let p = Prefix::parse("128.0.0.0/1").unwrap();
    assert!(p.contains(v4("255.255.255.255")) && !p.contains(v4("127.255.255.255")));
    let p = Prefix::parse("192.0.2.7/32").unwrap();
    assert!(p.contains(v4("192.0.2.7")) && !p.contains(v4("192.0.2.6")));
    let p = Prefix::parse("::/0").unwrap();
    assert!(p.contains(v6("ffff::1")) && !p.contains(v4("1.1.1.1")));
    let p = Prefix::parse("2001:db8::1/128").unwrap();
    assert!(p.contains(v6("2001:db8::1")) && !p.contains(v6("2001:db8::2")));
    let p = Prefix::parse("8000::/1").unwrap();
    assert!(p.contains(v6("8000::")) && !p.contains(v6("7fff::")));
}

// ---------------------------------------------------------------------------
// Rate limit.

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

#[test]
fn token_bucket_accounts_exactly() {
    // 8000 bit/s = 1000 bytes/s = 1 byte per ms; 1500 bytes of burst.
    let mut b = TokenBucket::new(8000, 1500);
    assert_eq!((b.rate_bits_per_second(), b.burst_bytes()), (8000, 1500));
    assert_eq!(b.available_bytes(0), 1500);
    // A refused packet takes nothing.
    assert!(!b.allow(1501, 0));
    assert!(b.allow(1500, 0));
    assert!(!b.allow(1, 0));
    assert!(b.allow(0, 0));
    assert_eq!(b.available_bytes(MS), 1);
    assert!(b.allow(1, MS));
    assert!(!b.allow(1, MS));
    // Half a byte at 1.5 ms is kept, and completes at 2 ms.
    assert!(!b.allow(1, MS + MS / 2));
    assert!(b.allow(1, 2 * MS));
    assert!(!b.allow(1, 2 * MS));
    // Refill stops at the burst.
    assert_eq!(b.available_bytes(10 * S), 1500);
    assert!(!b.allow(1501, 10 * S));
    assert!(b.allow(1000, 10 * S));
    assert_eq!(b.available_bytes(10 * S), 500);
    assert_eq!(b.available_bytes(10 * S + 250 * MS), 750);
}

#[test]
#[cfg_attr(miri, ignore = "285 million loop iterations: hours under Miri")]
fn tiny_steps_lose_nothing() {
    // 12 bit/s = 1.5 bytes/s: each 1 ms step earns 0.0015 byte, which any
    // per-step rounding to bytes or bits would lose.
    let mut b = TokenBucket::new(12, 10);
    assert!(b.allow(10, 0));
    let mut t = 0;
    for _ in 0..1000 {
        t += MS;
        assert!(!b.allow(2, t));
    }
    assert_eq!(b.available_bytes(t), 1);
    for _ in 0..1000 {
        t += MS;
        assert!(b.allow(0, t));
    }
    assert_eq!(b.available_bytes(t), 3);
    assert!(b.allow(3, t));
    assert!(!b.allow(1, t));
    // And over a long run with steps of 7 ns: 12 bits/s × 1 s exactly.
    let mut b = TokenBucket::new(12, 1000);
    assert!(b.allow(1000, 0));
    let mut t = 0;
    while t + 7 <= 2 * S {
        t += 7;
        if t % (7 * 1000) == 0 {
            b.allow(0, t);
        }
    }
    // 1 999 999 995 ns earn 23 999 999 940 bit-ns: not quite 3 bytes.
    assert_eq!(b.available_bytes(t), 2);
    assert_eq!(b.available_bytes(2 * S), 3);
}

#[test]
fn time_going_backwards_is_no_time() {
    let mut b = TokenBucket::new(8000, 1000);
    assert!(b.allow(1000, 10 * S));
    assert!(!b.allow(1, 5 * S));
    assert_eq!(b.available_bytes(5 * S), 0);
    // Credit resumes from the latest time seen (10 s), not from 5 s.
    assert_eq!(b.available_bytes(10 * S + 3 * MS), 3);
    assert!(b.allow(3, 10 * S + 3 * MS));
    assert!(!b.allow(1, 10 * S + 3 * MS));
}

#[test]
fn default_burst_and_extremes() {
    // 100 Mbit/s: 50 ms is 625 000 bytes.
    assert_eq!(TokenBucket::new(100_000_000, 0).burst_bytes(), 625_000);
    // 1 Mbit/s: 50 ms is 6 250 bytes, below the 64 KiB floor.
    assert_eq!(TokenBucket::new(1_000_000, 0).burst_bytes(), 65_536);
    assert_eq!(TokenBucket::new(0, 0).burst_bytes(), 65_536);
    assert_eq!(TokenBucket::new(1_000_000, 1).burst_bytes(), 1);
    // Rate 0: the burst once, then nothing.
    let mut b = TokenBucket::new(0, 100);
    assert!(b.allow(100, 0));
    assert!(!b.allow(1, u64::MAX));
    // No overflow at the top of the ranges.
    let mut b = TokenBucket::new(u64::MAX, u64::MAX);
    assert!(b.allow(usize::MAX, 0));
    assert!(b.allow(usize::MAX, u64::MAX));
    assert_eq!(b.available_bytes(u64::MAX), 0);
    let mut b = TokenBucket::new(u64::MAX, u64::MAX);
    assert!(b.allow(1, 0));
    assert_eq!(b.available_bytes(1), u64::MAX);
    assert_eq!(b.available_bytes(u64::MAX), u64::MAX);
}

#[test]
fn admit_applies_rules_then_rate() {
    let mut policy = Policy {
        default: Action::Allow,
        rules: vec![rule("deny", "10.0.0.0/8", None, None)],
        rate: Some(TokenBucket::new(8000, 1500)),
    };
    // Denied packets take no tokens.
    for _ in 0..10 {
        assert_eq!(
            policy.admit(v4("10.1.1.1"), 6, Some(80), 1500, 0),
            Verdict::Denied
        );
    }
    assert_eq!(
        policy.admit(v4("192.0.2.1"), 6, Some(80), 1500, 0),
        Verdict::Allow
    );
    assert_eq!(
        policy.admit(v4("192.0.2.1"), 6, Some(80), 1, 0),
        Verdict::RateLimited
    );
    assert_eq!(
        policy.admit(v4("192.0.2.1"), 6, Some(80), 100, 100 * MS),
        Verdict::Allow
    );
    assert_eq!(
        [Verdict::Allow, Verdict::Denied, Verdict::RateLimited].map(Verdict::code),
        ["POLICY_ALLOW", "POLICY_DENIED", "POLICY_RATE_LIMITED"]
    );
    let mut unlimited = Policy::allow_all();
    assert_eq!(
        unlimited.admit(v6("::2"), 17, None, 1 << 20, 0),
        Verdict::Allow
    );
}
