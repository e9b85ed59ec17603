/**
 * Everything the harness starts, so that nothing outlives it: child process
 * groups (QEMU, the server, tshark, debootstrap) and network namespaces. Each
 * child is spawned in its own process group and killed as a group; cleanup
 * runs on normal exit, on an exception and on SIGINT/SIGTERM/SIGHUP.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

const groups = new Set<ChildProcess>()
const namespaces = new Set<string>()
const cleanups = new Set<() => void>()

export function ip(...args: string[]): string {
  return execFileSync('/usr/sbin/ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
}

/** A child in its own process group, remembered until it exits. */
export function spawnGroup(cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true })
  groups.add(child)
  child.on('exit', () => groups.delete(child))
  child.on('error', () => groups.delete(child))
  return child
}

/** SIGKILL to the child's whole process group (if it is still there). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Resolves with the exit code (or signal name) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  if (child.signalCode !== null) return Promise.resolve(child.signalCode)
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopGroup(child: ChildProcess, graceMs = 5000): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child) // leftovers in its group
    return child.exitCode ?? child.signalCode ?? -1
  }
  killGroup(child, 'SIGTERM')
  const timer = setTimeout(() => killGroup(child), graceMs)
  const code = await exited(child)
  clearTimeout(timer)
  killGroup(child)
  return code
}

/** A network namespace with only `lo` (up); deleted at cleanup with everything still running in it. */
export function createNamespace(name: string): string {
  deleteNamespace(name)
  ip('netns', 'add', name)
  namespaces.add(name)
  ip('-n', name, 'link', 'set', 'lo', 'up')
  return name
}

export function deleteNamespace(name: string): void {
  let pids: string[] = []
  try {
    pids = ip('netns', 'pids', name).split('\n').filter(Boolean)
  } catch {
    namespaces.delete(name)
    return // no such namespace
  }
  // Only processes this harness started run in its namespaces.
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone
    }
  }
  try {
    ip('netns', 'del', name)
  } catch {
    // gone
  }
  namespaces.delete(name)
}

export function onCleanup(fn: () => void): () => void {
  cleanups.add(fn)
  return () => cleanups.delete(fn)
}

/** Kills every group and deletes every namespace this process made. Synchronous: safe in 'exit'. */
export function cleanupAll(): void {
  for (const fn of [...cleanups]) {
    try {
      fn()
    } catch {
      // keep going
    }
  }
  cleanups.clear()
  for (const child of [...groups]) killGroup(child)
  groups.clear()
  for (const ns of [...namespaces]) deleteNamespace(ns)
}

let trapped = false
/** Cleanup on exit and on signals (the exit code says which signal). */
export function trapSignals(): void {
  if (trapped) return
  trapped = true
  process.on('exit', cleanupAll)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      console.error(`\n[interop] ${signal}: stopping VMs, servers and captures, deleting namespaces`)
      cleanupAll()
      process.exit(code)
    })
  }
  process.on('uncaughtException', (e) => {
    console.error(e)
    cleanupAll()
    process.exit(70)
  })
}
