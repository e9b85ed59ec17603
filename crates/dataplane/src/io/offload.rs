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
        let seq = u32::from_be_bytes([
            packet[tcp + 4],
            packet[tcp + 5],
            packet[tcp + 6],
            packet[tcp + 7],
        ])
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

/// Flows one receive batch can coalesce at once (each holds a 64 KiB buffer).
pub const GRO_FLOWS: usize = 8;
const GRO_MAX: usize = 65535;

/// One TCP flow's segments joined into a super-packet waiting to be written.
struct GroFlow {
    /// Addresses and ports (v4: 12 bytes used, v6: 36).
    key: [u8; 36],
    v4: bool,
    buf: Vec<u8>,
    len: usize,
    ip_len: usize,
    headers_len: usize,
    /// Payload of the first segment: every one but the last is this size.
    gso_size: usize,
    last_len: usize,
    segments: usize,
    next_seq: u32,
    /// PSH seen: the flow ends here.
    pushed: bool,
    age: u64,
}

/// Receive-side coalescing toward a TUN device with IFF_VNET_HDR (what NIC
/// GRO does): consecutive in-order TCP segments of one flow are joined and
/// written as one GSO super-packet, so the kernel's TCP stack handles one
/// packet per ~45. Anything else passes through unchanged and in order.
pub struct Gro {
    flows: Vec<GroFlow>,
    clock: u64,
}

impl Default for Gro {
    fn default() -> Self {
        Self::new()
    }
}

/// What a segment looks like, read once.
struct Segment {
    v4: bool,
    key: [u8; 36],
    ip_len: usize,
    headers_len: usize,
    seq: u32,
    flags: u8,
    payload: usize,
}

const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

impl Gro {
    pub fn new() -> Gro {
        Gro {
            flows: Vec::new(),
            clock: 0,
        }
    }

    /// Takes one whole IP packet bound for TUN. `out(header, packet)` is
    /// called for everything ready to write, in order.
    pub fn push(&mut self, packet: &[u8], out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8])) {
        let plain = [0u8; VNET_HDR_LEN];
        let Some(seg) = tcp_segment(packet) else {
            return out(&plain, packet);
        };
        self.clock += 1;
        let found = self
            .flows
            .iter()
            .position(|f| f.len > 0 && f.key == seg.key && f.v4 == seg.v4);
        let eligible =
            seg.flags & !TCP_PSH == TCP_ACK && seg.payload > 0 && checksum_ok(packet, &seg);
        if let Some(i) = found {
            if eligible && self.flows[i].can_append(packet, &seg) {
                self.flows[i].append(packet, &seg, self.clock);
                return;
            }
            self.flows[i].flush(out);
        }
        if !eligible {
            return out(&plain, packet);
        }
        let slot = match self.flows.iter().position(|f| f.len == 0) {
            Some(i) => i,
            None if self.flows.len() < GRO_FLOWS => {
                self.flows.push(GroFlow::new());
                self.flows.len() - 1
            }
            None => {
                let oldest = (0..self.flows.len())
                    .min_by_key(|&i| self.flows[i].age)
                    .unwrap_or(0);
                self.flows[oldest].flush(out);
                oldest
            }
        };
        self.flows[slot].start(packet, &seg, self.clock);
    }

    /// Writes every flow held (end of a receive batch).
    pub fn flush(&mut self, out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8])) {
        let mut order: Vec<usize> = (0..self.flows.len())
            .filter(|&i| self.flows[i].len > 0)
            .collect();
        order.sort_by_key(|&i| self.flows[i].age);
        for i in order {
            self.flows[i].flush(out);
        }
    }
}

/// Reads a TCP segment's headers: IPv4 without options or fragments, or
/// IPv6 with TCP as the first next header; None for anything else.
fn tcp_segment(p: &[u8]) -> Option<Segment> {
    let mut key = [0u8; 36];
    let (v4, ip_len, total) = match p.first()? >> 4 {
        4 => {
            let total = u16::from_be_bytes([*p.get(2)?, *p.get(3)?]) as usize;
            let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
            if p[0] & 0x0f != 5 || p[9] != crate::ip::PROTO_TCP || frag != 0 {
                return None;
            }
            key[..8].copy_from_slice(p.get(12..20)?);
            (true, 20, total)
        }
        6 => {
            if *p.get(6)? != crate::ip::PROTO_TCP {
                return None;
            }
            key[..32].copy_from_slice(p.get(8..40)?);
            (false, 40, 40 + u16::from_be_bytes([p[4], p[5]]) as usize)
        }
        _ => return None,
    };
    if total != p.len() || p.len() < ip_len + 20 {
        return None;
    }
    let tcp = &p[ip_len..];
    let headers_len = ip_len + (tcp[12] >> 4) as usize * 4;
    if headers_len < ip_len + 20 || headers_len > p.len() {
        return None;
    }
    let at = if v4 { 8 } else { 32 };
    key[at..at + 4].copy_from_slice(&tcp[..4]);
    Some(Segment {
        v4,
        key,
        ip_len,
        headers_len,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags: tcp[13],
        payload: p.len() - headers_len,
    })
}

