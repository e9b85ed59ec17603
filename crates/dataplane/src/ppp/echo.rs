//! LCP keepalive (RFC 1661 5.8): Echo-Request and Echo-Reply, answered and
//! originated in the data plane once the control plane hands a session's
//! keepalive over (LCP Opened, the session installed). Sans-IO: it sorts an
//! arriving LCP packet, builds the frames to send and says when our next
//! Echo-Request is due or the peer is lost; the engine owns the clock and
//! the sockets.
//!
//! The rules are the control plane's (lib/ppp/link.ts, lib/ppp/lcp.ts),
//! which keeps doing this itself for links it does not hand over (our
//! client, the in-memory benches):
//! - an Echo-Request is answered with an Echo-Reply of the same Identifier
//!   carrying our Magic-Number and the request's data, cut so the LCP
//!   packet fits the peer's MRU (accel-ppp#204); one that carries our own
//!   Magic-Number (and not also the peer's) means a looped-back link and is
//!   not answered (6.4);
//! - any Echo-Reply ends the count of unanswered requests;
//! - every `interval` an Echo-Request goes out (Identifier + 1, mod 256),
//!   unless `failures` are unanswered already: then the link is lost (the
//!   control plane takes it down with 'echo timeout');
//! - a Code-Reject of Echo-Request stops our requests (we still answer).
//!
//! Anything else, and an echo packet too short to be one (no Magic-Number,
//! a Length past the frame), is not ours: it goes up to the control plane
//! as before, which counts and discards what is malformed.

use super::{ADDRESS, CONTROL, PROTO_LCP};

pub const CODE_REJECT: u8 = 7;
pub const ECHO_REQUEST: u8 = 9;
pub const ECHO_REPLY: u8 = 10;

/// FF 03 C0 21: every LCP frame we send, never compressed (RFC 1661 6.5, 6.6).
const LCP_FRAME_HEADER: [u8; 4] = [ADDRESS, CONTROL, (PROTO_LCP >> 8) as u8, PROTO_LCP as u8];

/// An LCP header (Code, Identifier, Length) and the Magic-Number.
const ECHO_MIN_LEN: usize = 8;

/// Our Echo-Request as a whole PPP frame: FF 03 C0 21, then Code 9, the
/// Identifier, Length 8 and our Magic-Number (no data, as the control plane
/// sends it).
pub const ECHO_REQUEST_FRAME_LEN: usize = 4 + ECHO_MIN_LEN;

/// What the control plane hands over with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Our Magic-Number (0: none was negotiated).
    pub magic: u32,
    /// The peer's Magic-Number (0: none).
    pub peer_magic: u32,
    /// The peer's MRU: the largest LCP packet we send it.
    pub peer_mru: u16,
    /// Nanoseconds between our Echo-Requests; 0: we send none (and still answer).
    pub interval_ns: u64,
    /// Unanswered Echo-Requests after which the peer is lost (at least 1).
    pub failures: u32,
}

/// Where a session's keepalive stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    pub config: KeepaliveConfig,
    /// When our next Echo-Request is due (the engine's clock, ns).
    next_due_ns: u64,
    /// Echo-Requests sent and not answered since the last Echo-Reply.
    pending: u32,
    /// The Identifier of our last Echo-Request.
    identifier: u8,
    /// The peer Code-Rejected Echo-Request: we send no more.
    rejected: bool,
    /// The loss was reported: nothing more is sent.
    lost: bool,
}

/// What an arriving LCP packet was to the keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// An Echo-Request: answer with the frame written to `reply`.
    Answer,
    /// An Echo-Request carrying our own Magic-Number: a looped-back link, not answered.
    Looped,
    /// An Echo-Reply: the peer is alive.
    Reply,
    /// Not a keepalive packet (or a malformed one): for the control plane.
    NotOurs,
}

/// What is due at a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Send this Echo-Request frame.
    Request([u8; ECHO_REQUEST_FRAME_LEN]),
    /// `failures` Echo-Requests went unanswered: the peer is lost (reported once).
    Lost {
        unanswered: u32,
    },
}

impl Keepalive {
    /// Handed over at `now_ns`: the first Echo-Request goes `first_in_ns`
    /// later, with `identifier` the last one the control plane used and
    /// `pending` its unanswered ones.
    pub fn new(
        config: KeepaliveConfig,
        now_ns: u64,
        first_in_ns: u64,
        identifier: u8,
        pending: u32,
    ) -> Self {
        Keepalive {
            config,
            next_due_ns: now_ns.saturating_add(first_in_ns),
            pending,
            identifier,
            rejected: false,
            lost: false,
        }
    }

