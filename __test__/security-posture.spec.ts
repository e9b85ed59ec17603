// Crypto posture (lib/security/posture.ts, `l2tp-ipsec check-config`):
// each weak choice reported with its risk and what to use instead, the
// exit code still 0; the `modern` preset holds only strong choices; the PSK
// strength check (zxcvbn) tells guessable keys from random ones.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { checkConfig } from '../lib/cli/check-config.js'
import { parseServerConfig, type ServerConfigInput } from '../lib/config/index.js'
import { dhGroup } from '../lib/ike/dh.js'
import { PRESETS } from '../lib/ike/policy.js'
import { postureReport } from '../lib/security/posture.js'
import { humanDuration, pskStrength } from '../lib/security/psk-strength.js'

const STRONG_PSK = 'q7Vw2LrT9xKp4ZmN8sYc3HbF6jDg1Ue5' // 32 random characters
const POOL = { range: '192.168.42.10-192.168.42.20', gateway: '192.168.42.1' }
const config = (input: Partial<ServerConfigInput>) => parseServerConfig({ pool: POOL, ...input } as ServerConfigInput).config
const keys = async (input: Partial<ServerConfigInput>) => (await postureReport(config(input))).map((f) => `${f.level} ${f.key}: ${f.finding}`)

test('the modern preset holds only MODP >= 2048 or ECP groups, AES, and SHA2', (t) => {
  const m = PRESETS.modern
  for (const g of [...m.phase1.groups, ...m.phase2.pfsGroups]) {
    const group = dhGroup(g)!
    t.true(group.name.startsWith('ecp') || Number(group.name.replace('modp', '')) >= 2048, `group ${g} ${group.name}`)
  }
  t.true(m.phase1.encryption.every((e) => e.startsWith('aes')))
  t.true(m.phase2.ciphers.every((c) => c.startsWith('aes')))
  t.true([...m.phase1.hash, ...m.phase2.integrity].every((h) => /^sha(256|384|512)$/.test(h)))
})

test('modern proposals, a certificate-free strong PSK and EAP only: nothing weak', async (t) => {
  const found = await keys({ ipsec: { psk: STRONG_PSK, proposals: 'modern' }, ppp: { auth: ['eap'] } })
  t.deepEqual(found, [])
})

test('the default (compatible) with a guessable PSK and MS-CHAPv2: MODP1024, 3DES, SHA-1, the shared PSK and its strength', async (t) => {
  const findings = await postureReport(config({ ipsec: { psk: 'correct-horse-battery' } }))
  const byFinding = (re: RegExp) => findings.find((f) => re.test(f.finding))
  t.like(byFinding(/MODP1024 \(group 2\) and MODP1536/), { level: 'weak', key: 'ipsec.proposals' })
  t.regex(byFinding(/MODP1024/)!.risk, /Logjam/)
  t.regex(byFinding(/MODP1024/)!.instead, /modern/)
  t.like(byFinding(/^3DES/), { level: 'weak' })
  t.regex(byFinding(/^3DES/)!.risk, /Sweet32/)
  t.like(byFinding(/^SHA-1/), { level: 'advice' })
  t.false(findings.some((f) => /MD5/.test(f.finding)), 'compatible has no MD5')
  const shared = byFinding(/shared pre-shared key with mschapv2, chap, pap/)!
  t.is(shared.key, 'ipsec.psk')
  t.regex(shared.risk, /pose as the server/)
  t.regex(shared.risk, /NT hash/)
  t.regex(shared.instead, /certificate/)
  const weak = byFinding(/guessable pre-shared key/)!
  t.regex(weak.finding, /guesses \(found: dictionary/)
  t.regex(weak.instead, /openssl rand/)
  t.false(JSON.stringify(findings).includes('correct-horse-battery'), 'the key itself never appears')
})

test('legacy adds MD5; aggressive mode is reported with its offline-guessing risk', async (t) => {
  const found = await keys({ ipsec: { psk: STRONG_PSK, proposals: 'legacy', aggressiveMode: true }, ppp: { auth: ['eap'] } })
  t.true(found.includes('weak ipsec.proposals: MD5 accepted'))
  t.true(found.includes('weak ipsec.aggressiveMode: Aggressive Mode enabled'))
  const [am] = (await postureReport(config({ ipsec: { psk: STRONG_PSK, aggressiveMode: true } }))).filter((f) => f.key === 'ipsec.aggressiveMode')
  t.regex(am!.risk, /offline guessing of the PSK/)
})

test('an explicit proposal list is judged by what it holds', async (t) => {
  const explicit = { phase1: { encryption: ['aes256'], hash: ['sha256'], groups: [14, 2] }, phase2: { ciphers: ['aes128gcm-16'], integrity: ['sha256'] } }
  const found = await keys({ ipsec: { psk: STRONG_PSK, proposals: explicit as never }, ppp: { auth: ['eap'] } })
  t.deepEqual(found, ['weak ipsec.proposals: MODP1024 (group 2) accepted (preset \'compatible\')'])
})

test('PSK strength: dictionary words and short keys are weak, random keys of 32 characters are not', async (t) => {
  for (const weak of ['password123456', 'correct-horse-battery', 'qwertyuiopasdfghjkl', 'Summer2024!Summer2024!', 'short-K3y']) {
    const s = await pskStrength(weak)
    t.true(s.weak, `${weak}: 1e${s.guessesLog10.toFixed(1)}`)
  }
  const strong = await pskStrength(STRONG_PSK)
  t.false(strong.weak, `1e${strong.guessesLog10}`)
  t.true(strong.crackSeconds > 1e9)
  t.is(humanDuration(3 * 3600), '3 hours')
  t.is(humanDuration(0.2), 'under a second')
})

test('check-config prints the posture on the error stream and still exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'posture-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'c.yaml')
  writeFileSync(file, stringify({ ipsec: { psk: 'vpn-password', proposals: 'legacy' }, pool: POOL }))
  const log: string[] = []
  const error: string[] = []
  t.is(await checkConfig(file, { log: (l) => log.push(l), error: (l) => error.push(l) }), 0)
  t.deepEqual(log, [`ok: ${file}`])
  t.true(error.includes('posture weak: ipsec.proposals: MD5 accepted'))
  t.true(error.some((l) => /^posture weak: ipsec\.psk: short or guessable pre-shared key: 12 characters/.test(l)))
  t.true(error.some((l) => l.startsWith('  risk: ')) && error.some((l) => l.startsWith('  instead: ')))
  t.false(error.join('\n').includes('vpn-password'))
})
