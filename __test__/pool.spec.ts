// The IPv4 and IPv6 address pools (lib/pool/ip-pool.ts, lib/pool/ipv6.ts):
// ranges and CIDRs, exclusions, exhaustion, requested / sticky / fixed
// addresses, reservations, a seeded random walk of 20,000 operations
// checked against a plain Map model, and the cost at 10,000+ sessions.
import { prng } from './helpers/seeded.js'
import test from 'ava'
import {
  Ipv4Pool,
  Ipv6PrefixPool,
  PoolConfigError,
  formatIpv4,
  parseIpv4,
  type AllocateRequest,
  type Allocation,
} from '../lib/pool/ip-pool.js'
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../lib/pool/ipv6.js'

function address(result: Allocation): string {
  if (!result.ok) throw new Error(`expected an address, got ${result.error}: ${result.reason}`)
  return result.address
}

// --- parsing and sizes ---------------------------------------------------------

test('a dash range counts both ends; the gateway inside it is left out', (t) => {
  t.is(new Ipv4Pool({ ranges: '192.168.42.10-192.168.42.250' }).stats().total, 241)
  const pool = new Ipv4Pool({ ranges: '192.168.42.10-192.168.42.250', gateway: '192.168.42.10' })
  t.is(pool.stats().total, 240)
  t.false(pool.contains('192.168.42.10'))
  t.is(address(pool.allocate({ user: 'a', now: 0 })), '192.168.42.11')
})

test('a CIDR drops network, broadcast and gateway; /31 and /32 keep every address', (t) => {
  const pool = new Ipv4Pool({ ranges: '192.168.42.0/24', gateway: '192.168.42.1' })
  t.deepEqual(pool.stats(), { total: 253, used: 0, free: 253, reserved: 0, outside: 0 })
  t.false(pool.contains('192.168.42.0'))
  t.false(pool.contains('192.168.42.255'))
  t.true(pool.contains('192.168.42.254'))
  t.is(new Ipv4Pool({ ranges: '10.0.0.0/31' }).stats().total, 2)
  t.is(new Ipv4Pool({ ranges: '10.0.0.7/32' }).stats().total, 1)
  // several ranges, overlapping ones merged
  t.is(new Ipv4Pool({ ranges: ['10.0.0.10-10.0.0.19', '10.0.0.15-10.0.0.24', '10.0.1.0/30'] }).stats().total, 15 + 2)
})

test('exclusions are never handed out', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.0/28', exclude: ['10.0.0.2-10.0.0.5', '10.0.0.9'] })
  t.is(pool.stats().total, 14 - 5)
  const got = new Set<string>()
  for (let i = 0; i < 9; i++) got.add(address(pool.allocate({ user: `u${i}`, now: 0 })))
  for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.9']) t.false(got.has(a))
  t.is(got.size, 9)
})

