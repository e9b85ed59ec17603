//! `DataPlane`: the one long-lived native object that owns sockets, TUN and
//! every data packet. JS installs SAs and sessions and sends control frames
//! in batches; control frames and events come back in batches through one
//! callback.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Buffer, Float64Array, Uint32Array};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use super::esp::batch_ranges;
use super::{error, Result};
use crate::anomaly::{AnomalyConfig, Destinations, RateJump};
use crate::engine::{self, Control, Engine, Event, UpBatch, UpSink};
use crate::esp::{EspSa, ReplayWindow, Suite};
use crate::policy::Prefix;
use crate::policy::{Action, Policy, Rule, TokenBucket};
use crate::ppp::echo::{Keepalive, KeepaliveConfig};
use crate::table::{Direction, Encap, Lifetime, SaEntry, Session, SessionCounters, Tables};
use crate::tunnel_mode::Site;

#[napi(object)]
pub struct TunOptions {
    /// Device name, created if missing (at most 15 bytes).
    pub name: String,
    /// Default 1500.
    pub mtu: Option<u32>,
}

#[napi(object)]
pub struct DataPlaneOptions {
    /// IKE (UDP 500) listen addresses, "ADDRESS:PORT" or "[V6]:PORT".
    pub ike: Option<Vec<String>>,
    /// NAT-T (UDP 4500) listen addresses.
    pub natt: Option<Vec<String>>,
    /// Raw ESP (IP protocol 50) on this address; needs CAP_NET_RAW.
    pub raw_esp: Option<String>,
    pub tun: Option<TunOptions>,
    /// Worker threads (default 1).
    pub workers: Option<u32>,
    /// Control packets that may wait for JS (queued, or delivered and not yet
    /// handled by the callback) before more are dropped (default 65536).
    pub up_queue: Option<u32>,
    /// Their payload bytes, bounded the same way (default 33554432, 32 MiB;
    /// at least 1048576). Drops are counted `up_queue_bytes_full`.
    pub up_queue_bytes: Option<u32>,
    /// Network namespace path (e.g. /run/netns/vpn) to open sockets and TUN in.
    pub netns: Option<String>,
}

/// Where a control frame comes from or goes to.
#[napi(object)]
#[derive(Clone, Default)]
pub struct ControlMeta {
    /// "ike", "l2tp" or "ppp".
    pub kind: String,
    /// IKE and L2TP: the peer's outer address and port.
    pub peer_address: Option<String>,
    pub peer_port: Option<u32>,
    /// IKE: our port (500 or 4500).
    pub local_port: Option<u32>,
    /// IKE: our address the peer sent the message to (known even on a
    /// socket bound to 0.0.0.0); on a send, the source address to use.
    pub local_address: Option<String>,
    /// L2TP: the IPsec peer (binding) the message came over or goes to.
    pub binding: Option<u32>,
    /// L2TP: the peer's L2TP UDP port (usually 1701).
    #[napi(js_name = "l2tpPort")]
    pub l2tp_port: Option<u32>,
    /// PPP: the session.
    pub session: Option<u32>,
}

#[napi(object)]
#[derive(Default)]
pub struct DataPlaneEvent {
    /// sa-soft-lifetime, sa-hard-lifetime, sa-sequence-near-exhaustion,
    /// sa-auth-failures, peer-changed, session-idle, session-echo-timeout
    /// (`count`: the Echo-Requests left unanswered), session-anomaly,
    /// drops, worker-panic.
    pub r#type: String,
    pub spi: Option<u32>,
    pub binding: Option<u32>,
    pub session: Option<u32>,
    pub reason: Option<String>,
    pub count: Option<f64>,
    pub old_peer: Option<String>,
    pub new_peer: Option<String>,
    pub idle_ms: Option<f64>,
    pub drops: Option<HashMap<String, f64>>,
    pub message: Option<String>,
    /// session-anomaly: the threshold `count` crossed.
    pub threshold: Option<f64>,
}

/// One delivery: control frames (frame i is `packets[offsets[i]..offsets[i+1]]`
/// with `meta[i]`) and events.
#[napi(object)]
pub struct ControlBatch {
    pub packets: Buffer,
    pub offsets: Uint32Array,
    pub meta: Vec<ControlMeta>,
    pub events: Vec<DataPlaneEvent>,
}

#[napi(object)]
pub struct SaLifetimeOptions {
    pub soft_bytes: Option<f64>,
    pub hard_bytes: Option<f64>,
    pub soft_packets: Option<f64>,
    pub hard_packets: Option<f64>,
}

#[napi(object)]
pub struct SaOptions {
    pub spi: u32,
    /// "in" or "out".
    pub direction: String,
    /// The IPsec peer this SA belongs to; rekeyed SAs keep it.
    pub binding: u32,
    pub suite: String,
    pub encryption_key: Buffer,
    pub integrity_key: Option<Buffer>,
    /// The peer's outer address and port ("203.0.113.7:4500"); port 0 for raw ESP.
    pub peer: String,
    /// "udp" (ESP in UDP 4500, default) or "raw".
    pub encap: Option<String>,
    /// The peer's L2TP port from the SA's selectors (0 or absent: any).
    #[napi(js_name = "peerL2tpPort")]
    pub peer_l2tp_port: Option<u32>,
    pub replay_window: Option<u32>,
    pub lifetime: Option<SaLifetimeOptions>,
}

#[napi(object)]
pub struct PolicyRuleOptions {
    /// "allow" or "deny".
    pub action: String,
    /// "10.0.0.0/8", "2001:db8::/32", "192.0.2.7".
    pub prefix: String,
    /// "tcp", "udp", "icmp", "icmpv6" or a number.
    pub protocol: Option<String>,
    /// "443" or "1000-2000".
    pub ports: Option<String>,
}

