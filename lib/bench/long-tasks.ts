/**
 * Long tasks in a V8 CPU profile (.cpuprofile, as `--cpu-prof` or
 * `Profiler.stop` write it): each run of consecutive non-idle samples
 * longer than a threshold (default 20 ms) is one turn of the event loop
 * that blocked it, and is attributed to the JS entry it ran under (the
 * first frame below the root: a timer's callback, the data plane's batch
 * callback, the GC) and to the functions that took its time.
 *
 *   npx tsx lib/bench/long-tasks.ts file.cpuprofile [threshold-ms]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
export interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
}

export interface LongTask {
  /** From the profile's start, ms. */
  startMs: number
  durationMs: number
  /** Time per entry frame (below the root), ms, largest first. */
  entries: [string, number][]
  /** Self time per function, ms, largest first. */
  self: [string, number][]
  /** Time per function on the stack (inclusive), ms, largest first. */
  inclusive: [string, number][]
}

const IDLE = new Set(['(idle)'])

function label(n: ProfileNode): string {
  const f = n.callFrame
  const file = f.url ? f.url.replace(/^.*\/(lib|node_modules)\//, '$1/') : ''
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`
}

const top = (m: Map<string, number>, n: number): [string, number][] =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => [k, Math.round(v * 10) / 10])

export function longTasks(p: CpuProfile, thresholdMs = 20, topN = 6): LongTask[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const stack = (id: number): ProfileNode[] => {
    const s: ProfileNode[] = []
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) s.push(byId.get(cur)!)
    return s.reverse() // root first
  }
  const tasks: LongTask[] = []
  let t = 0
  let run: { start: number; samples: { id: number; ms: number }[] } | undefined
  const close = (end: number) => {
    if (!run) return
    const duration = end - run.start
    if (duration >= thresholdMs) {
      const entries = new Map<string, number>()
      const self = new Map<string, number>()
      const incl = new Map<string, number>()
      for (const s of run.samples) {
        const st = stack(s.id)
        const entry = st[1] ? label(st[1]) : label(st[0]!)
        entries.set(entry, (entries.get(entry) ?? 0) + s.ms)
        const leaf = label(st[st.length - 1]!)
        self.set(leaf, (self.get(leaf) ?? 0) + s.ms)
        for (const l of new Set(st.slice(1).map(label))) incl.set(l, (incl.get(l) ?? 0) + s.ms)
      }
      tasks.push({ startMs: Math.round(run.start), durationMs: Math.round(duration * 10) / 10, entries: top(entries, topN), self: top(self, topN), inclusive: top(incl, topN * 2) })
    }
    run = undefined
  }
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time from the previous sample to sample i: sample i covers the interval up to the next one.
    t += (p.timeDeltas[i] ?? 0) / 1000
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000
    const node = byId.get(p.samples[i]!)!
    if (IDLE.has(node.callFrame.functionName)) {
      close(t)
      continue
    }
    run ??= { start: t, samples: [] }
    run.samples.push({ id: node.id, ms: dt })
  }
  close(t)
  return tasks
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: long-tasks.ts file.cpuprofile [threshold-ms]')
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const tasks = longTasks(p, Number(process.argv[3] ?? 20))
  const total = p.timeDeltas.reduce((a, b) => a + b, 0) / 1000
  console.log(`${tasks.length} tasks over ${process.argv[3] ?? 20} ms in ${Math.round(total)} ms of profile; longest first:`)
  for (const task of [...tasks].sort((a, b) => b.durationMs - a.durationMs).slice(0, 15)) {
    console.log(`\n@${task.startMs} ms: ${task.durationMs} ms`)
    console.log(`  entries:   ${task.entries.map(([k, v]) => `${v} ${k}`).join(' | ')}`)
    console.log(`  self:      ${task.self.map(([k, v]) => `${v} ${k}`).join(' | ')}`)
    console.log(`  inclusive: ${task.inclusive.map(([k, v]) => `${v} ${k}`).join(' | ')}`)
  }
}
