/**
 * Sessions at scale: one L2tpServer (this process) and the client fleet
 * (soak-fleet.ts, one process in the clients' namespace, every session a
 * real IKEv1 Main + Quick Mode, L2TP tunnel and session, PPP with
 * MS-CHAPv2 and IPCP, ESP in UDP from its own source port). The fleet grows
 * to each count in turn; at each, the server's memory with every session
 * established and idle (after a full GC) against the idle server before the
 * first, and how fast the sessions were set up; beside it the same
 * against a warm idle server (after a warm-up of `warmup` sessions set up
 * and hung up) and the slope between consecutive counts, which leave out
 * the process's one-time costs. At the largest count, the
 * server's event-loop delay while every session exchanges LCP echoes with
 * it, against the same window measured idle before the first session.
 *
 * Records (bench "sessions"): metric "memory" per count (ratio: bytes per
 * session over the 16 KiB goal of issue #9), metric "lcp-echo" once
 * (ratio: event-loop delay p99 over the idle p99, both including the
 * histogram's 10 ms resolution, so 1 is no added delay; its `settled_*`
 * fields are a second memory reading after the window, when V8 may have
 * shrunk its young generation back), metric
 * "teardown" once (how long hanging everything up took, and whether the
 * server came back to idle memory).
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { mallocStats } from '../../native/index.js'
import { serverIdle } from '../testing/vpn-rig.js'
import { sleep, until } from '../testing/wait.js'
import { spawnFleet, startFleetRig } from './fleet-rig.js'
import { LAG_RESOLUTION_MS, snapshot, type Snapshot } from './snapshot.js'

export interface SessionsBenchOptions {
  /** Ascending session counts to hold (default 1,000 and 10,000). */
  counts: readonly number[]
  /** Seconds of the LCP echo window (default 30). */
  lagSeconds: number
  /** LCP echo interval of both ends during the bench, seconds (default 10). */
  echoInterval?: number
  /** Setups in flight (default 50). */
  concurrency?: number
  /** Sessions set up and hung up after the cold idle snapshot, for the warm baseline (default 200; 0: none, and no warm figures). */
  warmup?: number
}

export interface MallocMb {
  /** glibc malloc over every arena (MB): handed out and not freed, free chunks the arenas keep, large blocks mmapped one by one. */
  in_use: number
  free: number
  mmapped: number
}

/** V8's old space (MB): committed, in use, and committed minus in use (its reservation above use). */
export interface OldSpaceMb {
  committed: number
  used: number
  unused: number
}

export const SESSION_MEMORY_GOAL_BYTES = 16 * 1024

