//! Transport-mode checksums after NAT (RFC 3948 section 3.1.2).
//!
//! In transport mode the client computed its TCP/UDP checksum over its own
//! addresses, which NAT then rewrote in the outer header only. The receiver
//! may zero a UDP checksum, update the checksum incrementally from the
//! original addresses (NAT-OA, RFC 3947), or recompute it.

use crate::ip::sum::{add, fold};

/// IP protocol numbers this module understands.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumError {
    /// Shorter than the TCP or UDP header.
    Truncated,
    /// Addresses are not both 4 or both 16 bytes.
    AddressFamily,
}

/// Where the checksum field of `segment` is: `None` for protocols without
/// one we handle, an error when the segment is shorter than its header or
/// the addresses are not all of one family (4 or 16 bytes).
fn checksum_field(
    protocol: u8,
    segment: &[u8],
    addresses: &[&[u8]],
) -> Result<Option<usize>, ChecksumError> {
    let (offset, min_len) = match protocol {
        PROTO_UDP => (6, 8),
        PROTO_TCP => (16, 20),
        _ => return Ok(None),
    };
    if segment.len() < min_len {
        return Err(ChecksumError::Truncated);
    }
    let family = addresses[0].len();
    if addresses.iter().any(|a| a.len() != family) || !(family == 4 || family == 16) {
        return Err(ChecksumError::AddressFamily);
    }
    Ok(Some(offset))
}

/// Recomputes the TCP or UDP checksum of `segment` over the pseudo-header of
/// `src`/`dst` (IPv4 or IPv6). Other protocols are left alone.
pub fn recompute(
    protocol: u8,
    src: &[u8],
    dst: &[u8],
    segment: &mut [u8],
) -> Result<(), ChecksumError> {
    let Some(offset) = checksum_field(protocol, segment, &[src, dst])? else {
        return Ok(());
    };
    segment[offset..offset + 2].fill(0);
    let mut acc = add(src, 0);
    acc = add(dst, acc);
    acc += protocol as u64 + segment.len() as u64;
    acc = add(segment, acc);
    let mut checksum = !fold(acc);
    // RFC 768: a computed UDP checksum of zero is sent as all ones.
    if protocol == PROTO_UDP && checksum == 0 {
        checksum = 0xffff;
    }
    segment[offset..offset + 2].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

/// Updates the checksum for addresses changed from `original` (the NAT-OA
/// pair) to `actual` (RFC 1624: HC' = ~(~HC + ~m + m')). A UDP checksum of
/// zero means "none" and stays zero.
pub fn update_incrementally(
    protocol: u8,
    original: (&[u8], &[u8]),
    actual: (&[u8], &[u8]),
    segment: &mut [u8],
) -> Result<(), ChecksumError> {
    let addresses = [original.0, original.1, actual.0, actual.1];
    let Some(offset) = checksum_field(protocol, segment, &addresses)? else {
        return Ok(());
    };
    let old = u16::from_be_bytes([segment[offset], segment[offset + 1]]);
    if protocol == PROTO_UDP && old == 0 {
        return Ok(());
    }
    let mut acc = (!old) as u64;
    for word in original.0.chunks_exact(2).chain(original.1.chunks_exact(2)) {
        acc += (!u16::from_be_bytes([word[0], word[1]])) as u64;
    }
    acc = add(actual.0, acc);
    acc = add(actual.1, acc);
    let mut checksum = !fold(acc);
    if protocol == PROTO_UDP && checksum == 0 {
        checksum = 0xffff;
    }
    segment[offset..offset + 2].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

/// Whether the segment's checksum is right for `src`/`dst`. A zero UDP
/// checksum over IPv4 is "not computed" and passes (clients behind NAT often
/// send it, see xl2tpd PR#31).
pub fn verify(protocol: u8, src: &[u8], dst: &[u8], segment: &[u8]) -> Result<bool, ChecksumError> {
    let Some(offset) = checksum_field(protocol, segment, &[src, dst])? else {
        return Ok(true);
    };
    if protocol == PROTO_UDP && src.len() == 4 && segment[offset..offset + 2] == [0, 0] {
        return Ok(true);
    }
    let mut copy = segment.to_vec();
    recompute(protocol, src, dst, &mut copy)?;
    Ok(copy[offset..offset + 2] == segment[offset..offset + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    // An L2TP HELLO over UDP 1701 -> 1701 between 10.0.2.15 and 10.0.2.2.
    fn udp_segment() -> Vec<u8> {
        let mut s = vec![0x06, 0xa5, 0x06, 0xa5, 0x00, 0x14, 0x00, 0x00];
        s.extend_from_slice(&[
            0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]);
        s
    }

    const CLIENT: [u8; 4] = [10, 0, 2, 15];
    const SERVER: [u8; 4] = [10, 0, 2, 2];
    const NATTED: [u8; 4] = [127, 0, 0, 1];

    #[test]
    fn recomputed_checksum_verifies_and_is_not_zero() {
        let mut s = udp_segment();
        recompute(PROTO_UDP, &CLIENT, &SERVER, &mut s).unwrap();
        assert_ne!(&s[6..8], &[0, 0]);
        assert!(verify(PROTO_UDP, &CLIENT, &SERVER, &s).unwrap());
        assert!(!verify(PROTO_UDP, &NATTED, &SERVER, &s).unwrap());
    }

    #[test]
    fn incremental_update_equals_recomputing() {
        let mut by_update = udp_segment();
        recompute(PROTO_UDP, &CLIENT, &SERVER, &mut by_update).unwrap();
        update_incrementally(
            PROTO_UDP,
            (&CLIENT, &SERVER),
            (&NATTED, &SERVER),
            &mut by_update,
        )
        .unwrap();
        let mut by_recompute = udp_segment();
        recompute(PROTO_UDP, &NATTED, &SERVER, &mut by_recompute).unwrap();
        assert_eq!(by_update, by_recompute);
        assert!(verify(PROTO_UDP, &NATTED, &SERVER, &by_update).unwrap());
    }

    #[test]
    fn zero_udp_checksum_is_accepted_and_kept() {
        let mut s = udp_segment();
        assert!(verify(PROTO_UDP, &NATTED, &SERVER, &s).unwrap());
        update_incrementally(PROTO_UDP, (&CLIENT, &SERVER), (&NATTED, &SERVER), &mut s).unwrap();
        assert_eq!(&s[6..8], &[0, 0]);
    }

    #[test]
    fn tcp_is_recomputed_and_short_segments_refused() {
        let mut tcp = vec![0u8; 20];
        tcp[12] = 0x50;
        recompute(PROTO_TCP, &CLIENT, &SERVER, &mut tcp).unwrap();
        assert!(verify(PROTO_TCP, &CLIENT, &SERVER, &tcp).unwrap());
        assert_eq!(
            recompute(PROTO_TCP, &CLIENT, &SERVER, &mut [0u8; 19]),
            Err(ChecksumError::Truncated)
        );
        assert_eq!(
            recompute(PROTO_UDP, &CLIENT, &[1; 16], &mut udp_segment()),
            Err(ChecksumError::AddressFamily)
        );
    }
}
