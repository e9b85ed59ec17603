//! Site-to-site packets (see `tunnel_mode`): an opened tunnel-mode ESP
//! payload is an IP packet that goes to TUN once the site's selectors
//! admit it; a TUN packet to a site's remote subnet is sealed whole under
//! the site's current outbound SA. No allocation: the packet is checked
//! and sealed in the buffer it arrived in.

use std::sync::atomic::Ordering::Relaxed;

use super::counters::bump;
use super::outbound::{Outgoing, HEADROOM};
use super::Shared;
use crate::io::tun::TunWriter;
use crate::ip::IpHeader;
use crate::tunnel_mode::{self, Site, TunnelDrop};

/// Handles the inner packet `packet[payload]` of tunnel-mode ESP that came
/// over `binding`.
pub(crate) fn inbound(
    shared: &Shared,
    binding: u32,
    packet: &[u8],
    payload: std::ops::Range<usize>,
    next_header: u8,
    tun: Option<&mut TunWriter>,
) {
    let c = &shared.counters;
    let Some(site) = shared.tables.sites.by_binding(binding) else {
        return bump(&c.tunnel_no_site);
    };
    let inner = &packet[payload];
    let len = match tunnel_mode::check_inbound(&site, inner, next_header) {
        Ok(len) => len,
        Err(TunnelDrop::SelectorMismatch) => {
            site.counters.selector_mismatch.fetch_add(1, Relaxed);
            return bump(&c.tunnel_selector_mismatch);
        }
        Err(TunnelDrop::NoSite) => return bump(&c.tunnel_no_site),
        Err(TunnelDrop::Malformed) => return bump(&c.ip_malformed),
    };
    site.counters
        .last_activity_ns
        .store(shared.now_ns(), Relaxed);
    let Some(tun) = tun else {
        return bump(&c.tun_write_failed);
    };
    match tun.write(&inner[..len]) {
        Ok(()) => {
            bump(&c.tun_out);
            site.counters.rx_packets.fetch_add(1, Relaxed);
            site.counters.rx_bytes.fetch_add(len as u64, Relaxed);
        }
        Err(_) => bump(&c.tun_write_failed),
    }
}

/// Seals the TUN packet at `buf[HEADROOM..][..header.total_len]` to `site`
/// in ESP tunnel mode; None when it was dropped (and counted).
pub(crate) fn outbound(
    shared: &Shared,
    site: &Site,
    buf: &mut [u8],
    header: &IpHeader,
) -> Option<Outgoing> {
    let c = &shared.counters;
    if !site.admits_outbound(header.src, header.dst) {
        site.counters.selector_mismatch.fetch_add(1, Relaxed);
        bump(&c.tunnel_selector_mismatch);
        return None;
    }
    let Some(binding) = shared.tables.binding(site.binding()) else {
        bump(&c.no_outbound_sa);
        return None;
    };
    let Some(sa) = binding.out_sa.load_full() else {
        bump(&c.no_outbound_sa);
        return None;
    };
    let len = header.total_len;
    let mut esp = sa.esp.lock().expect("SA lock");
    let Some(esp_start) = HEADROOM.checked_sub(esp.head_len()) else {
        bump(&c.seal_failed);
        return None;
    };
    let next_header = tunnel_mode::next_header_for(header.version);
    match esp.seal_in_place(&mut buf[esp_start..], len, next_header) {
        Ok(sealed) => {
            drop(esp);
            bump(&c.esp_out);
            site.counters.tx_packets.fetch_add(1, Relaxed);
            site.counters.tx_bytes.fetch_add(len as u64, Relaxed);
            site.counters
                .last_activity_ns
                .store(shared.now_ns(), Relaxed);
            Some(Outgoing {
                start: esp_start,
                len: sealed,
                dest: *binding.peer.lock().expect("peer lock"),
                encap: binding.encap,
            })
        }
        Err(_) => {
            bump(&c.seal_failed);
            None
        }
    }
}
