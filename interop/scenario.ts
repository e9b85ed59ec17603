/**
 * A scenario is a folder interop/scenarios/<name>/ holding:
 *
 * - scenario.yaml: what runs and what must hold afterwards (below);
 * - server.yaml: the configuration `l2tp-ipsec serve` runs on (the harness
 *   only sets admin.socket and log; relative paths start in the folder);
 * - client.sh: what each guest runs (bash, with /interop/guest/lib.sh);
 * - any other file the client needs, reachable in the guest under
 *   /interop/scenario/.
 *
 * scenario.yaml:
 *
 *   description: one line
 *   image: strongswan | libreswan
 *   vms: 1                 # guests started at once from the same image
 *   timeout: 120           # seconds client.sh may run in each guest
 *   network: user          # user: QEMU's NAT (ESP in UDP 4500); tap: no NAT, the guest on a tap device
 *   iperf: false           # run `iperf3 -s` in the server's namespace
 *   pki: false             # make an RSA PKI with openssl at run time into pki/
 *   expect:
 *     exit: 0              # client.sh's exit code in every guest
 *     sessionsAfter: 0     # sessions `l2tp-ipsec sessions --json` lists once the guests are done (null: not checked)
 *     log: []              # regexes that must match some server log message (msg)
 *     noLog: []            # regexes no server log message (msg) may match
 *     logAtLeast: {}       # regex: n, e.g. { 'ESP SA pair installed': 3 } (rekeys)
 *     esp: decrypt         # decrypt: every ESP packet decrypts with the client's keys; none: no ESP at all
 *     minEsp: 1            # at least this many ESP packets (decrypt only)
 *     espEncap: udp        # udp: every ESP packet in UDP 4500; raw: every one IP protocol 50 (server ipsec.rawEsp, no NAT)
 *     inner: l2tp          # what every ESP packet decrypts to: l2tp (transport mode, the L2TP clients);
 *                          #   ip: an IPv4 packet right inside ESP (tunnel mode, a site) from one LAN of `lans` to the other
 *     lans: []             # inner: ip only: two lists of CIDR prefixes, e.g. [[10.2.0.0/24], [192.168.42.1/32]]
 *
 * Every scenario also reads the capture with the server's keys (`serve
 * --keylog`): every encrypted IKE message of an IKE SA the server set up
 * must decrypt to its payloads, and with esp: decrypt Main Mode 5/6 and
 * Quick Mode 1/2 must be among them and every ESP packet must decrypt (to
 * what `inner` says, as with the client's keys).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { ipInner, L2TP_INNER, type EspInner } from '../lib/testing/esp-inner.js'
import { FLAVORS, type Flavor } from './image.js'

export const SCENARIOS = fileURLToPath(new URL('./scenarios/', import.meta.url))

export interface Scenario {
  name: string
  dir: string
  description: string
  image: Flavor
  vms: number
  timeout: number
  network: 'user' | 'tap'
  iperf: boolean
  pki: boolean
  expect: {
    exit: number
    sessionsAfter: number | null
    log: string[]
    noLog: string[]
    logAtLeast: Record<string, number>
    esp: 'decrypt' | 'none'
    minEsp: number
    espEncap: 'udp' | 'raw'
    inner: EspInner
  }
}

export function listScenarios(): string[] {
  return readdirSync(SCENARIOS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(SCENARIOS, d.name, 'scenario.yaml')))
    .map((d) => d.name)
    .sort()
}

export function loadScenario(name: string): Scenario {
  const dir = join(SCENARIOS, name)
  const file = join(dir, 'scenario.yaml')
  if (!existsSync(file)) throw new Error(`no scenario ${name} (${file}); there are: ${listScenarios().join(', ')}`)
  const y = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>
  const e = (y['expect'] ?? {}) as Record<string, unknown>
  const image = (y['image'] ?? 'strongswan') as Flavor
  if (!(image in FLAVORS)) throw new Error(`${file}: image must be one of ${Object.keys(FLAVORS).join(', ')}`)
  for (const f of ['server.yaml', 'client.sh']) if (!existsSync(join(dir, f))) throw new Error(`${name}: ${f} is missing`)
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : [])
  const known = new Set(['description', 'image', 'vms', 'timeout', 'network', 'iperf', 'pki', 'expect'])
  for (const k of Object.keys(y)) if (!known.has(k)) throw new Error(`${file}: unknown key ${k}`)
  const knownExpect = new Set(['exit', 'sessionsAfter', 'log', 'noLog', 'logAtLeast', 'esp', 'minEsp', 'espEncap', 'inner', 'lans'])
  for (const k of Object.keys(e)) if (!knownExpect.has(k)) throw new Error(`${file}: unknown key expect.${k}`)
  let inner: EspInner = L2TP_INNER
  if (e['inner'] === 'ip') inner = ipInner(e['lans'], `${file}: expect.lans`)
  else if (e['inner'] !== undefined && e['inner'] !== 'l2tp') throw new Error(`${file}: expect.inner must be l2tp or ip, not ${JSON.stringify(e['inner'])}`)
  if (inner.kind === 'l2tp' && e['lans'] !== undefined) throw new Error(`${file}: expect.lans is only for expect.inner: ip`)
  return {
    name,
    dir,
    description: String(y['description'] ?? name),
    image,
    vms: Number(y['vms'] ?? 1),
    timeout: Number(y['timeout'] ?? 120),
    network: y['network'] === 'tap' ? 'tap' : 'user',
    iperf: y['iperf'] === true,
    pki: y['pki'] === true,
    expect: {
      exit: Number(e['exit'] ?? 0),
      sessionsAfter: e['sessionsAfter'] === null ? null : Number(e['sessionsAfter'] ?? 0),
      log: list(e['log']),
      noLog: list(e['noLog']),
      logAtLeast: Object.fromEntries(Object.entries((e['logAtLeast'] ?? {}) as Record<string, unknown>).map(([k, v]) => [k, Number(v)])),
      esp: e['esp'] === 'none' ? 'none' : 'decrypt',
      minEsp: Number(e['minEsp'] ?? 1),
      espEncap: e['espEncap'] === 'raw' ? 'raw' : 'udp',
      inner,
    },
  }
}
