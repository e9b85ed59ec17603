// `l2tp-ipsec serve` with the operations keys, as a process in its own
// network namespace: /healthz and /readyz answer, SIGHUP reloads are
// audited (applied and refused), SIGTERM drains and exits 0, and the audit
// file verifies with `l2tp-ipsec audit verify`.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { serveSandbox, until } from './helpers/netns-run.js'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']

test.serial('serve: readyz, audited SIGHUP reloads (applied and refused), SIGTERM drains and exits 0, the audit chain verifies', async (t) => {
  const { ns, dir } = serveSandbox(t, 'sops')
  const config = join(dir, 'config.yaml')
  const audit = join(dir, 'log', 'audit.log')
  const base = [
    'ipsec: { psk: "serve-ops-test-psk" }',
    'pool: { range: 192.168.42.10-192.168.42.20, gateway: 192.168.42.1 }',
    'metrics: { listen: "127.0.0.1:9477" }',
    `admin: { socket: ${join(dir, 'admin.sock')} }`,
    `audit: { file: ${audit} }`,
    'operations: { drainTimeout: 2, debug: true }',
  ]
  writeFileSync(config, [...base, 'ppp: { dns: [1.1.1.1] }'].join('\n'))
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CLI, 'serve', '--config', config, '--log-format', 'json', '--state-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise((resolve) => child.on('close', resolve))
  t.teardown(() => child.kill('SIGKILL'))
  t.true(await until(() => /admin socket ready/.test(stderr), 60_000), stderr)
  const get = (path: string) =>
    spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', `fetch('http://127.0.0.1:9477${path}').then(async (r) => console.log(r.status, await r.text()))`], { encoding: 'utf8', timeout: 30_000 }).stdout
  t.is(get('/healthz'), '200 ok\n\n')
  t.is(get('/readyz'), '200 ready\n\n')

  // The child is `ip netns exec`, which execs node: signals reach the server.
  writeFileSync(config, [...base, 'ppp: { dns: [9.9.9.9] }'].join('\n'))
  child.kill('SIGHUP')
  t.true(await until(() => readFileSync(audit, 'utf8').includes('"type":"config-reload","ok":true'), 30_000))
  writeFileSync(config, [...base, 'ppp: { dns: [not-an-address] }'].join('\n'))
  child.kill('SIGHUP')
  t.true(await until(() => readFileSync(audit, 'utf8').includes('"type":"config-reload","ok":false'), 30_000))
  child.kill('SIGTERM')
  t.is(await exited, 0, stderr)
  t.regex(stderr, /draining: ending every session, then stopping/)

  const records = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.deepEqual(records.map((r) => r.type), ['server-start', 'config-reload', 'config-reload', 'server-stop'])
  t.deepEqual(records[1]!.changed, ['ppp'])
  t.regex(String(records[2]!.error), /ppp\.dns\[0\]: "not-an-address" is not an IPv4 address/)
  t.like(records[3], { signal: 'SIGTERM', sessions: 0 })
  const verify = spawnSync(process.execPath, [...CLI, 'audit', 'verify', audit], { encoding: 'utf8', timeout: 60_000 })
  t.is(verify.status, 0, verify.stderr)
  t.regex(verify.stdout, /OK, 4 records/)
  t.false(readFileSync(audit, 'utf8').includes('serve-ops-test-psk'), 'no secret in the audit log')
})
