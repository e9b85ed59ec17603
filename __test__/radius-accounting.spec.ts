// RadiusAccounting against a real FreeRADIUS 3 writing a detail file:
// Start / Interim-Update / Stop with the counters sent (Gigawords
// included), Class echoed, terminate causes; an outage of ~10 s (FreeRADIUS
// stopped, then started again) loses nothing; a process killed with
// records queued hands them to the next process on the same queue file;
// the queue file itself (compaction, torn last line, overflow).
import test from 'ava'
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PersistentQueue, RadiusAccounting, TERMINATE_CAUSES, type AccountingSession, type RadiusAccountingOptions } from '../lib/auth/radius/index.js'
import { FreeRadius, freeUdpPorts, type DetailRecord } from './helpers/freeradius.js'

const SECRET = 'acct-secret-2866'
const CLASS = Buffer.from('class-from-accept')

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'radius-acct-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function freeradius(t: { teardown(fn: () => Promise<void>): void }): Promise<FreeRadius> {
  const fr = await FreeRadius.start({ secret: SECRET, users: [] })
  t.teardown(() => fr.close())
  return fr
}

function accounting(t: { teardown(fn: () => Promise<void>): void }, port: number, extra: Partial<RadiusAccountingOptions> = {}): RadiusAccounting {
  const acct = new RadiusAccounting({ servers: [{ host: '127.0.0.1', port, secret: SECRET, timeoutMs: 500, retries: 1 }], nas: { nasIdentifier: 'l2tp-test', nasIpAddress: '192.0.2.1' }, gatewayId: 'gw-test', retryDelayMs: 500, ...extra })
  t.teardown(() => acct.close())
  return acct
}

function session(id: number, user: string): AccountingSession {
  return { id, user, address: `10.9.0.${id}`, peer: { address: '198.51.100.23', port: 1701 }, class: [CLASS] }
}

