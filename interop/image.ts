/**
 * Guest images for the interop VMs: Debian bookworm (debootstrap minbase) with
 * a kernel, xl2tpd, pppd, iperf3 and either strongSwan or libreswan, as a raw
 * ext4 root file system plus the kernel and a small initrd to boot directly.
 *
 * Images are cached outside the repository, under
 * /var/cache/l2tp-ipsec-interop/<flavor>-<hash>/, where <hash> covers this
 * file and everything under interop/image/: an image is rebuilt only when its
 * builder changes. `node --import tsx interop/image.ts [flavor...]` builds
 * (or finds) them.
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onCleanup, spawnGroup, trapSignals } from './procs.js'

export const CACHE_ROOT = process.env['L2TP_IPSEC_INTEROP_CACHE'] ?? '/var/cache/l2tp-ipsec-interop'
const MIRROR = process.env['L2TP_IPSEC_INTEROP_MIRROR'] ?? 'http://deb.debian.org/debian'
const HERE = fileURLToPath(new URL('.', import.meta.url))

const COMMON = ['linux-image-amd64', 'initramfs-tools', 'kmod', 'iproute2', 'iputils-ping', 'procps', 'iperf3', 'xl2tpd', 'ppp']

export const FLAVORS = {
  // libstrongswan-standard-plugins carries the openssl plugin: without it
  // charon has no ECP groups (Windows' first offers).
  strongswan: ['strongswan-starter', 'strongswan-charon', 'libcharon-extra-plugins', 'libstrongswan-standard-plugins'],
  // libreswan conflicts with strongSwan; debootstrap cannot resolve its
  // dependency on bind9-host without naming it.
  libreswan: ['libreswan', 'bind9-host', 'libnss3-tools'],
} as const

export type Flavor = keyof typeof FLAVORS

export interface GuestImage {
  flavor: Flavor
  hash: string
  dir: string
  kernel: string
  initrd: string
  rootfs: string
  info: BuildInfo
}

export interface BuildInfo {
  flavor: Flavor
  hash: string
  builtAt: string
  buildSeconds: number
  rootfsBytes: number
  rootfsUsedBytes: number
  kernelBytes: number
  initrdBytes: number
  packages: Record<string, string>
}

/** The builder's hash: this file, the files baked into the image, the flavor's package list. */
export function imageHash(flavor: Flavor): string {
  const h = createHash('sha256')
  h.update(readFileSync(fileURLToPath(import.meta.url)))
  const baked = join(HERE, 'image')
  for (const f of readdirSync(baked).sort()) h.update(f).update(readFileSync(join(baked, f)))
  h.update(flavor).update(FLAVORS[flavor].join(' '))
  return h.digest('hex').slice(0, 16)
}

function paths(flavor: Flavor, hash: string) {
  const dir = join(CACHE_ROOT, `${flavor}-${hash}`)
  return { dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), rootfs: join(dir, 'rootfs.ext4'), info: join(dir, 'build.json') }
}

/** The cached image of this flavor if its builder has not changed since. */
export function cachedImage(flavor: Flavor): GuestImage | undefined {
  const hash = imageHash(flavor)
  const p = paths(flavor, hash)
  if (!existsSync(p.info)) return undefined
  return { flavor, hash, dir: p.dir, kernel: p.kernel, initrd: p.initrd, rootfs: p.rootfs, info: JSON.parse(readFileSync(p.info, 'utf8')) as BuildInfo }
}

type Log = (line: string) => void

