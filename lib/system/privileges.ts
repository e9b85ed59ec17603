/**
 * Which Linux capabilities the server lacks, checked before it starts so the
 * operator reads one clear sentence instead of an EPERM from deep inside the
 * data plane. Capabilities, not the uid: root in a container may lack
 * CAP_NET_ADMIN, and a non-root node binary may have been granted it.
 */
import { readFileSync } from 'node:fs'

/** Bit numbers from linux/capability.h. */
export const CAPABILITIES = {
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
} as const

export type CapabilityName = keyof typeof CAPABILITIES

export interface PrivilegeNeeds {
  /** IKE on 500/4500, L2TP on 1701. */
  bindLowPorts: boolean
  /** TUN devices, routes, network namespaces. */
  tun: boolean
  /** Raw ESP (IP protocol 50) for peers not behind NAT. */
  rawEsp?: boolean
}

export interface PrivilegeCheck {
  ok: boolean
  missing: CapabilityName[]
  /** What to do about it; empty when ok. */
  hint: string
}

const WHY: Record<CapabilityName, string> = {
  CAP_NET_ADMIN: 'TUN devices and network namespaces',
  CAP_NET_BIND_SERVICE: 'ports below 1024',
  CAP_NET_RAW: 'raw ESP sockets',
}

/** The effective capability set from the text of /proc/<pid>/status. */
export function parseCapEff(statusText: string): bigint {
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText)
  if (!match) throw new Error('no CapEff line in the process status')
  return BigInt(`0x${match[1]}`)
}

export function missingCapabilities(capEff: bigint, needs: PrivilegeNeeds): CapabilityName[] {
  const wanted: CapabilityName[] = []
  if (needs.tun) wanted.push('CAP_NET_ADMIN')
  if (needs.bindLowPorts) wanted.push('CAP_NET_BIND_SERVICE')
  if (needs.rawEsp) wanted.push('CAP_NET_RAW')
  return wanted.filter((name) => (capEff & (1n << BigInt(CAPABILITIES[name]))) === 0n)
}

export function checkPrivileges(needs: PrivilegeNeeds, statusPath = '/proc/self/status'): PrivilegeCheck {
  const root = process.geteuid?.() === 0
  let capEff: bigint
  try {
    capEff = parseCapEff(readFileSync(statusPath, 'utf8'))
  } catch {
    // Without /proc, root is the best evidence there is.
    capEff = root ? ~0n : 0n
  }
  const missing = missingCapabilities(capEff, needs)
  return { ok: missing.length === 0, missing, hint: privilegeHint(missing, root) }
}

/** `root`: sudo would not help, the capabilities were withheld from root itself. */
export function privilegeHint(missing: readonly CapabilityName[], root: boolean): string {
  if (missing.length === 0) return ''
  const list = missing.map((name) => `${name} (${WHY[name]})`).join(', ')
  if (root) {
    return (
      `Running as root but without ${list}: a container started without them? ` +
      `Add them, e.g. docker run ${missing.map((name) => `--cap-add ${name.slice('CAP_'.length)}`).join(' ')} --device /dev/net/tun ...`
    )
  }
  return (
    `Missing ${list}. Run as root (sudo npm start), or grant the capabilities to node: ` +
    'sudo setcap cap_net_admin,cap_net_bind_service,cap_net_raw+ep $(readlink -f $(which node))'
  )
}
