//! Shared by the integration tests that check our packets with tshark, a
//! decoder that is not ours. tshark is a test dependency (`.ci/run`
//! installs it): its absence fails a test rather than skipping it.

/// A pcap of raw IP packets (LINKTYPE_RAW, 101), one per record.
pub fn raw_ip_pcap<P: AsRef<[u8]>>(packets: &[P]) -> Vec<u8> {
    let mut pcap = Vec::new();
    pcap.extend(0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend(2u16.to_le_bytes());
    pcap.extend(4u16.to_le_bytes());
    pcap.extend([0; 8]);
    pcap.extend(65535u32.to_le_bytes());
    pcap.extend(101u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let p = p.as_ref();
        pcap.extend((i as u32).to_le_bytes());
        pcap.extend(0u32.to_le_bytes());
        pcap.extend((p.len() as u32).to_le_bytes());
        pcap.extend((p.len() as u32).to_le_bytes());
        pcap.extend(p);
    }
    pcap
}

/// Runs tshark on `packets` as raw IP with the preferences `prefs`
/// (`name:value`) and returns its `fields` (first occurrence: an ICMP error
/// carries a second IP header), comma-separated, one line per packet. `name` keeps concurrent tests' files apart.
pub fn tshark_fields<P: AsRef<[u8]>>(
    packets: &[P],
    name: &str,
    prefs: &[&str],
    fields: &[&str],
) -> Vec<String> {
    let file =
        std::env::temp_dir().join(format!("dataplane_test_{}_{name}.pcap", std::process::id()));
    std::fs::write(&file, raw_ip_pcap(packets)).unwrap();
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(&file);
    for p in prefs {
        cmd.args(["-o", p]);
    }
    cmd.args(["-T", "fields", "-E", "separator=,", "-E", "occurrence=f"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output();
    let _ = std::fs::remove_file(&file);
    match out {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
        Ok(out) => panic!("tshark: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("tshark is needed for this test (apt-get install tshark): {e}"),
    }
}
