// A real FreeRADIUS 3 for the RADIUS tests: a minimal configuration written
// into a temporary directory (users file, PAP/CHAP/MS-CHAP/EAP-MD5,
// accounting to a detail file), started as `freeradius -X -d DIR` on
// 127.0.0.1 with free high ports, stopped in teardown.
//
// Not installed: the tests FAIL (never skip) with the apt-get line.
//
// FreeRADIUS 3.2.1 (Debian bookworm) predates the BlastRADIUS changes and
// adds a Message-Authenticator only to EAP replies; the config adds one to
// every reply (`update reply { Message-Authenticator := 0x00 }`, which the
// encoder signs), the workaround its advisory gives for older versions.
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const FREERADIUS = ['/usr/sbin/freeradius', '/usr/sbin/radiusd'].find((p) => existsSync(p))
export const RADCLIENT = ['/usr/bin/radclient'].find((p) => existsSync(p))
export const INSTALL_HINT = 'FreeRADIUS is not installed: run `apt-get update && apt-get install -y freeradius freeradius-utils` (CI installs it from .ci/run)'

export interface RadiusTestUser {
  name: string
  password: string
  /** Reply attributes in users-file syntax, e.g. { 'Framed-IP-Address': '10.9.0.7', 'Session-Timeout': '3600' }. */
  reply?: Record<string, string>
  /** More check items, e.g. { 'SMB-Account-CTRL-TEXT': '"[Ue]"' } (an expired password for rlm_mschap). */
  check?: Record<string, string>
}

export interface FreeRadiusOptions {
  secret: string
  users: RadiusTestUser[]
}

export interface DetailRecord {
  /** Attribute name → value as FreeRADIUS wrote it (quotes removed); repeated attributes keep the last. */
  [name: string]: string
}

export class FreeRadius {
  readonly dir: string
  readonly authPort: number
  readonly acctPort: number
  readonly secret: string
  private child: ChildProcess | undefined
  private log = ''

  private constructor(dir: string, authPort: number, acctPort: number, secret: string) {
    this.dir = dir
    this.authPort = authPort
    this.acctPort = acctPort
    this.secret = secret
  }

  /** Writes the configuration and starts the server; throws with the install hint when FreeRADIUS is missing. */
  static async start(options: FreeRadiusOptions): Promise<FreeRadius> {
    if (!FREERADIUS) throw new Error(INSTALL_HINT)
    const dir = mkdtempSync(join(tmpdir(), 'freeradius-'))
    chmodSync(dir, 0o700)
    const [authPort, acctPort] = await freeUdpPorts(2)
    const server = new FreeRadius(dir, authPort!, acctPort!, options.secret)
    server.writeConfig(options)
    await server.run()
    return server
  }

  /** What radiusd printed (for assertion messages). */
  get output(): string {
    return this.log
  }

  get detailFile(): string {
    return join(this.dir, 'acct', 'detail')
  }

  /** The accounting records in the detail file, in order. */
  detail(): DetailRecord[] {
    if (!existsSync(this.detailFile)) return []
    return readFileSync(this.detailFile, 'utf8').split(/\n\n+/).filter((b) => b.trim()).map((block) => {
      const record: DetailRecord = {}
      for (const line of block.split('\n').slice(1)) {
        const m = /^\s+([\w-]+) = (.*)$/.exec(line)
        if (m) record[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1')
      }
      return record
    })
  }

  /** Starts radiusd again on the same configuration and ports (after stop). */
  async run(): Promise<void> {
    if (this.child) return
    const child = spawn(FREERADIUS!, ['-X', '-d', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        this.log += chunk.toString()
        if (this.log.includes('Ready to process requests')) resolve()
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => reject(new Error(`freeradius exited with ${code} before it was ready:\n${this.log.slice(-3000)}`)))
    })
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`freeradius not ready in 15 s:\n${this.log.slice(-3000)}`)), 15_000).unref())
    await Promise.race([ready, timeout])
  }

  /** Stops radiusd (SIGTERM, then SIGKILL after 3 s). */
  async stop(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }

  /** Stops and removes the directory. */
  async close(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }

  private writeConfig(options: FreeRadiusOptions): void {
    const d = this.dir
    for (const sub of ['acct', 'run', 'log']) mkdirSync(join(d, sub))
    const users = options.users.map((u) => {
      const reply = Object.entries(u.reply ?? {}).map(([k, v]) => `\t${k} = ${v}`).join(',\n')
      const check = Object.entries(u.check ?? {}).map(([k, v]) => `, ${k} := ${v}`).join('')
      return `${u.name}\tCleartext-Password := ${JSON.stringify(u.password)}${check}${reply ? `\n${reply}` : ''}\n`
    }).join('\n')
    writeFileSync(join(d, 'users'), users, { mode: 0o600 })
    writeFileSync(join(d, 'radiusd.conf'), radiusdConf(d, this.authPort, this.acctPort, options.secret), { mode: 0o600 })
  }
}

