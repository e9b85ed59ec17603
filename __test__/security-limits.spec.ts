// Brute-force defence and resource limits in the cores, in memory
// (lib/security, lib/ike/endpoint.ts): failed Phase 1 authentications per
// source with back-off then lock-out, the allow-list, the rate of new
// exchanges per source, IKE SAs per identity, fragment reassembly; the PPP
// limiter's allow-list; the security config section; the metrics.
import test from 'ava'
import { createServerMetrics, type MetricsStatus } from '../lib/metrics/index.js'
import { EventEmitter } from 'node:events'
import { AuthLimiter } from '../lib/auth/limiter.js'
import { ConfigError, parseServerConfig } from '../lib/config/index.js'
import { IkeEndpoint } from '../lib/ike/endpoint.js'
import { fragmentMessage } from '../lib/ike/fragments.js'
import { PRESETS } from '../lib/ike/policy.js'
import type { Endpoint, IkeConfig, IkeEvent, Path } from '../lib/ike/types.js'
import { AllowList } from '../lib/security/allow-list.js'
import { IkeSourceGuard } from '../lib/security/ike-guard.js'
import { SourceRateLimiter } from '../lib/security/source-rate.js'
import { LIMITS, securityStatus } from '../lib/security/status.js'
import type { ServerEvents } from '../lib/server/types.js'

const PSK = Buffer.from('security-limits-psk-42')
const SERVER: Endpoint = { address: '10.0.2.2', port: 500 }

/** A client endpoint at `address:port`, driven against `server` until quiet; returns the server's events. */
function attempt(server: IkeEndpoint, address: string, now: number, options: { psk?: Buffer; port?: number; localId?: string } = {}): IkeEvent[] {
  const port = options.port ?? 500
  const client = new IkeEndpoint({ policy: PRESETS.modern, psk: options.psk ?? PSK, forceEncapsulation: false, ...(options.localId ? { localId: options.localId } : {}) } as IkeConfig)
  client.connect({ peer: SERVER, local: { address, port } }, now, false)
  const events: IkeEvent[] = []
  for (let round = 0; round < 20; round++) {
    let moved = false
    for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
      moved = true
      server.handle(t.data, { peer: { address, port: t.fromPort === 500 ? port : t.fromPort }, local: { address: SERVER.address, port: t.to.port } }, now)
    }
    for (let t = server.pollTransmit(); t; t = server.pollTransmit()) {
      moved = true
      client.handle(t.data, { peer: { address: SERVER.address, port: t.fromPort }, local: { address, port: t.to.port } }, now)
    }
    for (let e = server.pollEvent(); e; e = server.pollEvent()) events.push(e)
    if (!moved) break
  }
  return events
}

const up = (events: IkeEvent[]) => events.some((e) => e.type === 'ike-sa-up')

function guarded(options: Partial<ConstructorParameters<typeof IkeSourceGuard>[0]> = {}): { server: IkeEndpoint; guard: IkeSourceGuard } {
  const guard = new IkeSourceGuard({ ratePerSecond: 100, maxFailures: 3, window: 900, lockout: 600, baseDelay: 2, maxDelay: 30, ...options })
  return { server: new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, dpdDelay: 0 }, { guard }), guard }
}

