//! L2TPv2 headers (RFC 2661 section 3.1) and PPP frame headers (RFC 1661)
//! as the data path sees them: every flag combination, truncation, bad
//! lengths and versions, and real datagrams from the recorded sessions
//! (tests/vectors/framing/real-sessions.txt, decoded by tshark).

use std::collections::HashMap;

use l2tp_ipsec_dataplane::l2tp::{
    self, data_header_len, encapsulate_in_place, write_data_header, DataFrame, DataHeaderSpec,
    L2tpError, L2tpFrame,
};
use l2tp_ipsec_dataplane::ppp::{self, PppError, PppFrame};

const T: u16 = 0x8000;
const L: u16 = 0x4000;
const S: u16 = 0x0800;
const O: u16 = 0x0200;
const P: u16 = 0x0100;
const RESERVED: u16 = 0x3000 | 0x0400 | 0x00f0;
const VER2: u16 = 2;

const TUNNEL: u16 = 0x1234;
const SESSION: u16 = 0xabcd;
const NS: u16 = 0x0102;
const NR: u16 = 0xfffe;
const PAYLOAD: &[u8] = b"\xff\x03\x00\x21not really IPv4";

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// An L2TP datagram built field by field from `flags` (the version bits
/// included), independent of the code under test. `pad` is the Offset Size
/// when O is set; `trailer` bytes follow the message (beyond Length).
fn build(flags: u16, pad: u16, payload: &[u8], trailer: &[u8]) -> (Vec<u8>, usize) {
    let mut d = flags.to_be_bytes().to_vec();
    if flags & L != 0 {
        d.extend_from_slice(&[0, 0]); // patched below
    }
    d.extend_from_slice(&TUNNEL.to_be_bytes());
    d.extend_from_slice(&SESSION.to_be_bytes());
    if flags & S != 0 {
        d.extend_from_slice(&NS.to_be_bytes());
        d.extend_from_slice(&NR.to_be_bytes());
    }
    if flags & O != 0 {
        d.extend_from_slice(&pad.to_be_bytes());
        d.extend(std::iter::repeat_n(0xee, pad as usize));
    }
    let header_len = d.len();
    d.extend_from_slice(payload);
    if flags & L != 0 {
        let len = d.len() as u16;
        d[2..4].copy_from_slice(&len.to_be_bytes());
    }
    d.extend_from_slice(trailer);
    (d, header_len)
}

/// The 16 combinations of L, S, O and P.
fn combinations() -> impl Iterator<Item = u16> {
    (0..16u16).map(|i| {
        (if i & 1 != 0 { L } else { 0 })
            | (if i & 2 != 0 { S } else { 0 })
            | (if i & 4 != 0 { O } else { 0 })
            | (if i & 8 != 0 { P } else { 0 })
    })
}