function radiusdConf(dir: string, authPort: number, acctPort: number, secret: string): string {
  return `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = ${dir}/log
raddbdir = ${dir}
radacctdir = ${dir}/acct
name = freeradius
confdir = ${dir}
modconfdir = ${dir}
run_dir = ${dir}/run
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/run/radiusd.pid
max_request_time = 30
cleanup_delay = 2
max_requests = 16384
hostname_lookups = no
log {
  destination = stdout
  colourise = no
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}
client test {
  ipaddr = 127.0.0.1
  secret = ${JSON.stringify(secret)}
  require_message_authenticator = yes
}
modules {
  always ok {
    rcode = ok
  }
  pap {
  }
  chap {
  }
  mschap {
    use_mppe = yes
    require_encryption = no
    require_strong = no
    with_ntdomain_hack = yes
  }
  files {
    filename = ${dir}/users
  }
  eap {
    default_eap_type = md5
    timer_expire = 60
    ignore_unknown_eap_types = no
    max_sessions = 4096
    md5 {
    }
  }
  detail {
    filename = ${dir}/acct/detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
    locking = no
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${authPort}
  }
  listen {
    type = acct
    ipaddr = 127.0.0.1
    port = ${acctPort}
  }
  authorize {
    eap {
      ok = return
    }
    files
    chap
    mschap
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
    Auth-Type CHAP {
      chap
    }
    Auth-Type MS-CHAP {
      mschap
    }
    eap
  }
  preacct {
  }
  accounting {
    detail
    ok
  }
  post-auth {
    update reply {
      Message-Authenticator := 0x00
    }
    Post-Auth-Type REJECT {
      update reply {
        Message-Authenticator := 0x00
      }
    }
  }
}
`
}

/** Distinct free UDP ports on 127.0.0.1 (bound then released: good enough for a test). */
export async function freeUdpPorts(count: number): Promise<number[]> {
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<dgram.Socket>((resolve) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, '127.0.0.1', () => resolve(s))
  })))
  const ports = sockets.map((s) => s.address().port)
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  return ports
}

/**
 * Runs radclient with `attributes` (one "Name = value" per line) on stdin;
 * its exit code and output. Asynchronous: the listener it talks to may be
 * in this process.
 */
export function radclient(args: string[], attributes: string): Promise<{ status: number | null; output: string }> {
  if (!RADCLIENT) throw new Error(INSTALL_HINT)
  return new Promise((resolve) => {
    const child = spawn(RADCLIENT!, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, output })
    })
    child.stdin.end(attributes)
  })
}

/**
 * A UDP relay between a RADIUS client and a server, for recording real
 * exchanges and for tampering with replies: `tamper(reply, request)`
 * returns the datagrams the client gets instead of the reply (default:
 * the reply). One client at a time.
 */
export class UdpRelay {
  readonly port: number
  readonly exchanges: Array<{ request: Buffer; reply: Buffer }> = []
  tamper: ((reply: Buffer, request: Buffer) => Buffer[]) | undefined
  /** Sees each request on its way to the server. */
  onRequest: ((request: Buffer) => void) | undefined
  private readonly front: dgram.Socket
  private readonly back: dgram.Socket
  private client: dgram.RemoteInfo | undefined
  private readonly requests = new Map<number, Buffer>()

  private constructor(front: dgram.Socket, back: dgram.Socket, targetPort: number) {
    this.front = front
    this.back = back
    this.port = front.address().port
    front.on('message', (data, rinfo) => {
      this.client = rinfo
      this.onRequest?.(data)
      this.requests.set(data[1]!, data)
      back.send(data, targetPort, '127.0.0.1')
    })
    back.on('message', (reply) => {
      const request = this.requests.get(reply[1]!) ?? Buffer.alloc(0)
      this.exchanges.push({ request, reply })
      const out = this.tamper ? this.tamper(reply, request) : [reply]
      for (const datagram of out) front.send(datagram, this.client!.port, this.client!.address)
    })
  }

  /** Where the client sends from (after its first request). */
  get clientAddress(): { address: string; port: number } | undefined {
    return this.client && { address: this.client.address, port: this.client.port }
  }

  static async start(targetPort: number): Promise<UdpRelay> {
    const bind = () => new Promise<dgram.Socket>((resolve) => {
      const s = dgram.createSocket('udp4')
      s.bind(0, '127.0.0.1', () => resolve(s))
    })
    const [front, back] = await Promise.all([bind(), bind()])
    return new UdpRelay(front, back, targetPort)
  }

  async close(): Promise<void> {
    await Promise.all([this.front, this.back].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}

/** One random change: flip a bit, set a byte, truncate, change the Length field or an attribute length, append. */
export function mutateRadius(packet: Buffer, next: () => number): Buffer {
  const b = Buffer.from(packet)
  switch (next() % 6) {
    case 0: { const i = next() % b.length; b[i] = b[i]! ^ (1 << (next() % 8)); return b }
    case 1: { b[next() % b.length] = next() & 0xff; return b }
    case 2: return b.subarray(0, next() % b.length)
    case 3: { b.writeUInt16BE(next() % 0x1100, 2); return b }
    case 4: { const i = 21 + (next() % Math.max(1, b.length - 21)); if (i < b.length) b[i] = next() & 0xff; return b }
    default: { const extra = Buffer.from(Array.from({ length: 1 + (next() % 40) }, () => next() & 0xff)); const out = Buffer.concat([b, extra]); if (next() % 2) out.writeUInt16BE(out.length, 2); return out }
  }
}
