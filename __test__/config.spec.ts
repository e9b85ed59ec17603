import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { parse, stringify } from 'yaml'
import { checkConfig } from '../lib/cli/check-config.js'
import {
  ConfigError,
  defaultConfigPath,
  ensureFirstRunState,
  loadConfigFile,
  loadDefaultConfig,
  parseServerConfig,
  proposalPolicy,
} from '../lib/config/index.js'
import { PASSWORD_LENGTH, PSK_LENGTH, SECRET_ALPHABET } from '../lib/config/first-run.js'
import { PRESETS } from '../lib/ike/policy.js'
import { createTestPki } from './helpers/test-pki.js'

const fixtures = fileURLToPath(new URL('./fixtures/config/', import.meta.url))
const examplePath = fileURLToPath(new URL('../config/example.yaml', import.meta.url))

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-ipsec-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function configError(t: ExecutionContext, fn: () => unknown): ConfigError {
  const e = t.throws(fn, { instanceOf: ConfigError })
  if (!e) throw new Error('expected a ConfigError')
  return e
}

const minimal = () => ({ ipsec: { psk: 'a-long-enough-key' }, pool: { range: '192.168.42.10-192.168.42.250', gateway: '192.168.42.1' } })

function capture() {
  const log: string[] = []
  const error: string[] = []
  return { log, error, out: { log: (s: string) => log.push(s), error: (s: string) => error.push(s) } }
}

// --- bad fixtures: each names the one issue it must produce on its first line -----------

for (const file of readdirSync(join(fixtures, 'bad')).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`bad fixture ${file}`, (t) => {
    const path = join(fixtures, 'bad', file)
    const m = /^# expect: (\S+): (.+)$/.exec(readFileSync(path, 'utf8').split('\n')[0] ?? '')
    if (!m) return t.fail(`${file} has no "# expect: key: message" first line`)
    const [, key, substring] = m
    const e = configError(t, () => loadConfigFile(path))
    t.is(e.code, 'CONFIG_INVALID')
    const hit = e.issues.find((i) => i.key === key && i.message.includes(substring!))
    t.truthy(hit, `no issue "${key}: ...${substring}..." in:\n${e.message}`)
  })
}

test('there are enough bad fixtures', (t) => {
  t.true(readdirSync(join(fixtures, 'bad')).filter((f) => f.endsWith('.yaml')).length >= 15)
})

test('a secret in the wrong form is not echoed back', (t) => {
  const e = configError(t, () => loadConfigFile(join(fixtures, 'bad', 'psk-as-number.yaml')))
  t.false(e.message.includes('1234567890'))
  const short = configError(t, () => parseServerConfig({ ...minimal(), ipsec: { psk: 'abcde' } }))
  t.false(short.message.includes('abcde'))
})

test('an unknown key far from every known one gets no suggestion', (t) => {
  const e = configError(t, () => parseServerConfig({ ...minimal(), frobnicate: 1 }))
  t.deepEqual(e.issues, [{ key: 'frobnicate', message: 'unknown key' }])
})

test('ConfigError.message is one "key: message" line per issue', (t) => {
  const e = configError(t, () => parseServerConfig({ ...minimal(), ppp: { mtu: 9000, dns: ['x'] } }))
  t.is(e.message, e.issues.map((i) => `${i.key}: ${i.message}`).join('\n'))
  t.deepEqual(e.issues.map((i) => i.key).sort(), ['ppp.dns[0]', 'ppp.mtu'])
  t.is(e.name, 'ConfigError')
})

test('not a mapping at all', (t) => {
  t.deepEqual(configError(t, () => parseServerConfig([1, 2])).issues, [{ key: '(config)', message: 'expected a mapping, got a list' }])
})

// --- good fixtures ---------------------------------------------------------------------

for (const file of readdirSync(join(fixtures, 'good')).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`good fixture ${file}`, (t) => {
    t.notThrows(() => loadConfigFile(join(fixtures, 'good', file)))
  })
}

