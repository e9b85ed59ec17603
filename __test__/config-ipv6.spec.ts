// pool.ipv6 and ppp.dns6: shapes, defaults, and errors that name the key.
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { ConfigError, parseServerConfig } from '../lib/config/index.js'
import { serverIpv6Address, sessionPrefixPool } from '../lib/pool/ipv6-session-pool.js'

const base = { ipsec: { psk: 'a-long-enough-key' }, pool: { range: '192.168.42.10-192.168.42.250', gateway: '192.168.42.1' } }

function withIpv6(pool: unknown, ppp: Record<string, unknown> = { ipv6: true }): unknown {
  return { ...base, ppp, pool: { ...base.pool, ipv6: pool } }
}

function issues(t: ExecutionContext, input: unknown): { key: string; message: string }[] {
  const e = t.throws(() => parseServerConfig(input), { instanceOf: ConfigError })
  return e?.issues ?? []
}

test('defaults: no IPv6 pool, no IPv6 DNS servers', (t) => {
  const { config } = parseServerConfig(base)
  t.is(config.pool.ipv6, null)
  t.deepEqual(config.ppp.dns6, [])
})

test('pool.ipv6 with ppp.ipv6: prefixes as a list, delegated /64, dns6 kept', (t) => {
  const { config, warnings } = parseServerConfig(withIpv6({ prefixes: '2001:db8:42::/56' }, { ipv6: true, dns6: ['2001:db8:53::1', '2001:4860:4860::8888'] }))
  t.deepEqual(config.pool.ipv6, { prefixes: ['2001:db8:42::/56'], delegatedLength: 64 })
  t.deepEqual(config.ppp.dns6, ['2001:db8:53::1', '2001:4860:4860::8888'])
  t.deepEqual(warnings.filter((w) => /ipv6|dns6/i.test(w)), [])
  const two = parseServerConfig(withIpv6({ prefixes: ['2001:db8:42::/56', 'fd00:1::/64'], delegatedLength: 64 })).config
  t.deepEqual(two.pool.ipv6?.prefixes, ['2001:db8:42::/56', 'fd00:1::/64'])
})

test('the server takes the first address of the first prefix, and its /64 stays out of the pool', (t) => {
  t.is(serverIpv6Address(['2001:db8:42::/56']), '2001:db8:42::1')
  const pool = sessionPrefixPool({ prefixes: ['2001:db8:42::/56'], delegatedLength: 64 })
  t.is(pool.stats().total, 255)
  t.false(pool.contains('2001:db8:42::/64'))
  t.true(pool.contains('2001:db8:42:1::/64'))
  const a = pool.allocate({ user: 'alice', now: 0 })
  t.deepEqual(a, { ok: true, address: '2001:db8:42:1::/64', source: 'pool' })
})

test('pool.ipv6 needs ppp.ipv6: true, said at pool.ipv6', (t) => {
  const found = issues(t, withIpv6({ prefixes: '2001:db8:42::/56' }, {}))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6'])
  t.regex(found[0]!.message, /needs ppp\.ipv6: true/)
})

test('bad prefixes are named one by one', (t) => {
  let found = issues(t, withIpv6({ prefixes: '2001:db8:42::1/56' }))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6.prefixes'])
  t.regex(found[0]!.message, /not an IPv6 prefix/)

  found = issues(t, withIpv6({ prefixes: ['2001:db8:42::/56', '10.0.0.0/8', '2001:db8:43::/72'] }))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6.prefixes[1]', 'pool.ipv6.prefixes[2]'])
  t.regex(found[1]!.message, /longer than \/64/)

  found = issues(t, withIpv6({ prefixes: '2001:db8:42:7::' }))
  t.regex(found[0]!.message, /network\/length/)

  found = issues(t, withIpv6({ prefixes: [] }))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6.prefixes'])
})

test('a single /64 leaves nothing for clients once the server took its address', (t) => {
  const found = issues(t, withIpv6({ prefixes: '2001:db8:42:7::/64' }))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6.prefixes'])
  t.regex(found[0]!.message, /no \/64 left for clients: the server's own address 2001:db8:42:7::1/)
})

test('delegatedLength is 64 only; unknown keys get a suggestion', (t) => {
  let found = issues(t, withIpv6({ prefixes: '2001:db8:42::/56', delegatedLength: 56 }))
  t.deepEqual(found.map((i) => i.key), ['pool.ipv6.delegatedLength'])
  t.regex(found[0]!.message, /must be 64/)
  found = issues(t, withIpv6({ prefix: '2001:db8:42::/56' }))
  t.true(found.some((i) => i.key === 'pool.ipv6.prefix' && /did you mean "prefixes"/.test(i.message)), JSON.stringify(found))
})

test('ppp.dns6: IPv6 addresses, at most two; without pool.ipv6 a warning', (t) => {
  let found = issues(t, { ...base, ppp: { dns6: ['1.1.1.1'] } })
  t.deepEqual(found.map((i) => i.key), ['ppp.dns6[0]'])
  t.regex(found[0]!.message, /not an IPv6 address/)
  found = issues(t, { ...base, ppp: { dns6: ['::1', '::2', '::3'] } })
  t.deepEqual(found.map((i) => i.key), ['ppp.dns6'])
  t.regex(found[0]!.message, /at most 2/)
  const { warnings } = parseServerConfig({ ...base, ppp: { dns6: ['2001:db8::53'] } })
  t.true(warnings.some((w) => w.startsWith('ppp.dns6') && w.includes('pool.ipv6')), JSON.stringify(warnings))
})
