/**
 * Live objects of this process by constructor, from a V8 heap snapshot
 * (which collects garbage first): what the churn check compares between two
 * points of a server's life to find state that grows per connect. Objects
 * and closures are keyed by their constructor or function name, the other
 * node kinds by kind (all strings together: their names are their text).
 */
import { getHeapSnapshot } from 'node:v8'

/** key -> [live count, shallow bytes]. */
export type Census = Record<string, [number, number]>

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Node kinds counted under their own names; every other kind is counted as `(kind)`. */
const NAMED_KINDS = new Set(['object', 'closure', 'native', 'array', 'hidden', 'code'])

export async function heapCensus(): Promise<Census> {
  const chunks: Buffer[] = []
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer)
  const snap = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SnapshotJson
  chunks.length = 0
  const fields = snap.snapshot.meta.node_fields
  const kinds = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const out: Census = {}
  for (let i = 0; i < snap.nodes.length; i += width) {
    const kind = kinds[snap.nodes[i + typeAt]!]!
    if (kind === 'synthetic') continue
    const key = NAMED_KINDS.has(kind) ? (kind === 'object' ? snap.strings[snap.nodes[i + nameAt]!]! : `${kind}:${snap.strings[snap.nodes[i + nameAt]!]}`) : `(${kind})`
    const entry = (out[key] ??= [0, 0])
    entry[0]++
    entry[1] += snap.nodes[i + sizeAt]!
  }
  return out
}

export interface CensusGrowth {
  key: string
  /** Live count at the first and the second census. */
  before: number
  after: number
  /** Shallow bytes gained. */
  bytes: number
}

/** The keys whose live count grew by at least `minCount` from `a` to `b`, most grown first. */
export function censusGrowth(a: Census, b: Census, minCount: number): CensusGrowth[] {
  const out: CensusGrowth[] = []
  for (const [key, [count, bytes]] of Object.entries(b)) {
    const [was, wasBytes] = a[key] ?? [0, 0]
    if (count - was >= minCount) out.push({ key, before: was, after: count, bytes: bytes - wasBytes })
  }
  return out.sort((x, y) => y.after - y.before - (x.after - x.before))
}
