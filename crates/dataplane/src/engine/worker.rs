//! One worker thread: wait on its sockets and TUN queue, then move whole
//! batches. A panic while handling a batch is caught, counted and reported;
//! it never reaches Node.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use super::counters::{bump, DROP_REASONS};
use super::outbound::{self, Outgoing, HEADROOM, TAILROOM};
use super::up::{Control, Event, UpItem};
use super::{inbound, Shared};
use crate::io::udp::RecvBatch;
use crate::io::{poll_readable, tun};
use crate::table::Direction;

const BATCH: usize = 64;
/// Largest datagram we take from a socket (jumbo ESP is not a thing here).
const MAX_DATAGRAM: usize = 65535;

#[derive(Clone, Copy)]
enum Source {
    /// The shutdown eventfd: readable means stop.
    Wake,
    Ike(usize),
    Natt(usize),
    Raw,
    Tun,
}

struct Worker {
    index: usize,
    fds: Vec<i32>,
    sources: Vec<Source>,
    ready: Vec<bool>,
    recv: RecvBatch,
    tun_fd: Option<i32>,
    tun_bufs: Vec<Vec<u8>>,
    outgoing: Vec<(usize, Outgoing)>,
    /// Control packets and events of this turn, handed up in one message.
    up: Vec<UpItem>,
}

pub(crate) fn run(shared: Arc<Shared>, index: usize) {
    let mut worker = Worker::new(&shared, index);
    while !shared.stop.load(Relaxed) {
        let turn = catch_unwind(AssertUnwindSafe(|| worker.turn(&shared)));
        if let Err(panic) = turn {
            bump(&shared.counters.worker_panics);
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            shared.send_up(vec![UpItem::Event(Event::WorkerPanic {
                worker: index,
                message,
            })]);
        }
    }
}

impl Worker {
    fn new(shared: &Shared, index: usize) -> Self {
        let io = &shared.io;
        let mut fds = vec![shared.wake.as_raw_fd()];
        let mut sources = vec![Source::Wake];
        if index == 0 {
            for (i, fd) in io.ike.iter().enumerate() {
                fds.push(fd.as_raw_fd());
                sources.push(Source::Ike(i));
            }
            if let Some(fd) = &io.raw {
                fds.push(fd.as_raw_fd());
                sources.push(Source::Raw);
            }
        }
        for (i, fd) in io.natt[index].iter().enumerate() {
            fds.push(fd.as_raw_fd());
            sources.push(Source::Natt(i));
        }
        let tun_fd = io.tun.as_ref().map(|t| t.queues[index].as_raw_fd());
        if let Some(fd) = tun_fd {
            fds.push(fd);
            sources.push(Source::Tun);
        }
        let mtu = 65535usize;
        Self {
            index,
            ready: vec![false; fds.len()],
            fds,
            sources,
            recv: RecvBatch::new(BATCH, MAX_DATAGRAM),
            tun_fd,
            tun_bufs: (0..BATCH)
                .map(|_| vec![0u8; HEADROOM + mtu + TAILROOM])
                .collect(),
            outgoing: Vec::with_capacity(BATCH),
            up: Vec::new(),
        }
    }

    fn turn(&mut self, shared: &Shared) {
        if poll_readable(&self.fds, 100, &mut self.ready).is_err() {
            return;
        }
        for i in 0..self.fds.len() {
            if !self.ready[i] {
                continue;
            }
            match self.sources[i] {
                Source::Wake => return,
                Source::Ike(s) => self.ike(shared, self.fds[i], s),
                Source::Natt(s) => self.natt(shared, self.fds[i], s),
                Source::Raw => self.raw(shared, self.fds[i]),
                Source::Tun => self.tun(shared),
            }
        }
        shared.send_up(std::mem::take(&mut self.up));
    }

    fn ike(&mut self, shared: &Shared, fd: i32, socket: usize) {
        let local_port = shared.io.ike_addrs[socket].port();
        let n = self.recv.recv(fd).unwrap_or(0);
        for i in 0..n {
            let Some(peer) = self.recv.peers[i] else {
                continue;
            };
            bump(&shared.counters.ike_in);
            let data = self.recv.bufs[i][..self.recv.lens[i]].to_vec();
            self.up
                .push(UpItem::Packet(Control::Ike { peer, local_port }, data));
        }
    }

    fn natt(&mut self, shared: &Shared, fd: i32, socket: usize) {
        let local_port = shared.io.natt_addrs[socket].port();
        // Drain in batches until empty, but yield to the other fds after a
        // few rounds so a flood on one socket cannot starve the TUN side.
        for _ in 0..8 {
            let n = self.recv.recv(fd).unwrap_or(0);
            for i in 0..n {
                let Some(peer) = self.recv.peers[i] else {
                    bump(&shared.counters.malformed_udp);
                    continue;
                };
                let len = self.recv.lens[i];
                let buf = &mut self.recv.bufs[i][..len];
                inbound::natt_datagram(shared, buf, peer, local_port, self.tun_fd, &mut self.up);
            }
            if n < BATCH {
                break;
            }
        }
    }

