//! Published test vectors (tests/vectors/, see its README) against the code
//! that protects packets.

use std::collections::HashMap;

use l2tp_ipsec_dataplane::esp::primitives;
use l2tp_ipsec_dataplane::esp::{parse_trailer, Encryption, EspSa, Suite};

type Case = HashMap<String, String>;

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut case = Case::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !case.is_empty() {
                out.push(std::mem::take(&mut case));
            }
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{file}: bad line {line}"));
        case.insert(k.trim().to_string(), v.trim().to_string());
    }
    assert!(!out.is_empty(), "{file} has no cases");
    out
}

fn hex(case: &Case, field: &str) -> Vec<u8> {
    let s = case
        .get(field)
        .unwrap_or_else(|| panic!("{} lacks {field}", case["source"]));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn hmac_rfc2202_and_rfc4231() {
    let all = cases("hmac.txt");
    assert_eq!(all.len(), 35);
    for case in all {
        let expected = hex(&case, "mac");
        let got = primitives::hmac(
            &case["alg"],
            &hex(&case, "key"),
            &hex(&case, "data"),
            expected.len(),
        );
        assert_eq!(got, expected, "{}", case["source"]);
    }
}

fn aes_cbc(key_len: usize) -> Encryption {
    match key_len {
        16 => Encryption::AesCbc128,
        24 => Encryption::AesCbc192,
        32 => Encryption::AesCbc256,
        n => panic!("AES key of {n} bytes"),
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn aes_cbc_rfc3602_and_sp800_38a() {
    let all = cases("aes-cbc.txt");
    let mut cbc = 0;
    for case in all.iter().filter(|c| c["kind"] == "cbc") {
        let key = hex(case, "key");
        let (iv, pt, ct) = (
            hex(case, "iv"),
            hex(case, "plaintext"),
            hex(case, "ciphertext"),
        );
        let enc = aes_cbc(key.len());
        assert_eq!(
            primitives::cbc(enc, &key, &iv, &pt, true),
            ct,
            "{}",
            case["source"]
        );
        assert_eq!(
            primitives::cbc(enc, &key, &iv, &ct, false),
            pt,
            "{}",
            case["source"]
        );
        cbc += 1;
    }
    assert_eq!(cbc, 7);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn esp_packets_of_rfc3602_decrypt_to_a_valid_trailer() {
    let mut n = 0;
    for case in cases("aes-cbc.txt").iter().filter(|c| c["kind"] == "esp") {
        let key = hex(case, "key");
        let (iv, pt, ct) = (
            hex(case, "iv"),
            hex(case, "plaintext"),
            hex(case, "ciphertext"),
        );
        let plain = primitives::cbc(aes_cbc(key.len()), &key, &iv, &ct, false);
        assert_eq!(plain, pt, "{}", case["source"]);
        let (payload_len, next_header) = parse_trailer(&plain).unwrap();
        // Cases 5-6 are transport mode ICMP (1), cases 7-8 tunnel mode IPv4 (4).
        assert!(next_header == 1 || next_header == 4, "{}", case["source"]);
        if next_header == 4 {
            assert_eq!(plain[0] >> 4, 4, "inner IPv4 header");
            assert_eq!(
                u16::from_be_bytes([plain[2], plain[3]]) as usize,
                payload_len
            );
        }
        assert_eq!(
            primitives::cbc(aes_cbc(key.len()), &key, &iv, &pt, true),
            ct
        );
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn triple_des_cbc_nist() {
    let all = cases("tdes-cbc.txt");
    assert!(all.len() >= 3);
    for case in all {
        let key = hex(&case, "key");
        let (iv, pt, ct) = (
            hex(&case, "iv"),
            hex(&case, "plaintext"),
            hex(&case, "ciphertext"),
        );
        let enc = Encryption::TripleDesCbc;
        assert_eq!(
            primitives::cbc(enc, &key, &iv, &pt, true),
            ct,
            "{}",
            case["source"]
        );
        assert_eq!(
            primitives::cbc(enc, &key, &iv, &ct, false),
            pt,
            "{}",
            case["source"]
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn aes_gcm_spec_cases() {
    let all = cases("aes-gcm.txt");
    assert_eq!(all.len(), 8);
    for case in all {
        let key = hex(&case, "key");
        let nonce: [u8; 12] = hex(&case, "iv").try_into().expect("96-bit IV");
        let (aad, pt) = (hex(&case, "aad"), hex(&case, "plaintext"));
        let expected = [hex(&case, "ciphertext"), hex(&case, "tag")].concat();
        assert_eq!(
            primitives::gcm_seal(&key, &nonce, &aad, &pt),
            expected,
            "{}",
            case["source"]
        );
        assert_eq!(
            primitives::gcm_open(&key, &nonce, &aad, &expected),
            Some(pt.clone())
        );
        let mut forged = expected.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(primitives::gcm_open(&key, &nonce, &aad, &forged), None);
    }
}

#[test]
#[cfg_attr(miri, ignore = "aws-lc / ring: foreign functions Miri cannot call")]
fn esp_gcm_packets_of_draft_mcgrew_open_in_an_sa() {
    let all = cases("esp-gcm.txt");
    assert!(all.len() >= 3);
    for case in all {
        let key = hex(&case, "key");
        let keymat = [key.clone(), hex(&case, "salt")].concat();
        let spi = u32::from_str_radix(&case["spi"], 16).unwrap();
        let seq = u32::from_str_radix(&case["seq"], 16).unwrap();
        let suite = Suite::parse(if key.len() == 16 {
            "aes128gcm-16"
        } else {
            "aes256gcm-16"
        })
        .unwrap();
        assert_eq!(
            hex(&case, "aad"),
            [spi.to_be_bytes(), seq.to_be_bytes()].concat()
        );
        let mut packet = [
            spi.to_be_bytes().to_vec(),
            seq.to_be_bytes().to_vec(),
            hex(&case, "iv"),
            hex(&case, "ciphertext"),
            hex(&case, "tag"),
        ]
        .concat();
        let mut sa = EspSa::new(spi, suite, &keymat, &[], 1024).unwrap();
        let opened = sa
            .open_in_place(&mut packet)
            .unwrap_or_else(|e| panic!("{}: {e}", case["source"]));
        let plaintext = hex(&case, "plaintext");
        let (payload_len, next_header) = parse_trailer(&plaintext).unwrap();
        assert_eq!(
            &packet[opened.payload],
            &plaintext[..payload_len],
            "{}",
            case["source"]
        );
        assert_eq!(opened.next_header, next_header);
        assert_eq!(opened.seq, seq as u64);
    }
}