#[napi(object)]
pub struct PolicyOptions {
    /// "allow" (default) or "deny".
    pub default: Option<String>,
    pub rules: Option<Vec<PolicyRuleOptions>>,
    /// Rate limit in bits per second (absent: none).
    pub rate_bps: Option<f64>,
    pub burst_bytes: Option<f64>,
}

/// Per-session anomaly flags; a part left out is off, all left out: off.
#[napi(object)]
pub struct AnomalyOptions {
    /// Rate jump: packets/s above `rateFactor` × the moving average over
    /// `rateAverageSeconds`, and at least `rateMinPps`.
    pub rate_factor: Option<f64>,
    pub rate_min_pps: Option<f64>,
    pub rate_average_seconds: Option<u32>,
    /// More than `destinationsMax` distinct destinations within
    /// `destinationsIntervalSeconds`.
    pub destinations_max: Option<f64>,
    pub destinations_interval_seconds: Option<u32>,
}

/// LCP keepalive handed to the data plane (LCP Opened): it answers the
/// peer's Echo-Requests and takes its Echo-Replies (they no longer reach
/// the control plane), sends ours every `intervalMs`, and raises
/// `session-echo-timeout` when `failures` are unanswered.
#[napi(object)]
pub struct KeepaliveOptions {
    /// Our LCP Magic-Number (0: none negotiated).
    pub magic: u32,
    /// The peer's (0: none): a request with our number and not the peer's is a loop, not answered.
    pub peer_magic: u32,
    /// The peer's MRU: replies are cut to it.
    pub peer_mru: u32,
    /// Milliseconds between our Echo-Requests; 0: none sent (the peer's still answered).
    pub interval_ms: f64,
    /// Unanswered Echo-Requests after which `session-echo-timeout` is raised (at least 1).
    pub failures: u32,
    /// The Identifier of the last Echo-Request the control plane sent (default 0); ours go on from it.
    pub identifier: Option<u32>,
    /// Echo-Requests the control plane sent that are still unanswered (default 0).
    pub pending: Option<u32>,
    /// Milliseconds to our first Echo-Request (default `intervalMs`).
    pub first_ms: Option<f64>,
}

#[napi(object)]
pub struct SessionOptions {
    pub id: u32,
    pub binding: u32,
    pub local_tunnel: u32,
    pub local_session: u32,
    pub peer_tunnel: u32,
    pub peer_session: u32,
    /// The peer's L2TP UDP port (default 1701).
    pub peer_port: Option<u32>,
    /// The IPv4 address assigned to the peer.
    pub ipv4: Option<String>,
    /// The IPv6 prefix delegated to the peer, "2001:db8:0:7::/64".
    pub ipv6: Option<String>,
    /// Carry every destination and accept any source (our own client, site-to-site).
    pub default_route: Option<bool>,
    /// Default 1400.
    pub mru: Option<u32>,
    pub acfc: Option<bool>,
    pub pfc: Option<bool>,
    pub sequencing: Option<bool>,
    pub idle_timeout_ms: Option<f64>,
    pub policy: Option<PolicyOptions>,
    /// LCP keepalive in the data plane (absent: LCP echoes go up as other control frames).
    /// Installed again with the same Magic-Numbers, the session keeps its keepalive's schedule.
    pub keepalive: Option<KeepaliveOptions>,
}

#[napi(object)]
pub struct SaStats {
    pub spi: u32,
    pub direction: String,
    pub binding: u32,
    pub suite: String,
    pub packets: f64,
    pub bytes: f64,
    pub icv_failures: f64,
    pub replays: f64,
    pub malformed: f64,
    pub last_seq_out: f64,
}

#[napi(object)]
pub struct SessionStats {
    pub id: u32,
    pub binding: u32,
    pub rx_packets: f64,
    pub rx_bytes: f64,
    pub tx_packets: f64,
    pub tx_bytes: f64,
    pub spoofed: f64,
    pub policy_denied: f64,
    pub rate_limited: f64,
    pub too_big: f64,
    pub control_up: f64,
}

/// A site-to-site tunnel (ESP tunnel mode): its traffic selectors and the
/// binding whose SAs carry it.
#[napi(object)]
pub struct SiteOptions {
    pub id: u32,
    /// The binding of the site's SAs; 0 while it has none (packets to it are dropped and counted).
    pub binding: u32,
    /// Our subnets ("10.1.0.0/24"): inner destinations from the peer, inner sources to it.
    pub local: Vec<String>,
    /// The peer's subnets: routed to it, and the only inner sources taken from it.
    pub remote: Vec<String>,
}

#[napi(object)]
pub struct SiteStats {
    pub id: u32,
    pub binding: u32,
    pub rx_packets: f64,
    pub rx_bytes: f64,
    pub tx_packets: f64,
    pub tx_bytes: f64,
    /// Inner packets outside the site's selectors, dropped.
    pub selector_mismatch: f64,
    /// Milliseconds since the last packet either way (-1: none yet).
    pub idle_ms: f64,
}

#[napi(object)]
pub struct DataPlaneStats {
    pub counters: HashMap<String, f64>,
    pub sas: Vec<SaStats>,
    pub sessions: Vec<SessionStats>,
    pub sites: Vec<SiteStats>,
}

/// `summary()`: the counters and sites of `stats()`, and only the number of SAs and sessions.
#[napi(object)]
pub struct DataPlaneSummary {
    pub counters: HashMap<String, f64>,
    pub sas: u32,
    pub sessions: u32,
    pub sites: Vec<SiteStats>,
}