    fn raw(&mut self, shared: &Shared, fd: i32) {
        let n = self.recv.recv(fd).unwrap_or(0);
        for i in 0..n {
            let Some(peer) = self.recv.peers[i] else {
                continue;
            };
            let len = self.recv.lens[i];
            let buf = &mut self.recv.bufs[i][..len];
            inbound::raw_datagram(shared, buf, peer, self.tun_fd, &mut self.up);
        }
    }

    fn tun(&mut self, shared: &Shared) {
        let Some(fd) = self.tun_fd else { return };
        for _ in 0..8 {
            self.outgoing.clear();
            let mut read = 0;
            for (b, buf) in self.tun_bufs.iter_mut().enumerate() {
                let room = buf.len() - HEADROOM - TAILROOM;
                match tun::read(fd, &mut buf[HEADROOM..HEADROOM + room]) {
                    Ok(Some(n)) if n > 0 => {
                        read += 1;
                        if let Some(out) = outbound::from_tun(shared, buf, n, fd) {
                            self.outgoing.push((b, out));
                        }
                    }
                    _ => break,
                }
            }
            outbound::transmit(shared, self.index, &self.tun_bufs, &self.outgoing);
            if read < BATCH {
                break;
            }
        }
    }
}

/// The once-a-second checks that produce time-based events.
#[derive(Default)]
pub(crate) struct Scanner {
    drops_seen: HashMap<&'static str, u64>,
    anomaly: crate::anomaly::AnomalyTracker,
}

/// Report when fewer than this many sequence numbers are left.
const SEQUENCE_HEADROOM: u64 = 1 << 24;
/// ICV failures + replays on one SA within a scan that are worth an event.
const AUTH_FAILURE_THRESHOLD: u64 = 32;

impl Scanner {
    pub(crate) fn scan(&mut self, shared: &Shared) -> Vec<Event> {
        let mut events = Vec::new();
        let tables = &shared.tables;
        for sa in tables.sas_in.iter().chain(tables.sas_out.iter()) {
            let (counters, last_seq) = {
                let esp = sa.esp.lock().expect("SA lock");
                (esp.counters(), esp.last_seq_out())
            };
            let (bytes, packets) = match sa.direction {
                Direction::In => (counters.bytes_in, counters.packets_in),
                Direction::Out => (counters.bytes_out, counters.packets_out),
            };
            let l = sa.lifetime;
            let reported = sa.reported.load(SeqCst);
            let hit = |limit: u64, value: u64| limit != 0 && value >= limit;
            let reason = |bytes_hit: bool| if bytes_hit { "bytes" } else { "packets" };
            let soft_bytes = hit(l.soft_bytes, bytes);
            if reported & 1 == 0 && (soft_bytes || hit(l.soft_packets, packets)) {
                sa.reported.fetch_or(1, SeqCst);
                events.push(Event::SaSoftLifetime {
                    spi: sa.spi,
                    reason: reason(soft_bytes),
                });
            }
            let hard_bytes = hit(l.hard_bytes, bytes);
            if reported & 2 == 0 && (hard_bytes || hit(l.hard_packets, packets)) {
                sa.reported.fetch_or(2, SeqCst);
                events.push(Event::SaHardLifetime {
                    spi: sa.spi,
                    reason: reason(hard_bytes),
                });
            }
            if sa.direction == Direction::Out
                && reported & 4 == 0
                && last_seq > u32::MAX as u64 - SEQUENCE_HEADROOM
            {
                sa.reported.fetch_or(4, SeqCst);
                events.push(Event::SaSequenceNearExhaustion {
                    spi: sa.spi,
                    seq: last_seq,
                });
            }
            let failures = counters.icv_failures + counters.replays;
            let before = sa.failures_seen.swap(failures, SeqCst);
            if failures - before >= AUTH_FAILURE_THRESHOLD {
                events.push(Event::SaAuthFailures {
                    spi: sa.spi,
                    count: failures - before,
                });
            }
        }
        let now = shared.now_ns();
        for session in tables.sessions.iter() {
            if session.idle_timeout_ns == 0 {
                continue;
            }
            let last = session.counters.last_activity_ns.load(Relaxed);
            let idle = now.saturating_sub(last);
            if idle >= session.idle_timeout_ns {
                if !session.idle_reported.swap(true, SeqCst) {
                    events.push(Event::SessionIdle {
                        session: session.id,
                        idle_ms: idle / 1_000_000,
                    });
                }
            } else {
                session.idle_reported.store(false, SeqCst);
            }
        }
        self.anomaly
            .scan(tables, std::time::Instant::now(), &mut events);
        let mut drops = Vec::new();
        for (name, value) in shared.counters.snapshot() {
            if !DROP_REASONS.contains(&name) {
                continue;
            }
            let before = self.drops_seen.insert(name, value).unwrap_or(0);
            if value > before {
                drops.push((name, value - before));
            }
        }
        if !drops.is_empty() {
            events.push(Event::Drops { counts: drops });
        }
        events
    }
}