/// The TCP checksum verifies: a corrupt segment is passed on alone for the
/// kernel to drop, never hidden inside a super-packet whose checksum we
/// would recompute.
fn checksum_ok(p: &[u8], seg: &Segment) -> bool {
    let acc = pseudo_header(&p[..seg.ip_len], seg.v4, p.len() - seg.ip_len);
    sum::fold(sum::add(&p[seg.ip_len..], acc)) == 0xffff
}

impl GroFlow {
    fn new() -> GroFlow {
        GroFlow {
            key: [0; 36],
            v4: true,
            buf: vec![0u8; GRO_MAX],
            len: 0,
            ip_len: 0,
            headers_len: 0,
            gso_size: 0,
            last_len: 0,
            segments: 0,
            next_seq: 0,
            pushed: false,
            age: 0,
        }
    }

    fn start(&mut self, p: &[u8], seg: &Segment, clock: u64) {
        self.buf[..p.len()].copy_from_slice(p);
        self.len = p.len();
        self.key = seg.key;
        self.v4 = seg.v4;
        self.ip_len = seg.ip_len;
        self.headers_len = seg.headers_len;
        self.gso_size = seg.payload;
        self.last_len = seg.payload;
        self.segments = 1;
        self.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        self.pushed = seg.flags & TCP_PSH != 0;
        self.age = clock;
    }

    /// Same headers but for lengths, IDs, sequence and checksums; in order;
    /// every earlier segment full-sized; room left.
    fn can_append(&self, p: &[u8], seg: &Segment) -> bool {
        let held = &self.buf[..self.headers_len];
        let (ip, tcp) = (self.ip_len, self.ip_len);
        let same_ip = if self.v4 {
            held[1] == p[1] && held[6] & 0x40 == p[6] & 0x40 && held[8] == p[8]
        } else {
            held[..4] == p[..4] && held[7] == p[7]
        };
        !self.pushed
            && same_ip
            && seg.headers_len == self.headers_len
            && seg.seq == self.next_seq
            && self.last_len == self.gso_size
            && seg.payload <= self.gso_size
            && self.len + seg.payload <= GRO_MAX
            // ACK number, data offset, flags but PSH, window; then options.
            && held[tcp + 8..tcp + 13] == p[ip + 8..ip + 13]
            && held[tcp + 14..tcp + 16] == p[ip + 14..ip + 16]
            && held[tcp + 20..] == p[ip + 20..self.headers_len]
    }

    fn append(&mut self, p: &[u8], seg: &Segment, clock: u64) {
        let data = &p[seg.headers_len..];
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        self.last_len = data.len();
        self.segments += 1;
        self.next_seq = seg.seq.wrapping_add(data.len() as u32);
        if seg.flags & TCP_PSH != 0 {
            self.pushed = true;
            self.buf[self.ip_len + 13] |= TCP_PSH;
        }
        self.age = clock;
    }

    fn flush(&mut self, out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8])) {
        if self.len == 0 {
            return;
        }
        let len = std::mem::take(&mut self.len);
        if self.segments == 1 {
            // Untouched: its own checksum is still right.
            return out(&[0u8; VNET_HDR_LEN], &self.buf[..len]);
        }
        let b = &mut self.buf[..len];
        let tcp_len = len - self.ip_len;
        if self.v4 {
            b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            b[10..12].fill(0);
            let check = sum::finish(sum::add(&b[..20], 0));
            b[10..12].copy_from_slice(&check.to_be_bytes());
        } else {
            b[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        }
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum
        // over the whole length; the kernel finishes each segment's.
        let pseudo = sum::fold(pseudo_header(&b[..self.ip_len], self.v4, tcp_len));
        let field = self.ip_len + 16;
        b[field..field + 2].copy_from_slice(&pseudo.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if self.v4 { GSO_TCPV4 } else { GSO_TCPV6 },
            hdr_len: self.headers_len as u16,
            gso_size: self.gso_size as u16,
            csum_start: self.ip_len as u16,
            csum_offset: 16,
        };
        out(&hdr.to_bytes(), b);
    }
}
