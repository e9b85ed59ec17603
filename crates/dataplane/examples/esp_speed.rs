//! Quick single-core timing of the ESP core without the JS boundary:
//! `cargo run --profile ci --example esp_speed -- SUITE BYTES`.

use std::time::Instant;

use l2tp_ipsec_dataplane::esp::{EspSa, Suite};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let suite = Suite::parse(args.get(1).map_or("aes128gcm-16", |s| s.as_str())).expect("suite");
    let bytes: usize = args.get(2).map_or(1400, |s| s.parse().expect("bytes"));
    let enc: Vec<u8> = (0..suite.encryption_key_len() as u8)
        .map(|i| i.wrapping_mul(37) ^ 0x5c)
        .collect();
    let integ = vec![9u8; suite.integrity_key_len()];
    let mut tx = EspSa::new(1, suite, &enc, &integ, 1024).unwrap();
    let mut rx = EspSa::new(1, suite, &enc, &integ, 0).unwrap();
    let payload = vec![0x5au8; bytes];
    let mut packet = vec![0u8; tx.sealed_len(bytes)];
    let n = 200_000;
    let start = Instant::now();
    for _ in 0..n {
        tx.seal(&payload, 17, &mut packet).unwrap();
    }
    let seal = start.elapsed().as_secs_f64();
    let sealed = packet.clone();
    let start = Instant::now();
    for _ in 0..n {
        packet.copy_from_slice(&sealed);
        rx.open_in_place(&mut packet).unwrap();
    }
    let open = start.elapsed().as_secs_f64();
    let gbps = |s: f64| (n * bytes) as f64 * 8.0 / s / 1e9;
    println!(
        "{} {bytes} B: seal {:.2} Gbit/s, open {:.2} Gbit/s",
        suite.name(),
        gbps(seal),
        gbps(open)
    );
}
