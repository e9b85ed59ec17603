// Floods an IKE responder from inside a test namespace: COUNT copies of
// each TEMPLATE datagram per SOURCE address, each with a fresh random
// initiator cookie (so each is a new exchange), as fast as the sockets go.
// Usage: node ike-flood.mjs ADDRESS PORT COUNT SOURCES(comma-separated) HEX...
// Prints the number of datagrams sent.
import dgram from 'node:dgram'
import { randomBytes } from 'node:crypto'

const [address, port, count, sources, ...templates] = process.argv.slice(2)
const packets = templates.map((h) => Buffer.from(h, 'hex'))
let sent = 0
await Promise.all(
  sources.split(',').map(
    (source) =>
      new Promise((resolve, reject) => {
        const socket = dgram.createSocket('udp4')
        socket.on('error', reject)
        socket.bind(0, source, async () => {
          for (let i = 0; i < Number(count); i++) {
            for (const template of packets) {
              const p = Buffer.from(template)
              randomBytes(8).copy(p, 0)
              await new Promise((done) => socket.send(p, Number(port), address, () => done()))
              sent++
            }
          }
          socket.close(resolve)
        })
      }),
  ),
)
console.log(sent)
