import test from 'ava'
import crypto from 'node:crypto'
import { EspSa, ESP_STATUS, espSuiteInfo, espSuites, packBatch, unpackBatch } from '../lib/index.js'

function keysFor(suite: string) {
  const info = espSuiteInfo(suite)
  return {
    encryptionKey: crypto.randomBytes(info.encryptionKeyLength),
    integrityKey: crypto.randomBytes(info.integrityKeyLength),
  }
}

function pair(suite: string, replayWindow?: number) {
  const keys = keysFor(suite)
  const options = { spi: 0xc0ffee01, suite, ...keys, replayWindow }
  return { tx: new EspSa(options), rx: new EspSa(options) }
}

test('every suite seals and opens a batch of many sizes through the binding', (t) => {
  t.true(espSuites().length >= 26)
  for (const suite of espSuites()) {
    const { tx, rx } = pair(suite)
    const payloads = [0, 1, 15, 16, 17, 64, 512, 1400, 1500].map((n) => crypto.randomBytes(n))
    const batch = packBatch(payloads)
    const sealed = tx.seal(batch.data, batch.offsets, 17)
    const packets = unpackBatch(sealed)
    t.is(packets.length, payloads.length)
    packets.forEach((p, i) => t.is(p.length, tx.sealedLength(payloads[i]!.length)))
    const opened = rx.open(sealed.data, sealed.offsets)
    t.deepEqual([...opened.status], payloads.map(() => 0), suite)
    t.deepEqual([...opened.nextHeaders], payloads.map(() => 17))
    t.deepEqual(unpackBatch(opened), payloads, suite)
    const stats = rx.stats()
    t.is(stats.packetsIn, payloads.length)
    t.is(stats.bytesIn, payloads.reduce((n, p) => n + p.length, 0))
    t.is(tx.stats().packetsOut, payloads.length)
    t.is(tx.stats().lastSeqOut, payloads.length)
  }
})

test('bad packets in a batch are dropped, counted, and reported by status', (t) => {
  const { tx, rx } = pair('aes256-sha256')
  const plain = packBatch([Buffer.from('a'), Buffer.from('b')])
  const good = unpackBatch(tx.seal(plain.data, plain.offsets, 4))
  const tampered = Buffer.from(good[1]!)
  tampered[tampered.length - 1]! ^= 1
  const batch = packBatch([good[0]!, good[0]!, tampered, good[0]!.subarray(0, 20), good[1]!])
  const opened = rx.open(batch.data, batch.offsets)
  t.deepEqual([...opened.status].map((s) => ESP_STATUS[s]), ['OK', 'ESP_REPLAY', 'ESP_ICV_MISMATCH', 'ESP_TRUNCATED', 'OK'])
  t.deepEqual(unpackBatch(opened).map((p) => p.toString()), ['a', '', '', '', 'b'])
  const stats = rx.stats()
  t.is(stats.packetsIn, 2)
  t.is(stats.replays, 1)
  t.is(stats.icvFailures, 1)
  t.is(stats.malformed, 1)
})

test('sealInto writes into caller buffers and refuses ones too small', (t) => {
  const { tx, rx } = pair('aes128gcm-16')
  const batch = packBatch([Buffer.alloc(100, 1), Buffer.alloc(200, 2)])
  const need = tx.sealedLength(100) + tx.sealedLength(200)
  const err = t.throws(() => tx.sealInto(batch.data, batch.offsets, 17, Buffer.alloc(need - 1), new Uint32Array(3)))
  t.is((err as Error & { code: string }).code, 'ERR_ESP_BUFFER_TOO_SMALL')
  t.is(tx.stats().packetsOut, 0, 'nothing sealed when the buffer is too small')
  const out = Buffer.alloc(need + 10)
  const outOffsets = new Uint32Array(3)
  t.is(tx.sealInto(batch.data, batch.offsets, 17, out, outOffsets), need)
  const opened = rx.open(out, outOffsets)
  t.deepEqual(unpackBatch(opened), [Buffer.alloc(100, 1), Buffer.alloc(200, 2)])
})

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return (e as { code?: string }).code
  }
  return undefined
}