export type SessionsRecord =
  | {
      bench: 'sessions'
      metric: 'memory'
      sessions: number
      /** Setting up the sessions added since the previous count. */
      setup_seconds: number
      setups_per_second: number
      /** The server process's CPU time during that setup (all its threads: JS, GC, the data plane), and setups per CPU second. */
      setup_cpu_seconds: number
      setups_per_cpu_second: number
      connect_failures: number
      rss_mb_idle: number
      rss_mb: number
      rss_bytes_per_session: number
      /** Of it: the JS heap in use, and what is outside the JS heap (the native data plane, buffers, allocator). */
      js_heap_bytes_per_session: number
      native_bytes_per_session: number
      fds: number
      /** V8's committed memory per space (MB) right after the snapshot's full GC, idle before the first session and now: which space a per-session figure's reservation is in. */
      heap_spaces_mb_idle: Record<string, number>
      /** The same at the warm idle baseline (null without a warm-up). */
      heap_spaces_mb_warm: Record<string, number> | null
      heap_spaces_mb: Record<string, number>
      /**
       * Warm baseline: the idle server after `warmup_sessions` sessions were set up and hung up, after a full GC. What it
       * has above the cold idle server is paid once per process (V8's young generation grown to its bound, compiled code,
       * allocator arenas), not per session; per session against it leaves that out.
       */
      warmup_sessions: number
      rss_mb_warm_idle: number | null
      rss_bytes_per_session_warm: number | null
      js_heap_bytes_per_session_warm: number | null
      native_bytes_per_session_warm: number | null
      /** Marginal: the slope from the previous count (`marginal_from_sessions` established) to this one; null at the first count. */
      marginal_from_sessions: number | null
      rss_bytes_per_session_marginal: number | null
      js_heap_bytes_per_session_marginal: number | null
      native_bytes_per_session_marginal: number | null
      /** V8's old space, cold idle, warm idle and now: `unused` is what V8 holds committed above what lives there. */
      old_space_mb_idle: OldSpaceMb
      old_space_mb_warm: OldSpaceMb | null
      old_space_mb: OldSpaceMb
      /** glibc's malloc, cold idle, warm idle and now: what of the memory outside the JS heap is live and what the arenas keep free. */
      malloc_mb_idle: MallocMb
      malloc_mb_warm: MallocMb | null
      malloc_mb: MallocMb
      fleet_rss_mb: number
      goal_bytes_per_session: number
      ratio: number
    }
  | {
      bench: 'sessions'
      metric: 'lcp-echo'
      sessions: number
      seconds: number
      echo_interval_s: number
      /** PPP control frames the server's data plane handed to JS per second (echo requests and replies from the fleet). */
      ppp_control_in_per_second: number
      /** L2TP control messages (HELLOs and their acknowledgements, mostly) the data plane handed to JS per second. */
      l2tp_control_in_per_second: number
      server_cpu_percent: number
      lag_ms_p50: number
      lag_ms_p99: number
      lag_ms_max: number
      idle_lag_ms_p99: number
      ratio: number
      /**
       * Settled: the server's memory once it has run the echo window with every session up (no setup since the memory
       * record), read ~1 s after a full GC so V8's unmapper has released the pages it freed. Per session against the
       * cold idle server (as `rss_bytes_per_session`) and the warm one; the heap spaces' physical sizes show whether V8
       * shrank its young generation (new space) once the JS heap stopped allocating.
       */
      settled_rss_mb: number
      settled_rss_bytes_per_session: number
      settled_rss_bytes_per_session_warm: number | null
      settled_js_heap_bytes_per_session: number
      settled_native_bytes_per_session: number
      settled_heap_spaces_mb: Record<string, number>
      settled_old_space_mb: OldSpaceMb
    }
  | {
      bench: 'sessions'
      metric: 'teardown'
      sessions: number
      teardown_seconds: number
      rss_mb_idle_before: number
      /** The warm idle server (after the warm-up), null without one. */
      rss_mb_idle_warm: number | null
      rss_mb_idle_after: number
      /** The JS heap in use, idle before the first session and after the teardown (after a full GC): what separates a leak (live objects left) from memory the allocators keep. */
      heap_mb_idle_before: number
      heap_mb_idle_after: number
      /** V8's heap reserved (heapTotal) idle after the teardown. */
      heap_total_mb_idle_after: number
      fds_idle_before: number
      fds_idle_after: number
      ratio: number
    }

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
const oldSpace = (): OldSpaceMb => {
  const o = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!
  return { committed: mb(o.space_size), used: mb(o.space_used_size), unused: mb(o.space_size - o.space_used_size) }
}
const malloc = (): MallocMb => {
  const m = mallocStats()
  return { in_use: mb(m.inUse), free: mb(m.free), mmapped: mb(m.mmapped) }
}
const spaces = () => Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), mb(s.physical_space_size)]))
const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100)

/** A full GC (snapshot()), then ~1 s for V8's unmapper to hand the freed pages back, then RSS and the heap spaces again. */
async function settledSnapshot(): Promise<{ s: Snapshot; spaces: Record<string, number>; old: OldSpaceMb }> {
  const s = snapshot()
  await sleep(1000)
  const m = process.memoryUsage()
  return { s: { ...s, rss: mb(m.rss), rssBytes: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal }, spaces: spaces(), old: oldSpace() }
}

async function lagWindow(seconds: number): Promise<{ h: ReturnType<typeof monitorEventLoopDelay>; cpuPercent: number }> {
  const h = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  const cpu0 = process.cpuUsage()
  h.enable()
  await sleep(seconds * 1000)
  h.disable()
  const cpu = process.cpuUsage(cpu0)
  return { h, cpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 1000) / 10 }
}

