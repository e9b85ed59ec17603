/**
 * Soak: one L2tpServer (this process) under `sessions` concurrent sessions
 * with churn for a bounded time. The clients run in a child process
 * (soak-fleet.ts: one L2tpClient per slot in the clients' namespace); each
 * session sends a numbered UDP datagram to its own target behind the
 * server every `intervalMs` and counts the echoes (soak-traffic.ts,
 * soak-echo.ts), rekeys its ESP SAs half-way through each life, and ends
 * and reconnects after 20-60 s.
 *
 * Reported (one JSON line, bench "soak"): sessions lost (connects that
 * failed, sessions that ended without the client asking), packets lost
 * (and how many of them were sent within a rekey's window, which rekeying
 * may explain), the server process's RSS and open file descriptors with all
 * sessions up before and after the churn, and idle before the first and
 * after the last session (after a full GC each time), and the server's
 * event-loop delay during the churn.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ip, createNetnsPair } from '../testing/netns.js'
import { sleep, until } from '../testing/wait.js'
import { RIG_PSK, serverIdle, startVpnRig } from '../testing/vpn-rig.js'
import type { FleetCounts, FleetMessage, FleetStart } from './soak-fleet.js'
import { SOAK_ECHO_PORT, SOAK_POOL, SOAK_TARGET_NET, soakUser, type TrafficReport } from './soak-plan.js'

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

/** The histogram records whole intervals between its timer's runs: the delay is what exceeds this. */
const LAG_RESOLUTION_MS = 10
const FLEET = fileURLToPath(new URL('./soak-fleet.ts', import.meta.url))
const ECHO = fileURLToPath(new URL('./soak-echo.ts', import.meta.url))

/** A full collection first (so RSS compares live memory), then RSS in MB and open descriptors. */
function snapshot(): { rss: number; fds: number } {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return { rss: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10, fds: readdirSync('/proc/self/fd').length }
}

export async function runSoakBench(o: SoakOptions): Promise<SoakRecord> {
  const net = createNetnsPair('soak')
  const users = Array.from({ length: o.sessions }, (_, i) => soakUser(i))
  const children: ReturnType<typeof spawn>[] = []
  let rig: Awaited<ReturnType<typeof startVpnRig>> | undefined
  try {
    rig = await startVpnRig(
      { serverAddress: net.addrA, serverNetns: net.path(net.a), clientAddress: net.addrB, clientNetns: net.path(net.b), tunPrefix: 'sk' },
      {
        pool: SOAK_POOL,
        users,
        ipsec: { psk: RIG_PSK, maxHalfOpen: 4 * o.sessions, maxHalfOpenPerSource: 2 * o.sessions },
        l2tp: { maxTunnelsPerPeer: 4 },
      },
    )
    const server = rig.server
    ip('-n', net.a, 'route', 'add', 'local', SOAK_TARGET_NET, 'dev', 'lo')
    const echo = spawn('ip', ['netns', 'exec', net.a, process.execPath, '--import', 'tsx', ECHO, String(o.sessions), String(SOAK_ECHO_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(echo)
    await new Promise<void>((resolve, reject) => {
      echo.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
      echo.on('exit', (code) => reject(new Error(`soak echo exited ${code}`)))
    })
    const fleet = spawn(process.execPath, ['--import', 'tsx', FLEET], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.push(fleet)
    // With the fleet's IPC channel open, as in every later snapshot.
    const idleBefore = snapshot()
    const messages: FleetMessage[] = []
    fleet.on('message', (m: FleetMessage) => messages.push(m))
    const next = async <T extends FleetMessage['type']>(type: T, timeoutMs: number): Promise<Extract<FleetMessage, { type: T }>> => {
      const found = () => messages.find((m) => m.type === type || m.type === 'error')
      if (!(await until(() => found() !== undefined || fleet.exitCode !== null, timeoutMs))) throw new Error(`soak fleet: no ${type} within ${timeoutMs / 1000} s`)
      const m = found()
      if (!m) throw new Error(`soak fleet exited ${fleet.exitCode}`)
      if (m.type === 'error') throw new Error(`soak fleet: ${m.message}`)
      messages.splice(messages.indexOf(m), 1)
      return m as Extract<FleetMessage, { type: T }>
    }
    const start: FleetStart = {
      cmd: 'start',
      server: net.addrA,
      psk: RIG_PSK,
      clientAddress: net.addrB,
      clientNetns: net.path(net.b),
      clientNetnsName: net.b,
      sessions: o.sessions,
      lifetime: o.lifetime ?? [20, 60],
      intervalMs: o.intervalMs ?? 500,
    }
    fleet.send(start)
    const ready = await next('ready', 20 * 60_000)
    if (ready.connected !== o.sessions) throw new Error(`soak: only ${ready.connected} of ${o.sessions} sessions came up`)
    await sleep(2000)
    const start1 = snapshot()

    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
    lag.enable()
    fleet.send({ cmd: 'churn', seconds: o.seconds })
    const steady = await next('steady', (o.seconds + 600) * 1000)
    lag.disable()
    await sleep(2000)
    const end = snapshot()

    fleet.send({ cmd: 'close' })
    const done = await next('done', 10 * 60_000)
    await until(() => serverIdle(server.status()), 60_000)
    await sleep(1000)
    const idleAfter = snapshot()
    return record(o, ready.seconds, steady.counts, done.traffic, rig.seen.down.map((d) => d.reason), { idleBefore, start: start1, end, idleAfter }, lag)
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    await rig?.close()
    net.cleanup()
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
  const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - LAG_RESOLUTION_MS)
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