test('the minimal configuration gets every default', (t) => {
  const { config, warnings } = loadConfigFile(join(fixtures, 'good', 'minimal-psk.yaml'))
  t.deepEqual(config.listen, { address: '0.0.0.0', ikePort: 500, nattPort: 4500 })
  t.is(config.ipsec.psk, 'a-long-enough-key')
  t.is(config.ipsec.proposals, 'compatible')
  t.is(config.ipsec.localId, null)
  t.false(config.ipsec.aggressiveMode)
  t.is(config.ipsec.dpdDelay, 30)
  t.is(config.ipsec.dpdTimeout, 120)
  t.deepEqual(config.l2tp, { helloInterval: 60, secret: null, hideAvps: false, sequencing: 'allow', maxTunnelsPerPeer: 4, maxSessionsPerTunnel: 16, maxSessionsPerPeer: 32 })
  t.deepEqual(config.ppp.auth, ['mschapv2', 'chap', 'pap'])
  t.deepEqual(config.ppp.dns, [])
  t.is(config.ppp.mtu, 1400)
  t.is(config.ppp.echoFailures, 4)
  t.deepEqual(config.pool, { range: ['192.168.42.10-192.168.42.250'], gateway: '192.168.42.1', exclude: [], ipv6: null })
  t.deepEqual(config.users, [])
  t.is(config.tun.name, 'l2tp0')
  t.is(config.metrics.listen, null)
  t.is(config.admin.socket, '/run/l2tp-ipsec/admin.sock')
  t.deepEqual(config.log, { level: 'info', format: 'auto' })
  t.deepEqual(config.dataplane, { workers: 0, netns: null })
  t.deepEqual(config.forwarding, { enable: false, masquerade: null })
  t.is(config.radius, null)
  t.deepEqual(config.policies, {})
  t.deepEqual(warnings, [...PRESETS.compatible.warnings])
})

test('radius: defaults, secretFile and queueFile relative to baseDir, policies', (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'radius.secret'), 'file-secret\n', { mode: 0o600 })
  const { config, warnings } = parseServerConfig(
    {
      ...minimal(),
      radius: { servers: [{ host: '10.0.0.5', secretFile: 'radius.secret' }, { host: '10.0.0.6', port: 11812, secret: 'inline-secret' }], accounting: { queueFile: 'q/acct.queue' }, dae: { listen: '127.0.0.1:3799', clients: [{ address: '10.0.0.5' }] } },
      policies: { web: { default: 'deny', rules: [{ action: 'allow', destination: '10.1.0.0/16', protocol: 'tcp', ports: '80-443' }] } },
    },
    { baseDir: dir },
  )
  t.deepEqual(warnings.filter((w) => w.includes('radius')), [])
  t.deepEqual(config.radius?.servers, [
    { host: '10.0.0.5', secretFile: join(dir, 'radius.secret'), timeout: 3, retries: 2 },
    { host: '10.0.0.6', port: 11812, secret: 'inline-secret', timeout: 3, retries: 2 },
  ])
  t.deepEqual(config.radius?.accounting, { interimInterval: 0, queueFile: join(dir, 'q/acct.queue') })
  t.deepEqual(config.radius?.nas, {})
  t.deepEqual(config.radius?.dae, { listen: '127.0.0.1:3799', clients: [{ address: '10.0.0.5' }] })
  t.deepEqual(config.policies['web']?.rules, [{ action: 'allow', destination: '10.1.0.0/16', protocol: 'tcp', ports: '80-443' }])
  t.is(parseServerConfig({ ...minimal(), radius: { servers: [{ host: 'r', secret: 's' }], accounting: null } }).config.radius?.accounting, null)
})