/** The detail records of `user`, polled until `count` are there (FreeRADIUS writes after it answers). */
async function recordsOf(fr: FreeRadius, user: string, count: number, timeoutMs = 5000): Promise<DetailRecord[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = fr.detail().filter((r) => r['User-Name'] === user)
    if (found.length >= count || Date.now() > deadline) return found
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('Start, Interim-Update and Stop land in the detail file with the counters sent, Gigawords, Class and the terminate cause', async (t) => {
  const fr = await freeradius(t)
  const acct = accounting(t, fr.acctPort)
  const s = session(7, 'carol')
  const id = acct.start(s)
  t.regex(id, /^gw-test-[0-9a-f]{16}$/)
  t.is(acct.findSession(id), 7)
  t.true(acct.interim(s, { rxBytes: 5_000_000_000, txBytes: 123_456, rxPackets: 4_000_000, txPackets: 900, durationSeconds: 61 }))
  t.true(acct.stop(s, { rxBytes: 2 ** 32 * 3 + 17, txBytes: 999, durationSeconds: 125 }, 'kicked'))
  t.false(acct.stop(s, { rxBytes: 0, txBytes: 0 }, 'kicked'), 'a second stop is refused')
  t.true(await acct.flush(10_000))
  const records = await recordsOf(fr, 'carol', 3)
  t.deepEqual(records.map((r) => r['Acct-Status-Type']), ['Start', 'Interim-Update', 'Stop'])
  for (const r of records) {
    t.is(r['Acct-Session-Id'], id)
    t.is(r['Class'], `0x${CLASS.toString('hex')}`)
    t.is(r['NAS-Identifier'], 'l2tp-test')
    t.is(r['NAS-IP-Address'], '192.0.2.1')
    t.is(r['NAS-Port'], '7')
    t.is(r['NAS-Port-Type'], 'Virtual')
    t.is(r['Framed-IP-Address'], '10.9.0.7')
    t.is(r['Calling-Station-Id'], '198.51.100.23')
    t.true(Number(r['Acct-Delay-Time']) <= 1, `Acct-Delay-Time ${r['Acct-Delay-Time']}`)
  }
  const [, interim, stop] = records as [DetailRecord, DetailRecord, DetailRecord]
  t.is(interim['Acct-Input-Octets'], String(5_000_000_000 % 2 ** 32))
  t.is(interim['Acct-Input-Gigawords'], '1')
  t.is(interim['Acct-Output-Octets'], '123456')
  t.is(interim['Acct-Output-Gigawords'], '0')
  t.is(interim['Acct-Input-Packets'], '4000000')
  t.is(interim['Acct-Output-Packets'], '900')
  t.is(interim['Acct-Session-Time'], '61')
  t.is(stop['Acct-Input-Octets'], '17')
  t.is(stop['Acct-Input-Gigawords'], '3')
  t.is(stop['Acct-Output-Octets'], '999')
  t.is(stop['Acct-Session-Time'], '125')
  t.is(stop['Acct-Terminate-Cause'], 'Admin-Reset')
  t.is(acct.stats.delivered, 3)
  t.is(acct.queued, 0)
})

test('terminate causes: each session-down reason maps to its RFC 2866 value, as FreeRADIUS names it', async (t) => {
  t.deepEqual(TERMINATE_CAUSES, { kicked: 6, idle: 4, 'session-timeout': 5, peer: 1, 'lcp-echo-timeout': 2, 'ike-down': 2, 'l2tp-down': 2, closed: 7, reload: 6, error: 9, 'radius-disconnect': 6, anomaly: 10 })
  const fr = await freeradius(t)
  const acct = accounting(t, fr.acctPort)
  const reasons = ['idle', 'session-timeout', 'peer', 'lcp-echo-timeout', 'closed', 'error', 'anomaly'] as const
  reasons.forEach((reason, i) => {
    const s = session(20 + i, `cause-${reason}`)
    acct.start(s)
    acct.stop(s, { rxBytes: 1, txBytes: 2 }, reason)
  })
  t.true(await acct.flush(10_000))
  const names: string[] = []
  for (const reason of reasons) names.push((await recordsOf(fr, `cause-${reason}`, 2))[1]?.['Acct-Terminate-Cause'] ?? 'missing')
  t.deepEqual(names, ['Idle-Timeout', 'Session-Timeout', 'User-Request', 'Lost-Carrier', 'Admin-Reboot', 'NAS-Error', 'NAS-Request'])
})

test('automatic Interim-Updates from readCounters at the session interval', async (t) => {
  const fr = await freeradius(t)
  let rx = 1000
  const acct = accounting(t, fr.acctPort, { readCounters: (id) => (id === 31 ? { rxBytes: (rx += 1000), txBytes: 5 } : undefined) })
  acct.start({ ...session(31, 'ticker'), interimIntervalSeconds: 1 })
  const records = await recordsOf(fr, 'ticker', 3, 6000)
  t.deepEqual(records.slice(0, 3).map((r) => r['Acct-Status-Type']), ['Start', 'Interim-Update', 'Interim-Update'])
  t.is(records[1]!['Acct-Input-Octets'], '2000')
  t.is(records[2]!['Acct-Input-Octets'], '3000')
})

test('outage: FreeRADIUS stopped for ~10 s while records queue, then restarted: every record arrives, with Acct-Delay-Time', async (t) => {
  const fr = await freeradius(t)
  const dir = tempDir(t)
  const acct = accounting(t, fr.acctPort, { queueFile: join(dir, 'queue.jsonl') })
  await fr.stop()
  const outageStart = Date.now()
  const sessions = [1, 2, 3].map((i) => session(40 + i, `outage-${i}`))
  for (const s of sessions) acct.start(s)
  for (let round = 1; round <= 3; round++) {
    await new Promise((resolve) => setTimeout(resolve, 3000))
    for (const s of sessions) acct.interim(s, { rxBytes: round * 100, txBytes: round * 10 })
  }
  for (const s of sessions) acct.stop(s, { rxBytes: 1000, txBytes: 100 }, 'peer')
  t.is(acct.queued, 15)
  t.true(acct.stats.failedAttempts > 0)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - outageStart))))
  await fr.run()
  t.true(await acct.flush(20_000), `still queued: ${acct.queued}`)
  for (const s of sessions) {
    const records = await recordsOf(fr, s.user, 5)
    t.deepEqual(records.map((r) => r['Acct-Status-Type']), ['Start', 'Interim-Update', 'Interim-Update', 'Interim-Update', 'Stop'], s.user)
    t.deepEqual(records.slice(1, 4).map((r) => r['Acct-Input-Octets']), ['100', '200', '300'])
    t.true(Number(records[0]!['Acct-Delay-Time']) >= 9, `Start delayed ${records[0]!['Acct-Delay-Time']} s`)
  }
  t.is(acct.stats.delivered, 15)
})

