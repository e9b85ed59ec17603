/**
 * The initiator side of the IKE benchmark, run in its own process (forked
 * by ike-bench.ts): keeps `concurrency` Main Mode + Quick Mode exchanges in
 * flight against the parent's responder, over IPC.
 */
import { IkeEndpoint } from '../ike/endpoint.js'
import type { ProposalPolicy } from '../ike/policy.js'
import type { Path, Transmit } from '../ike/types.js'

interface Start {
  cmd: 'start'
  policy: ProposalPolicy
  psk: string
  concurrency: number
}

interface Datagram {
  cmd: 'datagram'
  index: number
  data: Uint8Array
  fromPort: number
  toPort: number
}

const SERVER = { address: '192.0.2.1', port: 500 }
const clientPath = (index: number): Path => ({ peer: SERVER, local: { address: '198.51.100.2', port: 10000 + index } })

let endpoints: IkeEndpoint[] = []
let started = 0
let running = true

function flush(index: number): void {
  const e = endpoints[index]!
  for (let t: Transmit | undefined = e.pollTransmit(); t; t = e.pollTransmit()) {
    process.send!({ cmd: 'datagram', index, data: t.data, fromPort: t.fromPort, toPort: t.to.port })
  }
  for (let ev = e.pollEvent(); ev; ev = e.pollEvent()) {
    if (ev.type === 'child-sa-up' || ev.type === 'negotiation-failure' || ev.type === 'auth-failure') {
      if (ev.type !== 'child-sa-up') process.send!({ cmd: 'failure', event: ev })
      if (running) begin(index)
    }
  }
}

function begin(index: number): void {
  const e = endpoints[index]!
  started++
  e.connect(clientPath(index), started)
  flush(index)
}

process.on('message', (m: Start | Datagram | { cmd: 'stop' }) => {
  if (m.cmd === 'start') {
    endpoints = Array.from({ length: m.concurrency }, () => new IkeEndpoint({ policy: m.policy, psk: Buffer.from(m.psk), forceEncapsulation: false }))
    for (let i = 0; i < m.concurrency; i++) begin(i)
  } else if (m.cmd === 'datagram') {
    const e = endpoints[m.index]
    if (!e) return
    e.handle(Buffer.from(m.data), { peer: { address: SERVER.address, port: m.fromPort }, local: { address: '198.51.100.2', port: m.toPort } }, 0)
    flush(m.index)
  } else if (m.cmd === 'stop') {
    running = false
    process.exit(0)
  }
})
