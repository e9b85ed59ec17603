// The capability check (lib/system/privileges.ts): parsing CapEff, which
// capabilities are missing for which needs, the hints, and the real check
// on a process whose capabilities capsh has dropped.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { checkPrivileges, missingCapabilities, parseCapEff, privilegeHint } from '../lib/system/privileges.js'

const status = (capEff: string): string =>
  ['Name:\tnode', 'Umask:\t0022', 'State:\tR (running)', 'Uid:\t0\t0\t0\t0', 'CapInh:\t0000000000000000', 'CapPrm:\t000001ffffffffff', `CapEff:\t${capEff}`, 'CapBnd:\t000001ffffffffff', 'CapAmb:\t0000000000000000', 'NoNewPrivs:\t0', ''].join('\n')

const ALL = { bindLowPorts: true, tun: true, rawEsp: true }

test('parseCapEff reads the hex effective set', (t) => {
  t.is(parseCapEff(status('000001ffffffffff')), 0x1ffffffffffn)
  t.is(parseCapEff(status('0000000000000000')), 0n)
  // CAP_NET_BIND_SERVICE (10) and CAP_NET_ADMIN (12) only.
  t.is(parseCapEff(status('0000000000001400')), (1n << 10n) | (1n << 12n))
  // Not confused by CapPrm / CapBnd lines around it.
  t.is(parseCapEff('CapPrm:\tffff\nCapEff:\t0000000000002000\nCapBnd:\tffff\n'), 1n << 13n)
  t.throws(() => parseCapEff('Name:\tnode\n'), { message: /no CapEff line/ })
})

test('missingCapabilities lists only what the needs call for', (t) => {
  t.deepEqual(missingCapabilities(0n, ALL), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
  t.deepEqual(missingCapabilities(0n, { bindLowPorts: false, tun: true }), ['CAP_NET_ADMIN'])
  t.deepEqual(missingCapabilities(0n, { bindLowPorts: true, tun: false }), ['CAP_NET_BIND_SERVICE'])
  t.deepEqual(missingCapabilities(0n, { bindLowPorts: false, tun: false }), [])
  t.deepEqual(missingCapabilities(1n << 12n, ALL), ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
  t.deepEqual(missingCapabilities((1n << 10n) | (1n << 12n) | (1n << 13n), ALL), [])
  t.deepEqual(missingCapabilities(0x1ffffffffffn, ALL), [])
  // Neighbouring bits (CAP_NET_BROADCAST = 11, CAP_IPC_LOCK = 14) are not mistaken for them.
  t.deepEqual(missingCapabilities((1n << 11n) | (1n << 14n), ALL), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
})

test('hints: sudo or setcap for a user, the container for root', (t) => {
  t.is(privilegeHint([], false), '')
  const user = privilegeHint(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'], false)
  t.true(user.includes('CAP_NET_ADMIN (TUN devices and network namespaces), CAP_NET_BIND_SERVICE (ports below 1024)'))
  t.true(user.includes('sudo npm start'))
  t.true(user.includes('sudo setcap cap_net_admin,cap_net_bind_service,cap_net_raw+ep $(readlink -f $(which node))'))
  const root = privilegeHint(['CAP_NET_ADMIN'], true)
  t.true(root.includes('--cap-add NET_ADMIN'))
  t.false(root.includes('sudo'))
})

const capEffNow = (): bigint => parseCapEff(readFileSync('/proc/self/status', 'utf8'))
const fullyPrivileged = existsSync('/proc/self/status') && missingCapabilities(capEffNow(), ALL).length === 0

;(fullyPrivileged ? test : test.skip)('checkPrivileges on this process (root with every capability): ok', (t) => {
  t.deepEqual(checkPrivileges(ALL), { ok: true, missing: [], hint: '' })
})

// capsh drops the capabilities from the bounding set, so the node it execs
// as root starts without them: the real /proc path, not a sample.
const capsh = ['/usr/sbin/capsh', '/sbin/capsh', '/usr/bin/capsh'].find((p) => existsSync(p))
;(capsh && fullyPrivileged ? test : test.skip)('checkPrivileges in a process capsh stripped of CAP_NET_ADMIN and CAP_NET_RAW', (t) => {
  const privileges = JSON.stringify(new URL('../lib/system/privileges.ts', import.meta.url).href)
  const code = `import { checkPrivileges } from ${privileges}; console.log(JSON.stringify(checkPrivileges({ bindLowPorts: true, tun: true, rawEsp: true })))`
  const child = spawnSync(
    capsh!,
    ['--drop=cap_net_admin,cap_net_raw', '--', '-c', 'exec "$0" --import tsx --input-type=module -e "$1"', process.execPath, code],
    { encoding: 'utf8' },
  )
  t.is(child.status, 0, child.stderr)
  const result = JSON.parse(child.stdout) as ReturnType<typeof checkPrivileges>
  t.false(result.ok)
  t.deepEqual(result.missing, ['CAP_NET_ADMIN', 'CAP_NET_RAW'])
  t.regex(result.hint, /CAP_NET_ADMIN \(TUN devices and network namespaces\), CAP_NET_RAW \(raw ESP sockets\)/)
})
