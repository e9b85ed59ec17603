/**
 * (Used by the soak, the sessions benchmark and their test.) An L2tpServer
 * in one namespace configured for `sessions` sessions from one source (the
 * fleet's address allow-listed in `security`, per-source and per-identity
 * limits raised, a pool big enough), the soak's echo responder behind it,
 * and the client fleet (soak-fleet.ts) in the other namespace, driven over
 * IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { L2tpServerOptions } from '../server/l2tp-server.js'
import { createNetnsPair, ip, type NetnsPair } from '../testing/netns.js'
import { RIG_PSK, startVpnRig, type VpnRig } from '../testing/vpn-rig.js'
import { until } from '../testing/wait.js'
import type { FleetCommand, FleetMessage, FleetStart } from './soak-fleet.js'
import { SOAK_ECHO_PORT, SOAK_POOL, SOAK_TARGET_NET, soakUser } from './soak-plan.js'

// The fleet and the echo responder run from the TypeScript sources under tsx, also when this file runs
// compiled (dist/bench/fleet-rig.js: the sessions bench's `--build dist`): they are the load, not what is measured.
const source = (name: string) => fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? `./${name}` : `../../lib/bench/${name}`, import.meta.url))
const FLEET = source('soak-fleet.ts')
const ECHO = source('soak-echo.ts')

export interface FleetRigOptions {
  tag: string
  sessions: number
  /** Start the echo responder for `sessions` targets (the soak's traffic). */
  echo?: boolean
  /** Server settings on top of the scale ones (e.g. ppp.echoInterval). */
  server?: Partial<L2tpServerOptions>
}

export interface FleetRig {
  net: NetnsPair
  rig: VpnRig
  fleet: ChildProcess
  /** What the fleet's start command needs of the placement. */
  placement: Pick<FleetStart, 'server' | 'psk' | 'clientAddress'>
  send(c: FleetCommand): void
  /** The next message of `type` from the fleet (an 'error' from it throws). */
  next<T extends FleetMessage['type']>(type: T, timeoutMs: number): Promise<Extract<FleetMessage, { type: T }>>
  close(): Promise<void>
}

/** Server options for `sessions` sessions from one allow-listed source. */
export function scaleServerOptions(sessions: number, clientAddress: string): Partial<L2tpServerOptions> {
  return {
    pool: SOAK_POOL,
    users: Array.from({ length: sessions }, (_, i) => soakUser(i)),
    ipsec: { psk: RIG_PSK, maxHalfOpen: Math.max(1000, 2 * sessions), maxHalfOpenPerSource: Math.max(100, 2 * sessions) },
    l2tp: { maxTunnelsPerPeer: 4 },
    security: { allowList: [clientAddress], limits: { ikeSasPerIdentity: Math.max(256, 2 * sessions) } },
  }
}

/** A client fleet process (soak-fleet.ts) in the clients' namespace of `net`, driven over IPC; the caller kills it. */
export function spawnFleet(net: NetnsPair): Pick<FleetRig, 'fleet' | 'send' | 'next'> {
  // The fleet's sockets open in the clients' namespace: the whole process runs there.
  const fleet = spawn('ip', ['netns', 'exec', net.b, process.execPath, '--import', 'tsx', FLEET], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const messages: FleetMessage[] = []
  fleet.on('message', (m: FleetMessage) => messages.push(m))
  const next = async <T extends FleetMessage['type']>(type: T, timeoutMs: number): Promise<Extract<FleetMessage, { type: T }>> => {
    const found = () => messages.find((m) => m.type === type || m.type === 'error')
    if (!(await until(() => found() !== undefined || fleet.exitCode !== null, timeoutMs))) throw new Error(`client fleet: no ${type} within ${timeoutMs / 1000} s`)
    const m = found()
    if (!m) throw new Error(`client fleet exited ${fleet.exitCode}`)
    if (m.type === 'error') throw new Error(`client fleet: ${m.message}`)
    messages.splice(messages.indexOf(m), 1)
    return m as Extract<FleetMessage, { type: T }>
  }
  return { fleet, send: (c) => fleet.send(c), next }
}

export async function startFleetRig(o: FleetRigOptions): Promise<FleetRig> {
  const net = createNetnsPair(o.tag)
  const children: ChildProcess[] = []
  let rig: VpnRig | undefined
  const close = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await rig?.close()
    net.cleanup()
  }
  try {
    rig = await startVpnRig(
      { serverAddress: net.addrA, serverNetns: net.path(net.a), clientAddress: net.addrB, clientNetns: net.path(net.b), tunPrefix: o.tag.slice(0, 4) },
      { ...scaleServerOptions(o.sessions, net.addrB), ...o.server },
    )
    if (o.echo) {
      ip('-n', net.a, 'route', 'add', 'local', SOAK_TARGET_NET, 'dev', 'lo')
      const echo = spawn('ip', ['netns', 'exec', net.a, process.execPath, '--import', 'tsx', ECHO, String(o.sessions), String(SOAK_ECHO_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(echo)
      await new Promise<void>((resolve, reject) => {
        echo.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
        echo.on('exit', (code) => reject(new Error(`soak echo exited ${code}`)))
      })
    }
    const { fleet, send, next } = spawnFleet(net)
    children.push(fleet)
    return { net, rig, fleet, placement: { server: net.addrA, psk: RIG_PSK, clientAddress: net.addrB }, send, next, close }
  } catch (e) {
    await close()
    throw e
  }
}
