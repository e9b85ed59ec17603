// The admin socket (lib/admin) and the commands on top of it
// (lib/cli/admin-commands.ts), against a fake AdminTarget holding sessions
// in memory: permissions of the socket, the protocol's errors, one server
// per path, stale sockets, and the CLI's output and exit codes.
import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adminRequest, AdminClientError, AdminServerError, MAX_REQUEST_BYTES, startAdminServer, type AdminServer } from '../lib/admin/index.js'
import { formatBytes, formatDuration, kickCommand, sessionsCommand, statusCommand } from '../lib/cli/admin-commands.js'
import { EXIT } from '../lib/cli/exit-codes.js'
import type { AdminTarget, SessionInfo } from '../lib/server/types.js'

function session(id: number, user: string, address: string, peer: string): SessionInfo {
  return {
    id,
    user,
    address,
    peer: { address: peer, port: 4500 },
    peerId: `${user}@example.org`,
    authMethod: 'mschapv2',
    suite: 'aes256-sha256',
    udpEncapsulated: true,
    l2tp: { tunnelId: id, sessionId: id + 100, peerTunnelId: 1, peerSessionId: 2 },
    startedAt: '2025-01-01T00:00:00.000Z',
    durationSeconds: 3660,
    rxBytes: 1536,
    txBytes: 5 * 1024 * 1024,
    rxPackets: 10,
    txPackets: 20,
    policyDenied: 0,
  }
}

class FakeTarget implements AdminTarget {
  readonly live = new Map<number, SessionInfo>([
    [7, session(7, 'alice', '10.0.0.7', '203.0.113.5')],
    [8, session(8, 'bob', '10.0.0.8', '2001:db8::8')],
  ])
  sessions(): SessionInfo[] {
    return [...this.live.values()]
  }
  kick(id: number): boolean {
    return this.live.delete(id)
  }
  status(): Record<string, unknown> {
    return { version: '0.1.0', sessions: this.live.size, listen: ['0.0.0.0:500', '0.0.0.0:4500'] }
  }
}

interface Captured {
  out: { log(s: string): void; error(s: string): void }
  logs: string[]
  errors: string[]
}

function capture(): Captured {
  const logs: string[] = []
  const errors: string[] = []
  return { out: { log: (s) => logs.push(s), error: (s) => errors.push(s) }, logs, errors }
}

/** A socket path whose directory does not exist yet, so the server creates it. */
async function socketPath(t: ExecutionContext): Promise<{ dir: string; path: string }> {
  const base = await mkdtemp(join(tmpdir(), 'l2tp-admin-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dir = join(base, 'run')
  return { dir, path: join(dir, 'admin.sock') }
}

async function start(t: ExecutionContext, target: AdminTarget = new FakeTarget(), onError?: (e: Error) => void): Promise<AdminServer & { target: AdminTarget }> {
  const { path } = await socketPath(t)
  const server = await startAdminServer(path, target, onError ? { onError } : {})
  t.teardown(() => server.close())
  return Object.assign(server, { target })
}

/** Sends raw bytes, then collects every line the server writes until it closes. */
function exchange(path: string, payload: string | Buffer, { end = true } = {}): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path)
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (text += chunk))
    // The server may close while we are still writing an oversize request.
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)))
    socket.on('close', () => resolve(text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)))
    socket.write(payload)
    if (end) socket.end()
  })
}

async function rejection(t: ExecutionContext, promise: Promise<unknown>): Promise<AdminClientError> {
  const error = await t.throwsAsync(promise)
  if (!(error instanceof AdminClientError)) throw new Error(`expected an AdminClientError, got ${String(error)}`)
  return error
}

// --- the socket itself -----------------------------------------------------------

test('the socket is 0600 in a 0700 directory it created, and close removes it', async (t) => {
  const { dir, path } = await socketPath(t)
  const server = await startAdminServer(path, new FakeTarget())
  t.is(statSync(dir).mode & 0o777, 0o700)
  t.true(lstatSync(path).isSocket())
  t.is(lstatSync(path).mode & 0o777, 0o600)
  await server.close()
  t.false(existsSync(path))
  await server.close()
})

test('a second server on the same path is refused and the first keeps serving', async (t) => {
  const first = await start(t)
  const error = await t.throwsAsync(startAdminServer(first.path, new FakeTarget()))
  t.true(error instanceof AdminServerError)
  t.is((error as AdminServerError).code, 'ADMIN_IN_USE')
  t.is(error?.message, `another server is running on ${first.path}`)
  t.is((await adminRequest(first.path, 'sessions')).length, 2)
})

