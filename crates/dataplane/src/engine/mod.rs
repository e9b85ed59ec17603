//! The running data plane: sockets, TUN, worker threads, and the dispatcher
//! that hands control traffic up to JS in batches.
//!
//! Threads are plain OS threads doing blocking batched syscalls (poll, then
//! recvmmsg/sendmmsg and TUN reads until empty): measured simpler and no
//! slower than an async runtime for a loop that never waits on anything but
//! its own fds. With several workers each gets its own UDP 4500 socket
//! (SO_REUSEPORT: the kernel keeps a peer's flow on one socket) and its own
//! TUN queue (IFF_MULTI_QUEUE: the kernel keeps an inner flow on one queue).

pub mod counters;
pub(crate) mod inbound;
pub(crate) mod keepalive;
pub(crate) mod outbound;
pub(crate) mod tunnel;
pub mod up;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::io::{raw, sys, tun, udp, Offloads};

/// Packets routed into the TUN device that may wait for a worker's read,
/// per queue. The kernel's default for a TUN device is 500: the soak
/// (bench/README.md) lost 0.4% of its echoes as the device's tx_dropped
/// when 1,000 sessions' answers came at once and a worker was not
/// scheduled for a few milliseconds on a loaded machine. A deeper queue
/// only holds memory while packets are actually waiting.
const TUN_TX_QUEUE_LEN: u32 = 4096;
use crate::table::Tables;
pub use counters::Counters;
pub use up::{Control, Event, UpBatch, UpBudget, UpItem, UpLimits, UpPermit, UpSink};

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// IKE (UDP 500) addresses.
    pub ike: Vec<SocketAddr>,
    /// NAT-T (UDP 4500) addresses.
    pub natt: Vec<SocketAddr>,
    /// Address for raw ESP (IP protocol 50), or none.
    pub raw_esp: Option<SocketAddr>,
    pub tun: Option<TunConfig>,
    pub workers: usize,
    /// Control packets waiting for JS before new ones are dropped and counted.
    pub up_queue: usize,
    /// Their payload bytes, bounded the same way.
    pub up_queue_bytes: usize,
    /// A network namespace (path such as /run/netns/NAME) to open the
    /// sockets and the TUN device in; the process stays where it is.
    pub netns: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TunConfig {
    pub name: String,
    pub mtu: u32,
}

/// The sockets and devices, shared by the workers and the control-send path.
pub(crate) struct Io {
    pub ike: Vec<OwnedFd>,
    pub ike_addrs: Vec<SocketAddr>,
    pub ike_v6: Vec<bool>,
    /// natt[worker][i]: worker's socket for config.natt[i].
    pub natt: Vec<Vec<OwnedFd>>,
    pub natt_v6: Vec<bool>,
    pub natt_addrs: Vec<SocketAddr>,
    pub raw: Option<OwnedFd>,
    pub tun: Option<tun::Tun>,
    pub offloads: Offloads,
}

pub(crate) struct Shared {
    pub tables: Arc<Tables>,
    pub counters: Counters,
    pub io: Io,
    pub up: SyncSender<Vec<UpItem>>,
    /// Items and bytes queued for JS and not yet handled by it (see `UpPermit`).
    pub up_budget: Arc<UpBudget>,
    pub started: Instant,
    pub stop: AtomicBool,
    /// An eventfd every worker polls beside its sockets: written once at
    /// shutdown so workers stop at once instead of at their poll timeout.
    pub wake: OwnedFd,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Queues a worker's items for JS in one message; what exceeds the
    /// bounds is dropped and counted rather than blocking the packet path.
    pub fn send_up(&self, mut items: Vec<UpItem>) {
        self.up_budget.admit(&mut items, &self.counters);
        if items.is_empty() {
            return;
        }
        if let Err(TrySendError::Full(items) | TrySendError::Disconnected(items)) =
            self.up.try_send(items)
        {
            self.up_budget.give_back(&items);
            self.counters
                .up_queue_full
                .fetch_add(items.len() as u64, Ordering::Relaxed);
        }
    }
}

pub struct Engine {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    pub local_addrs: LocalAddrs,
}

/// What the sockets actually bound to (port 0 resolved).
#[derive(Debug, Clone, Default)]
pub struct LocalAddrs {
    pub ike: Vec<SocketAddr>,
    pub natt: Vec<SocketAddr>,
    pub tun: Option<String>,
}

/// Runs `f` with the calling thread in network namespace `path`, then
/// returns the thread to where it was.
fn in_netns<T>(path: Option<&str>, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T>
where
    T: Send,
{
    let Some(path) = path else { return f() };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(path)
                    .map_err(|e| crate::io::context(format!("open netns {path}"), e))?;
                // Only this thread moves, and it ends with the scope.
                sys::enter_netns(&file)
                    .map_err(|e| crate::io::context(format!("enter netns {path}"), e))?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    })
}