test('wrong pre-shared keys from one source: back-off, then lock-out; another source connects meanwhile; the lock ends', (t) => {
  const { server, guard } = guarded()
  const WRONG = Buffer.from('not-the-psk-at-all')
  const attacker = '198.51.100.66'

  const first = attempt(server, attacker, 0, { psk: WRONG })
  t.true(first.some((e) => e.type === 'auth-failure'), 'message 5 fails')
  // Back-off of baseDelay (2 s): at 1 s the source is refused before any state is made.
  const early = attempt(server, attacker, 1, { psk: PSK })
  t.false(up(early))
  t.is(server.stats().dropped['source in back-off after failed authentication'], 1)
  t.is(server.stats().halfOpen, 0, 'refused before a half-open SA exists')
  // After the back-off the next guess is heard; the third failure locks the source.
  attempt(server, attacker, 3, { psk: WRONG })
  attempt(server, attacker, 10, { psk: WRONG })
  t.is(guard.limiter.counts.failure, 2)
  t.is(guard.limiter.counts.lockout, 1)
  // Even the right key from the attacker's address waits out the lock...
  t.false(up(attempt(server, attacker, 100, { psk: PSK })))
  t.true(server.stats().dropped['source locked out after failed authentications']! >= 1)
  // ...while a client elsewhere connects at the same moment.
  t.true(up(attempt(server, '203.0.113.5', 100)))
  // 600 s after the lock the source may try again, and a success clears it.
  t.true(up(attempt(server, attacker, 611, { psk: PSK })))
  t.is(guard.limiter.counts.reset, 1)
})

test('guesses in parallel wait too: a message 5 from a source in back-off is not evaluated', (t) => {
  const { server, guard } = guarded({ baseDelay: 60 })
  const attacker = '198.51.100.67'
  // Two exchanges opened before any failure; the first fails, the second's message 5 must not be checked.
  const a = new IkeEndpoint({ policy: PRESETS.modern, psk: Buffer.from('guess-one-xxxxxxxx'), forceEncapsulation: false })
  const b = new IkeEndpoint({ policy: PRESETS.modern, psk: Buffer.from('guess-two-xxxxxxxx'), forceEncapsulation: false })
  a.connect({ peer: SERVER, local: { address: attacker, port: 500 } }, 0, false)
  b.connect({ peer: SERVER, local: { address: attacker, port: 501 } }, 0, false)
  // Lock-step: both exchanges advance together, so both message 5s arrive after both message 1s were admitted.
  const clients = new Map([[500, a], [501, b]])
  for (let round = 0; round < 10; round++) {
    for (const [port, client] of clients) for (let x = client.pollTransmit(); x; x = client.pollTransmit()) server.handle(x.data, { peer: { address: attacker, port }, local: SERVER }, 0)
    const answers = []
    for (let x = server.pollTransmit(); x; x = server.pollTransmit()) answers.push(x)
    if (!answers.length) break
    for (const x of answers) clients.get(x.to.port)!.handle(x.data, { peer: SERVER, local: { address: attacker, port: x.to.port } }, 0)
  }
  t.is(guard.limiter.counts.failure, 1, 'only the first guess was evaluated')
  t.is(server.stats().dropped['source in back-off after failed authentication'], 1)
})

test('an allow-listed source is never delayed nor locked out, and its failures are still reported', (t) => {
  const { server, guard } = guarded({ allowList: new AllowList(['192.0.2.0/24']) })
  for (let i = 0; i < 6; i++) t.false(up(attempt(server, '192.0.2.10', i, { psk: Buffer.from('wrong-key-wrong-key') })))
  t.is(guard.limiter.counts['allow-listed'], 6)
  t.is(guard.limiter.counts.lockout, 0)
  t.true(up(attempt(server, '192.0.2.10', 6)), 'the right key works at once')
  t.deepEqual(guard.limiter.size(), { pairs: 0, sources: 0 }, 'nothing remembered for it')
})

test('new exchanges per source are rate limited before any state or DH; other sources unaffected', (t) => {
  const { server, guard } = guarded({ ratePerSecond: 5 })
  const path = (address: string, port: number): Path => ({ peer: { address, port }, local: SERVER })
  const flood = new IkeEndpoint({ policy: PRESETS.modern, psk: PSK })
  for (let i = 0; i < 40; i++) flood.connect({ peer: SERVER, local: { address: '198.51.100.9', port: 1000 + i } }, 0, false)
  let i = 0
  for (let x = flood.pollTransmit(); x; x = flood.pollTransmit()) server.handle(x.data, path('198.51.100.9', 1000 + i++), 0)
  t.is(guard.rateLimited, 30, 'a burst of 2 x 5 admitted, 30 refused')
  t.is(server.stats().dropped['new exchanges per source rate limit'], 30)
  t.true(server.stats().halfOpen <= 10)
  t.true(up(attempt(server, '203.0.113.7', 0)), 'another source connects during the flood')
  // Tokens come back with time.
  const limiter = new SourceRateLimiter({ ratePerSecond: 1, burst: 1 })
  t.true(limiter.take('a', 0))
  t.false(limiter.take('a', 0.5))
  t.true(limiter.take('a', 1.5))
})