#[napi(object)]
pub struct LocalAddresses {
    pub ike: Vec<String>,
    pub natt: Vec<String>,
    pub tun: Option<String>,
}

type Callback = ThreadsafeFunction<ControlBatch, (), ControlBatch, Status, false>;

struct JsSink {
    callback: Arc<Mutex<Option<Callback>>>,
    calls: Arc<AtomicU64>,
}

fn addr_string(a: SocketAddr) -> String {
    a.to_string()
}

fn meta_to_js(meta: &Control) -> ControlMeta {
    let mut m = ControlMeta::default();
    match meta {
        Control::Ike {
            peer,
            local,
            local_port,
        } => {
            m.kind = "ike".into();
            m.local_address = local.map(|a| a.to_string());
            m.peer_address = Some(peer.ip().to_string());
            m.peer_port = Some(peer.port() as u32);
            m.local_port = Some(*local_port as u32);
        }
        Control::L2tp {
            binding,
            peer,
            peer_port,
        } => {
            m.kind = "l2tp".into();
            m.peer_address = Some(peer.ip().to_string());
            m.peer_port = Some(peer.port() as u32);
            m.binding = Some(*binding);
            m.l2tp_port = Some(*peer_port as u32);
        }
        Control::Ppp { session } => {
            m.kind = "ppp".into();
            m.session = Some(*session);
        }
    }
    m
}

fn event_to_js(e: &Event) -> DataPlaneEvent {
    let mut j = DataPlaneEvent::default();
    match e {
        Event::SaSoftLifetime { spi, reason } | Event::SaHardLifetime { spi, reason } => {
            j.r#type = if matches!(e, Event::SaSoftLifetime { .. }) {
                "sa-soft-lifetime"
            } else {
                "sa-hard-lifetime"
            }
            .into();
            j.spi = Some(*spi);
            j.reason = Some((*reason).into());
        }
        Event::SaSequenceNearExhaustion { spi, seq } => {
            j.r#type = "sa-sequence-near-exhaustion".into();
            j.spi = Some(*spi);
            j.count = Some(*seq as f64);
        }
        Event::SaAuthFailures { spi, count } => {
            j.r#type = "sa-auth-failures".into();
            j.spi = Some(*spi);
            j.count = Some(*count as f64);
        }
        Event::PeerChanged { binding, old, new } => {
            j.r#type = "peer-changed".into();
            j.binding = Some(*binding);
            j.old_peer = Some(addr_string(*old));
            j.new_peer = Some(addr_string(*new));
        }
        Event::SessionIdle { session, idle_ms } => {
            j.r#type = "session-idle".into();
            j.session = Some(*session);
            j.idle_ms = Some(*idle_ms as f64);
        }
        Event::SessionEchoTimeout {
            session,
            unanswered,
        } => {
            j.r#type = "session-echo-timeout".into();
            j.session = Some(*session);
            j.count = Some(*unanswered as f64);
        }
        Event::SessionAnomaly {
            session,
            kind,
            value,
            threshold,
        } => {
            j.r#type = "session-anomaly".into();
            j.session = Some(*session);
            j.reason = Some((*kind).into());
            j.count = Some(*value as f64);
            j.threshold = Some(*threshold as f64);
        }
        Event::Drops { counts } => {
            j.r#type = "drops".into();
            j.drops = Some(
                counts
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v as f64))
                    .collect(),
            );
        }
        Event::WorkerPanic { worker, message } => {
            j.r#type = "worker-panic".into();
            j.count = Some(*worker as f64);
            j.message = Some(message.clone());
        }
    }
    j
}

impl UpSink for JsSink {
    fn deliver(&self, mut batch: UpBatch) {
        let permit = std::mem::take(&mut batch.permit);
        let js = ControlBatch {
            offsets: if batch.offsets.is_empty() {
                vec![0u32].into()
            } else {
                batch.offsets.into()
            },
            packets: batch.packets.into(),
            meta: batch.meta.iter().map(meta_to_js).collect(),
            events: batch.events.iter().map(event_to_js).collect(),
        };
        if let Some(cb) = self.callback.lock().expect("callback lock").as_ref() {
            self.calls.fetch_add(1, Relaxed);
            // The permit goes when the callback has run (or when napi drops
            // the call at shutdown): until then the batch's items count
            // against the up-queue limit. A throw in the callback is handed
            // back to Node as before (an uncaught exception).
            cb.call_with_return_value(js, ThreadsafeFunctionCallMode::NonBlocking, move |r, _| {
                drop(permit);
                r
            });
        }
    }
}

fn sa_stats(sa: &SaEntry, direction: &str) -> SaStats {
    let esp = sa.esp.lock().expect("SA lock");
    let c = esp.counters();
    let (packets, bytes) = if direction == "in" {
        (c.packets_in, c.bytes_in)
    } else {
        (c.packets_out, c.bytes_out)
    };
    SaStats {
        spi: sa.spi,
        direction: direction.into(),
        binding: sa.binding,
        suite: esp.suite().name(),
        packets: packets as f64,
        bytes: bytes as f64,
        icv_failures: c.icv_failures as f64,
        replays: c.replays as f64,
        malformed: c.malformed as f64,
        last_seq_out: esp.last_seq_out() as f64,
    }
}

fn session_stats(s: &Session) -> SessionStats {
    let c = &s.counters;
    let f = |a: &AtomicU64| a.load(Relaxed) as f64;
    SessionStats {
        id: s.id,
        binding: s.binding,
        rx_packets: f(&c.rx_packets),
        rx_bytes: f(&c.rx_bytes),
        tx_packets: f(&c.tx_packets),
        tx_bytes: f(&c.tx_bytes),
        spoofed: f(&c.spoofed),
        policy_denied: f(&c.policy_denied),
        rate_limited: f(&c.rate_limited),
        too_big: f(&c.too_big),
        control_up: f(&c.control_up),
    }
}

