//! TUN offloads (IFF_VNET_HDR): every packet on the device carries a
//! `virtio_net_hdr` in front. With TUNSETOFFLOAD (TSO4/TSO6/CSUM) the kernel
//! hands us TCP "super-packets" of up to 64 KiB with one header and a
//! segment size, and leaves the TCP checksum for us to finish; we cut them
//! into MSS-sized IP packets ourselves (one read for ~45 packets instead of
//! one each). The same approach took wireguard-go past 10 Gbit/s.
//!
//! Pure packet arithmetic; the ioctls are in `tun.rs`.

use crate::ip::sum;

/// `struct virtio_net_hdr` (the legacy 10-byte one TUN uses by default).
pub const VNET_HDR_LEN: usize = 10;

pub const F_NEEDS_CSUM: u8 = 1;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
/// Set together with a GSO type when the flow uses ECN.
pub const GSO_ECN: u8 = 0x80;

/// A parsed `virtio_net_hdr`. TUN writes it in host byte order (we never
/// set TUNSETVNETBE/LE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// Why a packet from TUN could not be finished or cut (counted as malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Checksum offsets outside the packet.
    BadChecksumOffsets,
    /// A GSO type we did not ask for (e.g. UDP), or not TCP inside.
    UnsupportedGso,
    /// IP or TCP headers that do not fit the packet.
    BadHeaders,
}

/// Finishes a checksum the kernel left partial (F_NEEDS_CSUM): the field at
/// `csum_start + csum_offset` holds the pseudo-header sum; the rest from
/// `csum_start` to the end is summed in and the complement stored.
pub fn finish_checksum(hdr: &VnetHdr, packet: &mut [u8]) -> Result<(), OffloadError> {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return Ok(());
    }
    let start = hdr.csum_start as usize;
    let field = start + hdr.csum_offset as usize;
    if start > packet.len() || field + 2 > packet.len() {
        return Err(OffloadError::BadChecksumOffsets);
    }
    let value = sum::finish(sum::add(&packet[start..], 0));
    packet[field..field + 2].copy_from_slice(&value.to_be_bytes());
    Ok(())
}

/// How to cut one TCP super-packet into segments of at most `mss` payload
/// bytes, each with a copy of the IP and TCP headers.
#[derive(Debug, Clone, Copy)]
pub struct TsoPlan {
    v4: bool,
    ip_len: usize,
    headers_len: usize,
    mss: usize,
    payload_len: usize,
}

impl TsoPlan {
    /// Reads the headers of `packet` (without its vnet header) for `hdr`'s
    /// GSO type. Only TCP over IPv4 or IPv6 without extension headers, the
    /// two types we ask the kernel for.
    pub fn new(hdr: &VnetHdr, packet: &[u8]) -> Result<TsoPlan, OffloadError> {
        let v4 = match hdr.gso_type & !GSO_ECN {
            GSO_TCPV4 => true,
            GSO_TCPV6 => false,
            _ => return Err(OffloadError::UnsupportedGso),
        };
        let first = *packet.first().ok_or(OffloadError::BadHeaders)?;
        let (ip_len, protocol) = if v4 {
            if first >> 4 != 4 || packet.len() < 20 {
                return Err(OffloadError::BadHeaders);
            }
            ((first & 0x0f) as usize * 4, packet[9])
        } else {
            if first >> 4 != 6 || packet.len() < 40 {
                return Err(OffloadError::BadHeaders);
            }
            (40, packet[6])
        };
        if protocol != crate::ip::PROTO_TCP {
            return Err(OffloadError::UnsupportedGso);
        }
        if ip_len < 20 || packet.len() < ip_len + 20 {
            return Err(OffloadError::BadHeaders);
        }
        let tcp_len = (packet[ip_len + 12] >> 4) as usize * 4;
        let headers_len = ip_len + tcp_len;
        if tcp_len < 20 || packet.len() < headers_len || hdr.gso_size == 0 {
            return Err(OffloadError::BadHeaders);
        }
        Ok(TsoPlan {
            v4,
            ip_len,
            headers_len,
            mss: hdr.gso_size as usize,
            payload_len: packet.len() - headers_len,
        })
    }

    /// Segments this packet becomes (at least one).
    pub fn count(&self) -> usize {
        self.payload_len.div_ceil(self.mss).max(1)
    }

    /// The largest segment (headers and payload).
    pub fn max_segment_len(&self) -> usize {
        self.headers_len + self.mss.min(self.payload_len)
    }

    /// Writes segment `i` of `packet` into `out` and returns its length:
    /// headers copied, IPv4 total length / ID / header checksum or IPv6
    /// payload length fixed, sequence number advanced, FIN and PSH only on
    /// the last segment and CWR only on the first, TCP checksum computed.
    pub fn write_segment(&self, packet: &[u8], i: usize, out: &mut [u8]) -> usize {
        let h = self.headers_len;
        let offset = i * self.mss;
        let chunk = self.mss.min(self.payload_len - offset);
        let len = h + chunk;
        out[..h].copy_from_slice(&packet[..h]);
        out[h..len].copy_from_slice(&packet[h + offset..h + offset + chunk]);
        let tcp = self.ip_len;
        let tcp_len = len - tcp;
        if self.v4 {
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let id = u16::from_be_bytes([packet[4], packet[5]]).wrapping_add(i as u16);
            out[4..6].copy_from_slice(&id.to_be_bytes());
            out[10..12].fill(0);
            let check = sum::finish(sum::add(&out[..self.ip_len], 0));
            out[10..12].copy_from_slice(&check.to_be_bytes());
        } else {
            out[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        }
        let seq = u32::from_be_bytes([packet[tcp + 4], packet[tcp + 5], packet[tcp + 6], packet[tcp + 7]])
            .wrapping_add(offset as u32);
        out[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        let last = i + 1 == self.count();
        if !last {
            out[tcp + 13] &= !(0x01 | 0x08); // FIN, PSH
        }
        if i != 0 {
            out[tcp + 13] &= !0x80; // CWR
        }
        out[tcp + 16..tcp + 18].fill(0);
        let acc = pseudo_header(&out[..self.ip_len], self.v4, tcp_len);
        let check = sum::finish(sum::add(&out[tcp..len], acc));
        out[tcp + 16..tcp + 18].copy_from_slice(&check.to_be_bytes());
        len
    }
}

/// The TCP pseudo-header sum (RFC 793 / RFC 8200 8.1) from an IP header.
fn pseudo_header(ip: &[u8], v4: bool, tcp_len: usize) -> u64 {
    let acc = if v4 {
        sum::add(&ip[12..20], 0)
    } else {
        sum::add(&ip[8..40], 0)
    };
    acc + crate::ip::PROTO_TCP as u64 + tcp_len as u64
}
