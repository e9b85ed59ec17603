// Sends COUNT small UDP datagrams to ADDRESS, to port PORT, or (SPREAD 1) to
// ports PORT, PORT+1, ... one each, as fast as the socket takes them.
// Usage: node udp-burst.mjs ADDRESS PORT COUNT SPREAD
import dgram from 'node:dgram'

const [address, port, count, spread] = process.argv.slice(2)
const socket = dgram.createSocket('udp4')
const payload = Buffer.from('burst')
let sent = 0
const total = Number(count)
const next = () => {
  if (sent === total) return socket.close()
  const to = spread === '1' ? Number(port) + sent : Number(port)
  sent++
  socket.send(payload, to, address, next)
}
socket.bind(0, next)
