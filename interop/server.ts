/**
 * The server under test: `l2tp-ipsec serve --config FILE` as a child process
 * inside the scenario's namespace (`ip netns exec`), its JSON log kept in a
 * file and in memory, its admin socket queried directly (unix sockets cross
 * namespaces) or through the real `l2tp-ipsec sessions --json` command.
 *
 * Also the scenario's hook: guests ask the harness things ("how many
 * sessions does the server have now?") over TCP to 10.0.2.2:7777, which a
 * small relay inside the namespace forwards to a unix socket of ours.
 */
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { adminRequest } from '../lib/admin/index.js'
import type { SessionInfo } from '../lib/server/types.js'
import { exited, killGroup, spawnGroup, stopGroup } from './procs.js'

export const REPO = fileURLToPath(new URL('..', import.meta.url))
const CLI = ['--import', 'tsx', join(REPO, 'lib/cli/main.ts')]

export interface LogLine {
  level: number
  time: number
  msg: string
  [key: string]: unknown
}

/** The scenario's server.yaml with the harness's admin socket and logging; written next to it. */
export function serverConfig(source: string, target: string, adminSocket: string): void {
  const config = (parse(readFileSync(source, 'utf8')) ?? {}) as Record<string, unknown>
  config['admin'] = { socket: adminSocket }
  config['log'] = { level: 'debug', format: 'json' }
  writeFileSync(target, stringify(config))
}

export class ServerUnderTest {
  readonly lines: LogLine[] = []
  private child: ChildProcess | undefined
  private exit: Promise<number | string> | undefined

  constructor(
    readonly netns: string,
    readonly config: string,
    readonly adminSocket: string,
    readonly logFile: string,
    /** `serve --keylog`: the server's IKE and ESP keys for tshark. */
    readonly keylog: string,
  ) {}

  async start(timeoutMs = 30_000): Promise<void> {
    const log = createWriteStream(this.logFile)
    // No UDP GSO toward the clients: the capture on lo records a GSO send as
    // one datagram holding a run of ESP packets (segmented only on delivery),
    // which tshark reads as one ESP packet with a bad ICV. The clients get
    // proper datagrams either way (their pings and iperf3 pass with GSO on).
    const env = { ...process.env, L2TP_IPSEC_NO_OFFLOAD: 'udp-gso' }
    const child = spawnGroup('/usr/sbin/ip', ['netns', 'exec', this.netns, process.execPath, ...CLI, 'serve', '--config', this.config, '--keylog', this.keylog], { cwd: REPO, env })
    this.child = child
    this.exit = exited(child)
    let partial = ''
    child.stderr?.on('data', (d: Buffer) => {
      log.write(d)
      partial += d.toString()
      let nl: number
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        try {
          this.lines.push(JSON.parse(line) as LogLine)
        } catch {
          this.lines.push({ level: 50, time: Date.now(), msg: line })
        }
      }
    })
    child.stdout?.on('data', (d: Buffer) => log.write(d))
    child.on('exit', () => log.end())
    const deadline = Date.now() + timeoutMs
    while (!this.lines.some((l) => /admin socket ready/.test(l.msg))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${this.tail(20)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  sessions(): Promise<SessionInfo[]> {
    return adminRequest(this.adminSocket, 'sessions', {}, { timeoutMs: 5000 })
  }

  kick(id: number): Promise<unknown> {
    return adminRequest(this.adminSocket, 'kick', { id }, { timeoutMs: 5000 })
  }

  /** `l2tp-ipsec sessions --json` exactly as an operator runs it (asynchronously: other VMs' timers keep running). */
  async sessionsCli(): Promise<{ status: number | string; sessions: SessionInfo[] | undefined; output: string }> {
    const child = spawnGroup(process.execPath, [...CLI, 'sessions', '--json', '--socket', this.adminSocket], { cwd: REPO })
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => (stdout += d))
    child.stderr?.on('data', (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => killGroup(child), 30_000)
    const status = await exited(child)
    clearTimeout(timer)
    let sessions: SessionInfo[] | undefined
    try {
      sessions = JSON.parse(stdout) as SessionInfo[]
    } catch {
      sessions = undefined
    }
    return { status, sessions, output: `${stdout}${stderr}` }
  }

  /** SIGTERM (the server closes every session politely), SIGKILL after 10 s. */
  async stop(): Promise<number | string | undefined> {
    if (!this.child) return undefined
    return stopGroup(this.child, 10_000)
  }

  exitCode(): Promise<number | string> | undefined {
    return this.exit
  }

  /** The last n log lines in plain words. */
  tail(n: number): string {
    return this.lines
      .slice(-n)
      .map((l) => formatLogLine(l))
      .join('\n')
  }
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

export function formatLogLine(l: LogLine): string {
  const { level, time, msg, pid: _pid, hostname: _host, ...rest } = l
  const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''
  return `${new Date(time).toISOString().slice(11, 23)} ${LEVELS[level] ?? level} ${msg}${fields}`.slice(0, 400)
}

// --- the guests' hook ----------------------------------------------------------

export type HookHandler = (vm: string, command: string, args: string[]) => Promise<string>

export interface Hook {
  socket: string
  close(): Promise<void>
}

/** A unix socket answering one request line per connection with one answer line. */
export async function startHook(socket: string, handler: HookHandler): Promise<{ server: Server; socket: string }> {
  const server = createServer((conn) => {
    let buffered = ''
    conn.setEncoding('utf8')
    conn.on('error', () => {})
    conn.on('data', (d: string) => {
      buffered += d
      const nl = buffered.indexOf('\n')
      if (nl === -1) return
      const words = buffered.slice(0, nl).trim().split(/\s+/)
      const vm = words[0]?.startsWith('vm=') ? words.shift()!.slice(3) : '?'
      const [command = '', ...args] = words
      handler(vm, command, args)
        .then((answer) => conn.end(`${answer}\n`))
        .catch((e: unknown) => conn.end(`error ${(e as Error).message}\n`))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, () => resolve())
  })
  return { server, socket }
}

/** The relay inside the namespace: TCP 0.0.0.0:7777 → our unix socket. */
export function startHookRelay(netns: string, socket: string): ChildProcess {
  const code = `const net=require('net');net.createServer((c)=>{const u=net.connect(${JSON.stringify(socket)});c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(7777,'0.0.0.0')`
  return spawnGroup('/usr/sbin/ip', ['netns', 'exec', netns, process.execPath, '-e', code])
}
