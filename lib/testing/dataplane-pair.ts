/**
 * (Used by the tests and the benchmarks; not part of the public API.)
 *
 * Two data planes joined by veth in two network namespaces, with one ESP
 * SA pair and one L2TP session between them: `server` plays the LNS with a
 * /32 for the peer, `client` plays our own client with a default route.
 * Inner addresses: server 192.168.77.1, client 192.168.77.10.
 */
import crypto from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { DataPlane } from '../../native/index.js'
import type { ControlBatch, DataPlaneOptions } from '../../native/index.js'
import { espSuiteInfo } from '../esp/index.js'
import { createNetnsPair, ip, type NetnsPair } from './netns.js'

export const SERVER_INNER = '192.168.77.1'
export const CLIENT_INNER = '192.168.77.10'

export interface Side {
  dp: DataPlane
  batches: ControlBatch[]
  /** The kernel thread ids of this data plane's workers. */
  workerTids: number[]
}

export interface DataplanePair {
  net: NetnsPair
  server: Side
  client: Side
  suite: string
  /** Keys of the client -> server SA (0x1001) and the server -> client SA (0x2002). */
  up: ReturnType<typeof keysFor>
  down: ReturnType<typeof keysFor>
  close: () => void
}

export interface PairOptions {
  suite?: string
  workers?: number
  mtu?: number
  encap?: 'udp' | 'raw'
}

function workerThreads(): Set<number> {
  const tids = new Set<number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('l2tp-ipsec-dp')) tids.add(Number(tid))
    } catch {
      // thread ended
    }
  }
  return tids
}

/** CPU seconds (user + system) the given threads have used. */
export function threadCpuSeconds(tids: readonly number[]): number {
  const tick = 100 // USER_HZ on Linux
  let total = 0
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12])) / tick
    } catch {
      // thread ended
    }
  }
  return total
}

export function keysFor(suite: string) {
  const info = espSuiteInfo(suite)
  return { encryptionKey: crypto.randomBytes(info.encryptionKeyLength), integrityKey: crypto.randomBytes(info.integrityKeyLength) }
}

export function createDataplanePair(tag: string, options: PairOptions = {}): DataplanePair {
  const suite = options.suite ?? 'aes128gcm-16'
  const encap = options.encap ?? 'udp'
  const net = createNetnsPair(tag)
  const sides: Side[] = []
  const close = () => {
    try {
      for (const s of sides.splice(0)) {
        try {
          s.dp.close()
        } catch {
          // closed already; the other side and the namespaces still go
        }
      }
    } finally {
      net.cleanup()
    }
  }
  try {
    const open = (ns: string, address: string, tun: string): Side => {
      const before = workerThreads()
      const side: Side = { dp: undefined as unknown as DataPlane, batches: [], workerTids: [] }
      const dpOptions: DataPlaneOptions = {
        natt: encap === 'udp' ? [`${address}:4500`] : [],
        rawEsp: encap === 'raw' ? address : undefined,
        tun: { name: tun, mtu: options.mtu ?? 1400 },
        netns: net.path(ns),
        workers: options.workers ?? 1,
      }
      side.dp = new DataPlane(dpOptions, (b) => side.batches.push(b))
      // A thread names itself when it starts, which may be just after the constructor returns.
      const want = options.workers ?? 1
      for (let i = 0; i < 50; i++) {
        side.workerTids = [...workerThreads()].filter((t) => !before.has(t))
        if (side.workerTids.length >= want) break
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
      }
      sides.push(side)
      return side
    }
    const server = open(net.a, net.addrA, 'l2tps0')
    const client = open(net.b, net.addrB, 'l2tpc0')
    const up = keysFor(suite)
    const down = keysFor(suite)
    const port = encap === 'udp' ? 4500 : 0
    // Client -> server SA 0x1001, server -> client SA 0x2002, both binding 1.
    server.dp.installSa({ spi: 0x1001, direction: 'in', binding: 1, suite, ...up, peer: `${net.addrB}:${port}`, encap })
    server.dp.installSa({ spi: 0x2002, direction: 'out', binding: 1, suite, ...down, peer: `${net.addrB}:${port}`, encap })
    client.dp.installSa({ spi: 0x1001, direction: 'out', binding: 1, suite, ...up, peer: `${net.addrA}:${port}`, encap })
    client.dp.installSa({ spi: 0x2002, direction: 'in', binding: 1, suite, ...down, peer: `${net.addrA}:${port}`, encap })
    const mru = options.mtu ?? 1400
    server.dp.upsertSession({ id: 1, binding: 1, localTunnel: 10, localSession: 20, peerTunnel: 30, peerSession: 40, ipv4: CLIENT_INNER, ipv6: 'fd00:77::10/128', mru })
    client.dp.upsertSession({ id: 7, binding: 1, localTunnel: 30, localSession: 40, peerTunnel: 10, peerSession: 20, defaultRoute: true, mru })
    ip('-n', net.a, 'addr', 'add', `${SERVER_INNER}/32`, 'dev', 'l2tps0')
    ip('-n', net.a, 'route', 'add', `${CLIENT_INNER}/32`, 'dev', 'l2tps0')
    ip('-n', net.b, 'addr', 'add', `${CLIENT_INNER}/32`, 'dev', 'l2tpc0')
    ip('-n', net.b, 'route', 'add', '192.168.77.0/24', 'dev', 'l2tpc0')
    ip('-n', net.a, '-6', 'addr', 'add', 'fd00:77::1/128', 'dev', 'l2tps0', 'nodad')
    ip('-n', net.a, '-6', 'route', 'add', 'fd00:77::10/128', 'dev', 'l2tps0')
    ip('-n', net.b, '-6', 'addr', 'add', 'fd00:77::10/128', 'dev', 'l2tpc0', 'nodad')
    ip('-n', net.b, '-6', 'route', 'add', 'fd00:77::/64', 'dev', 'l2tpc0')
    return { net, server, client, suite, up, down, close }
  } catch (e) {
    close()
    throw e
  }
}