export async function* runSessionsBench(o: SessionsBenchOptions): AsyncGenerator<SessionsRecord> {
  const counts = [...o.counts].sort((a, b) => a - b)
  const max = counts[counts.length - 1]!
  const echoInterval = o.echoInterval ?? 10
  const fr = await startFleetRig({ tag: 'sess', sessions: max, server: { ppp: { echoInterval, echoFailures: 6 } } })
  try {
    const server = fr.rig.server
    const idleLag = await lagWindow(Math.min(10, o.lagSeconds))
    const idle: Snapshot = snapshot()
    const idleSpaces = spaces()
    const idleOld = oldSpace()
    const idleMalloc = malloc()
    if (process.env.SESSIONS_BENCH_SNAPSHOT) writeHeapSnapshot(`${process.env.SESSIONS_BENCH_SNAPSHOT}.idle.heapsnapshot`)
    // The warm-up: a fleet of its own (the main one grows and never shrinks) sets up `warmup` sessions and hangs them
    // up; the server idle again after it is the warm baseline. The cold one above stays the reference of `ratio`.
    const warmup = o.warmup ?? 200
    let warm: { s: Snapshot; spaces: Record<string, number>; old: OldSpaceMb; malloc: MallocMb } | undefined
    if (warmup > 0) {
      const wf = spawnFleet(fr.net)
      try {
        wf.send({ cmd: 'start', ...fr.placement, sessions: warmup, concurrency: o.concurrency ?? 50, lifetime: [30, 90], intervalMs: 0, echoInterval })
        await wf.next('ready', 30 * 60_000)
        wf.send({ cmd: 'close' })
        await wf.next('done', 10 * 60_000)
      } finally {
        wf.fleet.kill('SIGKILL')
      }
      if (!(await until(() => serverIdle(server.status()), 5 * 60_000, 500))) throw new Error('sessions bench: the server was not idle 5 min after the warm-up')
      await sleep(2000)
      const s = snapshot()
      warm = { s, spaces: spaces(), old: oldSpace(), malloc: malloc() }
    }
    let previous: { sessions: number; s: Snapshot } | undefined
    const fleetUsage = async () => {
      fr.send({ cmd: 'usage' })
      return (await fr.next('usage', 60_000)).rssMb
    }
    for (const sessions of counts) {
      const cpu0 = process.cpuUsage()
      fr.send({ cmd: 'start', ...fr.placement, sessions, concurrency: o.concurrency ?? 50, lifetime: [30, 90], intervalMs: 0, echoInterval })
      const ready = await fr.next('ready', 60 * 60_000)
      const setupCpu = process.cpuUsage(cpu0)
      const setupCpuSeconds = (setupCpu.user + setupCpu.system) / 1e6
      await sleep(3000)
      const s = snapshot()
      const upSpaces = spaces()
      // SESSIONS_BENCH_SNAPSHOT=file: the server's JS heap at each count (file.<count>.heapsnapshot), for finding what a session holds.
      if (process.env.SESSIONS_BENCH_SNAPSHOT) writeHeapSnapshot(`${process.env.SESSIONS_BENCH_SNAPSHOT}.${sessions}.heapsnapshot`)
      const up = server.status().sessions
      const perSession = (a: number, b: number) => Math.round((a - b) / Math.max(1, up))
      const rssBytes = perSession(s.rssBytes, idle.rssBytes)
      const slope = (a: number, b: number) => (previous && up > previous.sessions ? Math.round((a - b) / (up - previous.sessions)) : null)
      const outside = (x: Snapshot) => x.rssBytes - x.heapTotal
      yield {
        bench: 'sessions',
        metric: 'memory',
        sessions: up,
        setup_seconds: Math.round(ready.seconds * 10) / 10,
        setups_per_second: Math.round((ready.connected / ready.seconds) * 10) / 10,
        setup_cpu_seconds: Math.round(setupCpuSeconds * 10) / 10,
        setups_per_cpu_second: Math.round((ready.connected / setupCpuSeconds) * 10) / 10,
        connect_failures: ready.failed,
        rss_mb_idle: idle.rss,
        rss_mb: s.rss,
        rss_bytes_per_session: rssBytes,
        js_heap_bytes_per_session: perSession(s.heapUsed, idle.heapUsed),
        native_bytes_per_session: perSession(s.rssBytes - s.heapTotal, idle.rssBytes - idle.heapTotal),
        fds: s.fds,
        heap_spaces_mb_idle: idleSpaces,
        heap_spaces_mb_warm: warm ? warm.spaces : null,
        heap_spaces_mb: upSpaces,
        warmup_sessions: warmup,
        rss_mb_warm_idle: warm ? warm.s.rss : null,
        rss_bytes_per_session_warm: warm ? perSession(s.rssBytes, warm.s.rssBytes) : null,
        js_heap_bytes_per_session_warm: warm ? perSession(s.heapUsed, warm.s.heapUsed) : null,
        native_bytes_per_session_warm: warm ? perSession(outside(s), outside(warm.s)) : null,
        marginal_from_sessions: previous && up > previous.sessions ? previous.sessions : null,
        rss_bytes_per_session_marginal: previous ? slope(s.rssBytes, previous.s.rssBytes) : null,
        js_heap_bytes_per_session_marginal: previous ? slope(s.heapUsed, previous.s.heapUsed) : null,
        native_bytes_per_session_marginal: previous ? slope(outside(s), outside(previous.s)) : null,
        old_space_mb_idle: idleOld,
        old_space_mb_warm: warm ? warm.old : null,
        old_space_mb: oldSpace(),
        malloc_mb_idle: idleMalloc,
        malloc_mb_warm: warm ? warm.malloc : null,
        malloc_mb: malloc(),
        fleet_rss_mb: await fleetUsage(),
        goal_bytes_per_session: SESSION_MEMORY_GOAL_BYTES,
        ratio: Math.round((rssBytes / SESSION_MEMORY_GOAL_BYTES) * 1000) / 1000,
      }
      previous = { sessions: up, s }
    }
    const sessions = server.status().sessions
    const before = server.status().counters?.ppp_control_in ?? 0
    const l2tpBefore = server.status().counters?.l2tp_control_in ?? 0
    // SESSIONS_BENCH_PROFILE=file.cpuprofile: a CPU profile of the server's process during the echo window (lib/bench/long-tasks.ts reads it).
    const profile = process.env.SESSIONS_BENCH_PROFILE ? new Session() : undefined
    if (profile) {
      profile.connect()
      await profile.post('Profiler.enable')
      await profile.post('Profiler.start')
    }
    const busy = await lagWindow(o.lagSeconds)
    if (profile) {
      const { profile: result } = await profile.post('Profiler.stop')
      writeFileSync(process.env.SESSIONS_BENCH_PROFILE!, JSON.stringify(result))
      profile.disconnect()
    }
    const after = server.status().counters?.ppp_control_in ?? 0
    const l2tpAfter = server.status().counters?.l2tp_control_in ?? 0
    const settled = await settledSnapshot()
    const settledPerSession = (a: number, b: number) => Math.round((a - b) / Math.max(1, sessions))
    yield {
      bench: 'sessions',
      metric: 'lcp-echo',
      sessions,
      seconds: o.lagSeconds,
      echo_interval_s: echoInterval,
      ppp_control_in_per_second: Math.round((after - before) / o.lagSeconds),
      l2tp_control_in_per_second: Math.round((l2tpAfter - l2tpBefore) / o.lagSeconds),
      server_cpu_percent: busy.cpuPercent,
      lag_ms_p50: ms(busy.h.percentile(50)),
      lag_ms_p99: ms(busy.h.percentile(99)),
      lag_ms_max: ms(busy.h.max),
      idle_lag_ms_p99: ms(idleLag.h.percentile(99)),
      ratio: Math.round((busy.h.percentile(99) / idleLag.h.percentile(99)) * 100) / 100,
      settled_rss_mb: settled.s.rss,
      settled_rss_bytes_per_session: settledPerSession(settled.s.rssBytes, idle.rssBytes),
      settled_rss_bytes_per_session_warm: warm ? settledPerSession(settled.s.rssBytes, warm.s.rssBytes) : null,
      settled_js_heap_bytes_per_session: settledPerSession(settled.s.heapUsed, idle.heapUsed),
      settled_native_bytes_per_session: settledPerSession(settled.s.rssBytes - settled.s.heapTotal, idle.rssBytes - idle.heapTotal),
      settled_heap_spaces_mb: settled.spaces,
      settled_old_space_mb: settled.old,
    }
    const t0 = performance.now()
    fr.send({ cmd: 'close' })
    await fr.next('done', 30 * 60_000)
    const idleAgain = await until(() => serverIdle(server.status()), 5 * 60_000, 500)
    const teardown = (performance.now() - t0) / 1000
    if (!idleAgain) throw new Error(`sessions bench: the server was not idle 5 min after the fleet hung up (${server.status().sessions} sessions left)`)
    await sleep(2000)
    const end = snapshot()
    if (process.env.SESSIONS_BENCH_SNAPSHOT) writeHeapSnapshot(`${process.env.SESSIONS_BENCH_SNAPSHOT}.after.heapsnapshot`)
    yield {
      bench: 'sessions',
      metric: 'teardown',
      sessions,
      teardown_seconds: Math.round(teardown * 10) / 10,
      rss_mb_idle_before: idle.rss,
      rss_mb_idle_warm: warm ? warm.s.rss : null,
      rss_mb_idle_after: end.rss,
      heap_mb_idle_before: mb(idle.heapUsed),
      heap_mb_idle_after: mb(end.heapUsed),
      heap_total_mb_idle_after: mb(end.heapTotal),
      fds_idle_before: idle.fds,
      fds_idle_after: end.fds,
      ratio: Math.round((end.rss / idle.rss) * 1000) / 1000,
    }
  } finally {
    await fr.close()
  }
}

