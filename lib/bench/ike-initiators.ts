/**
 * The initiator side of the IKE benchmark, run in its own process (forked
 * by ike-bench.ts): keeps `concurrency` Main Mode + Quick Mode exchanges in
 * flight against the parent's responder. Datagrams go over one UDP socket
 * pair on loopback, as they would reach a server (framed with the
 * initiator's index and the logical ports, see ike-bench.ts); control
 * (start, stop, failures) over IPC.
 */
import dgram from 'node:dgram'
import { IkeEndpoint } from '../ike/endpoint.js'
import { reusedKeyPair } from '../ike/reused-key-pair.js'
import type { ProposalPolicy } from '../ike/policy.js'
import type { IkeEvent, Path, Transmit } from '../ike/types.js'
import { BENCH_CLIENT_ADDRESS, BENCH_SERVER_ADDRESS, frameDatagram, unframeDatagram } from './ike-wire.js'

interface Start {
  cmd: 'start'
  policy: ProposalPolicy
  psk: string
  concurrency: number
  /** The responder's UDP port on 127.0.0.1. */
  port: number
}

const SERVER = { address: BENCH_SERVER_ADDRESS, port: 500 }
const clientPath = (index: number): Path => ({ peer: SERVER, local: { address: BENCH_CLIENT_ADDRESS, port: 10000 + index } })

const socket = dgram.createSocket('udp4')
socket.on('error', () => {})
let endpoints: IkeEndpoint[] = []
let started = 0
let running = true

function flush(index: number): void {
  const e = endpoints[index]!
  for (let t: Transmit | undefined = e.pollTransmit(); t; t = e.pollTransmit()) {
    socket.send(frameDatagram(index, t.fromPort, t.to.port, t.data))
  }
  for (let ev: IkeEvent | undefined = e.pollEvent(); ev; ev = e.pollEvent()) {
    if (ev.type === 'child-sa-up' || ev.type === 'negotiation-failure' || ev.type === 'auth-failure') {
      if (ev.type !== 'child-sa-up') process.send!({ cmd: 'failure', event: ev })
      else e.close(ev.ikeSa, 0, 'benchmark', { notify: false })
      if (running) begin(index)
    }
  }
}

function begin(index: number): void {
  started++
  endpoints[index]!.connect(clientPath(index), started)
  flush(index)
}

socket.on('message', (message: Buffer) => {
  const d = unframeDatagram(message)
  const e = endpoints[d.index]
  if (!e) return
  e.handle(d.data, { peer: { address: SERVER.address, port: d.fromPort }, local: { address: BENCH_CLIENT_ADDRESS, port: d.toPort } }, 0)
  flush(d.index)
})

process.on('message', (m: Start | { cmd: 'stop' }) => {
  if (m.cmd === 'start') {
    endpoints = Array.from(
      { length: m.concurrency },
      () => new IkeEndpoint({ policy: m.policy, psk: Buffer.from(m.psk), forceEncapsulation: false }, { initiatorKeyPair: reusedKeyPair }),
    )
    // Connected: a send names no address, so no lookup per datagram.
    socket.connect(m.port, '127.0.0.1', () => {
      for (let i = 0; i < m.concurrency; i++) begin(i)
    })
  } else if (m.cmd === 'stop') {
    running = false
    process.exit(0)
  }
})

socket.bind(0, '127.0.0.1', () => process.send!({ cmd: 'ready', port: socket.address().port }))
