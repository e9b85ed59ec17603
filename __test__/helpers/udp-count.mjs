// Counts UDP datagrams arriving at ADDRESS:PORT for SECONDS, then prints the
// count and exits. Prints "listening" once bound.
// Usage: node udp-count.mjs ADDRESS PORT SECONDS
import dgram from 'node:dgram'

const [address, port, seconds] = process.argv.slice(2)
const socket = dgram.createSocket('udp4')
let count = 0
socket.on('message', () => count++)
socket.bind(Number(port), address, () => console.log('listening'))
setTimeout(() => {
  console.log(String(count))
  socket.close()
}, Number(seconds) * 1000)