test('bad input from JS throws errors with stable codes and the process lives on', (t) => {
  const encryptionKey = Buffer.alloc(16)
  const integrityKey = Buffer.alloc(20)
  t.is(code(() => new EspSa({ spi: 1, suite: 'aes128-sha3', encryptionKey, integrityKey })), 'ERR_ESP_UNKNOWN_SUITE')
  t.is(code(() => new EspSa({ spi: 1, suite: 'aes256-sha1', encryptionKey, integrityKey })), 'ERR_ESP_KEY_LENGTH')
  t.is(code(() => new EspSa({ spi: 1, suite: 'aes128-sha1', encryptionKey, integrityKey: Buffer.alloc(19) })), 'ERR_ESP_KEY_LENGTH')
  t.is(code(() => new EspSa({ spi: 1, suite: 'aes128-sha1', encryptionKey, integrityKey, replayWindow: 100 })), 'ERR_ESP_REPLAY_WINDOW')
  t.is(code(() => espSuiteInfo('rot13')), 'ERR_ESP_UNKNOWN_SUITE')
  const err = t.throws(() => new EspSa({ spi: 1, suite: 'aes256-sha1', encryptionKey, integrityKey }))
  t.is(err?.message, 'encryption key must be 32 bytes, got 16')
  const sa = new EspSa({ spi: 1, suite: 'aes128-sha1', encryptionKey, integrityKey })
  t.is(code(() => sa.seal(Buffer.alloc(10), new Uint32Array([0, 11]), 17)), 'ERR_ESP_BATCH')
  t.is(code(() => sa.seal(Buffer.alloc(10), new Uint32Array([5, 2]), 17)), 'ERR_ESP_BATCH')
  t.is(code(() => sa.open(Buffer.alloc(10), new Uint32Array([]))), 'ERR_ESP_BATCH')
  sa.destroy()
  t.is(code(() => sa.seal(Buffer.alloc(1), new Uint32Array([0, 1]), 17)), 'ERR_ESP_SA_DESTROYED')
  t.is(code(() => sa.stats()), 'ERR_ESP_SA_DESTROYED')
})

test('suite info matches what the packets look like', (t) => {
  const info = espSuiteInfo('3des-sha256_96')
  t.deepEqual(info, {
    name: '3des-sha256_96',
    aead: false,
    encryptionKeyLength: 24,
    integrityKeyLength: 32,
    ivLength: 8,
    blockLength: 8,
    icvLength: 12,
  })
  const { tx } = pair('3des-sha256_96')
  // 8 header + 8 IV + (6 + 2 -> 8) + 12 ICV
  t.is(tx.sealedLength(6), 36)
})

test('openInPlace decrypts where the packets lie and reports each one', (t) => {
  const { tx, rx } = pair('aes256-sha1')
  const plain = packBatch([Buffer.from('first'), Buffer.from('second')])
  const sealed = tx.seal(plain.data, plain.offsets, 17)
  const tampered = Buffer.from(sealed.data)
  const batch = packBatch([...unpackBatch({ data: tampered, offsets: sealed.offsets }), Buffer.alloc(3)])
  batch.data[batch.offsets[1]! + 20]! ^= 1
  const payloads = new Uint32Array(6)
  const nextHeaders = new Uint8Array(3)
  const status = new Uint8Array(3)
  t.is(rx.openInPlace(batch.data, batch.offsets, payloads, nextHeaders, status), 1)
  t.deepEqual([...status].map((s) => ESP_STATUS[s]), ['OK', 'ESP_ICV_MISMATCH', 'ESP_TRUNCATED'])
  t.is(batch.data.subarray(payloads[0], payloads[1]).toString(), 'first')
  t.is(payloads[2], payloads[3])
  t.deepEqual([...nextHeaders], [17, 0, 0])
  const err = t.throws(() => rx.openInPlace(batch.data, batch.offsets, new Uint32Array(5), nextHeaders, status))
  t.is((err as Error & { code: string }).code, 'ERR_ESP_BUFFER_TOO_SMALL')
})
