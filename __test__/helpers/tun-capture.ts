// A packet capture (dumpcap, from tshark) on one interface inside a test's
// namespace: started and ready before traffic, stopped and read back as raw
// frames. Fails, never skips, when dumpcap is missing.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readCapture, type Frame } from './pcap.js'

export interface Capture {
  /** Stops the capture and returns every frame it took. */
  stop(): Promise<Frame[]>
}

export async function startCapture(ns: string, iface: string, dir: string, filter?: string): Promise<Capture> {
  const file = join(dir, `${iface}-${Date.now()}.pcapng`)
  const child = spawn('ip', ['netns', 'exec', ns, 'dumpcap', '-i', iface, ...(filter ? ['-f', filter] : []), '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d))
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
  const deadline = Date.now() + 15_000
  while (!/Capturing on/.test(err)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`dumpcap did not start on ${iface}: ${err}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    async stop() {
      // Let the last packets reach the capture buffer.
      await new Promise((r) => setTimeout(r, 300))
      child.kill('SIGINT')
      const code = await closed
      if (code !== 0) throw new Error(`dumpcap exited ${code}: ${err}`)
      return readCapture(readFileSync(file))
    },
  }
}

/** An IPv4 packet's protocol, addresses and destination port (TCP/UDP), or undefined for anything else. */
export function ipv4Summary(p: Buffer): { protocol: number; src: string; dst: string; dstPort?: number } | undefined {
  if (p.length < 20 || p[0]! >> 4 !== 4) return undefined
  const ihl = (p[0]! & 15) * 4
  const protocol = p[9]!
  const src = [...p.subarray(12, 16)].join('.')
  const dst = [...p.subarray(16, 20)].join('.')
  return protocol === 6 || protocol === 17 ? { protocol, src, dst, dstPort: p.readUInt16BE(ihl + 2) } : { protocol, src, dst }
}
