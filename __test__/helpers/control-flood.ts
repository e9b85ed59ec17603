// Floods of control traffic against the data plane's queue to JS
// (security.limits.controlQueue, controlQueueBytes) while the JS thread is
// held, shared by security-flood-wire.spec.ts and
// security-flood-control-bytes.spec.ts.
import { fileURLToPath } from 'node:url'
import { createServerMetrics } from '../../lib/metrics/registry.js'
import type { L2tpServer } from '../../lib/server/l2tp-server.js'
import { sample } from './ops-rig.js'
import { runNode } from './netns-run.js'
import type { Rig } from './vpn-rig.js'

const FLOOD = fileURLToPath(new URL('./ike-flood.mjs', import.meta.url))

/** Flooder addresses beside the client's own (10.250.0.2), on the client end of the veth. */
export function addAddresses(rig: Rig, addresses: string[]): void {
  for (const a of addresses) rig.net.exec(rig.net.b, ['ip', 'addr', 'add', `${a}/24`, 'dev', rig.net.vethB])
}

/** l2tp_ipsec_limit_hits_total by limit, as a scrape shows it. */
export function limitHits(t: { teardown(fn: () => void): void }, server: L2tpServer): (limit: string) => Promise<number> {
  const metrics = createServerMetrics(server)
  t.teardown(() => metrics.stop())
  return async (limit) => sample(await metrics.metrics(), 'l2tp_ipsec_limit_hits_total', { limit })
}

/**
 * An IKEv1 Main Mode message of `length` bytes with a responder cookie we
 * never gave: cheap to refuse, each counted as 'unknown cookies' by the
 * server's IKE endpoint.
 */
export function unknownCookieMessage(length: number): Buffer {
  const message = Buffer.alloc(length)
  message.fill(0x11, 8, 16)
  message[17] = 0x10
  message[18] = 2
  message.writeUInt32BE(length, 24)
  return message
}

export interface HeldFlood {
  /** Datagrams the flooder sent. */
  sent: number
  /** Peak RSS while held, in all and outside the JS heap. */
  peakRss: number
  peakNative: number
  /** Peak of the queue to JS while held: items and payload bytes (status() counters up_queue_depth, up_queue_bytes). */
  peakQueued: number
  peakQueuedBytes: number
}

/**
 * Holds the JS thread (where the server and the client run) while a flood
 * of `count` copies of `message` (fresh initiator cookies) goes from
 * `source` to the server's IKE port, until the data plane has read it (or
 * it stopped coming for 2 s, or 30 s); the peaks of memory and of the queue
 * meanwhile.
 */
export async function holdWhileFlooding(rig: Rig, source: string, message: Buffer, count: number): Promise<HeldFlood> {
  const counters = () => rig.server.status().counters ?? {}
  const start = counters().ike_in ?? 0
  const flood = runNode(rig.net.b, [FLOOD, rig.net.addrA, '500', String(count), source, message.toString('hex')])
  const peak = { peakRss: 0, peakNative: 0, peakQueued: 0, peakQueuedBytes: 0 }
  let last = -1
  let lastChange = Date.now()
  const deadline = Date.now() + 30_000
  for (;;) {
    const c = counters()
    const got = (c.ike_in ?? 0) - start
    const m = process.memoryUsage()
    peak.peakRss = Math.max(peak.peakRss, m.rss)
    peak.peakNative = Math.max(peak.peakNative, m.rss - m.heapTotal)
    peak.peakQueued = Math.max(peak.peakQueued, c.up_queue_depth ?? 0)
    peak.peakQueuedBytes = Math.max(peak.peakQueuedBytes, c.up_queue_bytes ?? 0)
    if (got !== last) ((last = got), (lastChange = Date.now()))
    if (got >= count || Date.now() > deadline || (got > 0 && Date.now() - lastChange > 2000)) break
    const spin = Date.now() + 5
    while (Date.now() < spin) {
      // busy: no callback runs
    }
  }
  return { sent: Number((await flood).trim()), ...peak }
}
