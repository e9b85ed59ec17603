/**
 * (Used by the tests and the benchmarks; not part of the public API.)
 *
 * An L2tpServer listening in one network namespace, its events recorded,
 * and a factory for L2tpClients in another; the caller makes the
 * namespaces (a veth pair, or a NAT topology) and says where things are.
 */
import { L2tpClient, type L2tpClientOptions } from '../client/l2tp-client.js'
import { L2tpServer, type L2tpServerOptions } from '../server/l2tp-server.js'
import type { AuthFailureInfo, IkeSaDownInfo, IkeSaUpInfo, ServerStatus, SessionAnomalyInfo, SessionDownInfo, SessionRefusedInfo, SessionUpInfo } from '../server/types.js'

export const RIG_PSK = 'rig-psk-6f1c2b9e4a'
export const RIG_GATEWAY = '192.168.42.1'
export const RIG_USERS = [
  { name: 'alice', password: 'alice-pass-1' },
  { name: 'bob', password: 'bob-pass-2' },
]

/** Everything the server emitted, in order, by event. */
export interface ServerRecord {
  up: SessionUpInfo[]
  down: SessionDownInfo[]
  authFailures: AuthFailureInfo[]
  refused: SessionRefusedInfo[]
  anomalies: SessionAnomalyInfo[]
  ikeUp: IkeSaUpInfo[]
  ikeDown: IkeSaDownInfo[]
  errors: Error[]
}

export interface VpnRigPlacement {
  /** The server's address and namespace (a /run/netns path). */
  serverAddress: string
  serverNetns: string
  /** The clients' address and namespace. */
  clientAddress: string
  clientNetns: string
  /** Client TUN devices are `${tunPrefix}${n}`. */
  tunPrefix: string
}

export interface VpnRig {
  server: L2tpServer
  seen: ServerRecord
  client(options?: Partial<L2tpClientOptions>): L2tpClient
  /** Closes every client, then the server. Never throws. */
  close(): Promise<void>
}

/** Nothing held for any client: no call, no ESP SA, no IKE SA, no tunnel, every pool address (and IPv6 prefix) free. */
export function serverIdle(status: ServerStatus): boolean {
  const ike = status.ike as { ikeSas?: number } | undefined
  const l2tp = status.l2tp as { tunnels?: number } | undefined
  return status.sessions === 0 && status.bindings === 0 && status.dataplane?.sas === 0 && status.dataplane.sessions === 0 && status.pool?.used === 0 && (status.ipv6?.pool.used ?? 0) === 0 && (ike?.ikeSas ?? 0) === 0 && l2tp?.tunnels === 0
}

/** `errorsOnly`: the other lists stay empty (a soak of thousands of connects must not hold four event objects per connect). */
export function recordServer(server: L2tpServer, errorsOnly = false): ServerRecord {
  const seen: ServerRecord = { up: [], down: [], authFailures: [], refused: [], anomalies: [], ikeUp: [], ikeDown: [], errors: [] }
  server.on('error', (e) => seen.errors.push(e))
  if (errorsOnly) return seen
  server.on('session-up', (e) => seen.up.push(e))
  server.on('session-down', (e) => seen.down.push(e))
  server.on('auth-failure', (e) => seen.authFailures.push(e))
  server.on('session-refused', (e) => seen.refused.push(e))
  server.on('session-anomaly', (e) => seen.anomalies.push(e))
  server.on('ike-sa-up', (e) => seen.ikeUp.push(e))
  server.on('ike-sa-down', (e) => seen.ikeDown.push(e))
  return seen
}

/**
 * Starts the server (RIG_PSK, RIG_USERS, a /24-ish pool, TUN l2tps0, one worker) with `overrides`; clients get matching defaults and `clientDefaults`.
 * `record: 'errors'`: `seen` keeps the server's errors only (recordServer).
 */
export async function startVpnRig(at: VpnRigPlacement, overrides: Partial<L2tpServerOptions> = {}, clientDefaults: Partial<L2tpClientOptions> = {}, options: { record?: 'all' | 'errors' } = {}): Promise<VpnRig> {
  const clients: L2tpClient[] = []
  const server = new L2tpServer({
    listen: { address: at.serverAddress },
    ipsec: { psk: RIG_PSK },
    pool: { range: '192.168.42.10-192.168.42.250', gateway: RIG_GATEWAY },
    users: RIG_USERS,
    tun: { name: 'l2tps0' },
    dataplane: { netns: at.serverNetns, workers: 1 },
    ...overrides,
  })
  const seen = recordServer(server, options.record === 'errors')
  await server.listen()
  let tuns = 0
  return {
    server,
    seen,
    client(options = {}) {
      const c = new L2tpClient({
        server: at.serverAddress,
        psk: RIG_PSK,
        user: 'alice',
        password: 'alice-pass-1',
        local: { address: at.clientAddress },
        netns: at.clientNetns,
        tun: { name: `${at.tunPrefix}${tuns++}` },
        reconnect: false,
        connectTimeout: 20,
        ike: { retransmitInterval: 0.5, retransmitTries: 3 },
        ...clientDefaults,
        ...options,
      })
      clients.push(c)
      return c
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      await server.close().catch(() => {})
    },
  }
}
