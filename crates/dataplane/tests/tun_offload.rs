//! TUN offload arithmetic (`io::offload`): cutting a TCP super-packet into
//! segments and finishing partial checksums, checked field by field and by
//! tshark (a test dependency installed by `.ci/run`: missing, the test
//! fails) with IP and TCP checksum validation on.

mod common;

use l2tp_ipsec_dataplane::io::offload::{
    finish_checksum, OffloadError, TsoPlan, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_TCPV4, GSO_TCPV6,
};

const SRC4: [u8; 4] = [192, 168, 42, 1];
const DST4: [u8; 4] = [192, 168, 42, 10];

/// TCP header with the options Linux sends on an established flow
/// (NOP, NOP, timestamps): 32 bytes, flags `flags`, sequence `seq`.
fn tcp_header(seq: u32, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 32];
    t[0..2].copy_from_slice(&5201u16.to_be_bytes());
    t[2..4].copy_from_slice(&40000u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&0x1000_0000u32.to_be_bytes());
    t[12] = 8 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&502u16.to_be_bytes());
    t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    t
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// An IPv4 super-packet as TUN hands it over with TSO: one IP header whose
/// length covers all, the TCP checksum field left partial (junk here; it
/// is recomputed).
fn super_v4(data: &[u8], flags: u8) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
    p.extend(SRC4);
    p.extend(DST4);
    let mut tcp = tcp_header(0xffff_f000, flags);
    tcp[16..18].copy_from_slice(&[0xab, 0xcd]);
    p.extend(tcp);
    p.extend(data);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

fn super_v6(data: &[u8], flags: u8) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
    p.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend(tcp_header(7, flags));
    p.extend(data);
    let plen = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p
}

fn gso(kind: u8, mss: u16) -> VnetHdr {
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: kind,
        hdr_len: 52,
        gso_size: mss,
        csum_start: 20,
        csum_offset: 16,
    }
}

fn cut(hdr: &VnetHdr, packet: &[u8]) -> Vec<Vec<u8>> {
    let plan = TsoPlan::new(hdr, packet).unwrap();
    (0..plan.count())
        .map(|i| {
            let mut out = vec![0u8; plan.max_segment_len()];
            let n = plan.write_segment(packet, i, &mut out);
            out.truncate(n);
            out
        })
        .collect()
}

/// tshark's fields for raw IP packets, checksums checked, absolute TCP
/// sequence numbers.
fn tshark(packets: &[Vec<u8>], name: &str, fields: &[&str]) -> Vec<String> {
    common::tshark_fields(
        packets,
        &format!("tun_offload_{name}"),
        &[
            "ip.check_checksum:TRUE",
            "tcp.check_checksum:TRUE",
            "tcp.relative_sequence_numbers:FALSE",
        ],
        fields,
    )
}

#[test]
fn ipv4_super_packet_becomes_mss_segments_tshark_accepts() {
    let data = payload(5000);
    let packet = super_v4(&data, 0x18 | 0x01); // PSH ACK FIN
    let segs = cut(&gso(GSO_TCPV4, 1448), &packet);
    assert_eq!(segs.len(), 4);
    let lens: Vec<usize> = segs.iter().map(Vec::len).collect();
    assert_eq!(lens, [1500, 1500, 1500, 52 + 5000 - 3 * 1448]);
    let joined: Vec<u8> = segs.iter().flat_map(|s| s[52..].to_vec()).collect();
    assert_eq!(joined, data);
    let rows = tshark(
        &segs,
        "v4",
        &[
            "ip.len",
            "ip.id",
            "ip.checksum.status",
            "tcp.seq",
            "tcp.len",
            "tcp.flags",
            "tcp.checksum.status",
        ],
    );
    // Sequence numbers wrap past 2^32; FIN and PSH only on the last.
    assert_eq!(
        rows,
        [
            "1500,0x1234,1,4294963200,1448,0x0010,1",
            "1500,0x1235,1,4294964648,1448,0x0010,1",
            "1500,0x1236,1,4294966096,1448,0x0010,1",
            "708,0x1237,1,248,656,0x0019,1",
        ]
    );
}

#[test]
fn ipv6_super_packet_becomes_mss_segments_tshark_accepts() {
    let data = payload(3000);
    let packet = super_v6(&data, 0x80 | 0x10 | 0x08); // CWR ACK PSH
    let segs = cut(&gso(GSO_TCPV6 | GSO_ECN, 1428), &packet);
    assert_eq!(segs.len(), 3);
    let rows = tshark(
        &segs,
        "v6",
        &[
            "ipv6.plen",
            "tcp.seq",
            "tcp.len",
            "tcp.flags",
            "tcp.checksum.status",
        ],
    );
    // CWR only on the first, PSH only on the last.
    assert_eq!(
        rows,
        [
            "1460,7,1428,0x0090,1",
            "1460,1435,1428,0x0010,1",
            "176,2863,144,0x0018,1"
        ]
    );
}