fn parse_socket_addr(field: &str, s: &str) -> Result<SocketAddr> {
    s.parse::<SocketAddr>().map_err(|_| {
        error(
            "ERR_DP_ADDRESS",
            format!("{field}: {s:?} is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)"),
        )
    })
}

fn parse_addrs(field: &str, list: &Option<Vec<String>>) -> Result<Vec<SocketAddr>> {
    list.iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| parse_socket_addr(&format!("{field}[{i}]"), s))
        .collect()
}

fn u16_field(field: &str, v: u32) -> Result<u16> {
    u16::try_from(v)
        .map_err(|_| error("ERR_DP_RANGE", format!("{field} must be 0..65535, got {v}")))
}

fn keepalive_from(k: &KeepaliveOptions, now_ns: u64) -> Result<Keepalive> {
    let bad =
        |field: &str, why: String| error("ERR_DP_KEEPALIVE", format!("keepalive.{field}: {why}"));
    let ms_to_ns = |field: &str, ms: f64| -> Result<u64> {
        if ms.is_finite() && (0.0..=1e12).contains(&ms) {
            Ok((ms * 1e6) as u64)
        } else {
            Err(bad(field, format!("milliseconds from 0 to 1e12, got {ms}")))
        }
    };
    if k.failures == 0 {
        return Err(bad("failures", "at least 1, got 0".into()));
    }
    let peer_mru = u16::try_from(k.peer_mru)
        .ok()
        .filter(|m| *m >= 8)
        .ok_or_else(|| bad("peerMru", format!("8 to 65535, got {}", k.peer_mru)))?;
    let identifier = u8::try_from(k.identifier.unwrap_or(0))
        .map_err(|_| bad("identifier", format!("0 to 255, got {:?}", k.identifier)))?;
    let interval_ns = ms_to_ns("intervalMs", k.interval_ms)?;
    let first_in_ns = match k.first_ms {
        Some(ms) => ms_to_ns("firstMs", ms)?,
        None => interval_ns,
    };
    let config = KeepaliveConfig {
        magic: k.magic,
        peer_magic: k.peer_magic,
        peer_mru,
        interval_ns,
        failures: k.failures,
    };
    Ok(Keepalive::new(
        config,
        now_ns,
        first_in_ns,
        identifier,
        k.pending.unwrap_or(0),
    ))
}

fn policy_from(options: &PolicyOptions) -> Result<Policy> {
    let default = match options.default.as_deref() {
        None => Action::Allow,
        Some(s) => Action::parse(s).map_err(|e| error(e.code(), format!("policy.default: {e}")))?,
    };
    let mut rules = Vec::new();
    for (i, r) in options.rules.iter().flatten().enumerate() {
        let rule = Rule::parse(
            &r.action,
            &r.prefix,
            r.protocol.as_deref(),
            r.ports.as_deref(),
        )
        .map_err(|e| error(e.code(), format!("policy.rules[{i}].{}: {e}", e.field())))?;
        rules.push(rule);
    }
    let rate = match options.rate_bps {
        None => None,
        Some(bps) if bps >= 0.0 && bps.is_finite() => Some(TokenBucket::new(
            bps as u64,
            options.burst_bytes.unwrap_or(0.0).max(0.0) as u64,
        )),
        Some(bps) => {
            return Err(error(
                "ERR_POLICY_RATE",
                format!("policy.rateBps must be a non-negative number, got {bps}"),
            ))
        }
    };
    Ok(Policy {
        default,
        rules,
        rate,
    })
}

fn control_from_js(meta: &ControlMeta) -> Result<(Control, u16)> {
    let peer = || -> Result<SocketAddr> {
        let address = meta
            .peer_address
            .as_deref()
            .ok_or_else(|| error("ERR_DP_BATCH", "meta.peerAddress is required for ike"))?;
        let ip: IpAddr = address.parse().map_err(|_| {
            error(
                "ERR_DP_ADDRESS",
                format!("meta.peerAddress {address:?} is not an IP address"),
            )
        })?;
        Ok(SocketAddr::new(
            ip,
            u16_field("meta.peerPort", meta.peer_port.unwrap_or(0))?,
        ))
    };
    match meta.kind.as_str() {
        "ike" => {
            let local_port = u16_field("meta.localPort", meta.local_port.unwrap_or(500))?;
            let local = match meta.local_address.as_deref() {
                None => None,
                Some(a) => Some(a.parse::<IpAddr>().map_err(|_| {
                    error(
                        "ERR_DP_ADDRESS",
                        format!("meta.localAddress {a:?} is not an IP address"),
                    )
                })?),
            };
            Ok((
                Control::Ike {
                    peer: peer()?,
                    local,
                    local_port,
                },
                local_port,
            ))
        }
        "l2tp" => {
            let binding = meta
                .binding
                .ok_or_else(|| error("ERR_DP_BATCH", "meta.binding is required for l2tp"))?;
            let port = u16_field("meta.l2tpPort", meta.l2tp_port.unwrap_or(1701))?;
            Ok((
                Control::L2tp {
                    binding,
                    peer: SocketAddr::from(([0, 0, 0, 0], 0)),
                    peer_port: port,
                },
                0,
            ))
        }
        "ppp" => {
            let session = meta
                .session
                .ok_or_else(|| error("ERR_DP_BATCH", "meta.session is required for ppp"))?;
            Ok((Control::Ppp { session }, 0))
        }
        other => Err(error(
            "ERR_DP_BATCH",
            format!("meta.kind must be ike, l2tp or ppp, got {other:?}"),
        )),
    }
}

