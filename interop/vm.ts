/**
 * One QEMU guest: the image's kernel and initrd booted directly, the root
 * file system opened with snapshot=on (guest writes vanish, several VMs
 * share one image), the harness's files shared read-only over virtio-9p,
 * a writable results folder, and the serial console followed for the
 * INTEROP- lines init.sh prints. QEMU always runs inside the namespace the
 * caller created (`ip netns exec`), so user-mode networking reaches that
 * namespace's loopback as 10.0.2.2 and nothing else.
 */
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { GuestImage } from './image.js'
import { exited, killGroup, spawnGroup } from './procs.js'

export interface VmOptions {
  image: GuestImage
  /** The network namespace QEMU runs in (must exist). */
  netns: string
  /** 1, 2, …: told to the guest on the kernel command line. */
  index: number
  /** Read-only share (mounted at /interop). */
  share: string
  /** Writable results folder (mounted at /results); console.log goes here too. */
  results: string
  /** Seconds the guest's client.sh may run (the guest enforces it). */
  scenarioTimeout: number
  /** Seconds after which QEMU is killed whatever the guest does. */
  hardTimeout: number
  /** 'user': slirp, the guest is NATed to 10.0.2.2. 'tap': the guest is on a tap device in the namespace. */
  network: { mode: 'user' } | { mode: 'tap'; tap: string; mac: string; address: string; gateway: string }
  /** Use KVM (where it works; it does not on the machines the notes were measured on). */
  kvm?: boolean
  memoryMiB?: number
  onLine?: (line: string) => void
}

export interface VmResult {
  /** The guest's client.sh exit code, or undefined when the guest never said (crash, hard timeout). */
  exitCode: number | undefined
  timedOut: boolean
  seconds: number
  /** Seconds from QEMU's start to init.sh's INTEROP-READY. */
  bootSeconds: number | undefined
  steps: string[]
  failure: string | undefined
  notes: string[]
}

export interface RunningVm {
  child: ChildProcess
  done: Promise<VmResult>
  kill(): void
}

export function qemuArgs(o: VmOptions): string[] {
  const net =
    o.network.mode === 'user'
      ? ['-netdev', 'user,id=n0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off', '-device', 'virtio-net-pci,netdev=n0']
      : ['-netdev', `tap,id=n0,ifname=${o.network.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${o.network.mac}`]
  const params = [`interop.vm=${o.index}`, `interop.timeout=${o.scenarioTimeout}`]
  if (o.network.mode === 'tap') params.push(`interop.addr=${o.network.address}`, `interop.gw=${o.network.gateway}`)
  return [
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    ...(o.kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=64', '-cpu', 'max']),
    '-smp',
    '1',
    '-m',
    String(o.memoryMiB ?? 384),
    '-kernel',
    o.image.kernel,
    '-initrd',
    o.image.initrd,
    '-append',
    ['console=ttyS0', 'root=/dev/vda', 'rw', 'net.ifnames=0', 'init=/sbin/interop-init', 'quiet', 'panic=-1', 'loglevel=4',
      // Under TCG the crypto self-tests cost ~8 s at the first SA and the PS/2 probe ~8 s at boot.
      'cryptomgr.notests=1', 'i8042.noaux=1', 'i8042.nokbd=1', ...params].join(' '),
    '-drive',
    `file=${o.image.rootfs},format=raw,if=virtio,snapshot=on,cache=unsafe`,
    ...net,
    '-device',
    'virtio-rng-pci',
    '-fsdev',
    `local,id=fs0,path=${o.share},security_model=none,readonly=on`,
    '-device',
    'virtio-9p-pci,fsdev=fs0,mount_tag=interop',
    '-fsdev',
    `local,id=fs1,path=${o.results},security_model=none`,
    '-device',
    'virtio-9p-pci,fsdev=fs1,mount_tag=results',
  ]
}

function readExit(file: string): number | undefined {
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8').trim()
  return /^\d+$/.test(text) ? Number(text) : undefined
}

export function startVm(o: VmOptions): RunningVm {
  const t0 = Date.now()
  // snapshot=on keeps the guest's writes in a temporary overlay under TMPDIR: in RAM, not on a disk other jobs may be flooding.
  const tmp = existsSync('/dev/shm') ? '/dev/shm' : (process.env['TMPDIR'] ?? '/var/tmp')
  const child = spawnGroup('/usr/sbin/ip', ['netns', 'exec', o.netns, 'qemu-system-x86_64', ...qemuArgs(o)], { env: { ...process.env, TMPDIR: tmp } })
  const consoleLog = createWriteStream(join(o.results, 'console.log'))
  const result: VmResult = { exitCode: undefined, timedOut: false, seconds: 0, bootSeconds: undefined, steps: [], failure: undefined, notes: [] }
  let partial = ''
  const onData = (d: Buffer) => {
    consoleLog.write(d)
    partial += d.toString('latin1')
    let nl: number
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl).replace(/\r$/, '')
      partial = partial.slice(nl + 1)
      o.onLine?.(line)
      let m: RegExpExecArray | null
      if ((m = /^INTEROP-READY\b/.exec(line))) result.bootSeconds = (Date.now() - t0) / 1000
      else if ((m = /^INTEROP-STEP (\S+)/.exec(line))) result.steps.push(m[1]!)
      else if ((m = /^INTEROP-FAIL (.*)$/.exec(line))) result.failure = m[1]!
      else if ((m = /^INTEROP-NOTE (.*)$/.exec(line))) result.notes.push(m[1]!)
      else if ((m = /^INTEROP-EXIT (\d+)/.exec(line))) result.exitCode = Number(m[1])
    }
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const timer = setTimeout(() => {
    result.timedOut = true
    killGroup(child)
  }, o.hardTimeout * 1000)
  const done = exited(child).then(async () => {
    clearTimeout(timer)
    killGroup(child)
    // The console can lose its last lines when the guest powers off under load; init.sh also leaves the code in /results/exit.
    if (result.exitCode === undefined && !result.timedOut) {
      const code = readExit(join(o.results, 'exit'))
      if (code !== undefined) {
        result.exitCode = code
        result.notes.push(`exit code ${code} read from /results/exit (not seen on the console)`)
      }
    }
    result.seconds = (Date.now() - t0) / 1000
    await new Promise((r) => consoleLog.end(r))
    return result
  })
  return { child, done, kill: () => killGroup(child) }
}
