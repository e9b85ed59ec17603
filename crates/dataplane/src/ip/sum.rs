//! Ones'-complement arithmetic (RFC 1071) for every checksum the data plane
//! writes: ICMP and TCP here, TCP/UDP after NAT in `natt::checksum`.

/// Adds the 16-bit big-endian words of `data` to `acc` without folding; an
/// odd last byte is padded with a zero byte. Callers sum pieces that start
/// on even offsets of the checksummed data.
pub(crate) fn add(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc += u16::from_be_bytes([pair[0], pair[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u64) << 8;
    }
    acc
}

/// Folds the carries back in (end-around carry) to a 16-bit sum.
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to write: the complement of the folded sum.
pub(crate) fn finish(acc: u64) -> u16 {
    !fold(acc)
}
