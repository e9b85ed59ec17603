// The logger (lib/log): JSON lines, pretty text for terminals, redaction of
// secrets (the secret string must not appear anywhere in the output), the
// key fingerprint, and synchronous writes.
import test from 'ava'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger, fingerprint, silentLogger, type LoggerOptions } from '../lib/log/index.js'

class Capture extends Writable {
  text = ''
  constructor(readonly isTTY = false) {
    super()
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString()
    callback()
  }
  lines(): Array<Record<string, unknown>> {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

function logTo(format: LoggerOptions['format'], destination = new Capture(), level = 'info') {
  return { log: createLogger({ level, format, destination }), destination }
}

const SECRETS = ['psk-hunter2', 'pw-correct-horse', 'enc-0123abcd', 'integ-4567ef', 'nt-hash-89ab', 'key-material-cdef', 'secret-xyz', 'child-psk']

function logSecrets(log: ReturnType<typeof createLogger>): void {
  log.info({ psk: 'psk-hunter2', user: { name: 'alice', password: 'pw-correct-horse' } }, 'login')
  log.info({ sa: { spi: 0x1234, encryptionKey: Buffer.from('enc-0123abcd'), integrityKey: 'integ-4567ef' } }, 'sa up')
  log.info({ auth: { ntHash: 'nt-hash-89ab', secret: 'secret-xyz' }, ike: { key: 'key-material-cdef' } }, 'keys')
  log.child({ tunnel: { psk: 'child-psk' } }).info('from a child')
}

test('JSON lines carry level, message and fields; levels below the threshold are dropped', (t) => {
  const { log, destination } = logTo('json')
  log.debug('hidden')
  log.info({ session: 7, user: 'alice' }, 'session up')
  log.warn('careful')
  const lines = destination.lines()
  t.is(lines.length, 2)
  t.like(lines[0], { level: 30, msg: 'session up', session: 7, user: 'alice' })
  t.like(lines[1], { level: 40, msg: 'careful' })
})

test('secrets are redacted, top level and one level down, in the logger and its children', (t) => {
  const { log, destination } = logTo('json')
  logSecrets(log)
  for (const secret of SECRETS) t.false(destination.text.includes(secret), secret)
  const [login, sa, keys, child] = destination.lines()
  t.like(login, { psk: '[redacted]', user: { name: 'alice', password: '[redacted]' } })
  t.like(sa, { sa: { spi: 0x1234, encryptionKey: '[redacted]', integrityKey: '[redacted]' } })
  t.like(keys, { auth: { ntHash: '[redacted]', secret: '[redacted]' }, ike: { key: '[redacted]' } })
  t.like(child, { msg: 'from a child', tunnel: { psk: '[redacted]' } })
})

test('pretty mode writes human text, redacted too', (t) => {
  const { log, destination } = logTo('pretty')
  log.info({ session: 7 }, 'session up')
  logSecrets(log)
  t.regex(destination.text, /INFO.*session up/)
  t.throws(() => JSON.parse(destination.text.split('\n')[0]!))
  // Not a terminal: no colour escapes.
  t.false(destination.text.includes('\u001b['))
  for (const secret of SECRETS) t.false(destination.text.includes(secret), secret)
})

test('auto: pretty for a terminal, JSON lines otherwise', (t) => {
  const pipe = logTo('auto', new Capture(false))
  pipe.log.info('hello')
  t.like(pipe.destination.lines()[0], { msg: 'hello' })
  const terminal = logTo('auto', new Capture(true))
  terminal.log.info('hello')
  t.regex(terminal.destination.text, /INFO.*hello/)
  t.throws(() => JSON.parse(terminal.destination.text))
})

test('a file descriptor destination is written before the call returns', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'l2tp-log-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const format of ['json', 'pretty'] as const) {
    const file = join(dir, `${format}.log`)
    const fd = openSync(file, 'w')
    createLogger({ level: 'info', format, destination: fd }).error({ reason: 'config' }, 'stopping')
    // No flush, no tick: what a process.exit() right after would leave behind.
    t.regex(readFileSync(file, 'utf8'), /stopping/, format)
    closeSync(fd)
  }
})

test('fingerprint: sha256: and 8 bytes of hex, same for string and Buffer, never the secret', (t) => {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2).
  t.is(fingerprint('abc'), 'sha256:ba7816bf8f01cfea')
  t.is(fingerprint(Buffer.from('abc')), 'sha256:ba7816bf8f01cfea')
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  t.regex(fingerprint(key), /^sha256:[0-9a-f]{16}$/)
  t.false(fingerprint(key).includes(key.toString('hex').slice(0, 8)))
  t.false(fingerprint('psk-hunter2').includes('hunter2'))
  t.not(fingerprint('psk-hunter2'), fingerprint('psk-hunter3'))
})

test('silentLogger logs nothing and takes children', (t) => {
  const log = silentLogger()
  t.is(log.level, 'silent')
  t.false(log.isLevelEnabled('fatal'))
  t.notThrows(() => log.child({ session: 1 }).error('nothing'))
})