fn expect_data(frame: L2tpFrame<'_>) -> DataFrame<'_> {
    match frame {
        L2tpFrame::Data(d) => d,
        other => panic!("expected data, got {other:?}"),
    }
}

// ---------------------------------------------------------------- L2TP

#[test]
fn data_every_flag_combination_with_and_without_offset_padding() {
    let mut cases = 0;
    for flags in combinations() {
        // With O: Offset Size 0 (no padding) and 5 (padding). Without O the
        // pad argument is unused.
        let pads: &[u16] = if flags & O != 0 { &[0, 5] } else { &[0] };
        for &pad in pads {
            for trailer in [&[][..], &[0xaa, 0xbb][..]] {
                let (d, header_len) = build(flags | VER2, pad, PAYLOAD, trailer);
                let what = format!("flags {flags:#06x} pad {pad} trailer {}", trailer.len());
                let frame = expect_data(l2tp::parse(&d).expect(&what));
                assert_eq!(frame.tunnel_id, TUNNEL, "{what}");
                assert_eq!(frame.session_id, SESSION, "{what}");
                assert_eq!(frame.ns_nr, (flags & S != 0).then_some((NS, NR)), "{what}");
                assert_eq!(frame.priority, flags & P != 0, "{what}");
                // With L the payload ends at Length and the trailer is
                // ignored; without L the datagram's end is the message's.
                let expected_payload = if flags & L != 0 {
                    PAYLOAD.to_vec()
                } else {
                    [PAYLOAD, trailer].concat()
                };
                assert_eq!(frame.payload, &expected_payload[..], "{what}");
                assert_eq!(
                    frame.payload.as_ptr(),
                    d[header_len..].as_ptr(),
                    "{what}: payload is a view into the datagram"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 48);
}

#[test]
fn data_round_trip_write_then_parse() {
    // The writer never sets O; the other 8 combinations of L, S and P.
    for flags in combinations().filter(|f| f & O == 0) {
        let spec = DataHeaderSpec {
            tunnel_id: TUNNEL,
            session_id: SESSION,
            ns_nr: (flags & S != 0).then_some((NS, NR)),
            priority: flags & P != 0,
            with_length: flags & L != 0,
            payload_len: PAYLOAD.len(),
        };
        let header_len = data_header_len(spec.with_length, spec.ns_nr.is_some());
        assert_eq!(spec.header_len(), header_len);

        // Byte-exact against the independent builder.
        let (expected, expected_header_len) = build(flags | VER2, 0, PAYLOAD, &[]);
        assert_eq!(header_len, expected_header_len);
        let mut out = vec![0x55u8; header_len + PAYLOAD.len()];
        assert_eq!(write_data_header(&mut out, &spec), Ok(header_len));
        out[header_len..].copy_from_slice(PAYLOAD);
        assert_eq!(out, expected, "flags {flags:#06x}");

        // In place: payload first, header in front of it.
        let mut buf = vec![0u8; 64];
        buf[header_len..header_len + PAYLOAD.len()].copy_from_slice(PAYLOAD);
        let total = encapsulate_in_place(&mut buf, &spec).unwrap();
        assert_eq!(total, header_len + PAYLOAD.len());
        assert_eq!(&buf[..total], &expected[..]);

        let frame = expect_data(l2tp::parse(&buf[..total]).unwrap());
        assert_eq!(
            frame,
            DataFrame {
                tunnel_id: TUNNEL,
                session_id: SESSION,
                ns_nr: spec.ns_nr,
                priority: spec.priority,
                payload: PAYLOAD,
            }
        );
    }
}

#[test]
fn reserved_bits_are_ignored_on_receive() {
    // "All reserved bits MUST be set to 0 on outgoing messages and ignored
    // on incoming messages."
    for bit in (0..16).map(|b| 1u16 << b).filter(|b| b & RESERVED != 0) {
        for flags in [0, L | S, T | L | S] {
            let (d, _) = build(flags | bit | VER2, 0, PAYLOAD, &[]);
            let (clean, _) = build(flags | VER2, 0, PAYLOAD, &[]);
            let parsed = l2tp::parse(&d).unwrap();
            match (parsed, l2tp::parse(&clean).unwrap()) {
                (L2tpFrame::Data(a), L2tpFrame::Data(b)) => assert_eq!(a, b, "{bit:#06x}"),
                (
                    L2tpFrame::Control {
                        tunnel_id,
                        session_id,
                        message,
                    },
                    L2tpFrame::Control { .. },
                ) => {
                    assert_eq!((tunnel_id, session_id), (TUNNEL, SESSION));
                    assert_eq!(message, &d[..]);
                }
                other => panic!("{bit:#06x}: {other:?}"),
            }
        }
    }
    assert_eq!(RESERVED.count_ones(), 7);
}

#[test]
fn control_messages_are_recognised() {
    let body = b"\x80\x08\x00\x00\x00\x00\x00\x01"; // Message Type AVP: SCCRQ
    for trailer in [&[][..], &[0, 0, 0][..]] {
        // P is a queuing hint that "MUST be set to 0" by the sender but
        // changes no layout: ignored like a reserved bit.
        for extra in [0, P] {
            let (d, _) = build(T | L | S | extra | VER2, 0, body, trailer);
            match l2tp::parse(&d).unwrap() {
                L2tpFrame::Control {
                    tunnel_id,
                    session_id,
                    message,
                } => {
                    assert_eq!((tunnel_id, session_id), (TUNNEL, SESSION));
                    // The whole message, header included, cut at Length.
                    assert_eq!(message, &d[..12 + body.len()]);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // A ZLB acknowledgement: header only.
    let (zlb, _) = build(T | L | S | VER2, 0, &[], &[]);
    assert!(matches!(
        l2tp::parse(&zlb),
        Ok(L2tpFrame::Control { message, .. }) if message.len() == 12
    ));
}

#[test]
fn control_without_length_or_sequence_or_with_offset_is_rejected() {
    let body = b"\x80\x08\x00\x00\x00\x00\x00\x06";
    for flags in combinations() {
        let valid = flags & L != 0 && flags & S != 0 && flags & O == 0;
        let (d, _) = build(T | flags | VER2, 2, body, &[]);
        let result = l2tp::parse(&d);
        if valid {
            assert!(
                matches!(result, Ok(L2tpFrame::Control { .. })),
                "{flags:#06x}"
            );
        } else {
            assert_eq!(result, Err(L2tpError::BadControlFlags), "{flags:#06x}");
        }
    }
}

#[test]
fn only_version_2_is_accepted() {
    for version in 0..16u16 {
        for flags in [0, L | S, T | L | S] {
            let (d, _) = build(flags | version, 0, PAYLOAD, &[]);
            let result = l2tp::parse(&d);
            if version == 2 {
                assert!(result.is_ok(), "{flags:#06x}");
            } else {
                // 1 is L2F (RFC 2341), 3 is L2TPv3 (RFC 3931).
                assert_eq!(result, Err(L2tpError::BadVersion(version as u8)));
            }
        }
    }
    // Checked before anything else: a 2-byte L2F header is a version error.
    assert_eq!(l2tp::parse(&[0x00, 0x01]), Err(L2tpError::BadVersion(1)));
    assert_eq!(l2tp::parse(&[0xc8, 0x03]), Err(L2tpError::BadVersion(3)));
}

#[test]
fn truncated_at_every_length_below_the_header() {
    let mut cases = 0;
    for flags in combinations() {
        for pad in [0u16, 3] {
            let (d, header_len) = build(flags | VER2, pad, PAYLOAD, &[]);
            for n in 0..header_len {
                assert_eq!(
                    l2tp::parse(&d[..n]),
                    Err(L2tpError::Truncated),
                    "flags {flags:#06x} pad {pad} length {n}"
                );
                cases += 1;
            }
            // The header alone is a data message with an empty payload
            // unless Length claims more than is there.
            let result = l2tp::parse(&d[..header_len]);
            if flags & L != 0 {
                assert_eq!(result, Err(L2tpError::BadLength));
            } else {
                assert_eq!(expect_data(result.unwrap()).payload, &[] as &[u8]);
            }
        }
    }
    // Control headers too.
    let (c, _) = build(T | L | S | VER2, 0, &[], &[]);
    for n in 0..12 {
        assert_eq!(l2tp::parse(&c[..n]), Err(L2tpError::Truncated), "{n}");
        cases += 1;
    }
    assert!(cases > 200, "{cases}");
}

#[test]
fn offset_padding_beyond_the_datagram_is_truncated() {
    let (mut d, _) = build(O | VER2, 0, PAYLOAD, &[]);
    // Offset Size claims more than the rest of the datagram.
    let size = (d.len() - 8 + 1) as u16;
    d[6..8].copy_from_slice(&size.to_be_bytes());
    assert_eq!(l2tp::parse(&d), Err(L2tpError::Truncated));
    // Exactly the rest: an empty payload.
    d[6..8].copy_from_slice(&(size - 1).to_be_bytes());
    assert_eq!(expect_data(l2tp::parse(&d).unwrap()).payload, &[] as &[u8]);
    // The largest Offset Size does not overflow anything.
    d[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(l2tp::parse(&d), Err(L2tpError::Truncated));
}

#[test]
fn length_field_bounds() {
    for flags in [L, L | S, L | O, L | S | O | P, T | L | S] {
        let (mut d, header_len) = build(flags | VER2, 2, PAYLOAD, &[]);
        let set =
            |d: &mut Vec<u8>, len: usize| d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let total = d.len();
        // Larger than the datagram.
        for len in [total + 1, total + 100, u16::MAX as usize] {
            set(&mut d, len);
            assert_eq!(
                l2tp::parse(&d),
                Err(L2tpError::BadLength),
                "{flags:#06x} {len}"
            );
        }
        // Shorter than the header.
        for len in [0, 1, header_len - 1] {
            set(&mut d, len);
            assert_eq!(
                l2tp::parse(&d),
                Err(L2tpError::BadLength),
                "{flags:#06x} {len}"
            );
        }
        // Header only, and a payload cut short by Length.
        set(&mut d, header_len);
        assert!(l2tp::parse(&d).is_ok());
        if flags & T == 0 {
            assert_eq!(expect_data(l2tp::parse(&d).unwrap()).payload, &[] as &[u8]);
            set(&mut d, header_len + 3);
            assert_eq!(expect_data(l2tp::parse(&d).unwrap()).payload, &PAYLOAD[..3]);
        }
    }
}

#[test]
fn write_errors() {
    let spec = DataHeaderSpec {
        tunnel_id: 1,
        session_id: 2,
        ns_nr: Some((0, 0)),
        priority: false,
        with_length: true,
        payload_len: 10,
    };
    for n in 0..12 {
        let mut out = vec![0u8; n];
        assert_eq!(
            write_data_header(&mut out, &spec),
            Err(L2tpError::BufferTooSmall)
        );
    }
    // Header and payload must fit the buffer for the in-place helper.
    let mut buf = vec![0u8; 21];
    assert_eq!(
        encapsulate_in_place(&mut buf, &spec),
        Err(L2tpError::BufferTooSmall)
    );
    let mut buf = vec![0u8; 22];
    assert_eq!(encapsulate_in_place(&mut buf, &spec), Ok(22));

    // Length is 16 bits: header + payload must fit.
    let mut out = [0u8; 12];
    let max = DataHeaderSpec {
        payload_len: 65535 - 12,
        ..spec
    };
    assert_eq!(write_data_header(&mut out, &max), Ok(12));
    assert_eq!(&out[2..4], &[0xff, 0xff]);
    let over = DataHeaderSpec {
        payload_len: 65535 - 11,
        ..spec
    };
    assert_eq!(
        write_data_header(&mut out, &over),
        Err(L2tpError::BadLength)
    );
    // Without L the payload length is not limited by the header.
    let unbounded = DataHeaderSpec {
        with_length: false,
        payload_len: usize::MAX,
        ..spec
    };
    assert_eq!(write_data_header(&mut out, &unbounded), Ok(10));
    assert_eq!(
        encapsulate_in_place(&mut out, &unbounded),
        Err(L2tpError::BufferTooSmall)
    );
}

#[test]
fn l2tp_error_codes_are_stable() {
    let all = [
        (L2tpError::Truncated, "L2TP_TRUNCATED"),
        (L2tpError::BadVersion(3), "L2TP_BAD_VERSION"),
        (L2tpError::BadLength, "L2TP_BAD_LENGTH"),
        (L2tpError::BadControlFlags, "L2TP_BAD_CONTROL_FLAGS"),
        (L2tpError::BufferTooSmall, "L2TP_BUFFER_TOO_SMALL"),
    ];
    for (e, code) in all {
        assert_eq!(e.code(), code);
        assert!(e.to_string().starts_with(code));
    }
}

// ---------------------------------------------------------------- PPP

#[test]
fn ppp_with_and_without_acfc_and_pfc() {
    let info = b"\x45\x00 information";
    for protocol in [ppp::PROTO_IPV4, ppp::PROTO_IPV6, ppp::PROTO_LCP] {
        for acfc in [false, true] {
            for pfc in [false, true] {
                let what = format!("{protocol:#06x} acfc {acfc} pfc {pfc}");
                let mut buf = [0u8; 64];
                let n = ppp::write_header(&mut buf, protocol, acfc, pfc).unwrap();
                assert_eq!(n, ppp::header_len(protocol, acfc, pfc), "{what}");
                buf[n..n + info.len()].copy_from_slice(info);

                // LCP is never compressed (RFC 1661 6.5, 6.6); IPv4 and
                // IPv6 fit one byte, so both compressions apply.
                let lcp = protocol == ppp::PROTO_LCP;
                let mut expected = Vec::new();
                if !acfc || lcp {
                    expected.extend_from_slice(&[0xff, 0x03]);
                }
                if pfc && !lcp {
                    expected.push(protocol as u8);
                } else {
                    expected.extend_from_slice(&protocol.to_be_bytes());
                }
                assert_eq!(&buf[..n], &expected[..], "{what}");

                let frame = ppp::parse(&buf[..n + info.len()]).unwrap();
                assert_eq!(
                    frame,
                    PppFrame {
                        protocol,
                        info,
                        acfc: acfc && !lcp,
                        pfc: pfc && !lcp,
                    },
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn ppp_pfc_only_for_protocols_below_0x100() {
    for protocol in [
        ppp::PROTO_CHAP,
        ppp::PROTO_IPCP,
        ppp::PROTO_CCP,
        0x00ff + 0x200,
    ] {
        let mut buf = [0u8; 4];
        let n = ppp::write_header(&mut buf, protocol, true, true).unwrap();
        assert_eq!(n, 2, "{protocol:#06x}");
        assert_eq!(&buf[..2], &protocol.to_be_bytes());
        let frame = ppp::parse(&buf[..2]).unwrap();
        assert_eq!(
            (frame.protocol, frame.acfc, frame.pfc),
            (protocol, true, false)
        );
    }
    // A two-byte field for a small protocol is fine on receive, and reported
    // as not compressed.
    let frame = ppp::parse(&[0x00, 0x21, 0x45]).unwrap();
    assert_eq!((frame.protocol, frame.pfc, frame.acfc), (0x21, false, true));
}

#[test]
fn ppp_lcp_received_compressed_is_still_lcp() {
    // A sender MUST NOT do this, but the frame is unambiguous.
    let frame = ppp::parse(&[0xc0, 0x21, 0x09, 0x01, 0x00, 0x08]).unwrap();
    assert_eq!(frame.protocol, ppp::PROTO_LCP);
    assert!(frame.acfc);
}

#[test]
fn ppp_invalid_protocols() {
    // Even low byte: not a protocol (RFC 1661 section 2).
    for (frame, protocol) in [
        (&[0x00, 0x20, 0x45][..], 0x0020),
        (&[0xff, 0x03, 0xc0, 0x20][..], 0xc020),
        (&[0xff, 0x03, 0x80, 0x00][..], 0x8000),
        (&[0x00, 0x00][..], 0x0000),
        (&[0xfe, 0xfe][..], 0xfefe),
    ] {
        assert_eq!(ppp::parse(frame), Err(PppError::BadProtocol(protocol)));
    }
    // On send, an odd high byte is refused too: it would be read back as a
    // one-byte protocol.
    let mut buf = [0u8; 4];
    for protocol in [0x0020, 0xc020, 0x0121, 0xc121, 0x0000, 0xffff] {
        assert!(!ppp::is_valid_protocol(protocol));
        assert_eq!(
            ppp::write_header(&mut buf, protocol, false, false),
            Err(PppError::BadProtocol(protocol)),
            "{protocol:#06x}"
        );
    }
    // An odd first byte ends the field: 0x01 0x21 is protocol 0x01.
    let frame = ppp::parse(&[0x01, 0x21]).unwrap();
    assert_eq!(
        (frame.protocol, frame.info, frame.pfc),
        (0x01, &[0x21][..], true)
    );
}

#[test]
fn ppp_truncated() {
    for frame in [
        &[][..],
        &[0xff][..],
        &[0xff, 0x03][..],
        &[0xff, 0x03, 0xc0][..],
        &[0x00][..],
        &[0xc0][..],
    ] {
        assert_eq!(ppp::parse(frame), Err(PppError::Truncated), "{frame:02x?}");
    }
    // The shortest frames that parse: a Protocol and no information.
    assert_eq!(
        ppp::parse(&[0x21]),
        Ok(PppFrame {
            protocol: 0x21,
            info: &[],
            acfc: true,
            pfc: true
        })
    );
    assert_eq!(
        ppp::parse(&[0xff, 0x03, 0xc0, 0x21]).unwrap().info,
        &[] as &[u8]
    );
    // 0xff not followed by 0x03 is not an Address field (6.6: compressed).
    let frame = ppp::parse(&[0xff, 0x21]).unwrap();
    assert_eq!((frame.protocol, frame.acfc, frame.pfc), (0xff, true, true));
}

#[test]
fn ppp_write_buffer_too_small() {
    for (protocol, acfc, pfc) in [
        (ppp::PROTO_LCP, true, true),
        (ppp::PROTO_IPV4, false, false),
        (ppp::PROTO_IPV4, true, true),
        (ppp::PROTO_CHAP, true, true),
    ] {
        let need = ppp::header_len(protocol, acfc, pfc);
        for n in 0..need {
            let mut buf = vec![0u8; n];
            assert_eq!(
                ppp::write_header(&mut buf, protocol, acfc, pfc),
                Err(PppError::BufferTooSmall)
            );
        }
    }
    assert_eq!(
        ppp::MAX_HEADER_LEN,
        ppp::header_len(ppp::PROTO_IPV4, false, false)
    );
}

#[test]
fn ppp_network_data_and_constants() {
    assert!(ppp::is_network_data(ppp::PROTO_IPV4));
    assert!(ppp::is_network_data(ppp::PROTO_IPV6));
    for p in [
        ppp::PROTO_LCP,
        ppp::PROTO_PAP,
        ppp::PROTO_CHAP,
        ppp::PROTO_EAP,
        ppp::PROTO_IPCP,
        ppp::PROTO_IPV6CP,
        ppp::PROTO_CCP,
        0x003d, // Multilink: not routed by the data plane
    ] {
        assert!(!ppp::is_network_data(p), "{p:#06x}");
    }
    assert_eq!(
        [
            ppp::PROTO_IPV4,
            ppp::PROTO_IPV6,
            ppp::PROTO_LCP,
            ppp::PROTO_PAP,
            ppp::PROTO_CHAP,
            ppp::PROTO_EAP,
            ppp::PROTO_IPCP,
            ppp::PROTO_IPV6CP,
            ppp::PROTO_CCP
        ],
        [0x0021, 0x0057, 0xc021, 0xc023, 0xc223, 0xc227, 0x8021, 0x8057, 0x80fd]
    );
}

#[test]
fn ppp_error_codes_are_stable() {
    assert_eq!(PppError::Truncated.code(), "PPP_TRUNCATED");
    assert_eq!(PppError::BadProtocol(0x20).code(), "PPP_BAD_PROTOCOL");
    assert_eq!(PppError::BufferTooSmall.code(), "PPP_BUFFER_TOO_SMALL");
}

// ---------------------------------------------------------------- real frames

struct Vector {
    source: String,
    expect: HashMap<String, String>,
    datagram: Vec<u8>,
}

fn real_vectors() -> Vec<Vector> {
    let path = format!(
        "{}/tests/vectors/framing/real-sessions.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut source = String::new();
    let mut expect = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# expect:") {
            let map = rest
                .split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    (k.to_string(), v.to_string())
                })
                .collect();
            expect = Some(map);
        } else if let Some(comment) = line.strip_prefix('#') {
            if comment.trim_start().starts_with("strongswan-") {
                source = comment.trim().to_string();
            }
        } else {
            let expect = expect
                .take()
                .unwrap_or_else(|| panic!("{path}: hex without # expect: {line}"));
            out.push(Vector {
                source: source.clone(),
                expect,
                datagram: hex(line),
            });
        }
    }
    out
}

fn num(v: &Vector, key: &str) -> u32 {
    let s = v
        .expect
        .get(key)
        .unwrap_or_else(|| panic!("{}: no {key}", v.source));
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

#[test]
fn real_frames_match_tshark() {
    let vectors = real_vectors();
    assert_eq!(vectors.len(), 29);
    let mut seen = HashMap::<&str, usize>::new();
    for v in &vectors {
        let src = &v.source;
        let flags = u16::from_be_bytes([v.datagram[0], v.datagram[1]]);
        assert_eq!(flags as u32, num(v, "flags"), "{src}");
        match l2tp::parse(&v.datagram).unwrap_or_else(|e| panic!("{src}: {e}")) {
            L2tpFrame::Control {
                tunnel_id,
                session_id,
                message,
            } => {
                assert_eq!(v.expect["type"], "control", "{src}");
                *seen.entry("control").or_default() += 1;
                assert_eq!(tunnel_id as u32, num(v, "tunnel"), "{src}");
                assert_eq!(session_id as u32, num(v, "session"), "{src}");
                assert_eq!(message.len() as u32, num(v, "length"), "{src}");
                let ns = u16::from_be_bytes([message[8], message[9]]);
                let nr = u16::from_be_bytes([message[10], message[11]]);
                assert_eq!(
                    (ns as u32, nr as u32),
                    (num(v, "ns"), num(v, "nr")),
                    "{src}"
                );
            }
            L2tpFrame::Data(d) => {
                assert_eq!(v.expect["type"], "data", "{src}");
                assert_eq!(d.tunnel_id as u32, num(v, "tunnel"), "{src}");
                assert_eq!(d.session_id as u32, num(v, "session"), "{src}");
                assert_eq!((d.ns_nr, d.priority), (None, false), "{src}");

                let frame = ppp::parse(d.payload).unwrap_or_else(|e| panic!("{src}: {e}"));
                assert_eq!(frame.protocol as u32, num(v, "ppp"), "{src}");
                // Address 0xff in tshark: not compressed. No recorded
                // session negotiated ACFC or PFC.
                assert_eq!(num(v, "address"), 0xff, "{src}");
                assert!(!frame.acfc && !frame.pfc, "{src}");
                let name = match frame.protocol {
                    ppp::PROTO_IPV4 => {
                        // The PPP information is exactly the IPv4 packet.
                        assert_eq!(frame.info.len() as u32, num(v, "ip_len"), "{src}");
                        assert_eq!(frame.info[0] >> 4, 4, "{src}");
                        "ipv4"
                    }
                    ppp::PROTO_IPV6 => {
                        assert_eq!(frame.info.len() as u32, 40 + num(v, "ipv6_plen"), "{src}");
                        assert_eq!(frame.info[0] >> 4, 6, "{src}");
                        "ipv6"
                    }
                    ppp::PROTO_LCP => "lcp",
                    ppp::PROTO_PAP => "pap",
                    ppp::PROTO_CHAP => "chap",
                    ppp::PROTO_IPCP => "ipcp",
                    ppp::PROTO_IPV6CP => "ipv6cp",
                    other => panic!("{src}: unexpected protocol {other:#06x}"),
                };
                *seen.entry(name).or_default() += 1;
                assert_eq!(
                    ppp::is_network_data(frame.protocol),
                    matches!(name, "ipv4" | "ipv6")
                );

                // Our writers reproduce the peer's headers byte for byte.
                let spec = DataHeaderSpec {
                    tunnel_id: d.tunnel_id,
                    session_id: d.session_id,
                    payload_len: d.payload.len(),
                    ..Default::default()
                };
                let mut rebuilt = vec![0u8; v.datagram.len()];
                let l2tp_len = spec.header_len();
                let ppp_len =
                    ppp::write_header(&mut rebuilt[l2tp_len..], frame.protocol, false, false)
                        .unwrap();
                let info_at = l2tp_len + ppp_len;
                rebuilt[info_at..].copy_from_slice(frame.info);
                assert_eq!(
                    encapsulate_in_place(&mut rebuilt, &spec),
                    Ok(v.datagram.len())
                );
                assert_eq!(rebuilt, v.datagram, "{src}");
            }
        }
    }
    for kind in [
        "control", "lcp", "pap", "chap", "ipcp", "ipv6cp", "ipv4", "ipv6",
    ] {
        assert!(seen.get(kind).copied().unwrap_or(0) > 0, "no {kind} vector");
    }
}
