// Running things inside a test's network namespaces: ping, node scripts,
// a 100 MB TCP transfer checked by SHA-256, and polling.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addNamespace, ip, removeNamespace } from '../../lib/testing/netns.js'

const SINK = fileURLToPath(new URL('./tcp-sink.mjs', import.meta.url))
const SOURCE = fileURLToPath(new URL('./tcp-source.mjs', import.meta.url))

export function ping(ns: string, target: string, count: number, extra: string[] = []): { received: number; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', ...extra, target], { encoding: 'utf8', timeout: 30_000 })
  const output = `${r.stdout}${r.stderr}`
  return { received: Number(/(\d+) received/.exec(output)?.[1] ?? 0), output }
}

/** `ping` without blocking the event loop (the server under test runs in this process). */
export function pingAsync(ns: string, target: string, count: number, extra: string[] = []): Promise<{ received: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', ...extra, target], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d))
    child.stderr.on('data', (d: Buffer) => (output += d))
    child.on('close', () => resolve({ received: Number(/(\d+) received/.exec(output)?.[1] ?? 0), output }))
  })
}

/** Runs `node ARGS...` inside `ns`; resolves with its stdout. */
export function runNode(ns: string, args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d
      for (const line of d.toString().split('\n')) if (line && onLine) onLine(line)
    })
    child.stderr.on('data', (d: Buffer) => (err += d))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))))
  })
}

/**
 * Sends `bytes` of seeded data over TCP from `fromNs` to a sink listening
 * on `address` in `toNs`; returns what each end saw ("<bytes> <sha256>").
 */
export async function tcpTransfer(fromNs: string, toNs: string, address: string, port: number, bytes: number, seed: string): Promise<{ sent: string; received: string }> {
  let listening: () => void = () => {}
  const ready = new Promise<void>((r) => (listening = r))
  const sink = runNode(toNs, [SINK, address, String(port)], (line) => line === 'listening' && listening())
  await ready
  const sent = (await runNode(fromNs, [SOURCE, address, String(port), String(bytes), seed])).trim()
  const received = (await sink).trim().split('\n').pop() ?? ''
  return { sent, received }
}

export { sleep, until, within } from '../../lib/testing/wait.js'

/**
 * A namespace with only `lo` (up) and a temporary directory, both removed
 * in teardown: where the CLI tests run `serve`/`start` as a process.
 */
export function serveSandbox(t: { teardown(fn: () => void): void }, tag: string): { ns: string; dir: string } {
  const ns = `l2t-${tag}-${process.pid}`
  const dir = mkdtempSync(join(tmpdir(), `l2tp-${tag}-`))
  addNamespace(ns)
  t.teardown(() => {
    removeNamespace(ns)
    rmSync(dir, { recursive: true, force: true })
  })
  ip('-n', ns, 'link', 'set', 'lo', 'up')
  return { ns, dir }
}
