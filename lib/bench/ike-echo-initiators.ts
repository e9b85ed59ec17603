/**
 * The initiator side of the IKE bench's I/O floor (ike-io-floor.ts), run
 * in its own process: the datagram pattern of a Main Mode + Quick Mode
 * exchange (the same sizes and framing as ike-initiators.ts sends, 5
 * requests of which the responder answers 4), `concurrency` exchanges in
 * flight, and no IKE at all. Byte 0 of each message is its step (0-4).
 */
import dgram from 'node:dgram'
import { frameDatagram, unframeDatagram } from './ike-wire.js'

interface Start {
  cmd: 'start'
  /** Request sizes of steps 0-4. */
  requests: number[]
  concurrency: number
  port: number
}

const socket = dgram.createSocket('udp4')
socket.on('error', () => {})
let requests: Buffer[] = []

function send(index: number, step: number): void {
  socket.send(frameDatagram(index, 500, 500, requests[step]!))
}

socket.on('message', (message: Buffer) => {
  const d = unframeDatagram(message)
  const step = d.data[0]! + 1
  send(d.index, step)
  // The last request has no answer: the next exchange starts behind it, as ike-initiators.ts does.
  if (step === requests.length - 1) send(d.index, 0)
})

process.on('message', (m: Start | { cmd: 'stop' }) => {
  if (m.cmd === 'start') {
    requests = m.requests.map((size, step) => Buffer.alloc(size, step))
    socket.connect(m.port, '127.0.0.1', () => {
      for (let i = 0; i < m.concurrency; i++) send(i, 0)
    })
  } else process.exit(0)
})

socket.bind(0, '127.0.0.1', () => process.send!({ cmd: 'ready', port: socket.address().port }))