test('configuration mistakes throw PoolConfigError with a stable code', (t) => {
  const code = (fn: () => unknown) => t.throws(fn, { instanceOf: PoolConfigError })?.code
  t.is(code(() => new Ipv4Pool({ ranges: '192.168.42.250-192.168.42.10' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv4Pool({ ranges: '192.168.42.1/24' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv4Pool({ ranges: '192.168.042.0/24' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv4Pool({ ranges: '192.168.42.0/33' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv4Pool({ ranges: [] })), 'POOL_EMPTY')
  t.is(code(() => new Ipv4Pool({ ranges: '10.0.0.1', gateway: '10.0.0.1' })), 'POOL_EMPTY')
  t.is(code(() => new Ipv4Pool({ ranges: '10.0.0.0/24', gateway: 'nope' })), 'POOL_BAD_ADDRESS')
  t.is(code(() => new Ipv6PrefixPool({ prefixes: '2001:db8:42::1/56' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv6PrefixPool({ prefixes: '2001:db8:42::/72' })), 'POOL_BAD_RANGE')
  t.is(code(() => new Ipv6PrefixPool({ prefixes: '::/0' })), 'POOL_TOO_LARGE')
  t.is(code(() => new Ipv4Pool({ ranges: '10.0.0.0/24' }).reserve('10.0.1.1')), 'POOL_BAD_ADDRESS')
})

// --- allocation ---------------------------------------------------------------

test('exhaustion is a typed failure with a reason; a release makes room again', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.0/29', gateway: '10.0.0.1' })
  const got = new Set<string>()
  for (let i = 0; i < 5; i++) got.add(address(pool.allocate({ user: `u${i}`, now: 0 })))
  t.is(got.size, 5)
  const full = pool.allocate({ user: 'late', now: 0 })
  t.false(full.ok)
  if (full.ok) return
  t.is(full.error, 'POOL_EXHAUSTED')
  t.regex(full.reason, /5 of 5 in use/)
  t.is(pool.release('10.0.0.4', 10), 'u2')
  t.is(pool.release('10.0.0.4', 10), undefined, 'a second release is harmless')
  t.deepEqual(pool.allocate({ user: 'late', now: 11 }), { ok: true, address: '10.0.0.4', source: 'pool' })
  t.is(pool.holderOf('10.0.0.4'), 'late')
})

test('a requested address is honoured when usable and ignored otherwise', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.0/24', gateway: '10.0.0.1' })
  t.deepEqual(pool.allocate({ user: 'a', requested: '10.0.0.77', now: 0 }), { ok: true, address: '10.0.0.77', source: 'requested' })
  // in use, outside, the gateway, 0.0.0.0 (what Windows asks for): a pool address instead
  for (const requested of ['10.0.0.77', '10.9.9.9', '10.0.0.1', '0.0.0.0', 'garbage']) {
    const r = pool.allocate({ user: 'b', requested, now: 0 })
    t.is(r.ok && r.source, 'pool', requested)
    t.not(address(r), requested)
  }
  pool.reserve('10.0.0.80', 'carol')
  t.is(pool.allocate({ user: 'b', requested: '10.0.0.80', now: 0 }).ok && 'x', 'x')
  t.is(pool.holderOf('10.0.0.80'), undefined, 'reserved for carol, not given to b')
  t.deepEqual(pool.allocate({ user: 'carol', requested: '10.0.0.80', now: 0 }), { ok: true, address: '10.0.0.80', source: 'requested' })
})

test('sticky: a returning user gets the previous address back while it is free and remembered', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.10-10.0.0.20', stickyTtl: 600 })
  const first = address(pool.allocate({ user: 'alice', now: 0 }))
  pool.release(first, 100)
  // others get fresh addresses first, so alice's stays free
  for (let i = 0; i < 5; i++) t.not(address(pool.allocate({ user: `o${i}`, now: 150 })), first)
  t.deepEqual(pool.allocate({ user: 'alice', now: 700 }), { ok: true, address: first, source: 'sticky' })
  pool.release(first, 800)
  // after the sticky time it is an ordinary allocation
  const later = pool.allocate({ user: 'alice', now: 800 + 601 })
  t.is(later.ok && later.source, 'pool')
})

test('sticky never holds an address back from others, and yields when it was taken', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.10-10.0.0.11' })
  const a = address(pool.allocate({ user: 'alice', now: 0 }))
  address(pool.allocate({ user: 'bob', now: 0 }))
  pool.release(a, 1)
  t.is(address(pool.allocate({ user: 'carol', now: 2 })), a, 'the only free address goes to carol')
  t.is(pool.allocate({ user: 'alice', now: 3 }).ok, false)
  pool.release(a, 4) // carol leaves: now alice's remembered address is carol's last too
  t.deepEqual(pool.allocate({ user: 'alice', now: 5 }), { ok: true, address: a, source: 'sticky' })
})

test('sticky memory is bounded', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.0/16', maxSticky: 100 })
  for (let i = 0; i < 1000; i++) pool.release(address(pool.allocate({ user: `u${i}`, now: i })), i)
  t.is(pool.stickyCount(), 100)
  const off = new Ipv4Pool({ ranges: '10.0.0.0/24', stickyTtl: 0 })
  off.release(address(off.allocate({ user: 'a', now: 0 })), 0)
  t.is(off.stickyCount(), 0)
})

test('fixed addresses: inside the pool, in use, gateway, excluded, outside, allowed outside', (t) => {
  const pool = new Ipv4Pool({
    ranges: '192.168.42.0/24',
    gateway: '192.168.42.1',
    exclude: ['192.168.42.200-192.168.42.209'],
    allowOutside: ['10.8.0.0/24'],
  })
  t.deepEqual(pool.allocate({ user: 'alice', fixed: '192.168.42.50', now: 0 }), { ok: true, address: '192.168.42.50', source: 'fixed' })
  t.like(pool.allocate({ user: 'bob', fixed: '192.168.42.50', now: 0 }), { ok: false, error: 'ADDRESS_IN_USE', holder: 'alice' })
  t.like(pool.allocate({ user: 'bob', fixed: '192.168.42.1', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'bob', fixed: '192.168.42.205', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'bob', fixed: '172.16.0.5', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'bob', fixed: '127.0.0.1', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'bob', fixed: 'not-an-ip', now: 0 }), { ok: false, error: 'BAD_ADDRESS' })
  t.deepEqual(pool.allocate({ user: 'bob', fixed: '10.8.0.9', now: 0 }), { ok: true, address: '10.8.0.9', source: 'fixed' })
  t.like(pool.allocate({ user: 'eve', fixed: '10.8.0.9', now: 0 }), { ok: false, error: 'ADDRESS_IN_USE', holder: 'bob' })
  t.deepEqual(pool.stats(), { total: 243, used: 1, free: 242, reserved: 0, outside: 1 })
  t.is(pool.release('10.8.0.9', 1), 'bob')
  t.is(pool.stats().outside, 0)
  t.deepEqual([...pool.allocations()], [['192.168.42.50', 'alice']])
})

test('an address reserved for a user is never given to anyone else', (t) => {
  const pool = new Ipv4Pool({ ranges: '10.0.0.10-10.0.0.14' })
  pool.reserve('10.0.0.12', 'alice')
  pool.reserve('10.0.0.13') // for nobody
  t.deepEqual(pool.stats(), { total: 5, used: 0, free: 3, reserved: 2, outside: 0 })
  const got = [0, 1, 2].map((i) => address(pool.allocate({ user: `u${i}`, now: 0 })))
  t.deepEqual(got.sort(), ['10.0.0.10', '10.0.0.11', '10.0.0.14'])
  t.like(pool.allocate({ user: 'u9', now: 0 }), { ok: false, error: 'POOL_EXHAUSTED' })
  t.like(pool.allocate({ user: 'bob', fixed: '10.0.0.12', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'bob', fixed: '10.0.0.13', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'alice', fixed: '10.0.0.12', now: 0 }), { ok: true, address: '10.0.0.12' })
  t.true(pool.unreserve('10.0.0.13'))
  t.like(pool.allocate({ user: 'u9', now: 0 }), { ok: true, address: '10.0.0.13', source: 'pool' })
})

// --- a random walk against a model --------------------------------------------------

test('20,000 random operations never double-allocate (checked against a Map model)', (t) => {
  const rand = prng(0x5eed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
  const pool = new Ipv4Pool({
    ranges: ['10.0.0.0/24', '10.0.5.10-10.0.5.40'],
    gateway: '10.0.0.1',
    exclude: ['10.0.0.100-10.0.0.109'],
    allowOutside: ['10.1.0.0/30'],
    stickyTtl: 50,
  })
  const poolAddresses: string[] = []
  for (let a = parseIpv4('10.0.0.0')!; a <= parseIpv4('10.0.5.255')!; a++) {
    const text = formatIpv4(a)
    if (pool.contains(text)) poolAddresses.push(text)
  }
  t.is(poolAddresses.length, pool.stats().total)
  t.is(poolAddresses.length, 253 - 10 + 31)
  const outsideAddresses = ['10.1.0.0', '10.1.0.1', '10.1.0.2', '10.1.0.3']
  const candidates = [...poolAddresses, ...outsideAddresses, '10.0.0.1', '10.0.0.105', '10.0.0.255', '8.8.8.8']
  const users = Array.from({ length: 400 }, (_, i) => `user${i}`)
  const held = new Map<string, string>() // address -> user
  const reserved = new Map<string, string | null>()
  const counts = { ok: 0, exhausted: 0, inUse: 0, notAllowed: 0, releases: 0 }

  for (let step = 0; step < 20_000; step++) {
    const now = step
    const roll = rand()
    if (roll < 0.5) {
      const user = pick(users)
      const kind = rand()
      const request: AllocateRequest = kind < 0.1 ? { user, now, fixed: pick(candidates) } : kind < 0.3 ? { user, now, requested: pick(candidates) } : { user, now }
      const result = pool.allocate(request)
      if (result.ok) {
        counts.ok++
        t.false(held.has(result.address), `step ${step}: ${result.address} handed out twice`)
        const inPool = pool.contains(result.address)
        t.true(inPool || outsideAddresses.includes(result.address), `step ${step}: ${result.address} is not allowed`)
        if (inPool && reserved.has(result.address)) t.is(reserved.get(result.address), user, `step ${step}: reserved address given to another`)
        if (request.fixed !== undefined) t.is(result.address, request.fixed)
        held.set(result.address, user)
      } else if (result.error === 'POOL_EXHAUSTED') {
        counts.exhausted++
        t.is(request.fixed, undefined)
        // exhausted must mean it: every pool address is held or reserved
        for (const a of poolAddresses) t.true(held.has(a) || reserved.has(a), `step ${step}: ${a} was free`)
      } else if (result.error === 'ADDRESS_IN_USE') {
        counts.inUse++
        t.is(result.holder, held.get(request.fixed!))
      } else {
        counts.notAllowed++
        const fixed = request.fixed!
        t.true(!pool.contains(fixed) ? !outsideAddresses.includes(fixed) : reserved.has(fixed) && reserved.get(fixed) !== user)
      }
    } else if (roll < 0.97) {
      const addresses = [...held.keys()]
      const target = addresses.length > 0 && rand() < 0.9 ? pick(addresses) : pick(candidates)
      t.is(pool.release(target, now), held.get(target))
      if (held.delete(target)) counts.releases++
    } else {
      const target = pick(poolAddresses)
      if (reserved.has(target)) {
        t.true(pool.unreserve(target))
        reserved.delete(target)
      } else {
        const forUser = rand() < 0.5 ? pick(users) : undefined
        pool.reserve(target, forUser)
        reserved.set(target, forUser ?? null)
      }
    }
    const stats = pool.stats()
    const outsideHeld = [...held.keys()].filter((a) => outsideAddresses.includes(a)).length
    t.is(stats.used, held.size - outsideHeld)
    t.is(stats.outside, outsideHeld)
    t.is(stats.used + stats.free + stats.reserved, stats.total)
  }
  t.deepEqual(new Map(pool.allocations()), held)
  // the walk went everywhere it should
  t.true(counts.exhausted > 100 && counts.inUse > 50 && counts.notAllowed > 50 && counts.releases > 5000, JSON.stringify(counts))
})

test('10,000 sessions on a /16: allocation stays cheap, and a /8 costs nothing up front', (t) => {
  const started = process.hrtime.bigint()
  const big = new Ipv4Pool({ ranges: '10.0.0.0/8', gateway: '10.0.0.1' })
  t.is(big.stats().total, 2 ** 24 - 3)
  const pool = new Ipv4Pool({ ranges: '172.16.0.0/16', gateway: '172.16.0.1' })
  const seen = new Set<string>()
  for (let i = 0; i < 10_000; i++) seen.add(address(pool.allocate({ user: `u${i}`, now: 0 })))
  t.is(seen.size, 10_000)
  const list = [...seen]
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10_000; i += 2) pool.release(list[i]!, round)
    for (let i = 0; i < 10_000; i += 2) list[i] = address(pool.allocate({ user: `u${i}`, now: round }))
  }
  t.is(pool.stats().used, 10_000)
  t.is(new Set(list).size, 10_000)
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.log(`10,000 sessions + 50,000 release/allocate: ${ms.toFixed(1)} ms`)
  t.true(ms < 2000)
})

// --- IPv6 ------------------------------------------------------------------------

test('IPv6 text: RFC 5952 canonical form and strict parsing', (t) => {
  const canon = (s: string) => formatIpv6(parseIpv6(s)!)
  t.is(canon('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1')
  t.is(canon('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1')
  t.is(canon('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1')
  t.is(canon('::'), '::')
  t.is(canon('::1'), '::1')
  t.is(canon('1::'), '1::')
  t.is(canon('::ffff:192.0.2.1'), '::ffff:c000:201')
  for (const bad of ['', ':', ':::', '1:::2', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '::1.2.3', '::1.2.3.256', 'fe80::1%eth0']) {
    t.is(parseIpv6(bad), undefined, bad)
  }
  t.deepEqual(parseIpv6Prefix('2001:db8:42::/56'), { network: parseIpv6('2001:db8:42::')!, length: 56 })
  t.is(parseIpv6Prefix('2001:db8:42::1/56'), undefined)
})

test('IPv6: one /64 per session carved from a /56, in order, until exhausted', (t) => {
  const pool = new Ipv6PrefixPool({ prefixes: '2001:db8:42::/56' })
  t.is(pool.stats().total, 256)
  t.is(address(pool.allocate({ user: 'u0', now: 0 })), '2001:db8:42::/64')
  t.is(address(pool.allocate({ user: 'u1', now: 0 })), '2001:db8:42:1::/64')
  for (let i = 2; i < 256; i++) address(pool.allocate({ user: `u${i}`, now: 0 }))
  t.like(pool.allocate({ user: 'late', now: 0 }), { ok: false, error: 'POOL_EXHAUSTED' })
  t.is(pool.release('2001:db8:42:ff::/64', 1), 'u255')
  t.is(address(pool.allocate({ user: 'late', now: 1 })), '2001:db8:42:ff::/64')
  t.is(new Ipv6PrefixPool({ prefixes: '2001:db8::/32' }).stats().total, 2 ** 32)
})

test('IPv6: exclusions, fixed prefixes, sticky, other delegated lengths', (t) => {
  const pool = new Ipv6PrefixPool({
    prefixes: ['2001:db8:42::/56'],
    exclude: ['2001:db8:42::/64', '2001:db8:42:f0::/60', '2001:db8:42:80::1'],
    allowOutside: ['2001:db8:99::/48'],
  })
  t.is(pool.stats().total, 256 - 1 - 16 - 1)
  t.is(address(pool.allocate({ user: 'a', now: 0 })), '2001:db8:42:1::/64')
  t.deepEqual(pool.allocate({ user: 'b', fixed: '2001:db8:42:7::/64', now: 0 }), { ok: true, address: '2001:db8:42:7::/64', source: 'fixed' })
  t.like(pool.allocate({ user: 'c', fixed: '2001:db8:42:7::/64', now: 0 }), { ok: false, error: 'ADDRESS_IN_USE', holder: 'b' })
  t.like(pool.allocate({ user: 'c', fixed: '2001:db8:42:7::/60', now: 0 }), { ok: false, error: 'BAD_ADDRESS' })
  t.like(pool.allocate({ user: 'c', fixed: '2001:db8:42:f3::/64', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'c', fixed: '2001:db8:77::/64', now: 0 }), { ok: false, error: 'ADDRESS_NOT_ALLOWED' })
  t.like(pool.allocate({ user: 'c', fixed: '2001:db8:99:5::/64', now: 0 }), { ok: true, address: '2001:db8:99:5::/64', source: 'fixed' })
  // a bare network address names its /64
  t.like(pool.allocate({ user: 'd', fixed: '2001:db8:42:8::', now: 0 }), { ok: true, address: '2001:db8:42:8::/64' })
  pool.release('2001:db8:42:1::/64', 5)
  address(pool.allocate({ user: 'x', now: 6 }))
  t.deepEqual(pool.allocate({ user: 'a', now: 7 }), { ok: true, address: '2001:db8:42:1::/64', source: 'sticky' })

  const sixties = new Ipv6PrefixPool({ prefixes: '2001:db8:100::/48', delegatedLength: 60 })
  t.is(sixties.stats().total, 4096)
  address(sixties.allocate({ user: 'a', now: 0 }))
  t.is(address(sixties.allocate({ user: 'b', now: 0 })), '2001:db8:100:10::/60')
})
