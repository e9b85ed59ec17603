//! TCP MSS clamping on SYNs.
//!
//! PPP links inside L2TP/IPsec have an MRU well below 1500, and Path MTU
//! Discovery across the tunnel is often broken by ICMP filtering. Lowering
//! the MSS that each end announces in its SYN (RFC 9293 section 3.7.1) keeps
//! TCP segments within the link whatever ICMP does.

use super::{sum, IpHeader, PROTO_TCP};

/// TCP option kinds (RFC 9293 section 3.2).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_MSS_LEN: usize = 4;

const TCP_MIN_HEADER_LEN: usize = 20;
const TCP_CHECKSUM: usize = 16;
const FLAG_SYN: u8 = 0x02;

/// Lowers the MSS option of a TCP SYN (SYN set, with or without ACK) to
/// `max_mss` if it announces more, and updates the TCP checksum
/// incrementally (RFC 1624 equation 3); returns whether the packet changed.
///
/// The caller picks `max_mss`: the link MRU minus 40 for IPv4 (20 IP + 20
/// TCP) or 60 for IPv6. A SYN without an MSS option is left alone: its peer
/// then assumes 536 (IPv4) or 1220 (IPv6) (RFC 9293 3.7.1), below any MRU
/// the server uses. Options are walked as RFC 9293 3.2 lays them out (EOL
/// ends the list, NOP is one byte, every other option has a length of at
/// least 2 that must stay within the header); on a malformed list the walk
/// stops and what follows is not touched. Non-TCP packets, non-first
/// fragments and segments shorter than their Data Offset are not changed.
pub fn clamp_tcp_mss(packet: &mut [u8], h: &IpHeader, max_mss: u16) -> bool {
    if h.protocol != PROTO_TCP
        || h.is_fragment
        || h.header_len + TCP_MIN_HEADER_LEN > h.total_len
        || h.total_len > packet.len()
    {
        return false;
    }
    let tcp = &mut packet[h.header_len..h.total_len];
    let data_offset = (tcp[12] >> 4) as usize * 4;
    if data_offset < TCP_MIN_HEADER_LEN || data_offset > tcp.len() || tcp[13] & FLAG_SYN == 0 {
        return false;
    }
    let mut changed = false;
    let mut i = TCP_MIN_HEADER_LEN;
    while i < data_offset {
        match tcp[i] {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            kind => {
                if i + 1 >= data_offset {
                    break;
                }
                let len = tcp[i + 1] as usize;
                if len < 2 || i + len > data_offset {
                    break;
                }
                if kind == OPT_MSS && len == OPT_MSS_LEN {
                    let mss = u16::from_be_bytes([tcp[i + 2], tcp[i + 3]]);
                    if mss > max_mss {
                        replace_u16(tcp, i + 2, max_mss);
                        changed = true;
                    }
                }
                i += len;
            }
        }
    }
    changed
}

/// Writes `value` at `tcp[at..at + 2]` and updates the checksum with
/// HC' = ~(~HC + ~m + m') (RFC 1624). The checksum runs over 16-bit words
/// aligned to the segment's start (the pseudo-header has an even length), and
/// options need no alignment, so an MSS value at an odd offset spans two
/// words: both are taken out with their old bytes and put back with the new.
fn replace_u16(tcp: &mut [u8], at: usize, value: u16) {
    let start = at & !1;
    let end = (at + 3) & !1;
    let old_checksum = u16::from_be_bytes([tcp[TCP_CHECKSUM], tcp[TCP_CHECKSUM + 1]]);
    let mut acc = (!old_checksum) as u64;
    for word in tcp[start..end].chunks_exact(2) {
        acc += (!u16::from_be_bytes([word[0], word[1]])) as u64;
    }
    tcp[at..at + 2].copy_from_slice(&value.to_be_bytes());
    acc = sum::add(&tcp[start..end], acc);
    tcp[TCP_CHECKSUM..TCP_CHECKSUM + 2].copy_from_slice(&sum::finish(acc).to_be_bytes());
}
