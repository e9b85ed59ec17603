// The command line around a running server: `start` on the embedded
// default configuration inside a network namespace of the test's own,
// `sessions --json` / `status` over the admin socket, `check-config`, and
// a bad configuration refused before anything starts.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ip } from '../lib/testing/netns.js'
import { serveSandbox, until } from './helpers/netns-run.js'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']
const run = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60_000 })

test.serial('start: first run makes a PSK and a demo user (0600), prints how to connect, serves; sessions --json answers; SIGTERM stops it', async (t) => {
  const { ns, dir } = serveSandbox(t, 'start')
  const socket = join(dir, 'admin.sock')
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CLI, 'start', '--state-dir', join(dir, 'state'), '--admin-socket', socket, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d))
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  t.teardown(() => child.kill('SIGKILL'))

  // stdout (the instructions) and stderr (the logs) are separate pipes: either may arrive first.
  const instructions = /Pre-shared key:[\s\S]*Password:[\s\S]*Windows 10\/11[\s\S]*macOS[\s\S]*iOS[\s\S]*Android[\s\S]*Linux[\s\S]*l2tp-ipsec connect --server .*--password/
  t.true(await until(() => /admin socket ready/.test(stderr) && instructions.test(stdout), 30_000), `${stderr}\n${stdout}`)
  const state = JSON.parse(readFileSync(join(dir, 'state', 'state.json'), 'utf8')) as { psk: string; user: string; password: string }
  t.is(statSync(join(dir, 'state', 'state.json')).mode & 0o777, 0o600)
  t.is(statSync(join(dir, 'state')).mode & 0o777, 0o700)
  t.true(state.psk.length >= 26)
  t.true(stdout.includes(`Pre-shared key:  ${state.psk}`), stdout)
  t.true(stdout.includes(`Password:        ${state.password}`))
  t.regex(stdout, /Windows 10\/11[\s\S]*macOS[\s\S]*iOS[\s\S]*Android[\s\S]*Linux/)
  t.false(stderr.includes(state.psk), 'the PSK never appears in the logs')
  t.false(stderr.includes(state.password), 'nor the password')

  const sessions = run('sessions', '--json', '--socket', socket)
  t.is(sessions.status, 0, sessions.stderr)
  t.deepEqual(JSON.parse(sessions.stdout), [])
  const status = run('status', '--json', '--socket', socket)
  t.is(status.status, 0, status.stderr)
  const s = JSON.parse(status.stdout) as { state: string; addresses: { ike: string[]; natt: string[]; tun: string } }
  t.is(s.state, 'listening')
  t.deepEqual(s.addresses, { ike: ['0.0.0.0:500'], natt: ['0.0.0.0:4500'], tun: 'l2tp0' })
  t.regex(ip('-n', ns, 'addr', 'show', 'l2tp0'), /inet 192\.168\.42\.1\/32/)
  t.regex(ip('-n', ns, 'route'), /192\.168\.42\.\d+\/\d+ dev l2tp0/)

  child.kill('SIGTERM')
  t.is(await exited, 0)
  t.false(/l2tp0/.test(ip('-n', ns, 'link')), 'the TUN device and its routes are gone')
  const after = run('sessions', '--socket', socket)
  t.is(after.status, 3, 'no server running')
  t.regex(after.stderr, /no server/i)

  // A second start reuses the same secrets (waited for, not timed: under a loaded test run startup takes seconds).
  const again = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CLI, 'start', '--state-dir', join(dir, 'state'), '--admin-socket', socket], { stdio: ['ignore', 'pipe', 'ignore'] })
  let againOut = ''
  again.stdout.on('data', (d: Buffer) => (againOut += d))
  const againExited = new Promise<number | null>((resolve) => again.on('close', resolve))
  t.teardown(() => again.kill('SIGKILL'))
  t.true(await until(() => againOut.includes('Pre-shared key:'), 60_000), againOut)
  t.true(againOut.includes(state.psk), 'same PSK on the second run')
  again.kill('SIGTERM')
  t.is(await againExited, 0)
})

