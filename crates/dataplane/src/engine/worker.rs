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
use crate::io::offload::{self, TsoPlan, VnetHdr, VNET_HDR_LEN};
use crate::io::poll_readable;
use crate::io::tun::{self, TunSink, TunWriter};
use crate::io::udp::RecvBatch;
use crate::table::Direction;

const BATCH: usize = 64;
/// Packets from TUN sealed and sent per sendmmsg: a 64 KiB TCP super-packet
/// alone is ~45 of them.
const TUN_BATCH: usize = 128;
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
    tun: Option<TunSink>,
    /// Inbound packets toward TUN (coalesced with offloads).
    tun_writer: Option<TunWriter>,
    tun_bufs: Vec<Vec<u8>>,
    /// With TUN offloads: where a read lands (vnet header + up to 64 KiB)
    /// before it is cut into `tun_bufs`.
    gso_buf: Vec<u8>,
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
        let tun = io.tun.as_ref().map(|t| t.sink(index));
        if let Some(sink) = tun {
            fds.push(sink.fd);
            sources.push(Source::Tun);
        }
        let mtu = 65535usize;
        Self {
            index,
            ready: vec![false; fds.len()],
            fds,
            sources,
            recv: RecvBatch::new(BATCH, MAX_DATAGRAM),
            tun,
            tun_writer: tun.map(TunWriter::new),
            tun_bufs: (0..TUN_BATCH)
                .map(|_| vec![0u8; HEADROOM + mtu + TAILROOM])
                .collect(),
            gso_buf: if tun.is_some_and(|t| t.vnet_hdr) {
                vec![0u8; VNET_HDR_LEN + mtu]
            } else {
                Vec::new()
            },
            outgoing: Vec::with_capacity(TUN_BATCH),
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
            let local = self.recv.local[i];
            self.up.push(UpItem::Packet(
                Control::Ike {
                    peer,
                    local,
                    local_port,
                },
                data,
            ));
        }
    }

    fn natt(&mut self, shared: &Shared, fd: i32, socket: usize) {
        let local_port = shared.io.natt_addrs[socket].port();
        // Drain in batches until empty, but yield to the other fds after a
        // few rounds so a flood on one socket cannot starve the TUN side.
        for _ in 0..8 {
            bump(&shared.counters.udp_recv_calls);
            let n = self.recv.recv(fd).unwrap_or(0);
            for i in 0..n {
                let Some(peer) = self.recv.peers[i] else {
                    bump(&shared.counters.malformed_udp);
                    continue;
                };
                // With UDP_GRO one buffer may hold a run of datagrams.
                let (len, step) = self.recv.datagram_step(i);
                for start in (0..len).step_by(step) {
                    inbound::natt_datagram(
                        shared,
                        &mut self.recv.bufs[i][start..len.min(start + step)],
                        peer,
                        (self.recv.local[i], local_port),
                        self.tun_writer.as_mut(),
                        &mut self.up,
                    );
                }
            }
            self.flush_tun(shared);
            if n < BATCH {
                break;
            }
        }
    }

    /// Writes what the batch left coalescing and moves the write counts.
    fn flush_tun(&mut self, shared: &Shared) {
        let Some(w) = self.tun_writer.as_mut() else {
            return;
        };
        w.flush();
        let c = &shared.counters;
        let take = |n: &mut u64| std::mem::take(n);
        c.tun_write_calls.fetch_add(take(&mut w.calls), Relaxed);
        c.tun_gso_writes.fetch_add(take(&mut w.gso_writes), Relaxed);
        c.tun_write_failed.fetch_add(take(&mut w.failed), Relaxed);
    }

    fn raw(&mut self, shared: &Shared, fd: i32) {
        let n = self.recv.recv(fd).unwrap_or(0);
        for i in 0..n {
            let Some(peer) = self.recv.peers[i] else {
                continue;
            };
            let len = self.recv.lens[i];
            let buf = &mut self.recv.bufs[i][..len];
            inbound::raw_datagram(shared, buf, peer, self.tun_writer.as_mut(), &mut self.up);
        }
        self.flush_tun(shared);
    }

    fn tun(&mut self, shared: &Shared) {
        let Some(sink) = self.tun else { return };
        for _ in 0..8 {
            self.outgoing.clear();
            let (reads, full) = if sink.vnet_hdr {
                self.read_tun_offload(shared, sink)
            } else {
                self.read_tun_plain(shared, sink)
            };
            outbound::transmit(shared, self.index, &self.tun_bufs, &self.outgoing);
            if !full || reads == 0 {
                break;
            }
        }
    }

    /// One packet per read into each buffer; returns (reads, all buffers used).
    fn read_tun_plain(&mut self, shared: &Shared, sink: TunSink) -> (usize, bool) {
        let mut read = 0;
        for (b, buf) in self.tun_bufs.iter_mut().enumerate() {
            let room = buf.len() - HEADROOM - TAILROOM;
            bump(&shared.counters.tun_read_calls);
            match tun::read(sink.fd, &mut buf[HEADROOM..HEADROOM + room]) {
                Ok(Some(n)) if n > 0 => {
                    read += 1;
                    if let Some(out) = outbound::from_tun(shared, buf, n, sink) {
                        self.outgoing.push((b, out));
                    }
                }
                _ => return (read, false),
            }
        }
        (read, true)
    }

    /// With IFF_VNET_HDR: each read is one packet or a TCP super-packet,
    /// cut into MSS-sized packets in `tun_bufs`. Reads while a whole
    /// super-packet still fits; returns (reads, stopped for room).
    fn read_tun_offload(&mut self, shared: &Shared, sink: TunSink) -> (usize, bool) {
        let c = &shared.counters;
        let mut slot = 0;
        let mut reads = 0;
        // The most segments one read can become: 64 KiB at the smallest MSS
        // the kernel uses is more than the batch, so that case is sent in
        // parts below; this bound just keeps typical reads whole.
        while self.tun_bufs.len() - slot >= 48 {
            bump(&c.tun_read_calls);
            let n = match tun::read(sink.fd, &mut self.gso_buf) {
                Ok(Some(n)) if n > 0 => n,
                _ => return (reads, false),
            };
            reads += 1;
            let Some(hdr) = VnetHdr::parse(&self.gso_buf[..n]) else {
                bump(&c.tun_malformed);
                continue;
            };
            let packet = &mut self.gso_buf[VNET_HDR_LEN..n];
            if hdr.gso_type == offload::GSO_NONE {
                if offload::finish_checksum(&hdr, packet).is_err() {
                    bump(&c.tun_malformed);
                    continue;
                }
                let len = packet.len();
                let buf = &mut self.tun_bufs[slot];
                buf[HEADROOM..HEADROOM + len].copy_from_slice(packet);
                if let Some(out) = outbound::from_tun(shared, buf, len, sink) {
                    self.outgoing.push((slot, out));
                }
                slot += 1;
                continue;
            }
            let Ok(plan) = TsoPlan::new(&hdr, packet) else {
                bump(&c.tun_malformed);
                continue;
            };
            bump(&c.tun_gso_reads);
            for i in 0..plan.count() {
                if slot == self.tun_bufs.len() {
                    outbound::transmit(shared, self.index, &self.tun_bufs, &self.outgoing);
                    self.outgoing.clear();
                    slot = 0;
                }
                let buf = &mut self.tun_bufs[slot];
                let len =
                    plan.write_segment(&self.gso_buf[VNET_HDR_LEN..n], i, &mut buf[HEADROOM..]);
                if let Some(out) = outbound::from_tun(shared, buf, len, sink) {
                    self.outgoing.push((slot, out));
                }
                slot += 1;
            }
        }
        (reads, true)
    }
}

/// The once-a-second checks that produce time-based events (and the LCP
/// Echo-Requests that fall due).
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
        super::keepalive::scan(shared, now, &mut events);
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
