/**
 * (Soak benchmark helper, run inside the server's namespace.) Echoes UDP
 * datagrams on PORT of each soak target address, from that address, so the
 * reply goes back through the tunnel of the session that sent it.
 * Usage: node --import tsx soak-echo.ts COUNT PORT; prints "ready".
 */
import dgram from 'node:dgram'
import { soakTarget } from './soak-plan.js'

const [count, port] = process.argv.slice(2).map(Number)
let bound = 0
for (let i = 0; i < count!; i++) {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (msg, from) => socket.send(msg, from.port, from.address))
  socket.on('error', (e) => console.error(`echo ${soakTarget(i)}: ${e.message}`))
  socket.bind(port!, soakTarget(i), () => {
    if (++bound === count) console.log('ready')
  })
}
