/**
 * Soak: one L2tpServer (this process) under `sessions` concurrent sessions
 * with churn for a bounded time. The clients run in one child process in
 * the clients' namespace (soak-fleet.ts: a ClientFleet, every session a
 * real IKE/L2TP/PPP client from its own UDP port); each session sends a
 * numbered UDP datagram to its own target behind the server every
 * `intervalMs` and counts the echoes (soak-traffic.ts, soak-echo.ts),
 * rekeys its ESP SAs half-way through each life, and ends and reconnects
 * after 30-90 s.
 *
 * Reported (one JSON line, bench "soak"): sessions lost (connects that
 * failed, sessions that ended without the client asking), packets lost
 * (and how many of them were sent within a rekey's window, which rekeying
 * may explain), the server process's RSS and open file descriptors with all
 * sessions up before and after the churn, and idle before the first and
 * after the last session (after a full GC each time), and the server's
 * event-loop delay during the churn.
 *
 * Where lost packets went, each source counted separately over the whole
 * run: the server's data-plane drop counters by reason, the kernel in the
 * server's namespace (UDP receive-buffer overflows, per-socket drops of
 * the server's and the echo's sockets, device drops such as a full TUN
 * queue), the kernel in the fleet's namespace (its sockets' overflows), the
 * fleet's own ESP drops, and when the lost datagrams were sent (after a
 * connect, near a rekey, just before a hang-up, other: soak-traffic.ts).
 *
 * Memory over time: the server's RSS and JS heap every 10 s of the churn
 * (no GC: the curve as it is), and a GC'd snapshot once one churn cycle
 * has run (`warm`: every slot has hung up and reconnected at least once,
 * the longest lifetime after the churn started) and at the end. The
 * slope per hour is the end against the warm snapshot, so the first
 * wave's growth of V8's heap and the allocator is not read as a leak; the
 * RSS slope over the last third of the churn (least squares over the
 * samples) says whether it still grows at the end. V8's heap by space
 * (soak-memory.ts) every 10 s and GC'd at the end and idle, to see which
 * space's committed size grows and whether a full GC gives it back.
 */
import { mallocTrim } from '../../native/index.js'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { sleep, until } from '../testing/wait.js'
import { serverIdle } from '../testing/vpn-rig.js'
import type { FleetPortCounters } from '../client/fleet-port.js'
import { startFleetRig } from './fleet-rig.js'
import type { FleetCounts, FleetLag } from './soak-fleet.js'
import { kernelDelta, readKernelCounters, type KernelCounters } from './soak-kernel.js'
import { LAG_RESOLUTION_MS, snapshot, type Snapshot } from './snapshot.js'
import type { TrafficReport } from './soak-plan.js'
import { rssByKind, type RssByKind } from './soak-smaps.js'
import { heapSpaces, heapUsedFlat, sampleMemory, slopePerHour, spaceGrowth, type HeapSpaces, type MemorySample, type SpaceSample } from './soak-memory.js'

export interface SoakOptions {
  sessions: number
  /** Seconds of churn. */
  seconds: number
  intervalMs?: number
  lifetime?: [number, number]
  /** At the end, idle: glibc's malloc_trim(0) called in this process (the addon's mallocTrim), and RSS measured again (what glibc keeps of freed memory). */
  mallocTrim?: boolean
}