test('the rate table stays bounded under a flood from many sources', (t) => {
  const limiter = new SourceRateLimiter({ ratePerSecond: 1, maxSources: 100 })
  for (let i = 0; i < 10_000; i++) limiter.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i / 1000)
  t.is(limiter.size, 100)
})

test('IKE SAs per identity: a third address with the same ID is refused; a rekey from the same address is not counted', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, dpdDelay: 0, maxSasPerIdentity: 2 })
  t.true(up(attempt(server, '203.0.113.1', 0, { localId: 'shared@example.net' })))
  t.true(up(attempt(server, '203.0.113.2', 0, { localId: 'shared@example.net' })))
  const third = attempt(server, '203.0.113.3', 0, { localId: 'shared@example.net' })
  t.false(up(third))
  t.true(third.some((e) => e.type === 'negotiation-failure' && /per identity/.test(e.reason)))
  t.is(server.stats().dropped['IKE SAs per identity limit reached'], 1)
  t.true(up(attempt(server, '203.0.113.1', 1, { localId: 'shared@example.net' })), 'again from the first address: a replacement')
  t.true(up(attempt(server, '203.0.113.3', 1, { localId: 'other@example.net' })), 'another identity')
})

test('IKE fragment reassembly: at most ikeFragmentReassemblies messages at once, the rest dropped and counted', (t) => {
  const server = new IkeEndpoint({ policy: PRESETS.compatible, psk: PSK, fragmentReassembly: { maxPending: 4 } })
  for (let i = 0; i < 50; i++) {
    // An ISAKMP header (cookies, next payload SA, version 1.0, Main Mode, length) and a body.
    const message = Buffer.alloc(600, i)
    message.writeUInt32BE(0x01020300 + i, 0)
    message.fill(0, 8, 16)
    message.set([1, 0x10, 2, 0], 16)
    message.writeUInt32BE(0, 20)
    message.writeUInt32BE(600, 24)
    // The first of three fragments only: each stays pending.
    const [first] = fragmentMessage(message, i + 1, 300, {})
    server.handle(first!, { peer: { address: '198.51.100.50', port: 500 + i }, local: SERVER }, 0)
  }
  t.is(server.stats().reassembling, 4)
  t.is(server.stats().dropped['fragment: too many pending'], 46)
  server.handleTimeout(31)
  t.is(server.stats().reassembling, 0, 'partial reassemblies expire')
})

test('PPP limiter: the allow-list exempts a source from back-off and lock-out; others still lock', (t) => {
  const limiter = new AuthLimiter({ maxFailures: 2, allowList: new AllowList(['2001:db8:1::/48', '192.0.2.7']) })
  for (let i = 0; i < 10; i++) limiter.recordFailure('alice', '192.0.2.7', i)
  t.true(limiter.check('alice', '192.0.2.7', 10).allowed)
  t.true(limiter.check('alice', '::ffff:192.0.2.7', 10).allowed, 'IPv4-mapped matches')
  for (let i = 0; i < 10; i++) limiter.recordFailure('alice', '2001:db8:1:2::9', i)
  t.true(limiter.check('alice', '2001:db8:1:2::9', 10).allowed)
  limiter.recordFailure('alice', '198.51.100.1', 0)
  limiter.recordFailure('alice', '198.51.100.1', 2)
  t.like(limiter.check('alice', '198.51.100.1', 3), { allowed: false, reason: 'locked-out' })
  t.is(limiter.counts['allow-listed'], 20)
  t.throws(() => new AllowList(['10.0.0.0/33']), { message: /prefix length must be 0\.\.32/ })
})

