//! ICMP errors for packets larger than the link: ICMPv4 Destination
//! Unreachable / Fragmentation Needed (RFC 792, RFC 1191 section 4) and
//! ICMPv6 Packet Too Big (RFC 4443 section 3.2).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{sum, IpHeader, IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, PROTO_ICMP, PROTO_ICMPV6};

/// ICMP header: type, code, checksum, then the 32-bit field that holds the
/// MTU.
const ICMP_HEADER_LEN: usize = 8;

/// RFC 1812 4.3.2.3: quote as much of the original as possible without the
/// ICMP datagram exceeding 576 bytes.
const IPV4_ERROR_MAX: usize = 576;

/// RFC 4443 2.4 (c): as much as possible without the ICMPv6 packet exceeding
/// the minimum IPv6 MTU.
const IPV6_ERROR_MAX: usize = 1280;

/// TTL and Hop Limit of the errors we send.
const HOP_LIMIT: u8 = 64;

/// DSCP CS6 (precedence 6, "internetwork control"), which RFC 1812 4.3.2.5
/// asks for on ICMP errors other than Source Quench.
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

const ICMPV4_DEST_UNREACHABLE: u8 = 3;
const ICMPV4_FRAGMENTATION_NEEDED: u8 = 4;
const ICMPV6_PACKET_TOO_BIG: u8 = 2;
const ICMPV6_REDIRECT: u8 = 137;

/// Writes into `out` the whole IP packet of an ICMP "too big" error about
/// `original` (whose header is `h`), sent from `from` to the original's
/// source, and returns its length.
///
/// - IPv4: type 3 code 4 with the Next-Hop MTU in the low 16 bits of the
///   second word (RFC 1191 section 4), quoting the original from its IP
///   header on, at least the header and 8 bytes (RFC 792) and as much as
///   fits in 576 bytes (RFC 1812 4.3.2.3). The packet is an atomic datagram
///   (DF set, Identification 0, RFC 6864 section 4.1): it is built without
///   state, and 576 bytes cross any IPv4 link.
/// - IPv6: type 2 code 0 with the 32-bit MTU, quoting as much as fits in
///   1280 bytes (RFC 4443 2.4 (c)), at least the fixed header and 8 bytes;
///   the checksum covers the IPv6 pseudo-header (RFC 8200 section 8.1). The
///   caller should not announce an MTU below 1280: IPv6 links have at least
///   that (RFC 8200 section 5).
///
/// Returns `None`, sending nothing, when RFC 1122 3.2.2 (IPv4) or RFC 4443
/// 2.4 (e) (IPv6) forbid an error: the original is itself an ICMP error
/// (or an ICMPv6 Redirect, or an ICMP packet too short to tell), a non-first
/// fragment, or from an address that is not one host (unspecified,
/// loopback, multicast; for IPv4 also limited broadcast and 240/4); for IPv4
/// also when it went to a multicast or broadcast address (IPv6 makes an
/// exception for Packet Too Big, to let PMTUD work for multicast). Also
/// `None` when an IPv4 original does not have DF set (it is to be
/// fragmented, not refused, RFC 792), when `from` is not a unicast address
/// of the original's family, and when `out` cannot hold the minimal quote.
pub fn icmp_too_big(
    original: &[u8],
    h: &IpHeader,
    mtu: u16,
    from: IpAddr,
    out: &mut [u8],
) -> Option<usize> {
    if h.is_fragment || h.total_len > original.len() || h.header_len > h.total_len {
        return None;
    }
    let original = &original[..h.total_len];
    match (h.src, h.dst, from) {
        (IpAddr::V4(to), IpAddr::V4(dst), IpAddr::V4(from)) => {
            if !h.dont_fragment
                || !is_one_host_v4(to)
                || !is_one_host_v4(from)
                || dst.is_multicast()
                || dst.is_broadcast()
                || (h.protocol == PROTO_ICMP && !icmpv4_may_answer(original, h))
            {
                return None;
            }
            too_big_v4(original, h.header_len, mtu, from, to, out)
        }
        (IpAddr::V6(to), IpAddr::V6(_), IpAddr::V6(from)) => {
            if !is_one_host_v6(to)
                || !is_one_host_v6(from)
                || (h.protocol == PROTO_ICMPV6 && !icmpv6_may_answer(original, h))
            {
                return None;
            }
            too_big_v6(original, mtu, from, to, out)
        }
        _ => None,
    }
}