test('a socket file left by a crashed server is replaced', async (t) => {
  const { dir, path } = await socketPath(t)
  // A real crash: the process dies holding the socket, nothing unlinks it.
  const crash = spawnSync(process.execPath, [
    '-e',
    `require('fs').mkdirSync(${JSON.stringify(dir)}); require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ])
  t.is(crash.signal, 'SIGKILL')
  t.true(lstatSync(path).isSocket())
  const server = await startAdminServer(path, new FakeTarget())
  t.teardown(() => server.close())
  t.is((await adminRequest(path, 'sessions')).length, 2)
  t.is(lstatSync(path).mode & 0o777, 0o600)
})

test('a file that is not a socket is never replaced', async (t) => {
  const { dir, path } = await socketPath(t)
  spawnSync('mkdir', ['-p', dir])
  writeFileSync(path, 'precious')
  const error = await t.throwsAsync(startAdminServer(path, new FakeTarget()))
  t.is((error as AdminServerError).code, 'ADMIN_NOT_A_SOCKET')
  t.is(await readFile(path, 'utf8'), 'precious')
})

// --- requests --------------------------------------------------------------------

test('sessions and status round trip', async (t) => {
  const server = await start(t)
  t.deepEqual(await adminRequest(server.path, 'sessions'), server.target.sessions())
  t.deepEqual(await adminRequest(server.path, 'status'), server.target.status())
})

test('kick ends a session; kicking it again is ADMIN_NO_SUCH_SESSION', async (t) => {
  const server = await start(t)
  t.deepEqual(await adminRequest(server.path, 'kick', { id: 7 }), { id: 7, kicked: true })
  t.deepEqual(
    (await adminRequest(server.path, 'sessions')).map((s) => s.id),
    [8],
  )
  const error = await rejection(t, adminRequest(server.path, 'kick', { id: 7 }))
  t.is(error.code, 'ADMIN_NO_SUCH_SESSION')
  t.is(error.message, 'no session with id 7')
})

test('bad params are ADMIN_BAD_REQUEST naming the param', async (t) => {
  const server = await start(t)
  for (const params of [{ id: -1 }, { id: '7' }, { id: 1.5 }, {}]) {
    const error = await rejection(t, adminRequest(server.path, 'kick', params as { id: number }))
    t.is(error.code, 'ADMIN_BAD_REQUEST')
    t.regex(error.message, /param "id" must be a non-negative integer/)
  }
  const error = await rejection(t, adminRequest(server.path, 'sessions', { verbose: true } as never))
  t.is(error.code, 'ADMIN_BAD_REQUEST')
  t.is(error.message, 'unknown param "verbose" for sessions')
})

test('bad JSON and an unknown method get error answers; the connection keeps serving', async (t) => {
  const server = await start(t)
  const answers = await exchange(
    server.path,
    '{"id": 1, "method": \n' + '[1, 2]\n' + '\n' + '{"id": 2, "method": "reboot"}\n' + '{"id": 3, "method": "status"}\n' + '{"id": 4, "method": "status"}',
  )
  t.is(answers.length, 5)
  t.like(answers[0], { id: null, error: { code: 'ADMIN_BAD_REQUEST' } })
  t.regex((answers[0]!.error as { message: string }).message, /not valid JSON/)
  t.like(answers[1], { id: null, error: { code: 'ADMIN_BAD_REQUEST', message: 'request must be a JSON object' } })
  t.like(answers[2], { id: 2, error: { code: 'ADMIN_UNKNOWN_METHOD', message: 'unknown method "reboot"; one of sessions, kick, status, debug, capture-start, capture-stop, keys' } })
  t.like(answers[3], { id: 3, result: { sessions: 2 } })
  // The last request had no newline before the client closed its side: still answered.
  t.like(answers[4], { id: 4, result: { sessions: 2 } })
})

test('a line over 64 KiB is refused and the connection closed', async (t) => {
  const server = await start(t)
  // Without end(): the close must come from the server.
  const answers = await exchange(server.path, '{"id": 1, "method": "status"}\n' + 'x'.repeat(MAX_REQUEST_BYTES + 1) + '\n', { end: false })
  t.is(answers.length, 2)
  t.like(answers[0], { id: 1, result: { sessions: 2 } })
  t.like(answers[1], { id: null, error: { code: 'ADMIN_REQUEST_TOO_LARGE' } })
  // A line of exactly the limit is fine (and simply bad JSON).
  const [atLimit] = await exchange(server.path, 'x'.repeat(MAX_REQUEST_BYTES) + '\n')
  t.like(atLimit, { error: { code: 'ADMIN_BAD_REQUEST' } })
  t.is((await adminRequest(server.path, 'sessions')).length, 2)
})

test('a throwing target is ADMIN_INTERNAL, reported, and the server keeps serving', async (t) => {
  const reported: Error[] = []
  const target = new FakeTarget()
  target.status = () => {
    throw new Error('pool state unreadable')
  }
  const server = await start(t, target, (e) => reported.push(e))
  const error = await rejection(t, adminRequest(server.path, 'status'))
  t.is(error.code, 'ADMIN_INTERNAL')
  t.is(error.message, 'pool state unreadable')
  t.is(reported[0]?.message, 'pool state unreadable')
  // A result JSON cannot carry is the same kind of fault.
  target.status = () => ({ bytes: 1n })
  t.is((await rejection(t, adminRequest(server.path, 'status'))).code, 'ADMIN_INTERNAL')
  t.is((await adminRequest(server.path, 'sessions')).length, 2)
})

// --- the client's own errors -------------------------------------------------------

test('no socket: ADMIN_NOT_RUNNING saying how to start a server, and exit 3', async (t) => {
  const { path } = await socketPath(t)
  const error = await rejection(t, adminRequest(path, 'sessions'))
  t.is(error.code, 'ADMIN_NOT_RUNNING')
  t.true(error.message.includes(`no server is listening on ${path}`))
  t.true(error.message.includes('l2tp-ipsec serve --config FILE'))
  const c = capture()
  t.is(await sessionsCommand({ socket: path, json: false }, c.out), EXIT.NOT_RUNNING)
  t.is(c.errors[0], error.message)
  t.deepEqual(c.logs, [])
})

test('a server that accepts but never answers: ADMIN_TIMEOUT, and exit 3', async (t) => {
  const { dir, path } = await socketPath(t)
  spawnSync('mkdir', ['-p', dir])
  // Reads (so it sees the client leave and can close) but never answers.
  const mute = createServer((socket) => socket.resume())
  await new Promise<void>((resolve) => mute.listen(path, resolve))
  t.teardown(() => new Promise<void>((resolve) => mute.close(() => resolve())))
  const error = await rejection(t, adminRequest(path, 'status', {}, { timeoutMs: 100 }))
  t.is(error.code, 'ADMIN_TIMEOUT')
  t.is(await statusCommand({ socket: path, json: false, timeoutMs: 100 }, capture().out), EXIT.NOT_RUNNING)
})

const asNobody = process.geteuid?.() === 0 ? test : test.skip
asNobody('a user who is not root: ADMIN_PERMISSION, and exit 4', async (t) => {
  const server = await start(t)
  // The server's directory is 0700: a non-root client cannot even reach the socket.
  const code = `
    import { sessionsCommand } from ${JSON.stringify(new URL('../lib/cli/admin-commands.ts', import.meta.url).href)}
    const errors = []
    const exit = await sessionsCommand({ socket: ${JSON.stringify(server.path)}, json: true }, { log() {}, error: (s) => errors.push(s) })
    console.log(JSON.stringify({ exit, errors }))`
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    uid: 65534,
    gid: 65534,
    env: { ...process.env, HOME: '/tmp' },
    encoding: 'utf8',
  })
  t.is(child.status, 0, child.stderr)
  const { exit, errors } = JSON.parse(child.stdout) as { exit: number; errors: string[] }
  t.is(exit, EXIT.PERMISSION)
  t.regex(errors[0]!, /permission denied on .*root-only/)
})

// --- the commands ------------------------------------------------------------------

test('sessions prints a table with human units', async (t) => {
  const server = await start(t)
  const c = capture()
  t.is(await sessionsCommand({ socket: server.path, json: false }, c.out), EXIT.OK)
  t.is(c.logs.length, 1)
  const lines = c.logs[0]!.split('\n')
  t.deepEqual(lines[0]!.split(/\s+/), ['ID', 'USER', 'ADDRESS', 'PEER', 'AUTH', 'SUITE', 'UPTIME', 'RX', 'TX'])
  t.deepEqual(lines[1]!.trim().split(/\s{2,}/), ['7', 'alice', '10.0.0.7', '203.0.113.5:4500', 'mschapv2', 'aes256-sha256', '1h01m', '1.5 KiB', '5.0 MiB'])
  t.deepEqual(lines[2]!.trim().split(/\s{2,}/), ['8', 'bob', '10.0.0.8', '[2001:db8::8]:4500', 'mschapv2', 'aes256-sha256', '1h01m', '1.5 KiB', '5.0 MiB'])
  // Columns line up.
  t.is(lines[1]!.indexOf('alice'), lines[0]!.indexOf('USER'))
  t.is(lines[2]!.length, lines[0]!.length)
})

test('sessions --json prints the array on one line', async (t) => {
  const server = await start(t)
  const c = capture()
  t.is(await sessionsCommand({ socket: server.path, json: true }, c.out), EXIT.OK)
  t.is(c.logs.length, 1)
  t.false(c.logs[0]!.includes('\n'))
  t.deepEqual(JSON.parse(c.logs[0]!), server.target.sessions())
  server.target.kick(7)
  server.target.kick(8)
  const empty = capture()
  await sessionsCommand({ socket: server.path, json: false }, empty.out)
  t.deepEqual(empty.logs, ['No sessions.'])
})

test('kick: exit 0, then exit 1 for a session that is gone', async (t) => {
  const server = await start(t)
  const ok = capture()
  t.is(await kickCommand({ socket: server.path, id: 7 }, ok.out), EXIT.OK)
  t.deepEqual(ok.logs, ['Session 7 kicked.'])
  const gone = capture()
  t.is(await kickCommand({ socket: server.path, id: 7 }, gone.out), EXIT.INVALID)
  t.regex(gone.errors[0]!, /^no session with id 7; `l2tp-ipsec sessions` lists the live ones$/)
})

test('status prints key: value lines, or JSON', async (t) => {
  const server = await start(t)
  const text = capture()
  t.is(await statusCommand({ socket: server.path, json: false }, text.out), EXIT.OK)
  t.deepEqual(text.logs[0]!.split('\n'), ['version:   0.1.0', 'sessions:  2', 'listen:    ["0.0.0.0:500","0.0.0.0:4500"]'])
  const json = capture()
  await statusCommand({ socket: server.path, json: true }, json.out)
  t.deepEqual(JSON.parse(json.logs[0]!), server.target.status())
})

test('human units', (t) => {
  t.deepEqual([0, 59, 60, 302, 3599, 3600, 86399, 90061].map(formatDuration), ['0s', '59s', '1m00s', '5m02s', '59m59s', '1h00m', '23h59m', '1d01h'])
  t.deepEqual(
    [0, 1023, 1024, 10188, 10189, 1024 ** 2 * 340, 1024 ** 3 * 2.25, 1024 ** 6].map(formatBytes),
    ['0 B', '1023 B', '1.0 KiB', '9.9 KiB', '10 KiB', '340 MiB', '2.3 GiB', '1024 PiB'],
  )
})

// --- troubleshooting methods and the audit hook -------------------------------------

test('debug and capture are ADMIN_DISABLED without tools; every state-changing request is reported for the audit log', async (t) => {
  const { path } = await socketPath(t)
  const actions: unknown[] = []
  const server = await startAdminServer(path, new FakeTarget(), { onAction: (a) => actions.push(a) })
  t.teardown(() => server.close())
  const answers = await exchange(path, '{"id":1,"method":"debug","params":{"target":"alice"}}\n{"id":2,"method":"capture-start","params":{"session":7,"path":"/tmp/x.pcap"}}\n{"id":3,"method":"kick","params":{"id":7}}\n{"id":4,"method":"sessions"}\n{"id":5,"method":"capture-start","params":{"session":7,"path":"relative.pcap"}}\n')
  t.like(answers[0], { id: 1, error: { code: 'ADMIN_DISABLED' } })
  t.regex((answers[0]!.error as { message: string }).message, /operations\.debug: true/)
  t.like(answers[1], { id: 2, error: { code: 'ADMIN_DISABLED' } })
  t.like(answers[2], { id: 3, result: { id: 7, kicked: true } })
  t.like(answers[4], { id: 5, error: { code: 'ADMIN_BAD_REQUEST' } })
  t.deepEqual(actions, [
    { method: 'debug', params: { target: 'alice' }, ok: false, error: 'ADMIN_DISABLED' },
    { method: 'capture-start', params: { session: 7, path: '/tmp/x.pcap' }, ok: false, error: 'ADMIN_DISABLED' },
    { method: 'kick', params: { id: 7 }, ok: true },
  ])
})

test('a debug stream sends events until the client closes, then the tool is stopped', async (t) => {
  const { path } = await socketPath(t)
  let stopped = 0
  let send: ((e: { time: string; level: string; text: string }) => void) | undefined
  const server = await startAdminServer(path, new FakeTarget(), {
    tools: {
      debug: (_target, s) => {
        send = s
        return () => stopped++
      },
    },
  })
  t.teardown(() => server.close())
  const events: unknown[] = []
  const { openAdminSession } = await import('../lib/admin/index.js')
  const session = await openAdminSession(path, (e) => events.push(e))
  t.deepEqual(await session.request('debug', { target: '203.0.113.5' }), { following: '203.0.113.5' })
  send!({ time: '2026-01-01T00:00:00.000Z', level: 'warn', text: 'Main Mode failed' })
  await new Promise((r) => setTimeout(r, 100))
  t.deepEqual(events, [{ time: '2026-01-01T00:00:00.000Z', level: 'warn', text: 'Main Mode failed' }])
  session.close()
  await new Promise((r) => setTimeout(r, 100))
  t.is(stopped, 1)
})