/// The up queue's byte bound: 32 MiB unless given, and never below 1 MiB
/// (IKE's 7/8 of it holds 14 of the largest datagrams, so a bound below
/// one datagram cannot silently drop all IKE).
fn up_queue_bytes(given: Option<u32>) -> Result<usize> {
    const MIN: u32 = 1 << 20;
    match given {
        None => Ok(32 << 20),
        Some(b) if b >= MIN => Ok(b as usize),
        Some(b) => Err(error(
            "ERR_DP_CONFIG",
            format!("upQueueBytes must be at least {MIN} (1 MiB), got {b}"),
        )),
    }
}

/// What a stopped capture wrote.
#[napi(object)]
pub struct CaptureResult {
    pub packets: f64,
    pub bytes: f64,
}

/// The data plane: sockets, TUN, workers. Created running; `close()` stops
/// it and releases everything.
#[napi]
pub struct DataPlane {
    engine: Option<Engine>,
    tables: Arc<Tables>,
    callback: Arc<Mutex<Option<Callback>>>,
    calls: Arc<AtomicU64>,
    /// Per session, the packet total `changedSessionCounters()` last
    /// reported (no entry: none reported yet, i.e. 0).
    reported: Mutex<HashMap<u32, u64>>,
}

impl DataPlane {
    fn engine(&self) -> Result<&Engine> {
        self.engine
            .as_ref()
            .ok_or_else(|| error("ERR_DP_CLOSED", "the data plane is closed"))
    }
}

