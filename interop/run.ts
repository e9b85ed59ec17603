/**
 * `npm run interop [-- --scenario NAME ...] [--jobs N] [--kvm] [--keep] [--list]`
 *
 * Runs real L2TP/IPsec clients (strongSwan or libreswan + xl2tpd + pppd in
 * a Debian VM under QEMU) against `l2tp-ipsec serve`, one network namespace
 * per scenario holding the server, QEMU, tshark and nothing else. Prints a
 * table of scenario × result × time; on failure names the scenario and step
 * and shows the ends of the client's and the server's logs, and keeps
 * everything under interop/results/<run>/<scenario>/. Exit code 0 when every
 * scenario passed.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { analyseCapture, ikeOnlyCopy, readXfrm, startCapture, type Capture, type CaptureReport } from './capture.js'
import { cachedImage, ensureImage, type Flavor, type GuestImage } from './image.js'
import { createNamespace, deleteNamespace, ip, spawnGroup, stopGroup, trapSignals } from './procs.js'
import { describeInner } from '../lib/testing/esp-inner.js'
import { checkDecryption, type DecryptionReport } from '../lib/testing/wireshark-check.js'
import { listScenarios, loadScenario, type Scenario } from './scenario.js'
import { formatLogLine, REPO, ServerUnderTest, serverConfig, startHook, startHookRelay } from './server.js'
import { startVm, type VmResult } from './vm.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const RESULTS = join(HERE, 'results')

export interface ScenarioResult {
  name: string
  ok: boolean
  seconds: number
  /** Where it failed: "vm1: step ipsec-up: …", "server: …", "capture: …". */
  failures: string[]
  vms: VmResult[]
  capture?: CaptureReport
  /** Set when this is a second attempt: why the first was taken for infrastructure (and where its artifacts are). */
  retried?: string
  /** The capture read with the server's keylog. */
  decryption?: DecryptionReport
  notes: string[]
  artifacts: string
}

