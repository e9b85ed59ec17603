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
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { sleep, until } from '../testing/wait.js'
import { serverIdle } from '../testing/vpn-rig.js'
import { startFleetRig } from './fleet-rig.js'
import type { FleetCounts } from './soak-fleet.js'
import { LAG_RESOLUTION_MS, snapshot } from './snapshot.js'
import type { TrafficReport } from './soak-plan.js'

export interface SoakOptions {
  sessions: number
  /** Seconds of churn. */
  seconds: number
  intervalMs?: number
  lifetime?: [number, number]
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
  lag_ms_p50: number
  lag_ms_p99: number
  lag_ms_max: number
  /** rss_mb_end / rss_mb_start: 1 is flat. */
  ratio: number
}

export async function runSoakBench(o: SoakOptions): Promise<SoakRecord> {
  const fr = await startFleetRig({ tag: 'soak', sessions: o.sessions, echo: true })
  try {
    const server = fr.rig.server
    // With the fleet's IPC channel open, as in every later snapshot.
    const idleBefore = snapshot()
    fr.send({ cmd: 'start', ...fr.placement, sessions: o.sessions, lifetime: o.lifetime ?? [30, 90], intervalMs: o.intervalMs ?? 500 })
    const ready = await fr.next('ready', 20 * 60_000)
    if (ready.connected !== o.sessions) throw new Error(`soak: only ${ready.connected} of ${o.sessions} sessions came up`)
    await sleep(2000)
    const start1 = snapshot()

    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
    lag.enable()
    fr.send({ cmd: 'churn', seconds: o.seconds })
    const steady = await fr.next('steady', (o.seconds + 600) * 1000)
    lag.disable()
    await sleep(2000)
    const end = snapshot()

    fr.send({ cmd: 'close' })
    const done = await fr.next('done', 10 * 60_000)
    await until(() => serverIdle(server.status()), 60_000)
    await sleep(1000)
    const idleAfter = snapshot()
    return record(o, ready.seconds, steady.counts, done.traffic, fr.rig.seen.down.map((d) => d.reason), { idleBefore, start: start1, end, idleAfter }, lag)
  } finally {
    await fr.close()
  }
}

function record(
  o: SoakOptions,
  setupSeconds: number,
  counts: FleetCounts,
  traffic: TrafficReport,
  downs: string[],
  s: Record<'idleBefore' | 'start' | 'end' | 'idleAfter', { rss: number; fds: number }>,
  lag: ReturnType<typeof monitorEventLoopDelay>,
): SoakRecord {
  const reasons: Record<string, number> = {}
  for (const r of downs) reasons[r] = (reasons[r] ?? 0) + 1
  const serverLost = downs.filter((r) => r !== 'peer' && r !== 'closed').length
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
    rss_mb_start: s.start.rss,
    rss_mb_end: s.end.rss,
    fds_start: s.start.fds,
    fds_end: s.end.fds,
    idle_rss_mb_before: s.idleBefore.rss,
    idle_rss_mb_after: s.idleAfter.rss,
    idle_fds_before: s.idleBefore.fds,
    idle_fds_after: s.idleAfter.fds,
    lag_ms_p50: ms(lag.percentile(50)),
    lag_ms_p99: ms(lag.percentile(99)),
    lag_ms_max: ms(lag.max),
    ratio: Math.round((s.end.rss / s.start.rss) * 1000) / 1000,
  }
}

export function formatSoakRecord(r: SoakRecord): string {
  return (
    `soak ${r.sessions} sessions, ${r.churn_seconds} s churn (${r.connects} connects, ${r.rekeys} rekeys): ` +
    `${r.sessions_lost} sessions lost, ${r.packets_lost}/${r.packets_sent} packets lost (${r.packets_lost_beyond_rekey} beyond rekey windows); ` +
    `RSS ${r.rss_mb_start} -> ${r.rss_mb_end} MB, fds ${r.fds_start} -> ${r.fds_end}; idle RSS ${r.idle_rss_mb_before} -> ${r.idle_rss_mb_after} MB, fds ${r.idle_fds_before} -> ${r.idle_fds_after}; ` +
    `event-loop delay p50 ${r.lag_ms_p50} ms, p99 ${r.lag_ms_p99} ms, max ${r.lag_ms_max} ms`
  )
}