test('radius: errors name their keys and never echo a secret', (t) => {
  const e = configError(t, () =>
    parseServerConfig({
      ...minimal(),
      radius: {
        servers: [{ host: '10.0.0.5' }, { host: '10.0.0.6', secret: 'hunter2-secret', secretFile: '/x' }, { host: '10.0.0.7', secret: 12345678 }],
        accounting: { interimInterval: -1 },
        nas: { ipAddress: 'nas.example' },
        dae: { listen: 'localhost:3799', clients: [{ address: '10.9.9.9' }] },
        gatewayId: 'has space',
        color: 'red',
      },
      policies: { p: { default: 'maybe', rules: [{ action: 'allow', destination: '2001:db8::/32', protocol: 'icmp' }, { action: 'deny', destination: '10.0.0.0/33' }] } },
    }),
  )
  t.deepEqual(e.issues.map((i) => i.key).sort(), [
    'policies.p.default',
    'policies.p.rules[0].protocol',
    'policies.p.rules[1].destination',
    'radius.accounting.interimInterval',
    'radius.color',
    'radius.dae.listen',
    'radius.gatewayId',
    'radius.nas.ipAddress',
    'radius.servers[0]',
    'radius.servers[1].secretFile',
    'radius.servers[2].secret',
  ])
  t.false(e.message.includes('hunter2'))
  t.false(e.message.includes('12345678'))
  const dae = configError(t, () => parseServerConfig({ ...minimal(), radius: { servers: [{ host: '10.0.0.5', secret: 's' }], dae: { listen: '0.0.0.0:3799', clients: [{ address: '10.9.9.9' }] } } }))
  t.deepEqual(dae.issues.map((i) => i.key), ['radius.dae.clients[0]'])
  t.regex(dae.issues[0]!.message, /needs secret or secretFile/)
  const dir = tempDir(t)
  writeFileSync(join(dir, 'empty.secret'), '\n')
  const files = configError(t, () => parseServerConfig({ ...minimal(), radius: { servers: [{ host: 'r', secretFile: 'missing.secret' }, { host: 'r2', secretFile: 'empty.secret' }] } }, { baseDir: dir }))
  t.deepEqual(files.issues.map((i) => i.key), ['radius.servers[0].secretFile', 'radius.servers[1].secretFile'])
})

test('explicit proposals become a policy named after the narrowest preset that covers them', (t) => {
  const { config, warnings } = loadConfigFile(join(fixtures, 'good', 'explicit-proposals.yaml'))
  const policy = proposalPolicy(config.ipsec.proposals)
  t.is(policy.preset, 'compatible')
  t.deepEqual(policy.phase1, { encryption: ['aes256', '3des'], hash: ['sha256', 'sha1'], groups: [14, 2], maxLifetimeSeconds: 3600 })
  t.deepEqual(policy.phase2.pfsGroups, [14, 2])
  t.true(policy.phase2.requirePfs)
  t.is(policy.phase2.maxLifetimeSeconds, PRESETS.compatible.phase2.maxLifetimeSeconds)
  t.regex(policy.warnings[0] ?? '', /3DES, MODP1024/)
  t.true(warnings.some((w) => w.includes('Aggressive Mode')))
  t.deepEqual(config.users.map((u) => u.disabled), [false, true])

  const modern = proposalPolicy({ phase1: { encryption: ['aes128'], hash: ['sha256'], groups: [19] }, phase2: { ciphers: ['aes128gcm-16'], integrity: ['sha256'] } })
  t.is(modern.preset, 'modern')
  t.deepEqual(modern.warnings, [])
  t.is(proposalPolicy({ phase1: { encryption: ['aes128'], hash: ['md5'], groups: [14] }, phase2: { ciphers: ['aes128'], integrity: ['sha1'] } }).preset, 'legacy')
  t.is(proposalPolicy('modern'), PRESETS.modern)
})