interface RunOptions {
  runDir: string
  kvm: boolean
  keep: boolean
  index: number
  log: (line: string) => void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function tailFile(file: string, n: number): string | undefined {
  if (!existsSync(file)) return undefined
  const lines = readFileSync(file, 'latin1').split('\n')
  while (lines.length && lines[lines.length - 1] === '') lines.pop()
  return lines.slice(-n).join('\n')
}

/** An RSA PKI for certificate scenarios: ca, server and one client per VM. */
function makePki(dir: string, vms: number): void {
  mkdirSync(dir, { recursive: true })
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/O=l2tp-ipsec interop/CN=interop CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  const issue = (name: string, subject: string, san: string) => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`)
  }
  issue('server', '/O=l2tp-ipsec interop/CN=vpn.interop.test', 'DNS:vpn.interop.test,IP:10.0.2.2')
  for (let i = 1; i <= vms; i++) issue(`client${i}`, `/O=l2tp-ipsec interop/CN=client${i}.interop.test`, `DNS:client${i}.interop.test`)
  rmSync(join(dir, 'ca.key'))
}

export async function runScenario(s: Scenario, image: GuestImage, o: RunOptions): Promise<ScenarioResult> {
  const t0 = Date.now()
  const dir = join(o.runDir, s.name)
  const share = join(dir, 'share')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(share, { recursive: true })
  cpSync(join(HERE, 'guest'), join(share, 'guest'), { recursive: true })
  cpSync(s.dir, join(share, 'scenario'), { recursive: true })
  if (s.pki) makePki(join(share, 'scenario', 'pki'), s.vms)
  const adminSocket = join(dir, 'admin.sock')
  const hookSocket = join(dir, 'hook.sock')
  const config = join(share, 'scenario', 'server.final.yaml')
  serverConfig(join(s.dir, 'server.yaml'), config, adminSocket)

  const result: ScenarioResult = { name: s.name, ok: false, seconds: 0, failures: [], vms: [], notes: [], artifacts: dir }
  const ns = createNamespace(`l2t-io-${process.pid}-${o.index}`)
  const keylog = join(dir, 'keylog.txt')
  const server = new ServerUnderTest(ns, config, adminSocket, join(dir, 'server.log'), keylog)
  let capture: Capture | undefined
  const extras: ReturnType<typeof spawnGroup>[] = []
  let hook: Awaited<ReturnType<typeof startHook>> | undefined
  try {
    let iface = 'lo'
    const taps: string[] = []
    if (s.network === 'tap') {
      // No NAT: the guests sit on a bridge with the server's address.
      ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge')
      ip('-n', ns, 'addr', 'add', '10.0.2.2/24', 'dev', 'br0')
      ip('-n', ns, 'link', 'set', 'br0', 'up')
      for (let i = 1; i <= s.vms; i++) {
        const tap = `tap${i}`
        ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap')
        ip('-n', ns, 'link', 'set', tap, 'master', 'br0')
        ip('-n', ns, 'link', 'set', tap, 'up')
        taps.push(tap)
      }
      iface = 'br0'
    }
    capture = await startCapture(ns, iface, join(dir, 'capture.pcap'))
    await server.start()
    hook = await startHook(hookSocket, async (vm, command, args) => hookCommand(server, result, vm, command, args))
    extras.push(startHookRelay(ns, hookSocket))
    if (s.iperf) extras.push(spawnGroup('/usr/sbin/ip', ['netns', 'exec', ns, 'iperf3', '-s', '--forceflush'], { stdio: 'ignore' }))
    await sleep(300)

    const vms = []
    for (let i = 1; i <= s.vms; i++) {
      const results = join(dir, `vm${i}`)
      mkdirSync(results, { recursive: true })
      const network =
        s.network === 'tap'
          ? { mode: 'tap' as const, tap: taps[i - 1]!, mac: `52:54:00:12:35:${(0x10 + i).toString(16)}`, address: `10.0.2.${14 + i}/24`, gateway: '10.0.2.2' }
          : { mode: 'user' as const }
      vms.push(
        startVm({
          image,
          netns: ns,
          index: i,
          share,
          results,
          scenarioTimeout: s.timeout,
          hardTimeout: s.timeout + 150,
          network,
          ...(o.kvm ? { kvm: true } : {}),
          onLine: (line) => {
            if (/^INTEROP-(STEP|FAIL|NOTE)/.test(line)) o.log(`  ${s.name} vm${i}: ${line.slice('INTEROP-'.length)}`)
          },
        }),
      )
    }
    result.vms = await Promise.all(vms.map((v) => v.done))

    // --- checks -------------------------------------------------------------
    result.vms.forEach((v, i) => {
      const where = `vm${i + 1}`
      if (v.timedOut) result.failures.push(`${where}: hard timeout (QEMU killed after ${s.timeout + 150} s); last step ${v.steps.at(-1) ?? 'none (no boot?)'}`)
      else if (v.exitCode === undefined) result.failures.push(`${where}: the guest never reported an exit code (crash?); last step ${v.steps.at(-1) ?? 'none'}`)
      else if (v.exitCode !== s.expect.exit) {
        const why = v.exitCode === 124 ? `client.sh timed out after ${s.timeout} s in step ${v.steps.at(-1) ?? '?'}` : (v.failure ?? `exit ${v.exitCode} in step ${v.steps.at(-1) ?? '?'}`)
        result.failures.push(`${where}: ${why}`)
      }
      for (const n of v.notes) result.notes.push(`${where}: ${n}`)
    })
    if (!server.running) result.failures.push(`server: exited during the scenario (${String(await server.exitCode())})`)
    if (s.expect.sessionsAfter !== null && server.running) {
      const want = s.expect.sessionsAfter
      for (let i = 0; i < 100; i++) {
        const n = await server.sessions().then((l) => l.length, () => -1)
        if (n === want) break
        await sleep(200)
      }
      const cli = await server.sessionsCli()
      if (cli.status !== 0 || cli.sessions === undefined) result.failures.push(`server: l2tp-ipsec sessions --json failed (${cli.status}): ${cli.output.slice(0, 300)}`)
      else if (cli.sessions.length !== want) result.failures.push(`server: l2tp-ipsec sessions --json lists ${cli.sessions.length} sessions after the clients finished, expected ${want}: ${JSON.stringify(cli.sessions).slice(0, 400)}`)
    }
    const messages = server.lines.map((l) => l.msg)
    for (const pattern of s.expect.log) if (!messages.some((m) => new RegExp(pattern).test(m))) result.failures.push(`server: no log message matches /${pattern}/`)
    for (const [pattern, n] of Object.entries(s.expect.logAtLeast)) {
      const count = messages.filter((m) => new RegExp(pattern).test(m)).length
      if (count < n) result.failures.push(`server: ${count} log messages match /${pattern}/, expected at least ${n}`)
    }
    for (const pattern of s.expect.noLog) {
      const hit = server.lines.find((l) => new RegExp(pattern).test(l.msg))
      if (hit) result.failures.push(`server: log message matches /${pattern}/: ${formatLogLine(hit)}`)
    }
    const errors = server.lines.filter((l) => l.level >= 50)
    for (const e of errors.slice(0, 3)) result.failures.push(`server: error logged: ${formatLogLine(e)}`)
  } catch (e) {
    result.failures.push(`harness: ${(e as Error).message}`)
  } finally {
    for (const x of extras) await stopGroup(x, 2000)
    await server.stop()
    await capture?.stop()
    hook?.server.close()
    deleteNamespace(ns)
  }

  // --- the capture, read back by tshark -----------------------------------
  try {
    const sas = result.vms.flatMap((_, i) => readXfrm(join(dir, `vm${i + 1}`, 'xfrm.txt')))
    const report = await analyseCapture(join(dir, 'capture.pcap'), sas, s.expect.inner)
    result.capture = report
    if (report.packets === 0) result.failures.push('capture: no packets captured')
    if (report.malformed.length) result.failures.push(`capture: ${report.malformed.length} malformed packets: ${report.problems.slice(0, 3).join('; ')}`)
    if (s.expect.esp === 'none' && report.esp > 0) result.failures.push(`capture: ${report.esp} ESP packets, expected none`)
    if (s.expect.esp === 'decrypt') {
      if (report.esp < s.expect.minEsp) result.failures.push(`capture: ${report.esp} ESP packets, expected at least ${s.expect.minEsp}`)
      const bad = report.espUnknownSpi + report.espIcvBad + report.espBadInner
      if (bad > 0 || report.espDecrypted !== report.esp) {
        result.failures.push(`capture: ${report.espDecrypted}/${report.esp} ESP packets decrypted to ${describeInner(s.expect.inner)} with the client's keys (${report.espUnknownSpi} unknown SPI, ${report.espIcvBad} bad ICV, ${report.espBadInner} with something else inside): ${report.problems.slice(0, 3).join('; ')}`)
      }
      // The SPIs on the wire are the ones the server says it installed.
      const installed = new Set<number>()
      for (const l of server.lines) {
        if (l.msg !== 'ESP SA pair installed') continue
        for (const k of ['spiIn', 'spiOut']) if (typeof l[k] === 'string') installed.add(Number(l[k]))
      }
      const stray = report.spisOnWire.filter((spi) => !installed.has(spi))
      if (stray.length) result.failures.push(`capture: SPIs on the wire the server never logged installing: ${stray.map((x) => `0x${x.toString(16)}`).join(', ')}`)
    }
  } catch (e) {
    result.failures.push(`capture: analysis failed: ${(e as Error).message}`)
  }
  // --- the capture again, with the server's own keys (serve --keylog) -------
  try {
    result.decryption = await serverKeyChecks(s, result, join(dir, 'capture.pcap'), keylog, server)
  } catch (e) {
    result.failures.push(`capture (server keys): analysis failed: ${(e as Error).message}`)
  }

  result.ok = result.failures.length === 0
  result.seconds = (Date.now() - t0) / 1000
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify({ ...result, capture: result.capture && { ...result.capture, malformed: result.capture.malformed.slice(0, 20) } }, null, 2)}\n`)
  if (!result.ok) writeFileSync(join(dir, 'FAILURE.txt'), failureText(s, result, server))
  else if (!o.keep) {
    // A pass keeps only its result.json.
    for (const f of readdirSync(dir)) if (f !== 'result.json') rmSync(join(dir, f), { recursive: true, force: true })
  }
  return result
}

/** The capture with the server's keys: IKE decrypts, ESP decrypts, ESP goes the way the scenario says. */
async function serverKeyChecks(s: Scenario, result: ScenarioResult, pcap: string, keylog: string, server: ServerUnderTest): Promise<DecryptionReport | undefined> {
  const fail = (m: string) => result.failures.push(`capture (server keys): ${m}`)
  if (!server.lines.some((l) => l.level === 40 && /writing every IKE and ESP key to the keylog file/.test(l.msg))) fail('serve --keylog logged no warning that keys are being written')
  if (!existsSync(keylog)) {
    fail('serve --keylog wrote no file')
    return undefined
  }
  if ((statSync(keylog).mode & 0o777) !== 0o600) fail(`the keylog is mode ${(statSync(keylog).mode & 0o777).toString(8)}, not 600`)
  if (!existsSync(pcap)) return undefined
  const lines = readFileSync(keylog, 'utf8').split('\n')
  // ESP (and malformed frames) from the capture itself; IKE from a copy where the two ends differ in address (capture.ts).
  const r = await checkDecryption(pcap, lines, s.expect.inner)
  const ikeFile = `${pcap}.ike.pcap`
  await ikeOnlyCopy(pcap, ikeFile)
  const ike = await checkDecryption(ikeFile, lines)
  r.ike = ike.ike
  r.problems = [...r.problems.filter((p) => !/Main Mode|Quick Mode|Informational/.test(p)), ...ike.problems]
  if (r.problems.length) fail(`${r.problems.length} problems: ${r.problems.slice(0, 3).join('; ')}`)
  if (s.expect.esp === 'decrypt') {
    // Fragmented Main Mode messages (strongSwan with certificates) are reassembled by tshark but not decrypted: counted apart.
    if (r.ike.mainMode + r.ike.mainModeFragmented < 2) fail(`${r.ike.mainMode} Main Mode messages 5/6 decrypted to ID and HASH or SIG (and ${r.ike.mainModeFragmented} fragmented), expected at least 2`)
    if (r.ike.quickModeWithSa < 2) fail(`${r.ike.quickModeWithSa} Quick Mode messages 1/2 decrypted to SA, Nonce and IDs, expected at least 2`)
    if (r.esp.decrypted !== r.esp.total) fail(`${r.esp.decrypted}/${r.esp.total} ESP packets decrypted to ${describeInner(s.expect.inner)} with the server's keys`)
    const other = s.expect.espEncap === 'raw' ? r.esp.udp : r.esp.raw
    if (other > 0) fail(`${other} of ${r.esp.total} ESP packets ${s.expect.espEncap === 'raw' ? 'in UDP 4500, expected raw ESP (IP protocol 50)' : 'raw (IP protocol 50), expected UDP 4500'}`)
  }
  return r
}