export interface SoakRecord {
  bench: 'soak'
  sessions: number
  churn_seconds: number
  setup_seconds: number
  connects: number
  connect_failures: number
  /** Sessions that ended without the client asking (server side: any down reason but peer and closed). */
  sessions_lost: number
  server_down_reasons: Record<string, number>
  rekeys: number
  rekey_failures: number
  packets_sent: number
  packets_received: number
  packets_lost: number
  packets_lost_near_rekey: number
  packets_lost_beyond_rekey: number
  packets_late: number
  /** The lost ones by when they were sent (soak-plan.ts `TrafficReport.lostByWindow`). */
  packets_lost_by_window: TrafficReport['lostByWindow']
  /** Answers that matched no request in flight. */
  answers_unmatched: number
  /** Drops by where they happened, over the whole run. */
  drops: {
    /** The server's data-plane counters by reason (those that grew). */
    server_dataplane: Record<string, number>
    /** The server's namespace: UDP errors, drops of sockets by port (4500: the server, 7: the echo's), devices. */
    server_kernel: KernelCounters
    /** The fleet's namespace: its sockets' UDP errors and drops. */
    fleet_kernel: KernelCounters
    /** The fleet's ESP: SPI unknown, failed to open, could not send. */
    fleet_port: Pick<FleetPortCounters, 'unknownSpi' | 'espDropped' | 'sendFailed'>
  }
  /** The fleet process's event-loop delay during the churn and the most its send timer ran late, ms. */
  fleet_lag_ms_p99: number
  fleet_lag_ms_max: number
  fleet_tick_late_ms_max: number
  /** Datagrams the generator did not send because it ran late (no catch-up bursts). */
  fleet_sends_skipped: number
  /** GC'd snapshot after one churn cycle (the longest lifetime into the churn). */
  rss_mb_warm: number
  heap_used_mb_warm: number
  heap_used_mb_end: number
  /** (end - warm) per hour of churn, MB. */
  rss_mb_per_hour: number
  heap_used_mb_per_hour: number
  /** Every 10 s of the churn, no GC: [seconds, RSS MB, heap used MB, heap total MB, external MB]. */
  memory_samples: MemorySample[]
  /** Least-squares slopes over the samples of the last third of the churn (up to `churn_seconds`, not the last lives' wind-down), MB per hour: is it still growing at the end? */
  rss_mb_per_hour_last_third: number
  heap_total_mb_per_hour_last_third: number
  /** Heap used after a full GC, warm against end, moved by less than 5% and 3 MB. */
  heap_used_flat: boolean
  /** V8's heap by space every 10 s of the churn, no GC: per space [committed, used, available] MB. */
  heap_space_samples: SpaceSample[]
  /** Committed size of the spaces that moved >= 1 MB, first sample -> last sample, MB. */
  heap_space_growth: Record<string, [number, number]>
  /** V8's heap by space right after the end's and the idle server's full GC ([committed, used, available] MB). */
  heap_spaces_end_gc: HeapSpaces
  heap_spaces_idle_gc: HeapSpaces
  /** All sessions up, before and after the churn. */
  rss_mb_start: number
  rss_mb_end: number
  fds_start: number
  fds_end: number
  /** No session, before the first and after the last. */
  idle_rss_mb_before: number
  idle_rss_mb_after: number
  idle_fds_before: number
  idle_fds_after: number
  /** Heap used after a full GC, no session, before the first and after the last, MB. */
  idle_heap_used_mb_before: number
  idle_heap_used_mb_after: number
  /** RSS by kind of mapping (soak-smaps.ts: glibc main arena, thread arenas, other anonymous, files), MB, 1 s after each GC'd snapshot (`total`: the settled RSS). */
  rss_by_kind: Record<'idle_before' | 'start' | 'warm' | 'end' | 'idle_after', RssByKind>
  /** Every 10 s of the churn with the memory samples: [s, brk, thread arenas, other anonymous, files] MB. */
  rss_kind_samples: [number, number, number, number, number][]
  /** --malloc-trim: idle after the last session, RSS and its kinds after glibc's malloc_trim(0) (null: not asked). */
  idle_rss_mb_after_malloc_trim: number | null
  rss_by_kind_after_malloc_trim: RssByKind | null
  /** RSS rise over the last third of the churn (up to `churn_seconds`) from its least-squares slope, MB, and whether it is under 2% of the end's RSS (a plateau). */
  rss_rise_mb_last_third: number
  rss_plateau: boolean
  /** RSS after a full GC, end against warm (after one churn cycle), grew by less than 5%. */
  rss_flat_after_warm: boolean
  lag_ms_p50: number
  lag_ms_p99: number
  lag_ms_max: number
  /** rss_mb_end / rss_mb_start: 1 is flat. */
  ratio: number
}

