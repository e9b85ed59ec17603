import test from 'ava'
import { spawnSync } from 'node:child_process'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']
const run = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60_000 })

test('bench --json prints one JSON object per line with its OpenSSL reference', (t) => {
  const r = run('bench', '--only', 'esp', '--json', '--seconds', '0.05', '--suite', 'aes128gcm-16', '--suite', '3des-md5', '--sizes', '64,1400')
  t.is(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.is(lines.length, 2 * 2 * 2)
  for (const l of lines) {
    t.is(l.bench, 'esp')
    t.true(['aes128gcm-16', '3des-md5'].includes(l.suite as string))
    t.true(['seal', 'open'].includes(l.op as string))
    t.true([64, 1400].includes(l.bytes as number))
    for (const k of ['gbps', 'openssl_gbps', 'ratio', 'pps']) t.true((l[k] as number) > 0, `${k} = ${l[k]}`)
  }
})

test('a bad flag names the problem and exits non-zero', (t) => {
  const r = run('bench', '--suite', 'aes128-sha3')
  t.not(r.status, 0)
  t.regex(r.stderr, /unknown suite "aes128-sha3"/)
  const s = run('bench', '--seconds', '-1')
  t.not(s.status, 0)
  t.regex(s.stderr, /--seconds.*must be a positive number/)
})

test('suites lists every suite with its key sizes', (t) => {
  const r = run('suites')
  t.is(r.status, 0)
  t.regex(r.stdout, /^aes256-sha512\s+encryption key 32 B, integrity key 64 B, ICV 32 B$/m)
  t.is(r.stdout.trim().split('\n').length, 26)
})

test('an unknown bench area is refused', (t) => {
  const r = run('bench', '--only', 'esp,warp')
  t.not(r.status, 0)
  t.regex(r.stderr, /unknown area "warp"; one of esp, ike, dataplane, tunnel/)
})
