// The audit log: hash-chained JSON lines that `l2tp-ipsec audit verify`
// checks; a flipped byte is found and its record named; rotation keeps
// one chain across files; a restart continues it.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuditLog, GENESIS, verifyAuditFiles } from '../lib/audit/index.js'

const CLI = ['--import', 'tsx', 'lib/cli/main.ts']
const cli = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60_000 })

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'l2tp-audit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function writeSome(file: string, n: number, options: { maxBytes?: number; keep?: number } = {}): AuditLog {
  const log = new AuditLog({ file, ...options, now: () => new Date('2026-01-02T03:04:05Z') })
  for (let i = 0; i < n; i++) log.append({ type: 'session-up', session: i, user: `user${i}`, address: `192.168.42.${10 + i}` })
  return log
}

test('records chain by hash: prev of each is the hash of the one before; the file is 0600', (t) => {
  const file = join(tempDir(t), 'audit.log')
  writeSome(file, 3).close()
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.deepEqual(lines.map((l) => l.seq), [1, 2, 3])
  t.is(lines[0]!.prev, GENESIS)
  t.is(lines[1]!.prev, lines[0]!.hash)
  t.is(lines[2]!.prev, lines[1]!.hash)
  t.is(lines[0]!.user, 'user0')
  t.is(statSync(file).mode & 0o777, 0o600)
  t.like(verifyAuditFiles([file]), { ok: true, records: 3 })
  const r = cli('audit', 'verify', file)
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /OK, 3 records/)
})

test('a flipped byte anywhere makes verify fail and name that record', (t) => {
  const file = join(tempDir(t), 'audit.log')
  writeSome(file, 5).close()
  const original = readFileSync(file)
  const lines = original.toString('utf8').split('\n')
  // Flip one bit in the user name of record 3, then in the hash field of record 5 (the last: no later record would notice).
  for (const [record, needle] of [[3, 'user2'], [5, '"hash":"']] as const) {
    const offset = lines.slice(0, record - 1).join('\n').length + 1 + lines[record - 1]!.indexOf(needle) + needle.length - 1 + (needle === 'user2' ? 0 : 1)
    const tampered = Buffer.from(original)
    tampered[offset] = tampered[offset]! ^ 0x01
    writeFileSync(file, tampered)
    const result = verifyAuditFiles([file])
    t.false(result.ok)
    if (!result.ok) {
      t.is(result.seq, record)
      t.is(result.line, record)
    }
    const r = cli('audit', 'verify', file)
    t.is(r.status, 1)
    t.regex(r.stderr, new RegExp(`FAILED at record seq ${record} \\(.*line ${record}\\)`))
  }
  // A removed record breaks the next one's prev.
  writeFileSync(file, lines.filter((_, i) => i !== 1).join('\n'))
  const removed = verifyAuditFiles([file])
  t.like(removed, { ok: false, seq: 3, line: 2 })
  t.regex(cli('audit', 'verify', file).stderr, /seq 3 .*prev does not match the hash of record 1/)
})

test('rotation keeps the chain across files; verify takes them oldest first', (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'audit.log')
  writeSome(file, 100, { maxBytes: 4096, keep: 3 }).close()
  const files = readdirSync(dir).sort()
  t.deepEqual(files, ['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3'])
  const first = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as Record<string, unknown>
  t.is(first.type, 'rotated')
  t.is(first.previousFile, 'audit.log.1')
  const ordered = ['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log'].map((f) => join(dir, f))
  const result = verifyAuditFiles(ordered)
  t.like(result, { ok: true, continuesEarlierFile: true }, 'the oldest kept file continues one that was deleted')
  const r = cli('audit', 'verify', ...ordered)
  t.is(r.status, 0, r.stderr)
  // Out of order, the chain is broken at the first record of the misplaced file.
  t.like(verifyAuditFiles([ordered[0]!, ordered[2]!]), { ok: false, line: 1 })
})

test('a restart continues the chain from the last record', (t) => {
  const file = join(tempDir(t), 'audit.log')
  writeSome(file, 2).close()
  const again = writeSome(file, 2)
  t.is(again.head.seq, 4)
  again.close()
  t.like(verifyAuditFiles([file]), { ok: true, records: 4, continuesEarlierFile: false })
})

test('verify: a missing file exits 2', (t) => {
  const r = cli('audit', 'verify', '/nonexistent/audit.log')
  t.is(r.status, 2)
  t.regex(r.stderr, /no such file/)
})