export function formatSessionsRecord(r: SessionsRecord): string {
  if (r.metric === 'memory') {
    return (
      `sessions ${r.sessions}: setup ${r.setup_seconds} s (${r.setups_per_second}/s, ${r.connect_failures} failed; server CPU ${r.setup_cpu_seconds} s, ${r.setups_per_cpu_second}/CPU-s); server RSS ${r.rss_mb_idle} -> ${r.rss_mb} MB, ` +
      `${r.rss_bytes_per_session} B per session (JS heap ${r.js_heap_bytes_per_session} B, outside the heap ${r.native_bytes_per_session} B), ${r.fds} fds; fleet RSS ${r.fleet_rss_mb} MB; ratio to 16 KiB ${r.ratio}\n` +
      (r.rss_mb_warm_idle === null
        ? ''
        : `  against the warm idle server (${r.rss_mb_warm_idle} MB after ${r.warmup_sessions} sessions up and down): ${r.rss_bytes_per_session_warm} B per session (JS heap ${r.js_heap_bytes_per_session_warm} B, outside the heap ${r.native_bytes_per_session_warm} B)\n`) +
      (r.marginal_from_sessions === null
        ? ''
        : `  marginal ${r.marginal_from_sessions} -> ${r.sessions}: ${r.rss_bytes_per_session_marginal} B per session (JS heap ${r.js_heap_bytes_per_session_marginal} B, outside the heap ${r.native_bytes_per_session_marginal} B)\n`) +
      `  V8 old space committed/used/unused ${r.old_space_mb.committed}/${r.old_space_mb.used}/${r.old_space_mb.unused} MB (cold idle unused ${r.old_space_mb_idle.unused}, warm ${r.old_space_mb_warm?.unused ?? '-'}); ` +
      `malloc in use/free ${r.malloc_mb.in_use}/${r.malloc_mb.free} MB (cold idle ${r.malloc_mb_idle.in_use}/${r.malloc_mb_idle.free}, warm ${r.malloc_mb_warm ? `${r.malloc_mb_warm.in_use}/${r.malloc_mb_warm.free}` : '-'})`
    )
  }
  if (r.metric === 'lcp-echo') {
    return (
      `sessions ${r.sessions} LCP echoes every ${r.echo_interval_s} s both ways, ${r.seconds} s: ${r.ppp_control_in_per_second} PPP control frames/s in (L2TP ${r.l2tp_control_in_per_second}/s), server CPU ${r.server_cpu_percent}%, ` +
      `event-loop delay p50 ${r.lag_ms_p50} ms, p99 ${r.lag_ms_p99} ms, max ${r.lag_ms_max} ms (idle p99 ${r.idle_lag_ms_p99} ms), ratio ${r.ratio}\n` +
      `  settled after the window: RSS ${r.settled_rss_mb} MB, ${r.settled_rss_bytes_per_session} B per session (warm ${r.settled_rss_bytes_per_session_warm ?? '-'} B; JS heap ${r.settled_js_heap_bytes_per_session} B, outside the heap ${r.settled_native_bytes_per_session} B); ` +
      `heap spaces (MB) ${Object.entries(r.settled_heap_spaces_mb).map(([k, v]) => `${k} ${v}`).join(', ')}`
    )
  }
  return (
    `sessions ${r.sessions} torn down in ${r.teardown_seconds} s; idle RSS ${r.rss_mb_idle_before} (warm ${r.rss_mb_idle_warm ?? '-'}) -> ${r.rss_mb_idle_after} MB ` +
    `(JS heap in use ${r.heap_mb_idle_before} -> ${r.heap_mb_idle_after} MB, reserved ${r.heap_total_mb_idle_after} MB), fds ${r.fds_idle_before} -> ${r.fds_idle_after}`
  )
}
