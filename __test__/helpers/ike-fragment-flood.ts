// Floods an IKE responder with IKE fragments (the FRAGMENTATION vendor-ID
// scheme, lib/ike/fragments.ts) from inside a test namespace: MESSAGES
// messages, each under a fresh random initiator cookie, of which only the
// first FRAGMENTS fragments are sent (none flagged last), each carrying
// DATA bytes. Each send waits for the previous one, and each message for
// a millisecond (the server's socket buffer holds only a few of these).
// Usage: node --import tsx ike-fragment-flood.ts ADDRESS PORT MESSAGES FRAGMENTS DATA SOURCE
// Prints the number of datagrams sent.
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { FRAGMENT_OVERHEAD, fragmentMessage } from '../../lib/ike/fragments.js'

const [address, port, messages, fragments, data, source] = process.argv.slice(2)
const perFragment = Number(data)
const count = Number(fragments)
// A Main Mode message (header: version 1.0, exchange 2, SA payload next) long enough for count + 1 fragments.
const whole = Buffer.alloc(28 + perFragment * (count + 1))
whole[16] = 1
whole[17] = 0x10
whole[18] = 2
whole.writeUInt32BE(whole.length, 24)
const template = fragmentMessage(whole, 1, perFragment + FRAGMENT_OVERHEAD).slice(0, count)
const socket = dgram.createSocket('udp4')
await new Promise<void>((resolve) => socket.bind(0, source, resolve))
let sent = 0
for (let m = 0; m < Number(messages); m++) {
  const cookie = randomBytes(8)
  for (const fragment of template) {
    cookie.copy(fragment, 0)
    await new Promise<void>((done, fail) => socket.send(fragment, Number(port), address, (err) => (err ? fail(err) : done())))
    sent++
  }
  await new Promise((r) => setTimeout(r, 1))
}
socket.close()
console.log(sent)
