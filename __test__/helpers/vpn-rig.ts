// A server (L2tpServer) in one network namespace and L2tpClients in
// another, joined by veth: the real stack, real sockets, real TUN devices.
// Everything a test creates is torn down in t.teardown.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { L2tpClient, type L2tpClientOptions } from '../../lib/client/l2tp-client.js'
import { L2tpServer, type L2tpServerOptions } from '../../lib/server/l2tp-server.js'
import type { AuthFailureInfo, IkeSaDownInfo, IkeSaUpInfo, SessionDownInfo, SessionRefusedInfo, SessionUpInfo } from '../../lib/server/types.js'
import { createNetnsPair, type NetnsPair } from '../../lib/testing/netns.js'
import { until } from './netns-run.js'

export const PSK = 'rig-psk-6f1c2b9e4a'
export const GATEWAY = '192.168.42.1'

export interface ServerRecord {
  up: SessionUpInfo[]
  down: SessionDownInfo[]
  authFailures: AuthFailureInfo[]
  refused: SessionRefusedInfo[]
  ikeUp: IkeSaUpInfo[]
  ikeDown: IkeSaDownInfo[]
  errors: Error[]
}

export interface Rig {
  net: NetnsPair
  server: L2tpServer
  seen: ServerRecord
  /** A client in the client namespace; TUN devices are numbered. */
  client(options?: Partial<L2tpClientOptions>): L2tpClient
  /** Nothing held for any client: no session, no ESP SA, no IKE SA, no tunnel, every pool address free. */
  idle(): Promise<boolean>
  tempDir: string
}

interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void
}

let tunCounter = 0

export async function createRig(t: Teardown, tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<Rig> {
  const net = createNetnsPair(tag)
  const tempDir = mkdtempSync(join(tmpdir(), 'l2tp-rig-'))
  const clients: L2tpClient[] = []
  let server: L2tpServer | undefined
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    await server?.close().catch(() => {})
    net.cleanup()
    rmSync(tempDir, { recursive: true, force: true })
  })
  server = new L2tpServer({
    listen: { address: net.addrA },
    ipsec: { psk: PSK },
    pool: { range: '192.168.42.10-192.168.42.250', gateway: GATEWAY },
    users: [
      { name: 'alice', password: 'alice-pass-1' },
      { name: 'bob', password: 'bob-pass-2' },
    ],
    tun: { name: 'l2tps0' },
    dataplane: { netns: net.path(net.a), workers: 1 },
    ...overrides,
  })
  const seen: ServerRecord = { up: [], down: [], authFailures: [], refused: [], ikeUp: [], ikeDown: [], errors: [] }
  server.on('session-up', (e) => seen.up.push(e))
  server.on('session-down', (e) => seen.down.push(e))
  server.on('auth-failure', (e) => seen.authFailures.push(e))
  server.on('session-refused', (e) => seen.refused.push(e))
  server.on('ike-sa-up', (e) => seen.ikeUp.push(e))
  server.on('ike-sa-down', (e) => seen.ikeDown.push(e))
  server.on('error', (e) => seen.errors.push(e))
  await server.listen()
  const s = server
  return {
    net,
    server: s,
    seen,
    tempDir,
    client(options = {}) {
      const c = new L2tpClient({
        server: net.addrA,
        psk: PSK,
        user: 'alice',
        password: 'alice-pass-1',
        local: { address: net.addrB },
        netns: net.path(net.b),
        tun: { name: `l2tpc${tunCounter++ % 1000}` },
        reconnect: false,
        connectTimeout: 20,
        ike: { retransmitInterval: 0.5, retransmitTries: 3 },
        ...options,
      })
      clients.push(c)
      return c
    },
    idle: () =>
      until(() => {
        const st = s.status()
        const ike = st.ike as { ikeSas?: number } | undefined
        return st.sessions === 0 && st.bindings === 0 && st.dataplane?.sas === 0 && st.dataplane.sessions === 0 && st.pool?.used === 0 && (ike?.ikeSas ?? 0) === 0 && (st.l2tp as { tunnels?: number } | undefined)?.tunnels === 0
      }, 10_000),
  }
}
