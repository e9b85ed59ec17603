/**
 * (Soak benchmark helper.) The kernel's side of packet loss in a network
 * namespace: UDP receive-buffer overflows (/proc/net/snmp, the namespace's
 * own), each socket's drop count by local port (/proc/net/udp, column
 * `drops`) and every device's dropped counters (TUN queues included).
 * Counters are read before and after the run; `kernelDelta` is what
 * happened in between.
 */
import { netnsExec } from '../testing/netns.js'

export interface KernelCounters {
  /** /proc/net/snmp `Udp:` fields (InDatagrams, NoPorts, InErrors, RcvbufErrors, SndbufErrors...). */
  udp: Record<string, number>
  /** Socket drops summed by local port (sockets open at the time of reading). */
  socketDrops: Record<string, number>
  /** Device name -> rx_dropped / tx_dropped. */
  devices: Record<string, { rxDropped: number; txDropped: number }>
}

export function readKernelCounters(ns: string): KernelCounters {
  return { udp: snmpUdp(netnsExec(ns, ['cat', '/proc/net/snmp'])), socketDrops: socketDrops(netnsExec(ns, ['cat', '/proc/net/udp'])), devices: devices(netnsExec(ns, ['ip', '-s', '-j', 'link', 'show'])) }
}

/** after - before, keeping only what changed (a socket that is gone counts from 0). */
export function kernelDelta(before: KernelCounters, after: KernelCounters): KernelCounters {
  const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => v !== 0))
  const devicesChanged: KernelCounters['devices'] = {}
  for (const [name, d] of Object.entries(after.devices)) {
    const b = before.devices[name] ?? { rxDropped: 0, txDropped: 0 }
    if (d.rxDropped !== b.rxDropped || d.txDropped !== b.txDropped) devicesChanged[name] = { rxDropped: d.rxDropped - b.rxDropped, txDropped: d.txDropped - b.txDropped }
  }
  const udp = diff(before.udp, after.udp)
  // Datagram totals are context, not drops: keep the error fields only.
  delete udp.InDatagrams
  delete udp.OutDatagrams
  return { udp, socketDrops: diff(before.socketDrops, after.socketDrops), devices: devicesChanged }
}

function snmpUdp(text: string): Record<string, number> {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'))
  if (lines.length < 2) throw new Error('/proc/net/snmp: no Udp lines')
  const names = lines[0]!.split(/\s+/).slice(1)
  const values = lines[1]!.split(/\s+/).slice(1).map(Number)
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0]))
}

function socketDrops(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 13) continue
    const port = String(parseInt(f[1]!.split(':')[1]!, 16))
    out[port] = (out[port] ?? 0) + Number(f[12])
  }
  return out
}

function devices(json: string): KernelCounters['devices'] {
  const out: KernelCounters['devices'] = {}
  for (const l of JSON.parse(json) as { ifname: string; stats64?: { rx?: { dropped?: number }; tx?: { dropped?: number } } }[]) {
    out[l.ifname] = { rxDropped: l.stats64?.rx?.dropped ?? 0, txDropped: l.stats64?.tx?.dropped ?? 0 }
  }
  return out
}