    /// Takes over where `old` stands when it is the same LCP negotiation
    /// (same Magic-Numbers): a session installed again (a new route or
    /// policy) keeps its schedule, count and Identifier.
    pub fn continue_from(&mut self, old: &Keepalive) {
        if old.config.magic != self.config.magic || old.config.peer_magic != self.config.peer_magic
        {
            return;
        }
        self.next_due_ns = old.next_due_ns;
        self.pending = old.pending;
        self.identifier = old.identifier;
        self.rejected = old.rejected;
        self.lost = old.lost;
    }

    pub fn pending(&self) -> u32 {
        self.pending
    }

    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    pub fn next_due_ns(&self) -> u64 {
        self.next_due_ns
    }

    /// Whether our Echo-Requests stopped because the peer Code-Rejected them.
    pub fn rejected(&self) -> bool {
        self.rejected
    }

    /// An LCP packet from the peer (the PPP frame's information field).
    /// For `Answer` the whole Echo-Reply frame is in `reply` (cleared first).
    pub fn receive(&mut self, lcp: &[u8], reply: &mut Vec<u8>) -> Received {
        let Some(packet) = lcp_packet(lcp) else {
            return Received::NotOurs;
        };
        let (code, identifier, data) = (packet[0], packet[1], &packet[4..]);
        match code {
            ECHO_REQUEST if data.len() >= 4 => {
                let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let ours = self.config.magic;
                if ours != 0 && magic == ours && magic != self.config.peer_magic {
                    return Received::Looped;
                }
                let room = (self.config.peer_mru as usize).saturating_sub(ECHO_MIN_LEN);
                let echoed = &data[4..data.len().min(4 + room)];
                write_echo(reply, ECHO_REPLY, identifier, ours, echoed);
                Received::Answer
            }
            ECHO_REPLY if data.len() >= 4 => {
                self.pending = 0;
                Received::Reply
            }
            CODE_REJECT => {
                // The rejected packet follows the header: its first byte is its Code.
                if data.first() == Some(&ECHO_REQUEST) {
                    self.rejected = true;
                }
                Received::NotOurs
            }
            _ => Received::NotOurs,
        }
    }

    /// What is due at `now_ns` (call about once a second).
    pub fn poll(&mut self, now_ns: u64) -> Due {
        if self.lost || self.rejected || self.config.interval_ns == 0 || now_ns < self.next_due_ns {
            return Due::Nothing;
        }
        if self.pending >= self.config.failures {
            self.lost = true;
            return Due::Lost {
                unanswered: self.pending,
            };
        }
        self.identifier = self.identifier.wrapping_add(1);
        self.pending += 1;
        self.next_due_ns = now_ns.saturating_add(self.config.interval_ns);
        Due::Request(echo_request_frame(self.identifier, self.config.magic))
    }
}

/// The LCP packet within `lcp` (its Length honoured: padding after it is
/// not data, RFC 1661 5), or None when the header does not hold.
fn lcp_packet(lcp: &[u8]) -> Option<&[u8]> {
    let header = lcp.get(..4)?;
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    if len < 4 {
        return None;
    }
    lcp.get(..len)
}

fn write_echo(out: &mut Vec<u8>, code: u8, identifier: u8, magic: u32, data: &[u8]) {
    out.clear();
    out.extend_from_slice(&LCP_FRAME_HEADER);
    out.extend_from_slice(&[code, identifier]);
    out.extend_from_slice(&((ECHO_MIN_LEN + data.len()) as u16).to_be_bytes());
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(data);
}