fn is_one_host_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] >= 240)
}

fn is_one_host_v6(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast())
}

/// ICMPv4 types that are errors: Destination Unreachable (3), Source Quench
/// (4), Redirect (5), Time Exceeded (11), Parameter Problem (12). Like
/// Linux (`icmp_send`), types above 18 are unknown and treated as errors.
fn icmpv4_may_answer(original: &[u8], h: &IpHeader) -> bool {
    match original.get(h.header_len) {
        Some(&t) => !(matches!(t, 3 | 4 | 5 | 11 | 12) || t > 18),
        None => false,
    }
}

/// ICMPv6 types below 128 are errors (RFC 4443 2.1); Redirect is excluded
/// by RFC 4443 2.4 (e.2).
fn icmpv6_may_answer(original: &[u8], h: &IpHeader) -> bool {
    match original.get(h.header_len) {
        Some(&t) => t >= 128 && t != ICMPV6_REDIRECT,
        None => false,
    }
}

fn too_big_v4(
    original: &[u8],
    header_len: usize,
    mtu: u16,
    from: Ipv4Addr,
    to: Ipv4Addr,
    out: &mut [u8],
) -> Option<usize> {
    let head = IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN;
    let quote = original
        .len()
        .min(IPV4_ERROR_MAX - head)
        .min(out.len().checked_sub(head)?);
    if quote < original.len().min(header_len + 8) {
        return None;
    }
    let total = head + quote;
    let out = &mut out[..total];
    let (ip, icmp) = out.split_at_mut(IPV4_MIN_HEADER_LEN);

    ip[0] = 0x45;
    ip[1] = TOS_INTERNETWORK_CONTROL;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].fill(0);
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    ip[8] = HOP_LIMIT;
    ip[9] = PROTO_ICMP;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&from.octets());
    ip[16..20].copy_from_slice(&to.octets());
    let checksum = sum::finish(sum::add(ip, 0));
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());

    icmp[0] = ICMPV4_DEST_UNREACHABLE;
    icmp[1] = ICMPV4_FRAGMENTATION_NEEDED;
    icmp[2..6].fill(0);
    icmp[6..8].copy_from_slice(&mtu.to_be_bytes());
    icmp[ICMP_HEADER_LEN..].copy_from_slice(&original[..quote]);
    let checksum = sum::finish(sum::add(icmp, 0));
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    Some(total)
}

fn too_big_v6(
    original: &[u8],
    mtu: u16,
    from: Ipv6Addr,
    to: Ipv6Addr,
    out: &mut [u8],
) -> Option<usize> {
    let head = IPV6_HEADER_LEN + ICMP_HEADER_LEN;
    let quote = original
        .len()
        .min(IPV6_ERROR_MAX - head)
        .min(out.len().checked_sub(head)?);
    if quote < original.len().min(IPV6_HEADER_LEN + 8) {
        return None;
    }
    let total = head + quote;
    let icmp_len = ICMP_HEADER_LEN + quote;
    let out = &mut out[..total];
    let (ip, icmp) = out.split_at_mut(IPV6_HEADER_LEN);

    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
    ip[6] = PROTO_ICMPV6;
    ip[7] = HOP_LIMIT;
    ip[8..24].copy_from_slice(&from.octets());
    ip[24..40].copy_from_slice(&to.octets());

    icmp[0] = ICMPV6_PACKET_TOO_BIG;
    icmp[1] = 0;
    icmp[2..4].fill(0);
    icmp[4..8].copy_from_slice(&(mtu as u32).to_be_bytes());
    icmp[ICMP_HEADER_LEN..].copy_from_slice(&original[..quote]);
    // RFC 8200 8.1 pseudo-header: source, destination, 32-bit upper-layer
    // length, three zero bytes and Next Header.
    let mut acc = sum::add(&ip[8..40], 0);
    acc += icmp_len as u64 + PROTO_ICMPV6 as u64;
    acc = sum::add(icmp, acc);
    icmp[2..4].copy_from_slice(&sum::finish(acc).to_be_bytes());
    Some(total)
}
