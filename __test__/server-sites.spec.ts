// The server's site manager (lib/server/sites.ts) over a recorded IKE core
// and data plane: calls with back-off, site-up/site-down, the rekey it
// starts and the old pair it deletes afterwards.
import test from 'ava'
import type { SiteOptions } from '../native/index.js'
import type { IkeEndpoint } from '../lib/ike/endpoint.js'
import type { IkeEvent } from '../lib/ike/types.js'
import type { Binding } from '../lib/server/bindings.js'
import { SiteManager, type SiteSettings } from '../lib/server/sites.js'
import type { ServerEvents } from '../lib/server/types.js'

type ChildUp = Extract<IkeEvent, { type: 'child-sa-up' }>

function rig(settings: Partial<SiteSettings> = {}) {
  const calls: { connect: number[]; quick: number[]; deleted: number[]; upserts: SiteOptions[]; rebinds: [number, number][] } = { connect: [], quick: [], deleted: [], upserts: [], rebinds: [] }
  const events: { name: keyof ServerEvents; args: unknown[] }[] = []
  const children = new Map<number, string>()
  const ike = {
    connect: (_path: unknown, now: number) => (calls.connect.push(now), 'ike-1'),
    startQuickMode: (_id: string, now: number) => (calls.quick.push(now), true),
    deleteChildSa: (_id: string, spi: number) => (calls.deleted.push(spi), true),
    ikeSaOfChild: (spi: number) => children.get(spi),
    touch: () => {},
  } as unknown as IkeEndpoint
  const manager = new SiteManager({
    sites: [{ name: 'b', peer: '192.0.2.2', psk: Buffer.from('k'), local: ['10.1.0.0/24'], remote: ['10.2.0.0/24'], connect: true, lifetime: 1000, ...settings }],
    dataplane: {
      upsertSite: (s) => void calls.upserts.push(s),
      rebindSite: (id, binding) => (calls.rebinds.push([id, binding]), true),
      removeSite: () => true,
    },
    ike,
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    emit: (name, ...args) => void events.push({ name, args }),
    local: { address: '192.0.2.1', port: 500 },
    peerIkePort: 500,
  })
  const binding = { id: 4, peer: { address: '192.0.2.2', port: 4500 }, peerId: '192.0.2.2', suite: 'aes256gcm-16' } as Binding
  const up = (spi: number, ikeSa = 'ike-1'): ChildUp => {
    children.set(spi, ikeSa)
    return { type: 'child-sa-up', ikeSa, peer: binding.peer, inbound: { spi, suite: 's', encryptionKey: Buffer.alloc(0), integrityKey: Buffer.alloc(0) }, outbound: { spi: spi + 1, suite: 's', encryptionKey: Buffer.alloc(0), integrityKey: Buffer.alloc(0) }, mode: 'tunnel', udpEncapsulated: true, peerL2tpPort: 0, site: 'b', lifetimeSeconds: 1000 }
  }
  return { manager, calls, events, binding, up }
}

test('a site to call: installed unbound, called, called again with back-off after failed attempts', (t) => {
  const { manager, calls } = rig()
  manager.install(0)
  t.deepEqual(calls.upserts, [{ id: 1, binding: 0, local: ['10.1.0.0/24'], remote: ['10.2.0.0/24'] }])
  manager.tick(0)
  t.deepEqual(calls.connect, [0])
  manager.tick(20)
  t.deepEqual(calls.connect, [0], 'one attempt at a time')
  // Each attempt has 35 s; then 1, 2, 4 ... s of back-off.
  let now = 35
  const starts: number[] = []
  for (let i = 0; i < 5; i++) {
    manager.tick(now) // the attempt times out
    const next = manager.nextDeadline()!
    manager.tick(next)
    starts.push(next - now)
    now = next + 35
  }
  t.deepEqual(starts, [1, 2, 4, 8, 16])
  t.like(manager.list([])[0], { name: 'b', state: 'connecting', lastError: 'no SA within the attempt time' })
})

test('up, rekeyed at 85% of its lifetime, the old pair deleted 5 s after the new one; down and called again', (t) => {
  const { manager, calls, events, binding, up } = rig()
  manager.install(0)
  manager.tick(0)
  manager.childUp(up(100), binding, 3)
  t.deepEqual(calls.rebinds, [[1, 4]])
  t.deepEqual(events.map((e) => e.name), ['site-up'])
  t.like(manager.list([])[0], { state: 'up', peerId: '192.0.2.2' })
  t.is(manager.nextDeadline(), 3 + 850)
  manager.tick(853)
  t.deepEqual(calls.quick, [853])
  // No answer: tried again 30 s later.
  manager.tick(883)
  t.deepEqual(calls.quick, [853, 883])
  manager.childUp(up(200), binding, 884)
  t.deepEqual(calls.deleted, [])
  manager.tick(889)
  t.deepEqual(calls.deleted, [100], 'the old inbound SPI')
  manager.childDown({ type: 'child-sa-down', ikeSa: 'ike-1', inboundSpi: 100, outboundSpi: 101, reason: 'rekeyed' }, 889)
  t.deepEqual(events.map((e) => e.name), ['site-up'], 'still up on the new pair')
  manager.childDown({ type: 'child-sa-down', ikeSa: 'ike-1', inboundSpi: 200, outboundSpi: 201, reason: 'dead peer' }, 900)
  t.deepEqual(events.map((e) => e.name), ['site-up', 'site-down'])
  t.deepEqual(events[1]!.args, [{ name: 'b', reason: 'dead peer' }])
  t.deepEqual(calls.rebinds.at(-1), [1, 0], 'unbound: its packets are dropped, not sent in the clear')
  manager.tick(901)
  t.deepEqual(calls.connect, [0, 901])
})

test('a site that calls us: no calls, no rekeys, no deletes of its own', (t) => {
  const { manager, calls, events, binding, up } = rig({ connect: false })
  manager.install(0)
  manager.tick(0)
  t.deepEqual(calls.connect, [])
  manager.childUp(up(100), binding, 1)
  manager.childUp(up(200), binding, 2)
  manager.tick(5000)
  t.deepEqual(calls.quick, [])
  t.deepEqual(calls.deleted, [])
  t.deepEqual(events.map((e) => e.name), ['site-up'])
})
