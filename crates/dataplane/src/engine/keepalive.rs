//! LCP keepalive in the data plane (issue #9): once the control plane has
//! handed a session's keepalive over (`Session::keepalive`), the peer's
//! Echo-Requests are answered here and its Echo-Replies taken here, and our
//! own Echo-Requests leave from the dispatcher's once-a-second scan. None of
//! them crosses into JS: at 10,000 idle sessions that was most of the
//! control frames the server's JS handled, and what kept its heap
//! allocating. What they cannot decide (the peer lost) goes up as an event.
//! The rules themselves are in `ppp::echo`.

use std::sync::atomic::Ordering::Relaxed;

use super::counters::bump;
use super::outbound::{self, Prepared};
use super::up::Event;
use super::Shared;
use crate::ppp::echo::{Due, Received};
use crate::table::Session;

/// An LCP packet (`lcp`: the PPP frame's information field) from a
/// session's peer; true when the keepalive took it (it does not go up).
pub(crate) fn inbound(shared: &Shared, session: &Session, lcp: &[u8]) -> bool {
    let c = &shared.counters;
    let mut reply = Vec::new();
    let received = {
        let mut keepalive = session.keepalive.lock().expect("keepalive lock");
        let Some(k) = keepalive.as_mut() else {
            return false;
        };
        k.receive(lcp, &mut reply)
    };
    match received {
        Received::NotOurs => return false,
        // Our own packet back: not a sign of the peer.
        Received::Looped => {
            bump(&c.lcp_echo_looped);
            return true;
        }
        Received::Reply => bump(&c.lcp_echo_replies_in),
        Received::Answer => {
            bump(&c.lcp_echo_requests_in);
            match outbound::prepare_ppp(shared, session, &reply) {
                Ok(p) if outbound::send_prepared(shared, std::slice::from_ref(&p)) == 1 => {
                    bump(&c.lcp_echo_replies_out)
                }
                // send_prepared counted a refused send.
                Ok(_) => {}
                Err(_) => bump(&c.send_failed),
            }
        }
    }
    session.counters.keepalive_heard.store(true, Relaxed);
    true
}

/// Sends every Echo-Request due at `now_ns` in one batch and reports the
/// sessions whose peer stopped answering.
pub(crate) fn scan(shared: &Shared, now_ns: u64, events: &mut Vec<Event>) {
    let c = &shared.counters;
    let mut requests: Vec<Prepared> = Vec::new();
    for session in shared.tables.sessions.iter() {
        let due = match session.keepalive.lock().expect("keepalive lock").as_mut() {
            Some(k) => k.poll(now_ns),
            None => continue,
        };
        match due {
            Due::Nothing => {}
            Due::Request(frame) => match outbound::prepare_ppp(shared, &session, &frame) {
                Ok(p) => requests.push(p),
                Err(_) => bump(&c.send_failed),
            },
            Due::Lost { unanswered } => {
                bump(&c.lcp_echo_timeouts);
                events.push(Event::SessionEchoTimeout {
                    session: session.id,
                    unanswered,
                });
            }
        }
    }
    if !requests.is_empty() {
        let sent = outbound::send_prepared(shared, &requests);
        c.lcp_echo_requests_out.fetch_add(sent as u64, Relaxed);
    }
}
