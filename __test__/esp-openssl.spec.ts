// Our ESP against OpenSSL (node:crypto): packets sealed by either open in the other.
import test from 'ava'
import crypto from 'node:crypto'
import { EspSa, ESP_STATUS, espSuiteInfo, espSuites, packBatch, unpackBatch } from '../lib/index.js'
import { opensslOpen, opensslSeal } from './helpers/esp-oracle.js'

const SIZES = [0, 1, 2, 13, 14, 15, 16, 31, 64, 100, 511, 512, 1024, 1400, 1499, 1500]

function setup(suite: string) {
  const info = espSuiteInfo(suite)
  const keys = {
    encryptionKey: crypto.randomBytes(info.encryptionKeyLength),
    integrityKey: crypto.randomBytes(info.integrityKeyLength),
  }
  const sa = new EspSa({ spi: 0x0badcafe, suite, ...keys })
  return { keys, sa }
}

for (const suite of espSuites()) {
  test(`${suite}: OpenSSL-sealed packets open in ours`, (t) => {
    const { keys, sa } = setup(suite)
    const payloads = SIZES.map((n) => crypto.randomBytes(n))
    const packets = payloads.map((p, i) => opensslSeal(suite, keys, 0x0badcafe, i + 1, p, i % 2 ? 4 : 17))
    const batch = packBatch(packets)
    const opened = sa.open(batch.data, batch.offsets)
    t.deepEqual([...opened.status].map((s) => ESP_STATUS[s]), payloads.map(() => 'OK'))
    t.deepEqual(unpackBatch(opened), payloads)
    t.deepEqual([...opened.nextHeaders], payloads.map((_, i) => (i % 2 ? 4 : 17)))
  })

  test(`${suite}: our packets open in OpenSSL`, (t) => {
    const { keys, sa } = setup(suite)
    const payloads = SIZES.map((n) => crypto.randomBytes(n))
    const batch = packBatch(payloads)
    const sealed = unpackBatch(sa.seal(batch.data, batch.offsets, 17))
    sealed.forEach((packet, i) => {
      const opened = opensslOpen(suite, keys, packet)
      t.is(opened.spi, 0x0badcafe)
      t.is(opened.seq, i + 1)
      t.is(opened.nextHeader, 17)
      t.deepEqual(opened.payload, payloads[i])
    })
  })

  test(`${suite}: authentic packets with bad padding are dropped as ESP_BAD_PADDING`, (t) => {
    const { keys, sa } = setup(suite)
    const payload = Buffer.from('payload')
    const wrongBytes = opensslSeal(suite, keys, 0x0badcafe, 1, payload, 17, { padByte: (i) => i + 2, extraPadBlocks: 1 })
    const tooLong = opensslSeal(suite, keys, 0x0badcafe, 2, payload, 17, { padLengthField: 255 })
    const batch = packBatch([wrongBytes, tooLong])
    const opened = sa.open(batch.data, batch.offsets)
    t.deepEqual([...opened.status].map((s) => ESP_STATUS[s]), ['ESP_BAD_PADDING', 'ESP_BAD_PADDING'])
    t.is(sa.stats().malformed, 2)
    t.is(sa.stats().packetsIn, 0)
  })
}
