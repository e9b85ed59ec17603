// A server (L2tpServer) in one network namespace and L2tpClients in
// another, joined by veth: the real stack, real sockets, real TUN devices.
// Everything a test creates is torn down in t.teardown.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { L2tpClient, L2tpClientOptions } from '../../lib/client/l2tp-client.js'
import type { L2tpServer, L2tpServerOptions } from '../../lib/server/l2tp-server.js'
import { createNetnsPair, type NetnsPair } from '../../lib/testing/netns.js'
import { RIG_GATEWAY, RIG_PSK, serverIdle, startVpnRig, type ServerRecord } from '../../lib/testing/vpn-rig.js'
import { until, within } from './netns-run.js'

export { type ServerRecord } from '../../lib/testing/vpn-rig.js'
export const PSK = RIG_PSK
export const GATEWAY = RIG_GATEWAY

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

/** How long a teardown waits for the clients and the server to close before deleting the namespaces under them. */
const CLOSE_WAIT_MS = 30_000

export interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void
}

export async function createRig(t: Teardown, tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<Rig> {
  const net = createNetnsPair(tag)
  const tempDir = mkdtempSync(join(tmpdir(), 'l2tp-rig-'))
  let close = async () => {}
  t.teardown(async () => {
    // The namespaces go even when closing hangs or throws.
    try {
      await within(close(), CLOSE_WAIT_MS)
    } finally {
      net.cleanup()
      rmSync(tempDir, { recursive: true, force: true })
    }
  })
  const rig = await startVpnRig({ serverAddress: net.addrA, serverNetns: net.path(net.a), clientAddress: net.addrB, clientNetns: net.path(net.b), tunPrefix: 'l2tpc' }, overrides)
  close = rig.close
  return { net, server: rig.server, seen: rig.seen, client: rig.client, tempDir, idle: () => until(() => serverIdle(rig.server.status()), 10_000) }
}