export async function runSoakBench(o: SoakOptions): Promise<SoakRecord> {
  // Not the rig's record of every event: four objects per connect, kept in this process, would be measured as the server's growth.
  const fr = await startFleetRig({ tag: 'soak', sessions: o.sessions, echo: true, record: 'errors' })
  try {
    const server = fr.rig.server
    const downReasons: Record<string, number> = {}
    server.on('session-down', (d) => {
      downReasons[d.reason] = (downReasons[d.reason] ?? 0) + 1
    })
    const kinds: Partial<SoakRecord['rss_by_kind']> = {}
    // With the fleet's IPC channel open, as in every later snapshot.
    const idleBefore = snapshot()
    // RSS read again 1 s after each GC'd snapshot: what the process still holds once memory freed by the GC has been returned.
    const settled = async () => {
      await sleep(1000)
      return rssByKind()
    }
    kinds.idle_before = await settled()
    const nsBefore = { server: readKernelCounters(fr.net.a), fleet: readKernelCounters(fr.net.b), dataplane: { ...(server.status().counters ?? {}) } }
    fr.send({ cmd: 'start', ...fr.placement, sessions: o.sessions, lifetime: o.lifetime ?? [30, 90], intervalMs: o.intervalMs ?? 500 })
    const ready = await fr.next('ready', 20 * 60_000)
    if (ready.connected !== o.sessions) throw new Error(`soak: only ${ready.connected} of ${o.sessions} sessions came up`)
    await sleep(2000)
    const start1 = snapshot()
    kinds.start = await settled()

    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
    lag.enable()
    const churnStart = Date.now()
    const samples: MemorySample[] = []
    const spaceSamples: SpaceSample[] = []
    const kindSamples: SoakRecord['rss_kind_samples'] = []
    const sampler = setInterval(() => {
      const m = sampleMemory(Math.round((Date.now() - churnStart) / 1000))
      samples.push(m.memory)
      spaceSamples.push(m.spaces)
      const k = rssByKind()
      kindSamples.push([m.memory[0], k.brk, k.arenas, k.anon_other, k.files])
    }, 10_000)
    // One cycle: every first life (staggered over the longest lifetime) has ended and reconnected.
    const warmAfter = Math.min(o.seconds * 500, (o.lifetime ?? [30, 90])[1] * 1000 + 5000)
    let warm: Snapshot | undefined
    const warmTimer = setTimeout(() => {
      lag.disable()
      warm = snapshot()
      setTimeout(() => (kinds.warm = rssByKind()), 1000)
      lag.enable()
    }, warmAfter)
    fr.send({ cmd: 'churn', seconds: o.seconds })
    const steady = await fr.next('steady', (o.seconds + 600) * 1000)
    const churnEnd = Date.now()
    lag.disable()
    clearInterval(sampler)
    clearTimeout(warmTimer)
    await sleep(2000)
    const end = snapshot()
    kinds.end = await settled()
    const spacesEnd = heapSpaces()

    fr.send({ cmd: 'close' })
    const done = await fr.next('done', 10 * 60_000)
    const drops = {
      server_dataplane: counterDelta(nsBefore.dataplane, server.status().counters ?? {}),
      server_kernel: kernelDelta(nsBefore.server, readKernelCounters(fr.net.a)),
      fleet_kernel: kernelDelta(nsBefore.fleet, readKernelCounters(fr.net.b)),
      fleet_port: { unknownSpi: done.port.unknownSpi, espDropped: done.port.espDropped, sendFailed: done.port.sendFailed },
    }
    await until(() => serverIdle(server.status()), 60_000)
    await sleep(1000)
    const idleAfter = snapshot()
    kinds.idle_after = await settled()
    const spacesIdle = heapSpaces()
    const trimmed = o.mallocTrim ? await trimmedRss() : null
    const memory = { warm: warm ?? start1, warmAt: warm ? warmAfter / 1000 : 0, endAt: (churnEnd - churnStart) / 1000 + 2, samples, spaceSamples, spacesEnd, spacesIdle }
    kinds.warm ??= kinds.start
    const extra = { kinds: kinds as SoakRecord['rss_by_kind'], kindSamples, trimmed }
    return record(o, ready.seconds, steady.counts, done, drops, downReasons, { idleBefore, start: start1, end, idleAfter }, memory, lag, extra)
  } finally {
    await fr.close()
  }
}