function run(cmd: string, args: string[], log: Log, options: { env?: NodeJS.ProcessEnv; capture?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnGroup(cmd, args, { env: options.env ?? process.env })
    let out = ''
    let tail = ''
    const take = (d: Buffer) => {
      const s = d.toString()
      if (options.capture) out += s
      tail = (tail + s).slice(-4000)
    }
    child.stdout?.on('data', take)
    child.stderr?.on('data', take)
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out)
      else {
        log(tail)
        reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}… exited ${code}`))
      }
    })
  })
}

/** One lock directory for all builds: they share debootstrap's package cache. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(CACHE_ROOT, `${name}.lock`)
  for (;;) {
    try {
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.pid))
      break
    } catch {
      const pid = Number(existsSync(join(lock, 'pid')) ? readFileSync(join(lock, 'pid'), 'utf8') : NaN)
      let alive = false
      try {
        if (Number.isInteger(pid)) {
          process.kill(pid, 0)
          alive = true
        }
      } catch {
        alive = false
      }
      if (!alive && Number.isInteger(pid)) rmSync(lock, { recursive: true, force: true })
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/** Finds the cached image or builds it (a few minutes; needs root and network access to the Debian mirror). */
export async function ensureImage(flavor: Flavor, log: Log = (l) => console.error(l)): Promise<GuestImage> {
  const cached = cachedImage(flavor)
  if (cached) return cached
  mkdirSync(CACHE_ROOT, { recursive: true })
  return withLock('build', async () => {
    const again = cachedImage(flavor)
    if (again) return again
    await build(flavor, log)
    const built = cachedImage(flavor)
    if (!built) throw new Error(`image ${flavor} was built but is not in ${CACHE_ROOT}`)
    return built
  })
}

async function build(flavor: Flavor, log: Log): Promise<void> {
  const t0 = Date.now()
  const hash = imageHash(flavor)
  const final = paths(flavor, hash)
  const work = `${final.dir}.tmp-${process.pid}`
  const root = join(work, 'root')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(root, { recursive: true })
  // Interrupted (Ctrl-C, CI timeout): no half-built image stays behind.
  const forget = onCleanup(() => rmSync(work, { recursive: true, force: true }))
  const debs = join(CACHE_ROOT, 'debs')
  mkdirSync(debs, { recursive: true })
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' }
  try {
    log(`[image] ${flavor}: debootstrap bookworm minbase into ${root}`)
    const include = [...COMMON, ...FLAVORS[flavor]].join(',')
    await run('debootstrap', ['--variant=minbase', `--include=${include}`, `--cache-dir=${debs}`, 'bookworm', root, MIRROR], log, { env })

    log(`[image] ${flavor}: configuring`)
    copyFileSync(join(HERE, 'image', 'interop-init'), join(root, 'sbin', 'interop-init'))
    chmodSync(join(root, 'sbin', 'interop-init'), 0o755)
    writeFileSync(join(root, 'etc', 'hostname'), 'interop\n')
    writeFileSync(join(root, 'etc', 'hosts'), '127.0.0.1 localhost interop\n')
    writeFileSync(join(root, 'etc', 'fstab'), '')
    // A 5.6 MB initrd with only what finds the root disk (35 MB with MODULES=most).
    writeFileSync(join(root, 'etc', 'initramfs-tools', 'modules'), 'virtio_pci\nvirtio_blk\next4\n')
    const conf = join(root, 'etc', 'initramfs-tools', 'initramfs.conf')
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^MODULES=.*$/m, 'MODULES=list').replace(/^COMPRESS=.*$/m, 'COMPRESS=gzip'))
    await run('chroot', [root, 'update-initramfs', '-u', '-k', 'all'], log, { env })
    if (flavor === 'strongswan') {
      // af-alg probes every kernel cipher: charon starts in 5.7 s instead of 1.4 s under TCG.
      writeFileSync(join(root, 'etc', 'strongswan.d', 'charon', 'af-alg.conf'), 'af-alg {\n    load = no\n}\n')
    }
    const packages: Record<string, string> = {}
    const query = await run('chroot', [root, 'dpkg-query', '-W', '-f', '${Package} ${Version}\\n'], log, { capture: true })
    for (const line of query.split('\n')) {
      const [name, version] = line.split(' ')
      if (name && version && /^(linux-image-\d|strongswan-charon|libreswan|xl2tpd|ppp|iperf3|iproute2)/.test(name)) packages[name] = version
    }
    for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const f of readdirSync(join(root, d))) if (f !== 'partial' && f !== 'lock') rmSync(join(root, d, f), { recursive: true, force: true })
    }

    const boot = readdirSync(join(root, 'boot'))
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'))
    const initrd = boot.find((f) => f.startsWith('initrd.img-'))
    if (!vmlinuz || !initrd) throw new Error(`no kernel or initrd in ${join(root, 'boot')}: ${boot.join(' ')}`)
    copyFileSync(join(root, 'boot', vmlinuz), join(work, 'vmlinuz'))
    copyFileSync(join(root, 'boot', initrd), join(work, 'initrd.img'))

    const used = Number((await run('du', ['-sb', root], log, { capture: true })).split('\t')[0])
    const size = Math.ceil((used * 1.3 + 256 * 2 ** 20) / 2 ** 20)
    log(`[image] ${flavor}: ext4 of ${size} MiB (${Math.round(used / 2 ** 20)} MiB used)`)
    const rootfs = join(work, 'rootfs.ext4')
    await run('mkfs.ext4', ['-q', '-F', '-L', 'interop', '-O', '^has_journal', '-d', root, rootfs, `${size}M`], log)
    rmSync(root, { recursive: true, force: true })

    const info: BuildInfo = {
      flavor,
      hash,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - t0) / 1000),
      rootfsBytes: statSync(rootfs).size,
      rootfsUsedBytes: used,
      kernelBytes: statSync(join(work, 'vmlinuz')).size,
      initrdBytes: statSync(join(work, 'initrd.img')).size,
      packages,
    }
    writeFileSync(join(work, 'build.json'), `${JSON.stringify(info, null, 2)}\n`)
    renameSync(work, final.dir)
    // Older builds of this flavor are of no further use.
    for (const f of readdirSync(CACHE_ROOT)) {
      if (f.startsWith(`${flavor}-`) && f !== `${flavor}-${hash}` && !f.includes('.tmp-')) rmSync(join(CACHE_ROOT, f), { recursive: true, force: true })
    }
    log(`[image] ${flavor}: built in ${info.buildSeconds} s -> ${final.dir}`)
  } catch (e) {
    rmSync(work, { recursive: true, force: true })
    throw e
  } finally {
    forget()
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  trapSignals()
  const wanted = (process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(FLAVORS)) as Flavor[]
  for (const f of wanted) if (!(f in FLAVORS)) throw new Error(`unknown flavor ${f}; one of ${Object.keys(FLAVORS).join(', ')}`)
  // One after the other: they share debootstrap's package cache.
  for (const f of wanted) console.log(JSON.stringify((await ensureImage(f)).info))
}