async function hookCommand(server: ServerUnderTest, result: ScenarioResult, vm: string, command: string, args: string[]): Promise<string> {
  switch (command) {
    case 'sessions': {
      const list = await server.sessions()
      return `ok ${list.length} ${JSON.stringify(list.map((s) => ({ id: s.id, user: s.user, address: s.address, peer: s.peer, suite: s.suite })))}`
    }
    case 'wait-sessions': {
      // wait-sessions N SECONDS: until the server lists exactly N sessions.
      const want = Number(args[0])
      const deadline = Date.now() + Number(args[1] ?? 20) * 1000
      let n = -1
      while (Date.now() < deadline) {
        n = (await server.sessions()).length
        if (n === want) return `ok ${n}`
        await sleep(250)
      }
      return `error the server lists ${n} sessions, expected ${want}`
    }
    case 'kick-all': {
      const list = await server.sessions()
      for (const s of list) await server.kick(s.id)
      return `ok ${list.length}`
    }
    case 'wait-log': {
      // wait-log SECONDS REGEX: until a server log message matches.
      const deadline = Date.now() + Number(args[0] ?? 20) * 1000
      const re = new RegExp(args.slice(1).join(' '))
      while (Date.now() < deadline) {
        const hit = server.lines.find((l) => re.test(l.msg))
        if (hit) return `ok ${formatLogLine(hit)}`
        await sleep(250)
      }
      return `error no server log message matches /${re.source}/`
    }
    case 'count-log': {
      const re = new RegExp(args.join(' '))
      return `ok ${server.lines.filter((l) => re.test(l.msg)).length}`
    }
    case 'note':
      result.notes.push(`vm${vm}: ${args.join(' ')}`)
      return 'ok'
    default:
      return `error unknown hook command ${command}`
  }
}

