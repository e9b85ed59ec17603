/**
 * `l2tp-ipsec sessions | kick | status`: talk to a running server over the
 * admin socket. Each returns the process exit code rather than exiting, so
 * the commander wiring stays thin and the commands are testable.
 */
import { adminRequest, AdminClientError } from '../admin/index.js'
import { wiresharkKeyLines } from '../debug/wireshark-keys.js'
import type { SessionInfo } from '../server/types.js'
import { EXIT, type ExitCode } from './exit-codes.js'

export interface CommandOutput {
  log(s: string): void
  error(s: string): void
}

export interface AdminCommandOptions {
  /** Path of the admin socket. */
  socket: string
  timeoutMs?: number
}

export async function sessionsCommand(opts: AdminCommandOptions & { json: boolean }, out: CommandOutput): Promise<number> {
  try {
    const sessions = await adminRequest(opts.socket, 'sessions', {}, opts)
    if (opts.json) out.log(JSON.stringify(sessions))
    else out.log(sessions.length === 0 ? 'No sessions.' : formatSessionsTable(sessions))
    return EXIT.OK
  } catch (e) {
    return failure(e, out)
  }
}

export async function kickCommand(opts: AdminCommandOptions & { id: number }, out: CommandOutput): Promise<number> {
  try {
    await adminRequest(opts.socket, 'kick', { id: opts.id }, opts)
    out.log(`Session ${opts.id} kicked.`)
    return EXIT.OK
  } catch (e) {
    if (e instanceof AdminClientError && e.code === 'ADMIN_NO_SUCH_SESSION') {
      out.error(`${e.message}; \`l2tp-ipsec sessions\` lists the live ones`)
      return EXIT.INVALID
    }
    return failure(e, out)
  }
}

export async function statusCommand(opts: AdminCommandOptions & { json: boolean }, out: CommandOutput): Promise<number> {
  try {
    const status = await adminRequest(opts.socket, 'status', {}, opts)
    out.log(opts.json ? JSON.stringify(status) : formatStatus(status))
    return EXIT.OK
  } catch (e) {
    return failure(e, out)
  }
}

/** `keys --wireshark`: the live IKE and ESP keys as Wireshark lines (refused unless admin.allowKeyExport). */
export async function keysCommand(opts: AdminCommandOptions & { wireshark: boolean }, out: CommandOutput): Promise<number> {
  if (!opts.wireshark) {
    out.error('say --wireshark: the keys are printed in Wireshark\'s table formats (the only format there is)')
    return EXIT.INVALID
  }
  try {
    const keys = await adminRequest(opts.socket, 'keys', {}, opts)
    const lines = wiresharkKeyLines(keys)
    out.log(lines.length ? lines.join('\n') : '# no live IKE or ESP SA')
    return EXIT.OK
  } catch (e) {
    if (e instanceof AdminClientError && e.code === 'ADMIN_KEY_EXPORT_DISABLED') {
      out.error(`l2tp-ipsec keys: ${e.message}`)
      return EXIT.PERMISSION
    }
    return failure(e, out)
  }
}

function failure(e: unknown, out: CommandOutput): ExitCode {
  out.error(e instanceof Error ? e.message : String(e))
  if (!(e instanceof AdminClientError)) return EXIT.INVALID
  switch (e.code) {
    case 'ADMIN_NOT_RUNNING':
    // A server that accepts but never answers is as unreachable as none.
    case 'ADMIN_TIMEOUT':
      return EXIT.NOT_RUNNING
    case 'ADMIN_PERMISSION':
      return EXIT.PERMISSION
    default:
      return EXIT.INVALID
  }
}

const COLUMNS = ['ID', 'USER', 'ADDRESS', 'PEER', 'AUTH', 'SUITE', 'UPTIME', 'RX', 'TX'] as const
/** Numbers read best aligned on their last digit. */
const RIGHT_ALIGNED = new Set<string>(['ID', 'UPTIME', 'RX', 'TX'])

export function formatSessionsTable(sessions: readonly SessionInfo[]): string {
  const rows = sessions.map((s) => [
    String(s.id),
    s.user,
    s.address,
    formatPeer(s.peer),
    s.authMethod,
    s.suite,
    formatDuration(s.durationSeconds),
    formatBytes(s.rxBytes),
    formatBytes(s.txBytes),
  ])
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (RIGHT_ALIGNED.has(COLUMNS[i]!) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(COLUMNS), ...rows.map(line)].join('\n')
}

function formatPeer(peer: { address: string; port: number }): string {
  return peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`
}

/** 42s, 5m02s, 3h04m, 2d03h: two units are enough to tell sessions apart. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const two = (n: number): string => String(n).padStart(2, '0')
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  let value = bytes
  let unit = -1
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  // From 9.95 up, one decimal would round to "10.0": whole numbers from there.
  const shown = value < 9.95 ? value.toFixed(1) : String(Math.round(value))
  return `${shown} ${BYTE_UNITS[unit]}`
}

function formatStatus(status: Record<string, unknown>): string {
  const width = Math.max(0, ...Object.keys(status).map((k) => k.length + 1))
  return Object.entries(status)
    .map(([key, value]) => `${`${key}:`.padEnd(width)}  ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('\n')
}