fn open_io(config: &Config) -> io::Result<(Io, LocalAddrs)> {
    let workers = config.workers.max(1);
    let offloads = Offloads::from_env();
    let mut local = LocalAddrs::default();
    let mut ike = Vec::new();
    for addr in &config.ike {
        let fd = udp::bind(*addr, false)?;
        local.ike.push(udp::local_addr(&fd)?);
        ike.push(fd);
    }
    // Resolve port 0 once so every worker's socket shares the same port.
    let mut natt: Vec<Vec<OwnedFd>> = (0..workers).map(|_| Vec::new()).collect();
    for addr in &config.natt {
        let first = udp::bind(*addr, workers > 1)?;
        let bound = udp::local_addr(&first)?;
        local.natt.push(bound);
        natt[0].push(first);
        for sockets in natt.iter_mut().skip(1) {
            sockets.push(udp::bind(bound, true)?);
        }
    }
    let raw = config.raw_esp.map(raw::bind).transpose()?;
    let tun = match &config.tun {
        Some(t) => {
            let dev = tun::Tun::open(&t.name, workers, offloads)?;
            dev.set_mtu(t.mtu)?;
            dev.set_tx_queue_len(TUN_TX_QUEUE_LEN)?;
            dev.set_up()?;
            local.tun = Some(dev.name.clone());
            Some(dev)
        }
        None => None,
    };
    for fd in ike.iter().chain(natt.iter().flatten()).chain(raw.iter()) {
        tun::set_nonblocking(fd.as_raw_fd())?;
    }
    for fd in natt.iter().flatten().filter(|_| offloads.udp_gro) {
        // Best effort: without it datagrams simply arrive one by one.
        udp::enable_gro(fd);
    }
    if let Some(dev) = &tun {
        for q in &dev.queues {
            tun::set_nonblocking(q.as_raw_fd())?;
        }
    }
    let io = Io {
        ike_addrs: local.ike.clone(),
        natt_addrs: local.natt.clone(),
        ike_v6: config.ike.iter().map(|a| a.is_ipv6()).collect(),
        ike,
        natt_v6: config.natt.iter().map(|a| a.is_ipv6()).collect(),
        natt,
        raw,
        tun,
        offloads,
    };
    Ok((io, local))
}

impl Engine {
    /// Control items queued for JS and not yet handled by it (a gauge for the metrics).
    pub fn up_pending(&self) -> usize {
        self.shared.up_budget.items()
    }

    /// Their payload bytes (a gauge).
    pub fn up_pending_bytes(&self) -> usize {
        self.shared.up_budget.bytes()
    }

    /// Opens every socket and the TUN device, then starts the workers and the
    /// dispatcher. Fails whole (nothing left open) if any piece fails.
    pub fn start(config: Config, tables: Arc<Tables>, sink: Box<dyn UpSink>) -> io::Result<Engine> {
        let (io, local_addrs) = in_netns(config.netns.as_deref(), || open_io(&config))?;
        let (tx, rx) = sync_channel(config.up_queue.max(1));
        let shared = Arc::new(Shared {
            tables,
            counters: Counters::default(),
            io,
            up: tx,
            up_budget: Arc::new(UpBudget::new(UpLimits {
                items: config.up_queue,
                bytes: config.up_queue_bytes,
            })),
            started: Instant::now(),
            stop: AtomicBool::new(false),
            wake: sys::eventfd()?,
        });
        let mut threads = Vec::new();
        for index in 0..config.workers.max(1) {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("l2tp-ipsec-dp-{index}"))
                    .spawn(move || worker::run(shared, index))?,
            );
        }
        let dispatcher_shared = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("l2tp-ipsec-up".into())
                .spawn(move || dispatch(dispatcher_shared, rx, sink))?,
        );
        Ok(Engine {
            shared,
            threads,
            local_addrs,
        })
    }

    /// Monotonic nanoseconds on the engine's clock.
    pub fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.shared.tables
    }

    /// Sends control traffic from JS in one batch (see
    /// `outbound::prepare_control`); returns how many went out. Frames that
    /// could not be built are counted and skipped.
    pub fn send_control(&self, frames: &[(Control, &[u8], u16)]) -> usize {
        let prepared: Vec<outbound::Prepared> = frames
            .iter()
            .filter_map(|(meta, frame, port)| {
                let p = outbound::prepare_control(&self.shared, meta, frame, *port);
                if p.is_err() {
                    counters::bump(&self.shared.counters.send_failed);
                }
                p.ok()
            })
            .collect();
        outbound::send_prepared(&self.shared, &prepared)
    }

    /// Stops the threads and closes the sockets and the TUN device.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the workers (eventfd) and the dispatcher (an empty message).
        // A failed write leaves the workers to notice `stop` at their poll
        // timeout.
        let _ = sys::eventfd_signal(self.shared.wake.as_fd());
        let _ = self.shared.up.try_send(Vec::new());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Delivers queued items to the sink, a batch per wake-up, and once a
/// second scans SAs and sessions for the events that depend on time.
fn dispatch(shared: Arc<Shared>, rx: Receiver<Vec<UpItem>>, sink: Box<dyn UpSink>) {
    const MAX_BATCH: usize = 4096;
    const LINGER: Duration = Duration::from_millis(2);
    let mut scan = worker::Scanner::default();
    let mut last_scan = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let mut batch = UpBatch::default();
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(items) => {
                let mut taken = items.len();
                items.into_iter().for_each(|i| batch.push(i));
                // Linger briefly for what the workers are still reading, so a
                // burst becomes one JS call even when the machine is busy and
                // the workers wake often; control traffic waits at most
                // LINGER more.
                let deadline = Instant::now() + LINGER;
                while batch.len() < MAX_BATCH {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left.max(Duration::from_micros(1))) {
                        Ok(items) => {
                            taken += items.len();
                            items.into_iter().for_each(|i| batch.push(i));
                        }
                        Err(_) if Instant::now() < deadline => continue,
                        Err(_) => break,
                    }
                }
                // The batch holds its items' places until the sink drops
                // it: for JS, once the callback has run. Its packets are
                // exactly the queued items' payload bytes (the scan's
                // events below bring none and took no place).
                batch.permit = UpPermit::new(shared.up_budget.clone(), taken, batch.packets.len());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_scan.elapsed() >= Duration::from_secs(1) {
            last_scan = Instant::now();
            for event in scan.scan(&shared) {
                batch.push(UpItem::Event(event));
            }
        }
        if !batch.is_empty() {
            sink.deliver(batch);
        }
    }
}
