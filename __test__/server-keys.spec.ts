// Raw ESP and the server's keys for Wireshark, end to end: a client not
// behind NAT gets ESP as IP protocol 50 when `ipsec.rawEsp` is on; the live
// keys come out through the real `l2tp-ipsec keys --wireshark` command
// (only with admin.allowKeyExport) and through `keylog`, and tshark — a
// decoder nobody here wrote — decrypts the capture of that very session
// with them: Main Mode 5/6, Quick Mode, Informational and every ESP packet.
import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAdminServer } from '../lib/admin/index.js'
import { parseServerConfig } from '../lib/config/index.js'
import { espSaRecord, ikev1DecryptionRecord, wiresharkEspAlgorithms } from '../lib/debug/wireshark-keys.js'
import { espSuites } from '../lib/esp/index.js'
import { checkDecryption } from '../lib/testing/wireshark-check.js'
import { pingAsync } from './helpers/netns-run.js'
import { createRig, GATEWAY, PSK } from './helpers/vpn-rig.js'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']

/** The real command, asynchronously: the admin server answering it runs in this process. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr })
    })
  })
}

/** tshark capturing IKE, NAT-T and raw ESP on an interface of a namespace; stop() waits for the file. */
async function capture(ns: string, iface: string, file: string): Promise<{ stop: () => Promise<void> }> {
  const child = spawn('ip', ['netns', 'exec', ns, 'tshark', '-q', '-n', '-i', iface, '-f', 'udp port 500 or udp port 4500 or ip proto 50', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const deadline = Date.now() + 20_000
  // "Capturing on" and the file's header come a little before packets are really taken: wait for both, then a second more.
  while (!/Capturing on/.test(err) || !existsSync(file) || statSync(file).size === 0) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tshark (required for this test) did not start: ${err}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  await new Promise((r) => setTimeout(r, 1000))
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 500))
      child.kill('SIGINT')
      await exited
    },
  }
}

test.serial('raw ESP (protocol 50) for a client not behind NAT; keys --wireshark and the keylog decrypt the capture of that session', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const keylog = join(dir, 'keys.log')
  const socket = join(dir, 'run', 'admin.sock')
  // Listening on 0.0.0.0 as deployments do: the server cannot hash its own address for NAT-D then (it once took itself for NATed and sent ESP in UDP to port 500).
  const rig = await createRig(t, 'rawkeys', { listen: { address: '0.0.0.0' }, ipsec: { psk: PSK, rawEsp: true }, admin: { socket, allowKeyExport: true }, keylog })
  const server = rig.server
  const admin = await startAdminServer(socket, server)
  t.teardown(() => admin.close())
  const pcap = join(rig.tempDir, 'session.pcap')
  const cap = await capture(rig.net.a, rig.net.vethA, pcap)

  const client = rig.client({ rawEsp: true })
  await client.connect()
  const ping = await pingAsync(rig.net.b, GATEWAY, 5)
  t.is(ping.received, 5, ping.output)
  const [session] = server.sessions()
  t.false(session!.udpEncapsulated, 'no NAT and rawEsp on both ends: ESP goes as IP protocol 50')

  const exported = await cli('keys', '--wireshark', '--socket', socket)
  t.is(exported.code, 0, exported.stderr)
  const lines = exported.stdout.split('\n').filter(Boolean)
  t.is(lines.filter((l) => l.startsWith('uat:ikev1_decryption_table:')).length, 1, exported.stdout)
  t.is(lines.filter((l) => l.startsWith('uat:esp_sa:')).length, 2, exported.stdout)
  t.true(lines.some((l) => /^# ESP SA .* raw \(protocol 50\)/.test(l)), exported.stdout)

  await client.close()
  await cap.stop()

  for (const [what, keyLines] of [
    ['keys --wireshark', lines],
    ['keylog', readFileSync(keylog, 'utf8').split('\n')],
  ] as const) {
    const r = await checkDecryption(pcap, keyLines)
    t.deepEqual(r.problems, [], what)
    t.is(r.malformed, 0, what)
    t.true(r.esp.total >= 10, `${what}: ${r.esp.total} ESP packets`)
    t.is(r.esp.raw, r.esp.total, `${what}: every ESP packet is IP protocol 50 (${r.esp.udp} in UDP)`)
    t.is(r.esp.decrypted, r.esp.total, `${what}: every ESP packet decrypts to L2TP with the server's keys`)
    t.is(r.ike.encryptedWithoutKey, 0, what)
    t.is(r.ike.mainMode, 2, `${what}: Main Mode 5 and 6 decrypt to ID and HASH`)
    t.true(r.ike.quickModeWithSa >= 2 && r.ike.quickMode >= 3, `${what}: Quick Mode 1-3 decrypt (${JSON.stringify(r.ike)})`)
    t.true(r.ike.informational >= 1, `${what}: the Deletes at the end decrypt`)
  }
  t.is(statSync(keylog).mode & 0o777, 0o600, 'the keylog is 0600')
  t.true(readFileSync(keylog, 'utf8').startsWith('# l2tp-ipsec keylog'))
})

test.serial('keys --wireshark is refused while admin.allowKeyExport is off (the default), and wants --wireshark', async (t) => {
  const rig = await createRig(t, 'nokeys')
  const socket = join(rig.tempDir, 'run', 'admin.sock')
  const admin = await startAdminServer(socket, rig.server)
  t.teardown(() => admin.close())
  const refused = await cli('keys', '--wireshark', '--socket', socket)
  t.is(refused.code, 4)
  t.regex(refused.stderr, /key export is off: set admin\.allowKeyExport: true/)
  t.is(refused.stdout, '')
  const bare = await cli('keys', '--socket', socket)
  t.is(bare.code, 1)
  t.regex(bare.stderr, /--wireshark/)
})

test('config: ipsec.rawEsp defaults to false, is refused with an IPv6 listen address; admin.allowKeyExport defaults to false', (t) => {
  const base = { ipsec: { psk: PSK }, pool: { range: '192.168.42.10-192.168.42.20', gateway: GATEWAY } }
  const { config } = parseServerConfig(base)
  t.false(config.ipsec.rawEsp)
  t.false(config.admin.allowKeyExport)
  const error = t.throws(() => parseServerConfig({ ...base, listen: { address: '::' }, ipsec: { psk: PSK, rawEsp: true } }))
  t.regex(String((error as { issues?: { key: string }[] }).issues?.map((i) => i.key)), /ipsec\.rawEsp/)
})

test('Wireshark names exist for every ESP suite; records are quoted UAT lines', (t) => {
  for (const suite of espSuites()) t.notThrows(() => wiresharkEspAlgorithms(suite), suite)
  t.deepEqual(wiresharkEspAlgorithms('aes256-sha256_96'), { encryption: 'AES-CBC [RFC3602]', authentication: 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]' })
  t.is(ikev1DecryptionRecord({ initiatorCookie: '0011223344556677', encryptionKey: 'aabb' }), '0011223344556677,aabb')
  t.is(
    espSaRecord({ spi: 0xc0ffee, source: '10.0.0.2', destination: '*', suite: 'aes128gcm-16', encryptionKey: '00'.repeat(20), integrityKey: '' }),
    `"IPv4","10.0.0.2","*","0x00c0ffee","AES-GCM with 16 octet ICV [RFC4106]","0x${'00'.repeat(20)}","NULL",""`,
  )
})