function failureText(s: Scenario, r: ScenarioResult, server: ServerUnderTest): string {
  const out: string[] = [`FAILED: ${s.name} — ${s.description}`, ...r.failures.map((f) => `  ${f}`), '']
  r.vms.forEach((v, i) => {
    const d = join(r.artifacts, `vm${i + 1}`)
    out.push(`--- vm${i + 1}: steps ${v.steps.join(' → ') || '(none)'}; exit ${v.exitCode ?? '?'}; boot ${v.bootSeconds?.toFixed(1) ?? '?'} s`)
    for (const f of ['client.out', 'charon.log', 'pluto.log', 'xl2tpd.log', 'pppd.log']) {
      const t = tailFile(join(d, f), f === 'client.out' ? 15 : 25)
      if (t) out.push(`--- vm${i + 1} ${f} (last lines)`, t)
    }
    if (v.exitCode === undefined) {
      const t = tailFile(join(d, 'console.log'), 30)
      if (t) out.push(`--- vm${i + 1} console (last lines)`, t)
    }
  })
  out.push('--- server log (last lines)', server.tail(40), '', `artifacts: ${r.artifacts}`)
  return `${out.join('\n')}\n`
}

/** Why a failed scenario failed for want of a working VM (no boot, hard timeout, the client's IPsec or L2TP daemon never started), or undefined when it ran and a check failed. */
export function infrastructureFailure(r: ScenarioResult): string | undefined {
  if (r.ok) return undefined
  const i = r.vms.findIndex((v) => v.timedOut || v.bootSeconds === undefined || v.failure?.includes('[infrastructure'))
  if (i < 0) return undefined
  const v = r.vms[i]!
  // lib.sh marks a client daemon that never came up (strongSwan's starter kills charon after 10 s) as infrastructure: no check ran yet.
  if (!v.timedOut && v.bootSeconds !== undefined) return `vm${i + 1}: ${v.failure}`
  return `vm${i + 1} ${v.bootSeconds === undefined ? 'never booted' : 'hit the hard timeout'}`
}

