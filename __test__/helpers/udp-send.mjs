// Sends each HEX argument as one UDP datagram to ADDRESS:PORT from SOURCE_PORT
// (0: any). Usage: node udp-send.mjs ADDRESS PORT SOURCE_PORT HEX...
import dgram from 'node:dgram'

const [address, port, sourcePort, ...payloads] = process.argv.slice(2)
const socket = dgram.createSocket('udp4')
socket.bind(Number(sourcePort), async () => {
  for (const hex of payloads) {
    await new Promise((resolve, reject) => socket.send(Buffer.from(hex, 'hex'), Number(port), address, (e) => (e ? reject(e) : resolve())))
  }
  socket.close()
})