#[test]
fn a_super_packet_of_one_segment_is_passed_whole() {
    let packet = super_v4(&payload(100), 0x18);
    let segs = cut(&gso(GSO_TCPV4, 1448), &packet);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].len(), packet.len());
    assert_eq!(
        tshark(&segs, "one", &["tcp.checksum.status", "tcp.flags"]),
        ["1,0x0018"]
    );
}

#[test]
fn partial_checksum_is_finished_like_a_nic() {
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
    let mut packet = super_v4(&payload(333), 0x18);
    let tcp_len = packet.len() - 20;
    let mut acc: u64 = 6 + tcp_len as u64;
    for w in packet[12..20].chunks(2) {
        acc += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    packet[36..38].copy_from_slice(&(acc as u16).to_be_bytes());
    // The IP header checksum is the kernel's; fill it for tshark.
    let mut ip_acc: u64 = 0;
    for w in packet[..20].chunks(2) {
        ip_acc += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    while ip_acc > 0xffff {
        ip_acc = (ip_acc & 0xffff) + (ip_acc >> 16);
    }
    packet[10..12].copy_from_slice(&(!(ip_acc as u16)).to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    finish_checksum(&hdr, &mut packet).unwrap();
    assert_eq!(
        tshark(&[packet.clone()], "partial", &["tcp.checksum.status"]),
        ["1"]
    );
    // Offsets past the end are refused, nothing written.
    let before = packet.clone();
    let bad = VnetHdr {
        csum_start: 400,
        ..hdr
    };
    assert_eq!(
        finish_checksum(&bad, &mut packet),
        Err(OffloadError::BadChecksumOffsets)
    );
    assert_eq!(packet, before);
}

#[test]
fn vnet_header_round_trips_and_bad_super_packets_are_refused() {
    let hdr = gso(GSO_TCPV6, 1400);
    assert_eq!(VnetHdr::parse(&hdr.to_bytes()), Some(hdr));
    assert_eq!(VnetHdr::parse(&[0u8; 9]), None);
    let packet = super_v4(&payload(10), 0x10);
    // UDP GSO (type 5) was not asked for.
    assert_eq!(
        TsoPlan::new(&gso(5, 1400), &packet).err(),
        Some(OffloadError::UnsupportedGso)
    );
    // A v6 GSO type on a v4 packet, a truncated header, a zero segment size.
    assert_eq!(
        TsoPlan::new(&gso(GSO_TCPV6, 1400), &packet).err(),
        Some(OffloadError::BadHeaders)
    );
    assert_eq!(
        TsoPlan::new(&gso(GSO_TCPV4, 1400), &packet[..30]).err(),
        Some(OffloadError::BadHeaders)
    );
    assert_eq!(
        TsoPlan::new(&gso(GSO_TCPV4, 1400), &packet[..45]).err(),
        Some(OffloadError::BadHeaders)
    );
    assert_eq!(
        TsoPlan::new(&gso(GSO_TCPV4, 0), &packet).err(),
        Some(OffloadError::BadHeaders)
    );
}

// ---------------------------------------------------------------------------
// Receive-side coalescing (Gro): segments in, super-packets out.

use l2tp_ipsec_dataplane::io::offload::{Gro, GSO_NONE};

/// What Gro wrote: (vnet header, packet) in order.
fn run_gro(packets: &[Vec<u8>]) -> Vec<(VnetHdr, Vec<u8>)> {
    let mut gro = Gro::new();
    let mut out = Vec::new();
    let mut sink = |h: &[u8; 10], p: &[u8]| out.push((VnetHdr::parse(h).unwrap(), p.to_vec()));
    for p in packets {
        gro.push(p, &mut sink);
    }
    gro.flush(&mut sink);
    out
}

/// Segments of one flow as a sender's TSO would cut them (full checksums).
fn segments_v4(data: &[u8], flags: u8, mss: u16) -> Vec<Vec<u8>> {
    cut(&gso(GSO_TCPV4, mss), &super_v4(data, flags))
}

#[test]
fn in_order_segments_become_one_super_packet_that_cuts_back_to_the_same() {
    let data = payload(6000);
    let segs = segments_v4(&data, 0x18, 1448);
    assert_eq!(segs.len(), 5);
    let out = run_gro(&segs);
    assert_eq!(out.len(), 1, "one write for five segments");
    let (hdr, packet) = &out[0];
    assert_eq!(
        (
            hdr.flags,
            hdr.gso_type,
            hdr.gso_size,
            hdr.hdr_len,
            hdr.csum_start,
            hdr.csum_offset
        ),
        (F_NEEDS_CSUM, GSO_TCPV4, 1448, 52, 20, 16)
    );
    assert_eq!(packet.len(), 52 + 6000);
    assert_eq!(&packet[52..], &data[..]);
    // Finishing the partial checksum as the kernel would gives a valid
    // packet; cutting it again gives back the original segments exactly.
    let mut whole = packet.clone();
    finish_checksum(hdr, &mut whole).unwrap();
    assert_eq!(
        tshark(
            &[whole],
            "gro-whole",
            &[
                "ip.len",
                "ip.checksum.status",
                "tcp.len",
                "tcp.checksum.status",
                "tcp.flags"
            ]
        ),
        ["6052,1,6000,1,0x0018"]
    );
    let again = cut(hdr, packet);
    assert_eq!(again.len(), segs.len());
    for (a, b) in again.iter().zip(&segs) {
        // IP IDs: the kernel numbers from the first; ours did the same.
        assert_eq!(a, b);
    }
}

#[test]
fn ipv6_segments_coalesce_too() {
    let data = payload(4000);
    let segs = cut(&gso(GSO_TCPV6, 1428), &super_v6(&data, 0x10));
    let out = run_gro(&segs);
    assert_eq!(out.len(), 1);
    let (hdr, packet) = &out[0];
    assert_eq!(
        (hdr.gso_type, hdr.gso_size, hdr.csum_start),
        (GSO_TCPV6, 1428, 40)
    );
    let mut whole = packet.clone();
    finish_checksum(hdr, &mut whole).unwrap();
    assert_eq!(
        tshark(&[whole], "gro-v6", &["ipv6.plen", "tcp.checksum.status"]),
        ["4032,1"]
    );
}

#[test]
fn what_cannot_be_joined_passes_alone_and_in_order() {
    let segs = segments_v4(&payload(6000), 0x10, 1448);
    // A gap (segment 2 lost), a corrupt segment, a UDP packet between.
    let mut corrupt = segs[4].clone();
    corrupt[100] ^= 0xff;
    let mut udp = super_v4(&payload(10), 0x10);
    udp[9] = 17;
    let input = vec![
        segs[0].clone(),
        segs[1].clone(),
        segs[3].clone(),
        udp.clone(),
        corrupt.clone(),
    ];
    let out = run_gro(&input);
    let kinds: Vec<(u8, usize)> = out.iter().map(|(h, p)| (h.gso_type, p.len())).collect();
    // 0+1 joined and written when the gap shows; 3 starts a new flow; UDP
    // passes at once; 3 is written (alone, untouched) before the corrupt one.
    assert_eq!(
        kinds,
        [
            (GSO_TCPV4, 52 + 2 * 1448),
            (GSO_NONE, udp.len()),
            (GSO_NONE, 1500),
            (GSO_NONE, corrupt.len())
        ]
    );
    // The corrupt segment is the very bytes we got; the lone segment too.
    assert_eq!(out[3].1, corrupt);
    assert_eq!(out[2].1, segs[3]);
}

#[test]
fn psh_ends_a_super_packet_and_flows_interleave() {
    let a = segments_v4(&payload(2896), 0x18, 1448); // two segments, PSH on the second
    let mut b = segments_v4(&payload(2896), 0x10, 1448);
    for s in &mut b {
        // Another flow: a different source port (fix the checksum for it).
        s[20..22].copy_from_slice(&5202u16.to_be_bytes());
        s[36..38].fill(0);
        let mut acc: u64 = 6 + (s.len() - 20) as u64;
        for w in s[12..20].chunks(2).chain(s[20..].chunks(2)) {
            acc += (u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])) as u64;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        s[36..38].copy_from_slice(&(!(acc as u16)).to_be_bytes());
    }
    let more = segments_v4(&payload(100), 0x10, 1448);
    let input = vec![
        a[0].clone(),
        b[0].clone(),
        a[1].clone(),
        b[1].clone(),
        more[0].clone(),
    ];
    let out = run_gro(&input);
    let shape: Vec<(u8, usize, u8)> = out
        .iter()
        .map(|(h, p)| (h.gso_type, p.len(), p[33]))
        .collect();
    // Flow a ends at PSH; the next segment of a's 5-tuple (seq not
    // following) flushes a first. Flow b is written at the end.
    assert_eq!(
        shape,
        [
            (GSO_TCPV4, 52 + 2896, 0x18),
            (GSO_TCPV4, 52 + 2896, 0x10),
            (GSO_NONE, 152, 0x10)
        ]
    );
}