test('config/example.yaml is valid and shows every section', (t) => {
  const { config } = loadConfigFile(examplePath)
  t.is(config.ipsec.proposals, 'compatible')
  t.deepEqual(config.ppp.dns, ['1.1.1.1', '9.9.9.9'])
  t.deepEqual(config.users.map((u) => u.name), ['alice', 'bob'])
  t.is(config.users[1]?.address, '192.168.42.20')
  const text = parse(readFileSync(examplePath, 'utf8')) as Record<string, unknown>
  t.deepEqual(Object.keys(text).sort(), ['admin', 'dataplane', 'forwarding', 'ipsec', 'l2tp', 'listen', 'log', 'metrics', 'policies', 'pool', 'ppp', 'radius', 'sites', 'tun', 'users', 'access', 'anomaly', 'security', 'audit', 'operations'].sort())
  t.is(config.radius, null)
  t.deepEqual(config.policies, {})
  t.deepEqual(config.sites, [])
})

test('certificates are read as PEM and checked: the example with certificate files', (t) => {
  const dir = tempDir(t)
  const pki = createTestPki()
  t.teardown(() => pki.dispose())
  const server = pki.issue('server', '/CN=vpn.example.net', 'DNS:vpn.example.net')
  writeFileSync(join(dir, 'server.pem'), server.cert)
  writeFileSync(join(dir, 'server.key'), server.key, { mode: 0o600 })
  writeFileSync(join(dir, 'ca.pem'), pki.ca)
  const example = parse(readFileSync(examplePath, 'utf8')) as { ipsec: Record<string, unknown> }
  example.ipsec['certificate'] = { cert: 'server.pem', key: 'server.key', ca: join(dir, 'ca.pem') }
  writeFileSync(join(dir, 'config.yaml'), stringify(example))

  const { config, warnings } = loadConfigFile(join(dir, 'config.yaml'))
  t.deepEqual(config.ipsec.certificate, { cert: server.cert, key: server.key, ca: pki.ca })
  t.is(config.ipsec.psk, 'change-me-to-a-long-random-string')
  t.false(warnings.some((w) => w.includes('server.key')))

  chmodSync(join(dir, 'server.key'), 0o644)
  t.true(loadConfigFile(join(dir, 'config.yaml')).warnings.some((w) => w.startsWith('ipsec.certificate.key:') && w.includes('chmod 600')))

  const other = pki.issue('other', '/CN=other', 'DNS:other')
  writeFileSync(join(dir, 'server.key'), other.key)
  writeFileSync(join(dir, 'ca.pem'), server.cert)
  const e = configError(t, () => loadConfigFile(join(dir, 'config.yaml')))
  t.deepEqual(e.issues.map((i) => i.key), ['ipsec.certificate.key', 'ipsec.certificate.ca'])
  t.regex(e.issues[0]!.message, /does not match the certificate/)
  t.regex(e.issues[1]!.message, /not a CA/)
})

test('pskFile is read relative to baseDir, trimmed, and checked', (t) => {
  const dir = tempDir(t)
  const pskFile = join(dir, 'psk')
  writeFileSync(pskFile, '  key-from-a-file\n', { mode: 0o600 })
  const input = { ...minimal(), ipsec: { pskFile: 'psk' } }
  const ok = parseServerConfig(input, { baseDir: dir })
  t.is(ok.config.ipsec.psk, 'key-from-a-file')
  t.false(ok.warnings.some((w) => w.startsWith('ipsec.pskFile')))

  chmodSync(pskFile, 0o644)
  t.true(parseServerConfig(input, { baseDir: dir }).warnings.some((w) => w.startsWith('ipsec.pskFile:') && w.includes('mode 0644')))

  writeFileSync(pskFile, '\n')
  t.deepEqual(configError(t, () => parseServerConfig(input, { baseDir: dir })).issues, [{ key: 'ipsec.pskFile', message: 'psk is empty' }])
  writeFileSync(pskFile, 'short')
  t.regex(configError(t, () => parseServerConfig(input, { baseDir: dir })).issues[0]?.message ?? '', /at least 8 characters, got 5/)
})

test('aggressive mode with a PSK warns', (t) => {
  const { warnings } = parseServerConfig({ ...minimal(), ipsec: { psk: 'a-long-enough-key', aggressiveMode: true, proposals: 'modern' } })
  t.is(warnings.length, 1)
  t.regex(warnings[0]!, /Aggressive Mode/)
})