function record(
  o: SoakOptions,
  setupSeconds: number,
  counts: FleetCounts,
  done: { traffic: TrafficReport; lag: FleetLag },
  drops: SoakRecord['drops'],
  reasons: Record<string, number>,
  s: Record<'idleBefore' | 'start' | 'end' | 'idleAfter', Snapshot>,
  memory: { warm: Snapshot; warmAt: number; endAt: number; samples: MemorySample[]; spaceSamples: SpaceSample[]; spacesEnd: HeapSpaces; spacesIdle: HeapSpaces },
  lag: ReturnType<typeof monitorEventLoopDelay>,
  extra: { kinds: SoakRecord['rss_by_kind']; kindSamples: SoakRecord['rss_kind_samples']; trimmed: { rss: number; kinds: RssByKind } | null },
): SoakRecord {
  // The verdict reads the churn only: once it stops (the last lives ending), V8 shrinks its young generation and RSS falls, which is no plateau.
  const churning = memory.samples.filter((p) => p[0] <= o.seconds)
  const slopeLastThird = slopePerHour(churning, 1, (o.seconds * 2) / 3)
  const riseLastThird = Math.round(((slopeLastThird * o.seconds) / 3 / 3600) * 10) / 10
  const traffic = done.traffic
  const hours = (memory.endAt - memory.warmAt) / 3600
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10
  const serverLost = Object.entries(reasons).reduce((n, [r, count]) => (r === 'peer' || r === 'closed' ? n : n + count), 0)
  const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100)
  return {
    bench: 'soak',
    sessions: o.sessions,
    churn_seconds: o.seconds,
    setup_seconds: Math.round(setupSeconds * 10) / 10,
    connects: counts.connects,
    connect_failures: counts.connectFailures,
    sessions_lost: Math.max(counts.unexpectedDowns, serverLost) + counts.connectFailures,
    server_down_reasons: reasons,
    rekeys: counts.rekeys,
    rekey_failures: counts.rekeyFailures,
    packets_sent: traffic.sent,
    packets_received: traffic.received,
    packets_lost: traffic.lost,
    packets_lost_near_rekey: traffic.lostNearRekey,
    packets_lost_beyond_rekey: traffic.lost - traffic.lostNearRekey,
    packets_late: traffic.late,
    packets_lost_by_window: traffic.lostByWindow,
    answers_unmatched: traffic.answersUnmatched,
    drops,
    fleet_lag_ms_p99: done.lag.p99,
    fleet_lag_ms_max: done.lag.max,
    fleet_tick_late_ms_max: traffic.tickLateMsMax,
    fleet_sends_skipped: traffic.sendsSkipped,
    rss_mb_warm: memory.warm.rss,
    heap_used_mb_warm: mb(memory.warm.heapUsed),
    heap_used_mb_end: mb(s.end.heapUsed),
    rss_mb_per_hour: Math.round(((s.end.rss - memory.warm.rss) / hours) * 10) / 10,
    heap_used_mb_per_hour: Math.round(((s.end.heapUsed - memory.warm.heapUsed) / 2 ** 20 / hours) * 10) / 10,
    memory_samples: memory.samples,
    rss_mb_per_hour_last_third: slopeLastThird,
    heap_total_mb_per_hour_last_third: slopePerHour(churning, 3, (o.seconds * 2) / 3),
    heap_used_flat: heapUsedFlat(memory.warm.heapUsed, s.end.heapUsed),
    heap_space_samples: memory.spaceSamples,
    heap_space_growth: spaceGrowth(memory.spaceSamples),
    heap_spaces_end_gc: memory.spacesEnd,
    heap_spaces_idle_gc: memory.spacesIdle,
    rss_mb_start: s.start.rss,
    rss_mb_end: s.end.rss,
    fds_start: s.start.fds,
    fds_end: s.end.fds,
    idle_rss_mb_before: s.idleBefore.rss,
    idle_rss_mb_after: s.idleAfter.rss,
    idle_fds_before: s.idleBefore.fds,
    idle_fds_after: s.idleAfter.fds,
    idle_heap_used_mb_before: mb(s.idleBefore.heapUsed),
    idle_heap_used_mb_after: mb(s.idleAfter.heapUsed),
    rss_by_kind: extra.kinds,
    rss_kind_samples: extra.kindSamples,
    idle_rss_mb_after_malloc_trim: extra.trimmed?.rss ?? null,
    rss_by_kind_after_malloc_trim: extra.trimmed?.kinds ?? null,
    rss_rise_mb_last_third: riseLastThird,
    rss_plateau: riseLastThird < 0.02 * s.end.rss,
    rss_flat_after_warm: s.end.rss - memory.warm.rss < 0.05 * memory.warm.rss,
    lag_ms_p50: ms(lag.percentile(50)),
    lag_ms_p99: ms(lag.percentile(99)),
    lag_ms_max: ms(lag.max),
    ratio: Math.round((s.end.rss / s.start.rss) * 1000) / 1000,
  }
}

/** glibc's malloc_trim(0) in this process (the addon's `mallocTrim`), then RSS. */
async function trimmedRss(): Promise<{ rss: number; kinds: RssByKind }> {
  mallocTrim()
  await sleep(500)
  return { rss: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10, kinds: rssByKind() }
}