/// Our Echo-Request as a whole PPP frame.
pub fn echo_request_frame(identifier: u8, magic: u32) -> [u8; ECHO_REQUEST_FRAME_LEN] {
    let mut frame = [0u8; ECHO_REQUEST_FRAME_LEN];
    frame[..4].copy_from_slice(&LCP_FRAME_HEADER);
    frame[4] = ECHO_REQUEST;
    frame[5] = identifier;
    frame[6..8].copy_from_slice(&(ECHO_MIN_LEN as u16).to_be_bytes());
    frame[8..].copy_from_slice(&magic.to_be_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn config() -> KeepaliveConfig {
        KeepaliveConfig {
            magic: 0x1122_3344,
            peer_magic: 0xa1b2_c3d4,
            peer_mru: 1400,
            interval_ns: 30 * S,
            failures: 4,
        }
    }

    /// An LCP packet: Code, Identifier, Length, then `data`.
    fn lcp(code: u8, identifier: u8, data: &[u8]) -> Vec<u8> {
        let mut p = vec![code, identifier];
        p.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn an_echo_request_is_answered_with_its_identifier_our_magic_and_its_data() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        let mut reply = Vec::new();
        let request = lcp(ECHO_REQUEST, 0x5a, &[0xa1, 0xb2, 0xc3, 0xd4, b'h', b'i']);
        assert_eq!(k.receive(&request, &mut reply), Received::Answer);
        assert_eq!(
            reply,
            [
                0xff, 0x03, 0xc0, 0x21, // LCP, uncompressed
                10, 0x5a, 0, 10, // Echo-Reply, same Identifier, Length 10
                0x11, 0x22, 0x33, 0x44, // our Magic-Number
                b'h', b'i', // the request's data
            ]
        );
        // Answering is not an answer to us: our count stays.
        assert_eq!(k.pending(), 0);
    }

    #[test]
    fn padding_after_the_length_is_not_echoed() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        let mut reply = Vec::new();
        let mut request = lcp(ECHO_REQUEST, 1, &[0, 0, 0, 0, 7]);
        request.extend_from_slice(&[0xee; 3]);
        assert_eq!(k.receive(&request, &mut reply), Received::Answer);
        assert_eq!(&reply[8..], &[0x11, 0x22, 0x33, 0x44, 7]);
    }

    #[test]
    fn a_reply_never_exceeds_the_peers_mru() {
        let mut k = Keepalive::new(
            KeepaliveConfig {
                peer_mru: 1270,
                ..config()
            },
            0,
            30 * S,
            0,
            0,
        );
        let mut data = vec![0u8; 4];
        data.extend(std::iter::repeat_n(0xab, 1490));
        let mut reply = Vec::new();
        assert_eq!(
            k.receive(&lcp(ECHO_REQUEST, 2, &data), &mut reply),
            Received::Answer
        );
        assert_eq!(reply.len() - 4, 1270, "the LCP packet is the peer's MRU");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1270);
    }

    #[test]
    fn our_own_magic_coming_back_is_a_loop_and_not_answered() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        let mut reply = Vec::new();
        let looped = lcp(ECHO_REQUEST, 3, &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(k.receive(&looped, &mut reply), Received::Looped);
        assert!(reply.is_empty());
        // The peer chose the same number (both ends kept it): not a loop.
        let mut same = Keepalive::new(
            KeepaliveConfig {
                peer_magic: 0x1122_3344,
                ..config()
            },
            0,
            30 * S,
            0,
            0,
        );
        assert_eq!(same.receive(&looped, &mut reply), Received::Answer);
        // No Magic-Number negotiated (ours 0): a zero one is answered.
        let mut none = Keepalive::new(
            KeepaliveConfig {
                magic: 0,
                peer_magic: 0,
                ..config()
            },
            0,
            30 * S,
            0,
            0,
        );
        let zero = lcp(ECHO_REQUEST, 4, &[0, 0, 0, 0]);
        assert_eq!(none.receive(&zero, &mut reply), Received::Answer);
        assert_eq!(&reply[8..12], &[0, 0, 0, 0]);
    }

    #[test]
    fn malformed_and_other_packets_are_not_ours() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        let mut reply = Vec::new();
        for packet in [
            vec![],
            vec![ECHO_REQUEST, 1, 0],
            lcp(ECHO_REQUEST, 1, &[1, 2, 3]), // no Magic-Number
            lcp(ECHO_REPLY, 1, &[1, 2, 3]),   // no Magic-Number
            vec![ECHO_REQUEST, 1, 0, 12, 0, 0, 0, 0], // Length past the packet
            vec![ECHO_REQUEST, 1, 0, 3, 0, 0, 0, 0], // Length below the header
            lcp(1, 1, &[5, 6, 1, 2, 3, 4]),   // Configure-Request
            lcp(5, 1, b"bye"),                // Terminate-Request
            lcp(11, 1, &[0, 0, 0, 0]),        // Discard-Request
        ] {
            assert_eq!(
                k.receive(&packet, &mut reply),
                Received::NotOurs,
                "{packet:?}"
            );
        }
    }

    #[test]
    fn due_requests_count_up_and_an_echo_reply_resets_the_count() {
        let mut k = Keepalive::new(config(), 100 * S, 30 * S, 0xfe, 0);
        assert_eq!(k.poll(129 * S), Due::Nothing, "not yet due");
        assert_eq!(
            k.poll(130 * S),
            Due::Request([0xff, 0x03, 0xc0, 0x21, 9, 0xff, 0, 8, 0x11, 0x22, 0x33, 0x44])
        );
        assert_eq!(k.pending(), 1);
        assert_eq!(k.poll(131 * S), Due::Nothing, "next one an interval later");
        // The Identifier wraps (mod 256) as the control plane's does.
        assert_eq!(
            k.poll(160 * S),
            Due::Request(echo_request_frame(0, 0x1122_3344))
        );
        assert_eq!(k.pending(), 2);
        let mut reply = Vec::new();
        // Any Echo-Reply (whatever its Identifier) proves the peer alive.
        assert_eq!(
            k.receive(
                &lcp(ECHO_REPLY, 0x77, &[0xa1, 0xb2, 0xc3, 0xd4]),
                &mut reply
            ),
            Received::Reply
        );
        assert_eq!(k.pending(), 0);
        assert_eq!(
            k.poll(190 * S),
            Due::Request(echo_request_frame(1, 0x1122_3344))
        );
    }

    #[test]
    fn the_peer_is_lost_after_failures_unanswered_requests_and_reported_once() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        // Requests at 30, 60, 90 and 120 s; at 150 s the fourth is still unanswered.
        for (i, t) in [30, 60, 90, 120].into_iter().enumerate() {
            assert_eq!(
                k.poll(t * S),
                Due::Request(echo_request_frame(i as u8 + 1, 0x1122_3344))
            );
        }
        assert_eq!(k.poll(149 * S), Due::Nothing);
        assert_eq!(k.poll(150 * S), Due::Lost { unanswered: 4 });
        assert_eq!(
            k.poll(180 * S),
            Due::Nothing,
            "reported once, nothing sent after"
        );
        assert_eq!(k.poll(400 * S), Due::Nothing);
    }

    #[test]
    fn a_handover_continues_the_control_planes_count_and_identifier() {
        // Two unanswered already, the last Identifier 9, the next one due in 5 s.
        let mut k = Keepalive::new(config(), 1_000 * S, 5 * S, 9, 2);
        assert_eq!(
            k.poll(1_005 * S),
            Due::Request(echo_request_frame(10, 0x1122_3344))
        );
        assert_eq!(
            k.poll(1_035 * S),
            Due::Request(echo_request_frame(11, 0x1122_3344))
        );
        assert_eq!(k.poll(1_065 * S), Due::Lost { unanswered: 4 });
    }

    #[test]
    fn a_code_reject_of_echo_request_stops_requests_but_not_answers() {
        let mut k = Keepalive::new(config(), 0, 30 * S, 0, 0);
        assert!(matches!(k.poll(30 * S), Due::Request(_)));
        let mut reply = Vec::new();
        // Code-Reject of something else: nothing changes.
        let other = lcp(CODE_REJECT, 1, &lcp(14, 1, &[]));
        assert_eq!(k.receive(&other, &mut reply), Received::NotOurs);
        assert!(matches!(k.poll(60 * S), Due::Request(_)));
        let ours = lcp(CODE_REJECT, 2, &echo_request_frame(2, 0x1122_3344)[4..]);
        assert_eq!(
            k.receive(&ours, &mut reply),
            Received::NotOurs,
            "the control plane sees the Code-Reject too"
        );
        assert!(k.rejected());
        for t in [90, 120, 150, 600] {
            assert_eq!(
                k.poll(t * S),
                Due::Nothing,
                "no request, no timeout at {t} s"
            );
        }
        let request = lcp(ECHO_REQUEST, 8, &[0xa1, 0xb2, 0xc3, 0xd4]);
        assert_eq!(k.receive(&request, &mut reply), Received::Answer);
    }

    #[test]
    fn an_interval_of_zero_only_answers() {
        let mut k = Keepalive::new(
            KeepaliveConfig {
                interval_ns: 0,
                ..config()
            },
            0,
            0,
            0,
            0,
        );
        assert_eq!(k.poll(10_000 * S), Due::Nothing);
        let mut reply = Vec::new();
        let request = lcp(ECHO_REQUEST, 8, &[0xa1, 0xb2, 0xc3, 0xd4]);
        assert_eq!(k.receive(&request, &mut reply), Received::Answer);
    }

    #[test]
    fn a_reinstalled_session_keeps_its_schedule_unless_lcp_was_negotiated_again() {
        let mut old = Keepalive::new(config(), 0, 30 * S, 0, 0);
        assert!(matches!(old.poll(30 * S), Due::Request(_)));
        let mut same = Keepalive::new(config(), 40 * S, 30 * S, 0, 0);
        same.continue_from(&old);
        assert_eq!(
            (same.pending(), same.identifier(), same.next_due_ns()),
            (1, 1, 60 * S)
        );
        let mut renegotiated = Keepalive::new(
            KeepaliveConfig {
                magic: 0x5555_6666,
                ..config()
            },
            40 * S,
            30 * S,
            0,
            0,
        );
        renegotiated.continue_from(&old);
        assert_eq!(
            (
                renegotiated.pending(),
                renegotiated.identifier(),
                renegotiated.next_due_ns()
            ),
            (0, 0, 70 * S)
        );
    }
}