test('a gateway inside the range is fine once excluded', (t) => {
  const { config } = parseServerConfig({ ...minimal(), pool: { range: '192.168.42.0/24', gateway: '192.168.42.1', exclude: ['192.168.42.1'] } })
  t.deepEqual(config.pool.range, ['192.168.42.0/24'])
})

test('a missing or unreadable configuration file is CONFIG_UNREADABLE', (t) => {
  const e = configError(t, () => loadConfigFile(join(fixtures, 'no-such-file.yaml')))
  t.is(e.code, 'CONFIG_UNREADABLE')
  t.is(e.issues[0]?.key, '(file)')
  t.regex(e.message, /no such file/)
})

// --- first run and the default configuration -----------------------------------------

test('ensureFirstRunState makes private state once and reads it back', (t) => {
  const stateDir = join(tempDir(t), 'state')
  const first = ensureFirstRunState(stateDir)
  t.true(first.created)
  t.is(first.path, join(stateDir, 'state.json'))
  t.is(statSync(stateDir).mode & 0o777, 0o700)
  t.is(statSync(first.path).mode & 0o777, 0o600)
  t.is(first.user, 'demo')
  // 5 bits per character from a 32-letter alphabet
  t.is(SECRET_ALPHABET.length, 32)
  t.true(first.psk.length * 5 >= 128)
  t.is(first.psk.length, PSK_LENGTH)
  t.true(first.password.length * 5 >= 96)
  t.is(first.password.length, PASSWORD_LENGTH)
  t.regex(first.psk, /^[0-9a-hjkmnp-tv-z]+$/)
  t.regex(first.password, /^[0-9a-hjkmnp-tv-z]+$/)
  t.deepEqual(readdirSync(stateDir), ['state.json'])

  chmodSync(first.path, 0o644)
  const second = ensureFirstRunState(stateDir)
  t.false(second.created)
  t.deepEqual({ ...second, created: true }, first)
  t.is(statSync(first.path).mode & 0o777, 0o600)

  const elsewhere = ensureFirstRunState(join(tempDir(t), 'state'))
  t.not(elsewhere.psk, first.psk)
})

test('a corrupt state file is an error, not silently replaced', (t) => {
  const stateDir = tempDir(t)
  writeFileSync(join(stateDir, 'state.json'), '{"psk": 1}')
  t.throws(() => ensureFirstRunState(stateDir), { message: /not a valid state file/ })
})

test('loadDefaultConfig: config/default.yaml with the state merged in', (t) => {
  const stateDir = join(tempDir(t), 'state')
  const { config, warnings, state } = loadDefaultConfig(stateDir)
  t.true(state.created)
  t.is(defaultConfigPath, fileURLToPath(new URL('../config/default.yaml', import.meta.url)))
  t.is(config.ipsec.psk, state.psk)
  t.deepEqual(config.users, [{ name: 'demo', password: state.password, disabled: false }])
  t.deepEqual(config.listen, { address: '0.0.0.0', ikePort: 500, nattPort: 4500 })
  t.deepEqual(config.ppp.auth, ['mschapv2', 'chap', 'pap'])
  t.deepEqual(config.ppp.dns, ['1.1.1.1', '9.9.9.9'])
  t.deepEqual(config.pool, { range: ['192.168.42.10-192.168.42.250'], gateway: '192.168.42.1', exclude: [], ipv6: null })
  t.is(config.tun.name, 'l2tp0')
  t.is(config.admin.socket, '/run/l2tp-ipsec/admin.sock')
  t.deepEqual(warnings, [...PRESETS.compatible.warnings])
  const again = loadDefaultConfig(stateDir)
  t.false(again.state.created)
  t.is(again.config.ipsec.psk, state.psk)
  // the file itself holds no secret
  const file = parse(readFileSync(defaultConfigPath, 'utf8')) as { ipsec: Record<string, unknown>; users?: unknown }
  t.is(file.ipsec['psk'], undefined)
  t.is(file.users, undefined)
})

