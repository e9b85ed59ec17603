/**
 * The soak's memory over time: RSS and the JS heap every 10 s, V8's heap
 * broken down by space (which one grows when heap total grows: the young
 * generation, bounded by --max-semi-space-size, or old-space pages V8
 * keeps), and the verdict numbers: the RSS slope over the last third of
 * the churn (least squares over the samples, so the first wave's growth is
 * not read as a trend) and whether the heap in use after a full GC is flat.
 */
import { getHeapSpaceStatistics } from 'node:v8'

const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10

/** Per V8 space with anything committed: [committed size, used, available] MB. */
export type HeapSpaces = Record<string, [number, number, number]>

export function heapSpaces(): HeapSpaces {
  const out: HeapSpaces = {}
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_size === 0 && s.space_used_size === 0) continue
    out[s.space_name] = [mb(s.space_size), mb(s.space_used_size), mb(s.space_available_size)]
  }
  return out
}

/** [seconds, RSS MB, heap used MB, heap total MB, external MB]. */
export type MemorySample = [number, number, number, number, number]

export interface SpaceSample {
  s: number
  spaces: HeapSpaces
}

export function sampleMemory(seconds: number): { memory: MemorySample; spaces: SpaceSample } {
  const m = process.memoryUsage()
  return { memory: [seconds, mb(m.rss), mb(m.heapUsed), mb(m.heapTotal), mb(m.external)], spaces: { s: seconds, spaces: heapSpaces() } }
}

/** Least-squares slope of column `col` over the samples at or after `fromS`, MB per hour; 0 with fewer than 2 samples. */
export function slopePerHour(samples: MemorySample[], col: 1 | 2 | 3 | 4, fromS: number): number {
  const pts = samples.filter((p) => p[0] >= fromS)
  if (pts.length < 2) return 0
  const n = pts.length
  const mx = pts.reduce((a, p) => a + p[0], 0) / n
  const my = pts.reduce((a, p) => a + p[col], 0) / n
  let num = 0
  let den = 0
  for (const p of pts) {
    num += (p[0] - mx) * (p[col] - my)
    den += (p[0] - mx) ** 2
  }
  return den === 0 ? 0 : Math.round((num / den) * 3600 * 10) / 10
}

/** A space's committed size at the first and last sample, MB, for the spaces that moved by at least 1 MB. */
export function spaceGrowth(samples: SpaceSample[]): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {}
  if (samples.length < 2) return out
  const first = samples[0]!.spaces
  const last = samples[samples.length - 1]!.spaces
  for (const name of new Set([...Object.keys(first), ...Object.keys(last)])) {
    const a = first[name]?.[0] ?? 0
    const b = last[name]?.[0] ?? 0
    if (Math.abs(b - a) >= 1) out[name] = [a, b]
  }
  return out
}

/** Heap used after a full GC counts as flat when it moved by less than 5% (and 3 MB) from warm to end. */
export function heapUsedFlat(warmBytes: number, endBytes: number): boolean {
  const d = Math.abs(endBytes - warmBytes)
  return d < 0.05 * warmBytes && d < 3 * 2 ** 20
}