test('config: security defaults, and a bad allow-list entry or control-queue byte bound names its key', (t) => {
  const base = { ipsec: { psk: 'a-long-enough-psk-value' }, pool: { range: '192.168.42.10-192.168.42.20', gateway: '192.168.42.1' } }
  const { config } = parseServerConfig(base)
  t.deepEqual(config.security.limits, { ikeRatePerSource: 50, ikeSasPerIdentity: 256, ikeFragmentReassemblies: 32, ikeFragmentBytes: 65536, pendingAuth: 256, controlQueue: 65536, controlQueueBytes: 33554432 })
  t.like(config.security.ikeAuth, { maxFailures: 10, lockout: 900 })
  t.like(config.security.pppAuth, { maxFailures: 5, sourceMaxFailures: 100 })
  const e = t.throws(() => parseServerConfig({ ...base, security: { allowList: ['10.0.0.0/8', 'office'] } }), { instanceOf: ConfigError })
  t.is(e.issues[0]!.key, 'security.allowList[1]')
  t.regex(e.issues[0]!.message, /"office" is not an address or a prefix/)
  t.throws(() => parseServerConfig({ ...base, security: { limits: { pendingAuth: 0 } } }), { instanceOf: ConfigError })
  const bytes = t.throws(() => parseServerConfig({ ...base, security: { limits: { controlQueueBytes: 65_536 } } }), { instanceOf: ConfigError })
  t.is(bytes.issues[0]!.key, 'security.limits.controlQueueBytes')
  t.regex(bytes.issues[0]!.message, /1048576/)
})

test('metrics: every limit shows from the first scrape and counts what status() reports', async (t) => {
  const source = new EventEmitter<ServerEvents>() as EventEmitter<ServerEvents> & { status(): MetricsStatus; sessions(): [] }
  const ike = new AuthLimiter()
  ike.recordFailure('(ike)', '198.51.100.1', 0)
  let dropped: Record<string, number> = { 'half-open limit reached': 3, 'new exchanges per source rate limit': 7, 'fragment: too many pending': 2, 'some other drop': 9 }
  source.status = () => ({
    state: 'listening',
    security: securityStatus({ ikeDropped: dropped, l2tpDropped: { L2TP_TUNNEL_LIMIT: 4 }, dataplaneCounters: { up_queue_full: 5, up_queue_bytes_full: 6 }, ikeLimiter: ike, pppLimiter: undefined, busyRefusals: 1, pendingAuth: 2, reassembling: 1 }),
  })
  source.sessions = () => []
  const metrics = createServerMetrics(source)
  t.teardown(() => metrics.stop())
  let text = await metrics.metrics()
  for (const limit of LIMITS) t.regex(text, new RegExp(`^l2tp_ipsec_limit_hits_total\\{limit="${limit}"\\} \\d+$`, 'm'))
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="ike_half_open_total"\} 3$/m)
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="ike_rate_per_source"\} 7$/m)
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="l2tp_tunnels_per_peer"\} 4$/m)
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="control_queue"\} 5$/m)
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="control_queue_bytes"\} 6$/m)
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="pending_auth"\} 1$/m)
  t.regex(text, /^l2tp_ipsec_auth_limiter_events_total\{scope="ike",event="failure"\} 1$/m)
  t.regex(text, /^l2tp_ipsec_auth_limiter_entries\{scope="ike",kind="sources"\} 1$/m)
  t.regex(text, /^l2tp_ipsec_auth_pending 2$/m)
  dropped = { ...dropped, 'half-open limit reached': 10 }
  text = await metrics.metrics()
  t.regex(text, /^l2tp_ipsec_limit_hits_total\{limit="ike_half_open_total"\} 10$/m)
})