#[napi]
impl DataPlane {
    /// Opens the sockets and the TUN device and starts the workers.
    /// `onControl` receives every control frame and event, in batches.
    #[napi(
        constructor,
        ts_args_type = "options: DataPlaneOptions, onControl: (batch: ControlBatch) => void"
    )]
    pub fn new(options: DataPlaneOptions, on_control: Callback) -> Result<Self> {
        let config = engine::Config {
            ike: parse_addrs("ike", &options.ike)?,
            natt: parse_addrs("natt", &options.natt)?,
            raw_esp: options
                .raw_esp
                .as_deref()
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 0))
                        .map_err(|_| {
                            error(
                                "ERR_DP_ADDRESS",
                                format!("rawEsp: {s:?} is not an IP address"),
                            )
                        })
                })
                .transpose()?,
            tun: options.tun.map(|t| engine::TunConfig {
                name: t.name,
                mtu: t.mtu.unwrap_or(1500),
            }),
            workers: options.workers.unwrap_or(1).clamp(1, 64) as usize,
            up_queue: options.up_queue.unwrap_or(65536) as usize,
            up_queue_bytes: up_queue_bytes(options.up_queue_bytes)?,
            netns: options.netns,
        };
        if config.natt.is_empty() && config.raw_esp.is_none() && config.ike.is_empty() {
            return Err(error(
                "ERR_DP_CONFIG",
                "nothing to listen on: give ike, natt or rawEsp addresses",
            ));
        }
        let tables = Arc::new(Tables::default());
        let callback = Arc::new(Mutex::new(Some(on_control)));
        let calls = Arc::new(AtomicU64::new(0));
        let sink = JsSink {
            callback: callback.clone(),
            calls: calls.clone(),
        };
        let engine = Engine::start(config, tables.clone(), Box::new(sink))
            .map_err(|e| error("ERR_DP_IO", e.to_string()))?;
        Ok(Self {
            engine: Some(engine),
            tables,
            callback,
            calls,
            reported: Mutex::default(),
        })
    }

    /// What the sockets bound to (port 0 resolved) and the TUN device's name.
    #[napi]
    pub fn local_addresses(&self) -> Result<LocalAddresses> {
        let l = &self.engine()?.local_addrs;
        Ok(LocalAddresses {
            ike: l.ike.iter().map(|a| a.to_string()).collect(),
            natt: l.natt.iter().map(|a| a.to_string()).collect(),
            tun: l.tun.clone(),
        })
    }

    /// Installs an ESP SA. Keys cross once and are zeroed when the SA is removed.
    #[napi]
    pub fn install_sa(&self, sa: SaOptions) -> Result<()> {
        self.engine()?;
        let direction = match sa.direction.as_str() {
            "in" => Direction::In,
            "out" => Direction::Out,
            d => {
                return Err(error(
                    "ERR_DP_SA",
                    format!("direction must be \"in\" or \"out\", got {d:?}"),
                ))
            }
        };
        let encap = match sa.encap.as_deref().unwrap_or("udp") {
            "udp" => Encap::Udp,
            "raw" => Encap::Raw,
            e => {
                return Err(error(
                    "ERR_DP_SA",
                    format!("encap must be \"udp\" or \"raw\", got {e:?}"),
                ))
            }
        };
        let suite = Suite::parse(&sa.suite).map_err(|e| error(e.code(), e.to_string()))?;
        let window = match direction {
            Direction::In => sa.replay_window.unwrap_or(ReplayWindow::DEFAULT_SIZE),
            Direction::Out => 0,
        };
        let esp = EspSa::new(
            sa.spi,
            suite,
            &sa.encryption_key,
            sa.integrity_key.as_deref().unwrap_or(&[]),
            window,
        )
        .map_err(|e| error(e.code(), e.to_string()))?;
        let peer = parse_socket_addr("peer", &sa.peer)?;
        let l = sa.lifetime.as_ref();
        let limit = |v: Option<f64>| v.unwrap_or(0.0).max(0.0) as u64;
        let lifetime = Lifetime {
            soft_bytes: limit(l.and_then(|l| l.soft_bytes)),
            hard_bytes: limit(l.and_then(|l| l.hard_bytes)),
            soft_packets: limit(l.and_then(|l| l.soft_packets)),
            hard_packets: limit(l.and_then(|l| l.hard_packets)),
        };
        let entry = SaEntry {
            spi: sa.spi,
            binding: sa.binding,
            direction,
            esp: Mutex::new(esp),
            lifetime,
            reported: AtomicU16::new(0),
            failures_seen: AtomicU64::new(0),
        };
        let port = u16_field("peerL2tpPort", sa.peer_l2tp_port.unwrap_or(0))?;
        self.tables.install_sa(entry, peer, encap, port);
        Ok(())
    }

    /// Removes an SA (its keys are zeroed). Returns whether it existed.
    #[napi]
    pub fn remove_sa(&self, spi: u32, direction: String) -> Result<bool> {
        let direction = match direction.as_str() {
            "in" => Direction::In,
            "out" => Direction::Out,
            d => {
                return Err(error(
                    "ERR_DP_SA",
                    format!("direction must be \"in\" or \"out\", got {d:?}"),
                ))
            }
        };
        Ok(self.tables.remove_sa(spi, direction).is_some())
    }

    /// Adds or replaces a session (by id).
    #[napi]
    pub fn upsert_session(&self, s: SessionOptions) -> Result<()> {
        self.engine()?;
        let ipv4 = s
            .ipv4
            .as_deref()
            .map(|a| {
                a.parse().map_err(|_| {
                    error(
                        "ERR_DP_ADDRESS",
                        format!("ipv4: {a:?} is not an IPv4 address"),
                    )
                })
            })
            .transpose()?;
        let ipv6 = s
            .ipv6
            .as_deref()
            .map(|p| {
                let (addr, len) = p.split_once('/').unwrap_or((p, "128"));
                match (addr.parse(), len.parse::<u8>()) {
                    (Ok(a), Ok(l)) if l <= 128 => Ok((a, l)),
                    _ => Err(error(
                        "ERR_DP_ADDRESS",
                        format!("ipv6: {p:?} is not an IPv6 prefix"),
                    )),
                }
            })
            .transpose()?;
        let policy = s
            .policy
            .as_ref()
            .map(policy_from)
            .transpose()?
            .unwrap_or_default();
        let now_ns = self.engine()?.now_ns();
        let mut keepalive = s
            .keepalive
            .as_ref()
            .map(|k| keepalive_from(k, now_ns))
            .transpose()?;
        // The same LCP negotiation installed again (a new route or policy): its keepalive goes on as it was.
        if let (Some(new), Some(old)) = (keepalive.as_mut(), self.tables.sessions.get(&s.id)) {
            if let Some(old) = old.keepalive.lock().expect("keepalive lock").as_ref() {
                new.continue_from(old);
            }
        }
        let session = Session {
            id: s.id,
            binding: s.binding,
            local_tunnel: u16_field("localTunnel", s.local_tunnel)?,
            local_session: u16_field("localSession", s.local_session)?,
            peer_tunnel: u16_field("peerTunnel", s.peer_tunnel)?,
            peer_session: u16_field("peerSession", s.peer_session)?,
            peer_port: u16_field("peerPort", s.peer_port.unwrap_or(1701))?,
            ipv4,
            ipv6,
            default_route: s.default_route.unwrap_or(false),
            mru: u16_field("mru", s.mru.unwrap_or(1400))?,
            acfc: s.acfc.unwrap_or(false),
            pfc: s.pfc.unwrap_or(false),
            sequencing: s.sequencing.unwrap_or(false),
            next_ns: AtomicU16::new(0),
            idle_timeout_ns: (s.idle_timeout_ms.unwrap_or(0.0).max(0.0) * 1e6) as u64,
            policy: Mutex::new(policy),
            counters: SessionCounters::default(),
            idle_reported: AtomicBool::new(false),
            keepalive: Mutex::new(keepalive),
        };
        session.counters.last_activity_ns.store(now_ns, Relaxed);
        // The new entry counts from zero, and so does what was reported of it.
        self.reported.lock().expect("reported lock").remove(&s.id);
        self.tables
            .upsert_session(session)
            .map(|_| ())
            .map_err(|e| error(e.code(), e.to_string()))
    }

    /// Adds or replaces a site-to-site tunnel (by id): its routes go to
    /// the binding's SAs in ESP tunnel mode. `rebind` alone moves it to
    /// another binding keeping its counters.
    #[napi]
    pub fn upsert_site(&self, site: SiteOptions) -> Result<()> {
        self.engine()?;
        let parse = |field: &str, list: &[String]| -> Result<Vec<Prefix>> {
            list.iter()
                .map(|p| {
                    Prefix::parse(p).map_err(|e| error("ERR_DP_ADDRESS", format!("{field}: {e}")))
                })
                .collect()
        };
        let local = parse("local", &site.local)?;
        let remote = parse("remote", &site.remote)?;
        self.tables
            .sites
            .upsert(Site::new(site.id, site.binding, local, remote))
            .map(|_| ())
            .map_err(|e| error(e.code(), e.to_string()))
    }

    /// Points a site at another binding (0: none); false when there is no such site.
    #[napi]
    pub fn rebind_site(&self, id: u32, binding: u32) -> Result<bool> {
        self.tables
            .sites
            .rebind(id, binding)
            .map_err(|e| error(e.code(), e.to_string()))
    }

    #[napi]
    pub fn remove_site(&self, id: u32) -> bool {
        self.tables.sites.remove(id).is_some()
    }

    #[napi]
    pub fn remove_session(&self, id: u32) -> bool {
        // A capture ends with its session (flushed; its figures are lost to the caller).
        let _ = self.tables.captures.stop(id);
        self.reported.lock().expect("reported lock").remove(&id);
        self.tables.remove_session(id).is_some()
    }

    /// Starts writing a session's inner (decrypted) IP packets, both ways,
    /// to a new pcap file at `path` (mode 0600; an existing file is refused).
    #[napi]
    pub fn start_capture(&self, session: u32, path: String) -> Result<()> {
        if !self.tables.sessions.contains_key(&session) {
            return Err(error(
                "ERR_DP_UNKNOWN_SESSION",
                format!("no session {session}"),
            ));
        }
        self.tables
            .captures
            .start(session, &path)
            .map_err(|e| error("ERR_DP_CAPTURE", format!("cannot capture to {path}: {e}")))
    }

    /// Stops a session's capture and flushes the file; null when none was running.
    #[napi]
    pub fn stop_capture(&self, session: u32) -> Result<Option<CaptureResult>> {
        match self.tables.captures.stop(session) {
            None => Ok(None),
            Some(Ok(s)) => Ok(Some(CaptureResult {
                packets: s.packets as f64,
                bytes: s.bytes as f64,
            })),
            Some(Err(e)) => Err(error(
                "ERR_DP_CAPTURE",
                format!("flushing the capture failed: {e}"),
            )),
        }
    }

    /// Sets the per-session anomaly flags (see `AnomalyOptions`); they are
    /// raised as `session-anomaly` events.
    #[napi]
    pub fn set_anomaly(&self, options: AnomalyOptions) -> Result<()> {
        let rate_jump = match options.rate_factor {
            None => None,
            Some(f) if f.is_finite() && f > 1.0 => Some(RateJump {
                factor: f,
                min_pps: options.rate_min_pps.unwrap_or(1000.0).max(1.0) as u64,
                average_seconds: options.rate_average_seconds.unwrap_or(30).max(2),
            }),
            Some(f) => {
                return Err(error(
                    "ERR_DP_ANOMALY",
                    format!("rateFactor must be a number above 1, got {f}"),
                ))
            }
        };
        let destinations = match options.destinations_max {
            None => None,
            Some(m) if m.is_finite() && m >= 1.0 => Some(Destinations {
                max: m as u64,
                interval_seconds: options.destinations_interval_seconds.unwrap_or(10).max(1),
            }),
            Some(m) => {
                return Err(error(
                    "ERR_DP_ANOMALY",
                    format!("destinationsMax must be at least 1, got {m}"),
                ))
            }
        };
        self.tables.anomaly.set(AnomalyConfig {
            rate_jump,
            destinations,
        });
        Ok(())
    }

    /// Replaces a session's policy without touching its traffic.
    #[napi]
    pub fn set_policy(&self, session: u32, policy: PolicyOptions) -> Result<()> {
        let policy = policy_from(&policy)?;
        let s = self
            .tables
            .sessions
            .get(&session)
            .map(|s| s.clone())
            .ok_or_else(|| error("ERR_DP_UNKNOWN_SESSION", format!("no session {session}")))?;
        *s.policy.lock().expect("policy lock") = policy;
        Ok(())
    }

    /// Hands a session's LCP keepalive to the data plane, or (null) takes
    /// it back: the peer's echoes then go up to the control plane again.
    /// False when there is no such session.
    #[napi]
    pub fn set_keepalive(&self, session: u32, keepalive: Option<KeepaliveOptions>) -> Result<bool> {
        let now_ns = self.engine()?.now_ns();
        let keepalive = keepalive
            .as_ref()
            .map(|k| keepalive_from(k, now_ns))
            .transpose()?;
        let Some(s) = self.tables.sessions.get(&session).map(|s| s.clone()) else {
            return Ok(false);
        };
        *s.keepalive.lock().expect("keepalive lock") = keepalive;
        Ok(true)
    }

    /// Sends control frames: frame i is `data[offsets[i]..offsets[i+1]]` with
    /// `meta[i]`. IKE goes over UDP 500/4500; L2TP control messages and PPP
    /// frames go inside ESP to the binding's or session's peer. Returns how
    /// many were sent; the others are counted in `stats()`.
    #[napi]
    pub fn send_control(
        &self,
        data: Buffer,
        offsets: Uint32Array,
        meta: Vec<ControlMeta>,
    ) -> Result<u32> {
        let engine = self.engine()?;
        let ranges = batch_ranges(&data, &offsets)?;
        if ranges.len() != meta.len() {
            return Err(error(
                "ERR_DP_BATCH",
                format!("{} frames but {} meta entries", ranges.len(), meta.len()),
            ));
        }
        let parsed: Vec<(Control, u16)> =
            meta.iter().map(control_from_js).collect::<Result<_>>()?;
        let frames: Vec<(Control, &[u8], u16)> = ranges
            .into_iter()
            .zip(parsed)
            .map(|((start, end), (control, port))| (control, &data[start..end], port))
            .collect();
        Ok(engine.send_control(&frames) as u32)
    }

    /// One session's counters (null: no such session): what `stats()` says
    /// of it, without building the whole table (O(1), for the control plane
    /// at a session's end with thousands of others up).
    #[napi]
    pub fn session_stats(&self, id: u32) -> Option<SessionStats> {
        self.tables.sessions.get(&id).map(|s| session_stats(&s))
    }

    /// The counters of the sessions whose traffic changed since the last
    /// call, flat: `[id, rxPackets, rxBytes, txPackets, txBytes,
    /// policyDenied, keepaliveHeard]` per session; `keepaliveHeard` is 1
    /// when the data plane's LCP keepalive heard from the peer since the
    /// last call (a session with only that is listed too: its peer is
    /// alive though no frame went up), else 0. For the control plane's periodic
    /// refresh: with 10,000 sessions and few of them busy, `stats()` built
    /// 30,000 objects every time; this builds one array of the busy ones.
    #[napi]
    pub fn changed_session_counters(&self) -> Float64Array {
        let mut reported = self.reported.lock().expect("reported lock");
        let mut out = Vec::new();
        for s in self.tables.sessions.iter() {
            let c = &s.counters;
            let (rx_p, tx_p, denied) = (
                c.rx_packets.load(Relaxed),
                c.tx_packets.load(Relaxed),
                c.policy_denied.load(Relaxed),
            );
            // Counters only grow and bytes only move with packets: a new total is a change.
            let total = rx_p.wrapping_add(tx_p).wrapping_add(denied);
            let heard = c.keepalive_heard.swap(false, Relaxed);
            let before = reported.get(&s.id).copied().unwrap_or(0);
            if before == total && !heard {
                continue;
            }
            // Only traffic takes an entry: 10,000 sessions that only exchange echoes add none.
            if before != total {
                reported.insert(s.id, total);
            }
            out.extend_from_slice(&[
                s.id as f64,
                rx_p as f64,
                c.rx_bytes.load(Relaxed) as f64,
                tx_p as f64,
                c.tx_bytes.load(Relaxed) as f64,
                denied as f64,
                if heard { 1.0 } else { 0.0 },
            ]);
        }
        Float64Array::new(out)
    }

    /// One SA's counters (null: no such SA), without the whole table.
    #[napi]
    pub fn sa_stats(&self, spi: u32, direction: String) -> Result<Option<SaStats>> {
        let map = match direction.as_str() {
            "in" => &self.tables.sas_in,
            "out" => &self.tables.sas_out,
            d => {
                return Err(error(
                    "ERR_DP_SA",
                    format!("direction must be \"in\" or \"out\", got {d:?}"),
                ))
            }
        };
        Ok(map.get(&spi).map(|sa| sa_stats(&sa, &direction)))
    }

    /// Counters of the whole data plane, each SA and each session, read
    /// without stopping traffic.
    #[napi]
    pub fn stats(&self) -> Result<DataPlaneStats> {
        let counters = self.counter_map()?;
        let mut sas = Vec::new();
        for (direction, map) in [("in", &self.tables.sas_in), ("out", &self.tables.sas_out)] {
            for sa in map.iter() {
                sas.push(sa_stats(&sa, direction));
            }
        }
        let sessions = self
            .tables
            .sessions
            .iter()
            .map(|s| session_stats(&s))
            .collect();
        Ok(DataPlaneStats {
            counters,
            sas,
            sessions,
            sites: self.site_stats()?,
        })
    }

    /// What `status()` and health checks need: the counters, how many SAs
    /// and sessions there are, and the sites. Unlike `stats()` it builds no
    /// object per SA or session, which at 10,000 sessions made every
    /// metrics scrape and readiness probe a 100-200 ms stall of the event
    /// loop.
    #[napi]
    pub fn summary(&self) -> Result<DataPlaneSummary> {
        Ok(DataPlaneSummary {
            counters: self.counter_map()?,
            sas: (self.tables.sas_in.len() + self.tables.sas_out.len()) as u32,
            sessions: self.tables.sessions.len() as u32,
            sites: self.site_stats()?,
        })
    }

    fn counter_map(&self) -> Result<HashMap<String, f64>> {
        let engine = self.engine()?;
        let mut counters: HashMap<String, f64> = engine
            .counters()
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v as f64))
            .collect();
        counters.insert("js_callbacks".into(), self.calls.load(Relaxed) as f64);
        // Gauges, not counters: control items queued for JS and not yet
        // handled, and their payload bytes.
        counters.insert("up_queue_depth".into(), engine.up_pending() as f64);
        counters.insert("up_queue_bytes".into(), engine.up_pending_bytes() as f64);
        Ok(counters)
    }

    fn site_stats(&self) -> Result<Vec<SiteStats>> {
        let now = self.engine()?.now_ns();
        Ok(self
            .tables
            .sites
            .all()
            .iter()
            .map(|s| {
                let c = &s.counters;
                let f = |a: &AtomicU64| a.load(Relaxed) as f64;
                let last = c.last_activity_ns.load(Relaxed);
                SiteStats {
                    id: s.id,
                    binding: s.binding(),
                    rx_packets: f(&c.rx_packets),
                    rx_bytes: f(&c.rx_bytes),
                    tx_packets: f(&c.tx_packets),
                    tx_bytes: f(&c.tx_bytes),
                    selector_mismatch: f(&c.selector_mismatch),
                    idle_ms: if last == 0 {
                        -1.0
                    } else {
                        now.saturating_sub(last) as f64 / 1e6
                    },
                }
            })
            .collect())
    }

    /// Stops the workers, closes sockets and the TUN device, zeroes every
    /// key, and releases the callback (so Node can exit).
    #[napi]
    pub fn close(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        for spi in self
            .tables
            .sas_in
            .iter()
            .map(|e| *e.key())
            .collect::<Vec<_>>()
        {
            self.tables.remove_sa(spi, Direction::In);
        }
        for spi in self
            .tables
            .sas_out
            .iter()
            .map(|e| *e.key())
            .collect::<Vec<_>>()
        {
            self.tables.remove_sa(spi, Direction::Out);
        }
        self.callback.lock().expect("callback lock").take();
    }
}