test('serve --config with a bad file names the key and exits 1 before opening anything; check-config agrees', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-bad-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'ipsec: { psk: "long-enough-psk" }\npool: { range: 192.168.42.10-192.168.42.20, gateway: 192.168.42.1 }\nppp: { mtu: 9000 }\n')
  const serve = run('serve', '--config', file)
  t.is(serve.status, 1)
  t.regex(serve.stderr, /ppp\.mtu: /)
  const check = run('check-config', file)
  t.is(check.status, 1)
  t.regex(check.stderr, /ppp\.mtu: /)
  writeFileSync(file, 'ipsec: { psk: "long-enough-psk" }\npool: { range: 192.168.42.10-192.168.42.20, gateway: 192.168.42.1 }\n')
  const good = run('check-config', file)
  t.is(good.status, 0, good.stderr)
  t.is(run('check-config', join(dir, 'missing.yaml')).status, 2)
})

test('start without privileges says which capabilities are missing and how to grant them, exit 5, nothing created', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-nocap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const argv = [process.execPath, ...CLI, 'start', '--state-dir', join(dir, 'state'), '--admin-socket', join(dir, 'admin.sock')]
  // An ordinary user: told to use sudo or setcap.
  const user = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], { encoding: 'utf8', timeout: 60_000 })
  t.is(user.status, 5, user.stderr)
  t.regex(user.stderr, /missing CAP_NET_ADMIN, CAP_NET_BIND_SERVICE/)
  t.regex(user.stderr, /sudo npm start/)
  t.regex(user.stderr, /setcap cap_net_admin,cap_net_bind_service/)
  // Root stripped of them (a container): told which --cap-add.
  const root = spawnSync('capsh', ['--drop=cap_net_admin,cap_net_bind_service', '--', '-c', argv.map((a) => `'${a}'`).join(' ')], { encoding: 'utf8', timeout: 60_000 })
  t.is(root.status, 5, root.stderr)
  t.regex(root.stderr, /missing CAP_NET_ADMIN, CAP_NET_BIND_SERVICE/)
  t.regex(root.stderr, /--cap-add NET_ADMIN/)
  t.throws(() => statSync(join(dir, 'state')), undefined, 'no state directory made')
})

test.serial('a server killed with SIGKILL leaves no TUN device or route behind', async (t) => {
  const { ns, dir } = serveSandbox(t, 'kill')
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CLI, 'start', '--state-dir', join(dir, 'state'), '--admin-socket', join(dir, 'admin.sock'), '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise((resolve) => child.on('close', resolve))
  t.true(await until(() => /admin socket ready/.test(stderr), 30_000), stderr)
  t.regex(ip('-n', ns, 'route'), /dev l2tp0/)
  child.kill('SIGKILL')
  await exited
  t.true(await until(() => !/l2tp0/.test(ip('-n', ns, 'link')) && !/l2tp0/.test(ip('-n', ns, 'route')), 5000), ip('-n', ns, 'route'))
})

test.serial('serve --config with metrics.listen serves Prometheus metrics from the running server', async (t) => {
  const { ns, dir } = serveSandbox(t, 'metrics')
  const config = join(dir, 'config.yaml')
  writeFileSync(
    config,
    ['ipsec: { psk: "metrics-test-psk" }', 'pool: { range: 192.168.42.10-192.168.42.20, gateway: 192.168.42.1 }', 'metrics: { listen: "127.0.0.1:9477" }', `admin: { socket: ${join(dir, 'admin.sock')} }`].join('\n'),
  )
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CLI, 'serve', '--config', config, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise((resolve) => child.on('close', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  t.true(await until(() => /admin socket ready/.test(stderr), 30_000), stderr)
  const scrape = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', "fetch('http://127.0.0.1:9477/metrics').then(async (r) => console.log(r.status, await r.text()))"], { encoding: 'utf8', timeout: 20_000 })
  t.regex(scrape.stdout, /^200 /)
  t.regex(scrape.stdout, /^l2tp_ipsec_listening 1$/m)
  t.regex(scrape.stdout, /^l2tp_ipsec_sessions 0$/m)
  t.regex(scrape.stdout, /^l2tp_ipsec_pool_size 11$/m)
  t.regex(scrape.stdout, /^l2tp_ipsec_dataplane_packets_total\{counter="esp_in"\} 0$/m)
  child.kill('SIGTERM')
  t.is(await exited, 0)
})