function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(after)) if (!NOT_DROPS.has(k) && v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0)
  return out
}

/** Data-plane counters that count traffic or calls, not drops. */
const NOT_DROPS = new Set(['js_callbacks', 'esp_in', 'esp_out', 'ike_in', 'ike_out', 'keepalives_in', 'l2tp_control_in', 'l2tp_control_out', 'ppp_control_in', 'ppp_control_out', 'lcp_echo_requests_in', 'lcp_echo_replies_out', 'lcp_echo_replies_in', 'lcp_echo_requests_out', 'tun_in', 'tun_out', 'tun_read_calls', 'tun_gso_reads', 'tun_write_calls', 'tun_gso_writes', 'udp_recv_calls', 'udp_send_calls'])

export function formatSoakRecord(r: SoakRecord): string {
  return (
    `soak ${r.sessions} sessions, ${r.churn_seconds} s churn (${r.connects} connects, ${r.rekeys} rekeys): ` +
    `${r.sessions_lost} sessions lost, ${r.packets_lost}/${r.packets_sent} packets lost (${r.packets_lost_beyond_rekey} beyond rekey windows); ` +
    `RSS ${r.rss_mb_start} -> ${r.rss_mb_end} MB, fds ${r.fds_start} -> ${r.fds_end}; idle RSS ${r.idle_rss_mb_before} -> ${r.idle_rss_mb_after} MB, fds ${r.idle_fds_before} -> ${r.idle_fds_after}; ` +
    `event-loop delay p50 ${r.lag_ms_p50} ms, p99 ${r.lag_ms_p99} ms, max ${r.lag_ms_max} ms\n` +
    `  lost by when sent: ${JSON.stringify(r.packets_lost_by_window)}; unmatched answers ${r.answers_unmatched}\n` +
    `  drops: ${JSON.stringify(r.drops)}\n` +
    `  fleet event-loop delay p99 ${r.fleet_lag_ms_p99} ms, max ${r.fleet_lag_ms_max} ms, send timer late up to ${r.fleet_tick_late_ms_max} ms (${r.fleet_sends_skipped} sends skipped)\n` +
    `  RSS warm ${r.rss_mb_warm} -> end ${r.rss_mb_end} MB (${r.rss_mb_per_hour} MB/h), heap used ${r.heap_used_mb_warm} -> ${r.heap_used_mb_end} MB (${r.heap_used_mb_per_hour} MB/h)\n` +
    `  RSS slope over the last third ${r.rss_mb_per_hour_last_third} MB/h (heap total ${r.heap_total_mb_per_hour_last_third} MB/h); heap used after GC ${r.heap_used_flat ? 'flat' : 'NOT flat'} (idle ${r.idle_heap_used_mb_before} -> ${r.idle_heap_used_mb_after} MB)\n` +
    `  RSS rise over the last third ${r.rss_rise_mb_last_third} MB: ${r.rss_plateau ? 'plateau' : 'NO plateau'}; RSS after GC warm -> end ${r.rss_flat_after_warm ? 'flat' : 'GREW'} (5%)\n` +
    `  RSS settled, by kind [brk, thread arenas (count), other anonymous, files] MB: ${(['idle_before', 'start', 'warm', 'end', 'idle_after'] as const).map((k) => `${k} ${kindText(r.rss_by_kind[k])}`).join('; ')}` +
    `${r.idle_rss_mb_after_malloc_trim !== null ? `; idle after malloc_trim ${r.idle_rss_mb_after_malloc_trim} MB ${kindText(r.rss_by_kind_after_malloc_trim!)}` : ''}\n` +
    `  V8 spaces committed first -> last sample (MB): ${JSON.stringify(r.heap_space_growth)}\n` +
    `  V8 spaces after full GC [committed, used, available] MB: end ${JSON.stringify(r.heap_spaces_end_gc)}; idle ${JSON.stringify(r.heap_spaces_idle_gc)}\n` +
    `  memory every 10 s [s, rss, heapUsed, heapTotal, external]: ${JSON.stringify(r.memory_samples)}\n` +
    `  V8 spaces every 10 s [committed, used, available] MB: ${JSON.stringify(r.heap_space_samples)}`
  )
}

const kindText = (k: RssByKind) => `${k.total} [${k.brk}, ${k.arenas} (${k.arena_count}), ${k.anon_other}, ${k.files}]`
