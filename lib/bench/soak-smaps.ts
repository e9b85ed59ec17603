/**
 * The server process's resident memory by kind of mapping (/proc/self/smaps),
 * to say where RSS outside the JS heap is: glibc's main arena (the brk
 * heap), glibc's thread arenas (each a 64 MiB-aligned mapping of its own:
 * the data plane's threads and libuv's allocate there), other anonymous
 * mappings (V8's heap pages, large malloc blocks served by mmap, thread
 * stacks), and mapped files (node, the addon, shared libraries).
 */
import { readFileSync } from 'node:fs'

/** glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's heap is mapped at this alignment and reserves this much. */
const ARENA_SPAN = 64 * 2 ** 20

export interface RssByKind {
  /** MB resident: all of it (the sum over every mapping), then by kind. */
  total: number
  brk: number
  arenas: number
  /** Thread arenas (64 MiB-aligned heaps) with anything resident. */
  arena_count: number
  anon_other: number
  files: number
}

interface Mapping {
  start: number
  end: number
  perms: string
  path: string
  rssKb: number
}

function mappings(text: string): Mapping[] {
  const out: Mapping[] = []
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header) {
      out.push({ start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), perms: header[3]!, path: header[4]!, rssKb: 0 })
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss && out.length) out[out.length - 1]!.rssKb = Number(rss[1])
  }
  return out
}

/** Classifies `smaps` text (default: this process's). */
export function rssByKind(text = readFileSync('/proc/self/smaps', 'utf8')): RssByKind {
  const kb = { brk: 0, arenas: 0, anon: 0, files: 0 }
  let arenaCount = 0
  const maps = mappings(text)
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!
    if (m.path === '[heap]') kb.brk += m.rssKb
    else if (m.path.startsWith('/')) kb.files += m.rssKb
    else if (m.path === '' && isArena(m, maps[i + 1])) {
      kb.arenas += m.rssKb
      if (m.rssKb > 0) arenaCount++
    } else kb.anon += m.rssKb
  }
  const mb = (k: number) => Math.round((k / 1024) * 10) / 10
  return { total: mb(kb.brk + kb.arenas + kb.anon + kb.files), brk: mb(kb.brk), arenas: mb(kb.arenas), arena_count: arenaCount, anon_other: mb(kb.anon), files: mb(kb.files) }
}

/** A thread arena's heap: read-write, anonymous, starting on a 64 MiB boundary, its reserve (none, or an inaccessible rest) ending on the next. */
function isArena(m: Mapping, next: Mapping | undefined): boolean {
  if (!m.perms.startsWith('rw') || m.start % ARENA_SPAN !== 0) return false
  if (m.end - m.start === ARENA_SPAN) return true
  return next !== undefined && next.path === '' && next.perms.startsWith('---') && next.start === m.end && next.end === m.start + ARENA_SPAN
}