test('process restart: records queued by a process killed with SIGKILL are delivered by the next one on the same queue file', async (t) => {
  const fr = await freeradius(t)
  const dir = tempDir(t)
  const queueFile = join(dir, 'queue.jsonl')
  const [deadPort] = await freeUdpPorts(1)
  const script = join(dir, 'writer.mts')
  const lib = fileURLToPath(new URL('../lib/auth/radius/index.ts', import.meta.url))
  writeFileSync(script, `
import { RadiusAccounting } from ${JSON.stringify(lib)}
const acct = new RadiusAccounting({ servers: [{ host: '127.0.0.1', port: ${deadPort}, secret: ${JSON.stringify(SECRET)}, timeoutMs: 200, retries: 0 }], nas: { nasIdentifier: 'l2tp-test' }, gatewayId: 'gw-dead', queueFile: ${JSON.stringify(queueFile)}, retryDelayMs: 100 })
for (let i = 1; i <= 4; i++) {
  const s = { id: i, user: 'crash-' + i, address: '10.9.1.' + i, peer: { address: '198.51.100.9', port: 1701 } }
  acct.start(s)
  acct.stop(s, { rxBytes: i * 1000, txBytes: i }, 'ike-down')
}
console.log('queued ' + acct.queued)
setInterval(() => {}, 1000)
`)
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve) => child.stdout.on('data', (c: Buffer) => resolve(c.toString())))
  t.is(line.trim(), 'queued 8')
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  // as if the crash had also torn a line being written
  appendFileSync(queueFile, '{"a":99,"r":{"k":"sta')
  const acct = accounting(t, fr.acctPort, { queueFile })
  t.is(acct.queued, 8)
  t.true(await acct.flush(10_000))
  for (let i = 1; i <= 4; i++) {
    const records = await recordsOf(fr, `crash-${i}`, 2)
    t.deepEqual(records.map((r) => r['Acct-Status-Type']), ['Start', 'Stop'])
    t.is(records[1]!['Acct-Input-Octets'], String(i * 1000))
    t.is(records[1]!['Acct-Terminate-Cause'], 'Lost-Carrier')
    t.regex(records[0]!['Acct-Session-Id'] ?? '', /^gw-dead-/)
  }
  await acct.close()
  t.is(new PersistentQueue({ path: queueFile }).size, 0, 'nothing left for a third process')
})

test('queue file: compaction keeps it small, a torn last line is skipped, overflow drops the oldest', (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'q.jsonl')
  const q = new PersistentQueue<{ n: number }>({ path, compactAfter: 50 })
  for (let i = 0; i < 300; i++) q.done(q.push({ n: i }))
  const kept = [q.push({ n: 1000 }), q.push({ n: 1001 })]
  q.close()
  t.true(q.counters.compactions >= 6)
  t.true(statSync(path).size < 2000, `${statSync(path).size} bytes`)
  appendFileSync(path, '{"a":5000,"r":{"n"')
  const reopened = new PersistentQueue<{ n: number }>({ path })
  t.deepEqual(reopened.pending(), [{ seq: kept[0]!, record: { n: 1000 } }, { seq: kept[1]!, record: { n: 1001 } }])
  t.is(reopened.counters.skippedLines, 1)
  t.is(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 2, 'opening rewrote the file without the torn line')
  t.true(reopened.push({ n: 1002 }) > kept[1]!, 'sequence numbers continue')
  reopened.close()
  const small = new PersistentQueue<number>({ maxRecords: 3 })
  for (let i = 0; i < 5; i++) small.push(i)
  t.deepEqual(small.pending().map((e) => e.record), [2, 3, 4])
  t.is(small.counters.dropped, 2)
})