function table(results: ScenarioResult[]): string {
  const rows = results.map((r) => `| ${r.name} | ${r.ok ? 'pass' : '**FAIL**'}${r.retried ? ` (2nd attempt: ${r.retried})` : ''} | ${r.seconds.toFixed(0)} s | ${r.ok ? summary(r) : (r.failures[0] ?? '').replace(/\|/g, '\\|').slice(0, 160)} |`)
  return ['| scenario | result | time | notes |', '|---|---|---|---|', ...rows].join('\n')
}

function summary(r: ScenarioResult): string {
  const parts: string[] = []
  const boot = r.vms.map((v) => v.bootSeconds).filter((b): b is number => b !== undefined)
  if (boot.length) parts.push(`boot ${Math.max(...boot).toFixed(0)} s`)
  for (const n of r.notes) {
    const m = /iperf (up|down) ([\d.]+) Mbit\/s/.exec(n)
    if (m) parts.push(`${m[1]} ${m[2]} Mbit/s`)
  }
  if (r.capture) parts.push(`${r.capture.espDecrypted}/${r.capture.esp} ESP decrypted, ${r.capture.ike} IKE`)
  const d = r.decryption
  if (d) parts.push(`server keys: ESP ${d.esp.decrypted}/${d.esp.total}${d.esp.raw ? ' raw' : ''}, IKE ${d.ike.mainMode + d.ike.quickMode + d.ike.informational}/${d.ike.encryptedWithKey + d.ike.encryptedWithoutKey}${d.ike.mainModeFragmented ? ` (+${d.ike.mainModeFragmented} fragmented MM, not decryptable by tshark)` : ''}`)
  return parts.join(', ')
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      jobs: { type: 'string', default: '1' },
      kvm: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      'infra-retries': { type: 'string', default: '2' },
    },
  })
  const all = listScenarios()
  if (values.list) {
    for (const n of all) console.log(`${n.padEnd(28)} ${loadScenario(n).description}`)
    return 0
  }
  if (process.getuid?.() !== 0) {
    console.error('interop: needs root (network namespaces, QEMU in them, tshark); run it as root')
    return 2
  }
  if (!readdirSync(join(REPO, 'native')).some((f) => f.endsWith('.node'))) {
    console.error('interop: the native addon is not built; run `npm run build:native:dev` first')
    return 2
  }
  const names = (values.scenario ?? all).flatMap((v) => v.split(',')).filter(Boolean)
  const scenarios = names.map(loadScenario)
  trapSignals()
  const t0 = Date.now()
  const log = (line: string) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`)

  // Images: cached ones at once; missing ones are built one after the other
  // (they share debootstrap's package cache) while the scenarios whose image
  // is ready already run.
  const flavors = [...new Set(scenarios.map((s) => s.image))]
  const cached = new Set(flavors.filter((f) => cachedImage(f) !== undefined))
  flavors.sort((a, b) => Number(cached.has(b)) - Number(cached.has(a)))
  const images = new Map<Flavor, Promise<GuestImage>>()
  for (const f of flavors) {
    const t = Date.now()
    const p = ensureImage(f, log).then((img) => {
      log(`image ${f}: ${img.dir} (${cached.has(f) ? 'cached' : `built in ${((Date.now() - t) / 1000).toFixed(0)} s`})`)
      return img
    })
    p.catch((e: unknown) => log(`image ${f}: build failed: ${(e as Error).message}`))
    images.set(f, p)
  }
  const runDir = join(RESULTS, new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(runDir, { recursive: true })
  const jobs = Math.max(1, Number(values.jobs) || 1)
  // Second attempts for scenarios whose VM never booted or hit the hard timeout, in the whole run.
  let retries = Math.max(0, Number(values['infra-retries']))
  const results: ScenarioResult[] = new Array(scenarios.length)
  // Scenarios on a ready image first, then in the order the images get built.
  const order = scenarios.map((_, i) => i).sort((a, b) => flavors.indexOf(scenarios[a]!.image) - flavors.indexOf(scenarios[b]!.image))
  let next = 0
  const worker = async (w: number) => {
    for (;;) {
      const i = order[next++]
      if (i === undefined) return
      const s = scenarios[i]!
      let image: GuestImage
      try {
        image = await images.get(s.image)!
      } catch (e) {
        results[i] = { name: s.name, ok: false, seconds: 0, failures: [`harness: no ${s.image} image: ${(e as Error).message}`], vms: [], notes: [], artifacts: '' }
        continue
      }
      log(`${s.name}: start (${s.description})`)
      let r = await runScenario(s, image, { runDir, kvm: values.kvm, keep: values.keep, index: w, log })
      // A VM that never booted or hit the hard timeout is the machine, not the server: once more, said so in the table.
      const infra = infrastructureFailure(r)
      if (infra && retries > 0) {
        retries--
        const first = `${r.artifacts}.attempt1`
        rmSync(first, { recursive: true, force: true })
        renameSync(r.artifacts, first)
        log(`${s.name}: FAIL (${infra}) — infrastructure, not a check: running it once more; the first attempt is in ${first}`)
        console.error(readFileSync(join(first, 'FAILURE.txt'), 'utf8'))
        r = await runScenario(s, image, { runDir, kvm: values.kvm, keep: values.keep, index: w, log })
        r.retried = `${infra} on the first attempt`
      }
      results[i] = r
      log(`${s.name}: ${r.ok ? 'pass' : 'FAIL'} in ${r.seconds.toFixed(0)} s`)
      if (!r.ok) console.error(readFileSync(join(r.artifacts, 'FAILURE.txt'), 'utf8'))
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, scenarios.length) }, (_, w) => worker(w)))
  const text = table(results)
  const total = (Date.now() - t0) / 1000
  writeFileSync(join(runDir, 'summary.md'), `${text}\n\nTotal ${total.toFixed(0)} s, jobs ${jobs}.\n`)
  const retried = results.filter((r) => r.retried).length
  console.log(`\n${text}\n\n${results.filter((r) => r.ok).length}/${results.length} passed in ${total.toFixed(0)} s${retried ? ` (${retried} run twice: a VM that never booted or hit the hard timeout)` : ''}; results in ${runDir}`)
  return results.every((r) => r.ok) ? 0 : 1
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main()
}
