//! What the data plane needs from inner IP packets: the packets on the TUN
//! side, carried inside PPP. Sans-IO like the rest of the crate: every
//! function reads or writes a caller-owned buffer and allocates nothing.
//!
//! - [`parse`] reads the IPv4 or IPv6 header: addresses, the upper-layer
//!   protocol (after IPv6 extension headers), where the transport header
//!   starts, fragmentation.
//! - [`transport_ports`] reads TCP/UDP/SCTP ports, for the session policy.
//! - [`clamp_tcp_mss`] lowers the MSS option of TCP SYNs so that segments fit
//!   the PPP link without fragmentation (the usual "MSS clamping" of
//!   PPP-based VPNs, since Path MTU Discovery is often blackholed).
//! - [`icmp_too_big`] builds ICMPv4 Fragmentation Needed (RFC 1191) and
//!   ICMPv6 Packet Too Big (RFC 4443) for packets larger than the link.
//!
//! IPv4 header checksums are not checked here: packets from the client are
//! checked by the kernel when written to the TUN device, and packets read
//! from TUN come from the kernel.

mod error;
mod icmp;
mod mss;
pub(crate) mod sum;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use error::IpError;
pub use icmp::icmp_too_big;
pub use mss::clamp_tcp_mss;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_HOP_BY_HOP: u8 = 0;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_IPV6_ROUTING: u8 = 43;
pub const PROTO_IPV6_FRAGMENT: u8 = 44;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_IPV6_NO_NEXT: u8 = 59;
pub const PROTO_IPV6_DEST_OPTS: u8 = 60;
pub const PROTO_SCTP: u8 = 132;

/// Fixed header lengths.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;

/// What [`parse`] found in an IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// 4 or 6.
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol. For IPv6, the Next Header after walking the
    /// hop-by-hop (0), routing (43), fragment (44) and destination options
    /// (60) extension headers; the walk stops at any other value (so AH, ESP
    /// and "no next header" are reported as such).
    pub protocol: u8,
    /// Offset of the transport header (the upper-layer header) in the packet.
    pub header_len: usize,
    /// The packet's length according to its header (IPv4 Total Length, IPv6
    /// Payload Length + 40). Bytes of the buffer beyond it are not part of
    /// the packet.
    pub total_len: usize,
    /// IPv4: the DF flag. IPv6: always true, since routers never fragment
    /// IPv6 packets (RFC 8200 section 5).
    pub dont_fragment: bool,
    /// A non-first fragment (fragment offset not zero): what follows the IP
    /// header is the middle of the upper-layer payload, not its header. A
    /// first fragment has its transport header and is `false`.
    pub is_fragment: bool,
}

impl IpHeader {
    /// The packet according to its header: `packet[..total_len]`.
    pub fn packet<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        &packet[..self.total_len]
    }

    /// The upper-layer bytes present in the packet (empty if none).
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        &packet[self.header_len.min(self.total_len)..self.total_len]
    }
}

/// Reads the IPv4 or IPv6 header of `packet`.
///
/// IPv4 (RFC 791): IHL must be at least 5 and the header must be in the
/// buffer; Total Length must cover the header and fit the buffer. IPv6
/// (RFC 8200): Payload Length + 40 must fit the buffer, and the extension
/// headers named in [`IpHeader::protocol`] must fit the payload. Jumbograms
/// (Payload Length 0 with a Jumbo Payload option, RFC 2675) are not
/// supported: no PPP link carries them. Bytes after the packet's length
/// (link padding) are allowed and ignored.
pub fn parse(packet: &[u8]) -> Result<IpHeader, IpError> {
    match packet.first().map(|b| b >> 4) {
        None => Err(IpError::Truncated),
        Some(4) => parse_v4(packet),
        Some(6) => parse_v6(packet),
        Some(_) => Err(IpError::BadVersion),
    }
}

fn parse_v4(packet: &[u8]) -> Result<IpHeader, IpError> {
    if packet.len() < IPV4_MIN_HEADER_LEN {
        return Err(IpError::Truncated);
    }
    let ihl = (packet[0] & 0x0f) as usize * 4;
    if ihl < IPV4_MIN_HEADER_LEN {
        return Err(IpError::BadHeaderLength);
    }
    if packet.len() < ihl {
        return Err(IpError::Truncated);
    }
    let total_len = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    if total_len < ihl || total_len > packet.len() {
        return Err(IpError::BadTotalLength);
    }
    let flags_offset = u16::from_be_bytes([packet[6], packet[7]]);
    let src: [u8; 4] = packet[12..16].try_into().expect("4 bytes");
    let dst: [u8; 4] = packet[16..20].try_into().expect("4 bytes");
    Ok(IpHeader {
        version: 4,
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        protocol: packet[9],
        header_len: ihl,
        total_len,
        dont_fragment: flags_offset & 0x4000 != 0,
        is_fragment: flags_offset & 0x1fff != 0,
    })
}

