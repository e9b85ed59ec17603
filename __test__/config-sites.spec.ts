// The `sites` section: defaults, a site's pskFile, and errors that name
// their keys without echoing a key.
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, parseServerConfig } from '../lib/config/index.js'

const minimal = () => ({ ipsec: { psk: 'a-long-enough-key' }, pool: { range: '192.168.42.10-192.168.42.250', gateway: '192.168.42.1' } })
const site = (extra: Record<string, unknown> = {}) => ({ name: 'b', peer: '198.51.100.7', psk: 'site-key-12345', localSubnets: ['10.1.0.0/24'], remoteSubnets: ['10.2.0.0/24'], ...extra })

function issues(t: ExecutionContext, input: unknown, baseDir?: string): string[] {
  const e = t.throws(() => parseServerConfig(input, baseDir ? { baseDir } : {}), { instanceOf: ConfigError })
  return (e?.issues ?? []).map((i) => `${i.key}: ${i.message}`)
}

test('a site gets its defaults', (t) => {
  const { config } = parseServerConfig({ ...minimal(), sites: [site()] })
  t.like(config.sites[0], { name: 'b', peer: '198.51.100.7', connect: false, lifetime: 3600, dpd: { delay: 30, timeout: 120 } })
  t.is(config.sites[0]!.proposals, undefined)
})

test('a site key from pskFile, relative to the config', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sites-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'b.psk'), 'from-a-file-key\n', { mode: 0o600 })
  writeFileSync(join(dir, 'short.psk'), 'short\n', { mode: 0o600 })
  const { psk: _, ...noKey } = site()
  t.is(parseServerConfig({ ...minimal(), sites: [{ ...noKey, pskFile: 'b.psk' }] }, { baseDir: dir }).config.sites[0]!.psk, 'from-a-file-key')
  t.deepEqual(issues(t, { ...minimal(), sites: [{ ...noKey, pskFile: 'short.psk' }] }, dir), ['sites[0].pskFile: the key in short.psk must have at least 8 characters, got 5'])
})

test('site errors name their keys', (t) => {
  const { psk: _, ...certificateSite } = site()
  const found = issues(t, {
    ...minimal(),
    sites: [
      site({ localSubnets: ['10.1.0.1/24'], remoteSubnets: ['not-a-subnet'] }),
      site({ name: 'b', psk: 'short' }),
      site({ name: 'dyn', peer: 'any', connect: true }),
      { ...certificateSite, name: 'cert', peer: '198.51.100.9', remoteSubnets: ['10.3.0.0/24'] },
      site({ name: 'dup', remoteSubnets: ['10.2.0.0/24'], peer: '198.51.100.8' }),
    ],
  })
  const expect = [
    'sites[0].localSubnets[0]: "10.1.0.1/24" has host bits set; the network is 10.1.0.0/24',
    'sites[0].remoteSubnets[0]: "not-a-subnet" is not a subnet',
    'sites[1].psk: must have at least 8 characters',
    'sites[2].peer: a dynamic peer ("any") authenticates with a certificate',
    'sites[2].remoteId: required with peer "any"',
    'sites[2].connect: cannot connect to peer "any"',
    'sites[3].remoteId: required for certificate authentication',
  ]
  for (const e of expect) t.true(found.some((f) => f.startsWith(e)), `${e}\nin:\n${found.join('\n')}`)
  t.false(found.join('\n').includes('short'), 'no key echoed')

  const clashes = issues(t, { ...minimal(), sites: [site(), site(), site({ name: 'c' })] })
  t.true(clashes.some((f) => f.startsWith('sites[1].name: duplicate site "b"')), clashes.join('\n'))
  t.true(clashes.some((f) => f.startsWith('sites[2].peer: 198.51.100.7 is also the peer of sites[0]')), clashes.join('\n'))
  t.true(clashes.some((f) => f.startsWith('sites[1].remoteSubnets[0]: 10.2.0.0/24 is also a remote subnet of sites[0]')), clashes.join('\n'))

  const noCertificate = issues(t, { ...minimal(), sites: [{ ...certificateSite, remoteId: 'gw-b.example.com' }] })
  t.deepEqual(noCertificate, ['sites[0]: needs psk or pskFile, or ipsec.certificate for certificate authentication'])
})