// --- check-config --------------------------------------------------------------------

test('checkConfig: 0 and "ok" for a valid file, warnings on the error stream, then the posture findings', async (t) => {
  const { log, error, out } = capture()
  const file = join(fixtures, 'good', 'minimal-psk.yaml')
  t.is(await checkConfig(file, out), 0)
  t.deepEqual(log, [`ok: ${file}`])
  const warnings = PRESETS.compatible.warnings.map((w) => `warning: ${w}`)
  t.deepEqual(error.slice(0, warnings.length), warnings)
  t.true(error.slice(warnings.length).every((l) => /^(posture (weak|advice): |  risk: |  instead: )/.test(l)), error.join('\n'))
})

test('checkConfig: 1 and one line per issue for an invalid file', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, stringify({ ...minimal(), pol: {}, ppp: { mtu: 9000 } }))
  const { log, error, out } = capture()
  t.is(await checkConfig(file, out), 1)
  t.deepEqual(log, [])
  t.deepEqual(error, [`${file}: invalid configuration`, '  ppp.mtu: must be at most 1500, got 9000', '  pol: unknown key; did you mean "pool"?'])
})

test('checkConfig: 2 when the file cannot be read', async (t) => {
  const { log, error, out } = capture()
  const file = join(fixtures, 'no-such-file.yaml')
  t.is(await checkConfig(file, out), 2)
  t.deepEqual(log, [])
  t.is(error.length, 1)
  t.regex(error[0]!, /no-such-file\.yaml: cannot read .*: no such file/)
})

test('access and anomaly: defaults, and policy names that are not configured are errors naming the key', (t) => {
  const { config } = parseServerConfig(minimal())
  t.deepEqual(config.access, { default: 'allow', policies: [] })
  t.deepEqual(config.anomaly, { mode: 'off', rateJump: { factor: 10, minPps: 1000, averageSeconds: 30 }, destinations: { max: 256, interval: 10 } })
  const ok = parseServerConfig({
    ...minimal(),
    policies: { dns: { rules: [{ action: 'allow', destination: '10.0.0.53', protocol: 'udp', ports: 53 }], rateBps: 1_000_000 } },
    access: { default: 'deny', policies: ['dns'] },
    users: [{ name: 'alice', password: 'alice-pass-1', policies: ['dns'] }],
    anomaly: { mode: 'kick', rateJump: null },
  }).config
  t.is(ok.policies['dns']?.default, undefined, 'absent: access.default decides')
  t.is(ok.policies['dns']?.rateBps, 1_000_000)
  t.deepEqual(ok.users[0]?.policies, ['dns'])
  t.is(ok.anomaly.rateJump, null)
  const e = configError(t, () =>
    parseServerConfig({
      ...minimal(),
      policies: { dns: {} },
      access: { default: 'block', policies: ['dsn', 'dns', 'dns'] },
      users: [{ name: 'alice', password: 'alice-pass-1', policies: ['staff'] }],
      anomaly: { mode: 'loud', rateJump: { factor: 1 }, destinations: { max: 1, interval: 0 } },
    }),
  )
  t.deepEqual(e.issues.map((i) => i.key).sort(), [
    'access.default',
    'access.policies[2]',
    'anomaly.destinations.interval',
    'anomaly.destinations.max',
    'anomaly.mode',
    'anomaly.rateJump.factor',
  ])
  const names = configError(t, () => parseServerConfig({ ...minimal(), policies: { dns: {} }, access: { policies: ['dsn'] }, users: [{ name: 'alice', password: 'alice-pass-1', policies: ['staff'] }] }))
  t.deepEqual(names.issues, [
    { key: 'users[0].policies[0]', message: '"staff" is not in policies' },
    { key: 'access.policies[0]', message: '"dsn" is not in policies; did you mean "dns"?' },
  ])
})
