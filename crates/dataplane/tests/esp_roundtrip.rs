//! Every suite seals and opens every payload size, and every kind of bad
//! packet is dropped with its typed error and changes nothing.

use l2tp_ipsec_dataplane::esp::{EspError, EspSa, Suite, IV_SEED_LEN};

fn key(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

fn pair(name: &str) -> (EspSa, EspSa) {
    let suite = Suite::parse(name).unwrap();
    let enc = key(suite.encryption_key_len(), 0x11);
    let integ = key(suite.integrity_key_len(), 0x77);
    let sender = EspSa::new(0x1234_5678, suite, &enc, &integ, 1024).unwrap();
    let receiver = EspSa::new(0x1234_5678, suite, &enc, &integ, 1024).unwrap();
    (sender, receiver)
}

fn seal(sa: &mut EspSa, payload: &[u8], next_header: u8) -> Vec<u8> {
    let mut out = vec![0u8; sa.sealed_len(payload.len())];
    let n = sa.seal(payload, next_header, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn every_suite_round_trips_every_size_up_to_1500() {
    for name in Suite::NAMES {
        let (mut tx, mut rx) = pair(name);
        let suite = tx.suite();
        for size in 0..=1500usize {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            let next_header = if size % 2 == 0 { 17 } else { 4 };
            let mut packet = seal(&mut tx, &payload, next_header);
            assert_eq!(
                (packet.len() - 8 - suite.iv_len() - suite.icv_len()) % suite.block_len(),
                0
            );
            let opened = rx
                .open_in_place(&mut packet)
                .unwrap_or_else(|e| panic!("{name} size {size}: {e}"));
            assert_eq!(
                &packet[opened.payload.clone()],
                &payload[..],
                "{name} size {size}"
            );
            assert_eq!(opened.next_header, next_header);
            assert_eq!(opened.seq, size as u64 + 1);
        }
        let c = rx.counters();
        assert_eq!(c.packets_in, 1501);
        assert_eq!(c.bytes_in, (0..=1500u64).sum::<u64>());
        assert_eq!(tx.counters().packets_out, 1501);
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn ciphertext_hides_the_payload_and_ivs_differ() {
    for name in Suite::NAMES {
        let (mut tx, _) = pair(name);
        let payload = [0x42u8; 64];
        let a = seal(&mut tx, &payload, 17);
        let b = seal(&mut tx, &payload, 17);
        let head = tx.head_len();
        assert_ne!(a[8..head], b[8..head], "{name}: IV repeated");
        assert!(
            !a.windows(16).any(|w| w == [0x42u8; 16]),
            "{name}: plaintext visible"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn iv_seed_makes_packets_reproducible() {
    let suite = Suite::parse("aes128-sha1").unwrap();
    let seed = [9u8; IV_SEED_LEN];
    let make = || {
        EspSa::new(1, suite, &[1; 16], &[2; 20], 64)
            .unwrap()
            .with_iv_seed(&seed)
    };
    let (mut a, mut b) = (make(), make());
    assert_eq!(seal(&mut a, b"hello", 17), seal(&mut b, b"hello", 17));
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn any_flipped_bit_fails_the_icv_and_changes_nothing() {
    for name in Suite::NAMES {
        let (mut tx, mut rx) = pair(name);
        let packet = seal(&mut tx, b"an L2TP control message", 17);
        // Flip one bit in each byte after the SPI (a changed SPI is WrongSpi).
        for i in 4..packet.len() {
            let mut bad = packet.clone();
            bad[i] ^= 0x01;
            let err = rx.open_in_place(&mut bad).unwrap_err();
            // A flipped sequence number may land on 0 only if it was 1 -> 0.
            assert!(
                err == EspError::IcvMismatch || (i == 7 && err == EspError::ZeroSequence),
                "{name} byte {i}: {err}"
            );
        }
        // The genuine packet still opens: nothing moved the window.
        let mut good = packet.clone();
        rx.open_in_place(&mut good).unwrap();
        assert_eq!(rx.counters().packets_in, 1);
        assert_eq!(rx.counters().icv_failures as usize, packet.len() - 4 - 1);
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn replayed_and_old_packets_are_dropped() {
    let (mut tx, mut rx) = pair("aes256gcm-16");
    let packets: Vec<Vec<u8>> = (0..2000)
        .map(|i| seal(&mut tx, &[i as u8; 40], 17))
        .collect();
    let mut first = packets[0].clone();
    rx.open_in_place(&mut first).unwrap();
    let mut again = packets[0].clone();
    assert_eq!(rx.open_in_place(&mut again), Err(EspError::Replay));
    let mut newest = packets[1999].clone();
    rx.open_in_place(&mut newest).unwrap();
    // seq 976 is 1024 behind seq 2000: outside the window.
    let mut old = packets[975].clone();
    assert_eq!(rx.open_in_place(&mut old), Err(EspError::TooOld));
    let mut inside = packets[976].clone();
    rx.open_in_place(&mut inside).unwrap();
    assert_eq!(rx.counters().replays, 2);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn forged_packets_do_not_move_the_window() {
    let (mut tx, mut rx) = pair("aes128-sha256");
    let p1 = seal(&mut tx, b"one", 17);
    let mut forged = seal(&mut tx, b"two", 17);
    // Claim a far-ahead sequence number; the ICV no longer matches.
    forged[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    assert_eq!(rx.open_in_place(&mut forged), Err(EspError::IcvMismatch));
    let mut genuine = p1.clone();
    rx.open_in_place(&mut genuine).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn truncated_packets_are_dropped_never_panic() {
    for name in Suite::NAMES {
        let (mut tx, mut rx) = pair(name);
        let packet = seal(&mut tx, &[5u8; 100], 4);
        for len in 0..packet.len() {
            let mut short = packet[..len].to_vec();
            let err = rx.open_in_place(&mut short).unwrap_err();
            assert!(
                matches!(
                    err,
                    EspError::Truncated | EspError::BadLength | EspError::IcvMismatch
                ),
                "{name} len {len}: {err}"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn wrong_spi_and_zero_sequence() {
    let (mut tx, mut rx) = pair("3des-sha1");
    let mut packet = seal(&mut tx, b"x", 17);
    packet[0] ^= 0xff;
    assert_eq!(rx.open_in_place(&mut packet), Err(EspError::WrongSpi));
    let mut zero = seal(&mut tx, b"x", 17);
    zero[4..8].fill(0);
    assert_eq!(rx.open_in_place(&mut zero), Err(EspError::ZeroSequence));
    assert_eq!(rx.counters().malformed, 2);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn sequence_exhaustion_stops_sealing() {
    let suite = Suite::parse("aes128gcm-16").unwrap();
    let mut tx = EspSa::new(7, suite, &[3; 20], &[], 1024)
        .unwrap()
        .with_last_seq_out(u32::MAX - 1);
    let mut rx = EspSa::new(7, suite, &[3; 20], &[], 1024).unwrap();
    let mut last = seal(&mut tx, b"last", 17);
    assert_eq!(rx.open_in_place(&mut last).unwrap().seq, u32::MAX as u64);
    let mut out = vec![0u8; 64];
    assert_eq!(
        tx.seal(b"one more", 17, &mut out),
        Err(EspError::SequenceExhausted)
    );
    assert_eq!(tx.last_seq_out(), u32::MAX as u64);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn a_refused_seal_uses_no_sequence_number() {
    let suite = Suite::parse("aes128-sha1").unwrap();
    let mut sa = EspSa::new(7, suite, &[3; 16], &[4; 20], 1024).unwrap();
    seal(&mut sa, b"a", 17);
    let mut small = vec![0u8; sa.sealed_len(10) - 1];
    assert_eq!(
        sa.seal(&[0; 10], 17, &mut small),
        Err(EspError::BufferTooSmall)
    );
    assert_eq!(sa.last_seq_out(), 1);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn bad_key_lengths_and_windows_are_refused() {
    let suite = Suite::parse("aes256-sha512").unwrap();
    let err = EspSa::new(1, suite, &[0; 16], &[0; 64], 1024)
        .err()
        .unwrap();
    assert_eq!(err.code(), "ERR_ESP_KEY_LENGTH");
    assert_eq!(err.to_string(), "encryption key must be 32 bytes, got 16");
    let err = EspSa::new(1, suite, &[0; 32], &[0; 20], 1024)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "integrity key must be 64 bytes, got 20");
    let err = EspSa::new(1, suite, &[0; 32], &[0; 64], 1000)
        .err()
        .unwrap();
    assert_eq!(err.code(), "ERR_ESP_REPLAY_WINDOW");
    let gcm = Suite::parse("aes128gcm-16").unwrap();
    let err = EspSa::new(1, gcm, &[0; 16], &[], 1024).err().unwrap();
    assert_eq!(err.to_string(), "encryption key must be 20 bytes, got 16");
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn triple_des_keys_that_collapse_to_single_des_are_refused() {
    let suite = Suite::parse("3des-sha1").unwrap();
    let mut k = [0x01u8; 24];
    k[..8].copy_from_slice(&[0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1]);
    k[8..16].copy_from_slice(&[0x13, 0x34, 0x57, 0x79, 0x9b, 0xbc, 0xdf, 0xf1]);
    k[16..].copy_from_slice(&[0x0e, 0x32, 0x92, 0x32, 0xea, 0x6d, 0x0d, 0x73]);
    let err = EspSa::new(1, suite, &k, &[0; 20], 1024).err().unwrap();
    assert_eq!(err.code(), "ERR_ESP_WEAK_KEY");
}

/// Builds an authentic AES-128-CBC/HMAC-SHA1 packet around `plaintext`
/// (payload and trailer chosen by the test), bypassing our padding code.
fn authentic_cbc_packet(enc: &[u8], integ: &[u8], plaintext: &[u8]) -> Vec<u8> {
    use l2tp_ipsec_dataplane::esp::primitives;
    let iv = [0x24u8; 16];
    let ciphertext = primitives::cbc(
        l2tp_ipsec_dataplane::esp::Encryption::AesCbc128,
        enc,
        &iv,
        plaintext,
        true,
    );
    let mut packet = [
        &0x0102_0304u32.to_be_bytes()[..],
        &1u32.to_be_bytes(),
        &iv,
        &ciphertext,
    ]
    .concat();
    let icv = primitives::hmac("sha1", integ, &packet, 12);
    packet.extend_from_slice(&icv);
    packet
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn authentic_packets_with_bad_padding_are_dropped() {
    let suite = Suite::parse("aes128-sha1").unwrap();
    let (enc, integ) = (key(16, 1), key(20, 2));
    let mut rx = EspSa::new(0x0102_0304, suite, &enc, &integ, 1024).unwrap();
    let mut good = b"hello world!".to_vec();
    good.extend_from_slice(&[1, 2, 2, 17]);
    let mut wrong_bytes = b"hello world!".to_vec();
    wrong_bytes.extend_from_slice(&[9, 9, 2, 17]);
    let mut overrun = b"hello world!".to_vec();
    overrun.extend_from_slice(&[1, 2, 200, 17]);
    for (plaintext, expected) in [
        (&wrong_bytes, Err(EspError::BadPadding)),
        (&overrun, Err(EspError::BadPadding)),
    ] {
        let mut packet = authentic_cbc_packet(&enc, &integ, plaintext);
        assert_eq!(
            rx.open_in_place(&mut packet).map(|o| o.next_header),
            expected
        );
    }
    // The same construction with the right padding opens: the two above
    // failed for their padding alone, and did not consume sequence number 1.
    let mut packet = authentic_cbc_packet(&enc, &integ, &good);
    let opened = rx.open_in_place(&mut packet).unwrap();
    assert_eq!(&packet[opened.payload], b"hello world!");
    assert_eq!(rx.counters().malformed, 2);
}

/// A CBC IV is the SA's cipher applied to a per-packet nonce (NIST SP
/// 800-38A appendix C): mask and counter for AES, their XOR for 3DES.
/// Decrypting it under the SA's key gives the nonce back, so IVs are as
/// unpredictable as the key is secret and never repeat under one key.
#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn cbc_iv_is_the_packet_nonce_encrypted_under_the_sa_key() {
    use l2tp_ipsec_dataplane::esp::{primitives, Encryption};
    let mask = [0x31, 0x41, 0x59, 0x26, 0x53, 0x58, 0x97, 0x93];
    for (name, enc) in [
        ("aes128-sha1", vec![7u8; 16]),
        ("aes256-sha256", vec![8u8; 32]),
        ("3des-sha1", (1..=24).collect::<Vec<u8>>()),
    ] {
        let suite = Suite::parse(name).unwrap();
        let integ = vec![3u8; suite.integrity_key_len()];
        let mut sa = EspSa::new(5, suite, &enc, &integ, 0)
            .unwrap()
            .with_iv_seed(&mask);
        let mut ivs = Vec::new();
        for counter in 1..=3u64 {
            let packet = seal(&mut sa, b"payload", 17);
            let iv = packet[8..8 + suite.iv_len()].to_vec();
            let zero = vec![0u8; iv.len()];
            let nonce = primitives::cbc(suite.encryption, &enc, &zero, &iv, false);
            let expected: Vec<u8> = if suite.encryption == Encryption::TripleDesCbc {
                (u64::from_be_bytes(mask) ^ counter).to_be_bytes().to_vec()
            } else {
                [mask, counter.to_be_bytes()].concat()
            };
            assert_eq!(nonce, expected, "{name} packet {counter}");
            assert_ne!(iv, expected, "{name}: the nonce itself is not sent");
            ivs.push(iv);
        }
        ivs.dedup();
        assert_eq!(ivs.len(), 3, "{name}: IVs differ packet to packet");
    }
}
