//! Data-plane-wide counters: every dropped packet is counted under its reason.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Global counters, readable at any time without stopping traffic.
        #[derive(Default)]
        pub struct Counters {
            $(pub $name: AtomicU64,)*
        }

        impl Counters {
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Relaxed)),)*]
            }
        }
    };
}

counters!(
    esp_in,
    esp_out,
    ike_in,
    ike_out,
    keepalives_in,
    l2tp_control_in,
    l2tp_control_out,
    ppp_control_in,
    ppp_control_out,
    // LCP keepalive handled in the data plane (engine/keepalive.rs): the
    // peer's Echo-Requests answered and Echo-Replies taken, ours sent, our
    // own Magic-Number looped back (not answered), peers lost
    lcp_echo_requests_in,
    lcp_echo_replies_out,
    lcp_echo_replies_in,
    lcp_echo_requests_out,
    lcp_echo_looped,
    lcp_echo_timeouts,
    tun_in,
    tun_out,
    // system calls, for packets per call (bench)
    tun_read_calls,
    tun_gso_reads,
    tun_write_calls,
    tun_gso_writes,
    udp_recv_calls,
    udp_send_calls,
    // IPv6 of the PPP link itself (MLD, DAD, to ff02::): dropped, not an error
    link_scoped,
    // drops
    malformed_udp,
    unknown_spi,
    esp_icv_failures,
    esp_replays,
    esp_malformed,
    not_l2tp,
    selector_mismatch,
    l2tp_malformed,
    unknown_session,
    ppp_malformed,
    ip_malformed,
    spoofed,
    policy_denied,
    rate_limited,
    tun_no_session,
    tun_malformed,
    too_big,
    no_outbound_sa,
    seal_failed,
    send_failed,
    tun_write_failed,
    up_queue_full,
    up_queue_bytes_full,
    worker_panics,
    tunnel_selector_mismatch,
    tunnel_no_site,
);

/// The counters whose growth is reported as a `Drops` event.
pub const DROP_REASONS: &[&str] = &[
    "malformed_udp",
    "unknown_spi",
    "esp_icv_failures",
    "esp_replays",
    "esp_malformed",
    "not_l2tp",
    "selector_mismatch",
    "l2tp_malformed",
    "unknown_session",
    "ppp_malformed",
    "ip_malformed",
    "spoofed",
    "policy_denied",
    "rate_limited",
    "tun_no_session",
    "tun_malformed",
    "too_big",
    "no_outbound_sa",
    "seal_failed",
    "send_failed",
    "tun_write_failed",
    "up_queue_full",
    "up_queue_bytes_full",
    "tunnel_selector_mismatch",
    "tunnel_no_site",
];

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}