fn parse_v6(packet: &[u8]) -> Result<IpHeader, IpError> {
    if packet.len() < IPV6_HEADER_LEN {
        return Err(IpError::Truncated);
    }
    let total_len = IPV6_HEADER_LEN + u16::from_be_bytes([packet[4], packet[5]]) as usize;
    if total_len > packet.len() {
        return Err(IpError::BadTotalLength);
    }
    let src: [u8; 16] = packet[8..24].try_into().expect("16 bytes");
    let dst: [u8; 16] = packet[24..40].try_into().expect("16 bytes");
    let mut protocol = packet[6];
    let mut offset = IPV6_HEADER_LEN;
    let mut is_fragment = false;
    // Every extension header is at least 8 bytes long, so the walk ends
    // within total_len / 8 steps.
    loop {
        match protocol {
            PROTO_HOP_BY_HOP | PROTO_IPV6_ROUTING | PROTO_IPV6_DEST_OPTS => {
                // RFC 8200 4.3/4.4/4.6: Next Header, Hdr Ext Len in 8-octet
                // units not counting the first 8.
                if offset + 8 > total_len {
                    return Err(IpError::BadHeaderLength);
                }
                let len = (packet[offset + 1] as usize + 1) * 8;
                if offset + len > total_len {
                    return Err(IpError::BadHeaderLength);
                }
                protocol = packet[offset];
                offset += len;
            }
            PROTO_IPV6_FRAGMENT => {
                // RFC 8200 4.5: Next Header, reserved, Fragment Offset (13
                // bits) | Res | M, Identification: 8 bytes.
                if offset + 8 > total_len {
                    return Err(IpError::BadHeaderLength);
                }
                protocol = packet[offset];
                let fragment_offset =
                    u16::from_be_bytes([packet[offset + 2], packet[offset + 3]]) >> 3;
                offset += 8;
                if fragment_offset != 0 {
                    // What follows is the middle of the fragmentable part:
                    // no further headers to read.
                    is_fragment = true;
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(IpHeader {
        version: 6,
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        protocol,
        header_len: offset,
        total_len,
        dont_fragment: true,
        is_fragment,
    })
}

/// Whether packets of `protocol` carry source and destination ports in the
/// first four bytes of their header (TCP, UDP, SCTP).
pub fn has_ports(protocol: u8) -> bool {
    matches!(protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP)
}

/// Source and destination ports of a TCP, UDP or SCTP packet. `None` for
/// other protocols, non-first fragments (no transport header) and packets
/// too short to hold the ports.
pub fn transport_ports(packet: &[u8], h: &IpHeader) -> Option<(u16, u16)> {
    if h.is_fragment || !has_ports(h.protocol) || h.header_len + 4 > h.total_len {
        return None;
    }
    let p = packet.get(h.header_len..h.header_len + 4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(protocol: u8, flags_offset: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0];
        p[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(payload);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[test]
    fn ipv4_fields() {
        let p = v4(PROTO_UDP, 0x4000, &[0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0]);
        let h = parse(&p).unwrap();
        assert_eq!(h.version, 4);
        assert_eq!(h.header_len, 20);
        assert_eq!(h.total_len, 28);
        assert!(h.dont_fragment && !h.is_fragment);
        assert_eq!(transport_ports(&p, &h), Some((1234, 53)));
        // A first fragment (MF, offset 0) still has its ports.
        let first = v4(PROTO_UDP, 0x2000, &[0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0]);
        assert_eq!(
            transport_ports(&first, &parse(&first).unwrap()),
            Some((1234, 53))
        );
        let later = v4(PROTO_UDP, 0x0001, &[0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0]);
        let h = parse(&later).unwrap();
        assert!(h.is_fragment && !h.dont_fragment);
        assert_eq!(transport_ports(&later, &h), None);
    }

    #[test]
    fn ipv4_errors() {
        assert_eq!(parse(&[]), Err(IpError::Truncated));
        assert_eq!(parse(&[0x45; 19]), Err(IpError::Truncated));
        let mut p = v4(PROTO_UDP, 0, &[0; 8]);
        p[0] = 0x44;
        assert_eq!(parse(&p), Err(IpError::BadHeaderLength));
        p[0] = 0x4f;
        assert_eq!(parse(&p), Err(IpError::Truncated));
        p[0] = 0x45;
        p[3] = 19;
        assert_eq!(parse(&p), Err(IpError::BadTotalLength));
        p[3] = 29;
        assert_eq!(parse(&p), Err(IpError::BadTotalLength));
        p[0] = 0x55;
        assert_eq!(parse(&p), Err(IpError::BadVersion));
    }
}
