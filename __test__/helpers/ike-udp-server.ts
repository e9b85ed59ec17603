/**
 * A tiny UDP front for the sans-IO IkeEndpoint, for interop tests against
 * real tools: two sockets on 127.0.0.1 (IKE and NAT-T, both ephemeral
 * ports), datagrams in -> endpoint.handle -> pollTransmit out. On the NAT-T
 * socket ISAKMP travels behind the 4-byte non-ESP marker (RFC 3948 2.2):
 * stripped on the way in, prepended on the way out.
 */
import { createSocket, type Socket } from 'node:dgram'
import type { AddressInfo } from 'node:net'
import { IkeEndpoint } from '../../lib/ike/endpoint.js'
import type { IkeConfig, IkeEvent } from '../../lib/ike/types.js'

const LOOPBACK = '127.0.0.1'
const NON_ESP_MARKER = Buffer.alloc(4)

export interface WireRecord {
  direction: 'in' | 'out'
  /** Our port the datagram arrived on or left from. */
  localPort: number
  peer: { address: string; port: number }
  /** The ISAKMP message, without the non-ESP marker. */
  data: Buffer
}

export interface IkeUdpServer {
  endpoint: IkeEndpoint
  ikePort: number
  nattPort: number
  events: IkeEvent[]
  wire: WireRecord[]
  /** Transmits the endpoint asked for from a port we do not own (should stay empty). */
  strayTransmits: number[]
  /** Socket errors (an unhandled one would take the test process down). */
  errors: Error[]
  close: () => Promise<void>
}

function bind(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4')
    socket.once('error', reject)
    socket.bind(0, LOOPBACK, () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}

/** Starts the endpoint made from `config` (its ports filled in) behind two loopback sockets. */
export async function startIkeUdpServer(config: Omit<IkeConfig, 'ikePort' | 'nattPort'>): Promise<IkeUdpServer> {
  const ike = await bind()
  let natt: Socket
  try {
    natt = await bind()
  } catch (e) {
    ike.close()
    throw e
  }
  const ikePort = (ike.address() as AddressInfo).port
  const nattPort = (natt.address() as AddressInfo).port
  const endpoint = new IkeEndpoint({ ...config, ikePort, nattPort })
  const server: IkeUdpServer = { endpoint, ikePort, nattPort, events: [], wire: [], strayTransmits: [], errors: [], close: async () => {} }
  const now = () => performance.now() / 1000

  const flush = () => {
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) {
      const socket = t.fromPort === nattPort ? natt : t.fromPort === ikePort ? ike : undefined
      if (!socket) {
        server.strayTransmits.push(t.fromPort)
        continue
      }
      server.wire.push({ direction: 'out', localPort: t.fromPort, peer: { ...t.to }, data: t.data })
      socket.send(socket === natt ? Buffer.concat([NON_ESP_MARKER, t.data]) : t.data, t.to.port, t.to.address)
    }
    for (let e = endpoint.pollEvent(); e; e = endpoint.pollEvent()) server.events.push(e)
  }

  const receive = (localPort: number, marker: boolean) => (msg: Buffer, rinfo: { address: string; port: number }) => {
    let data = msg
    if (marker) {
      // A NAT-T keepalive (one 0xff byte) or ESP (non-zero SPI) is not for IKE.
      if (msg.length < 4 || !msg.subarray(0, 4).equals(NON_ESP_MARKER)) return
      data = msg.subarray(4)
    }
    const peer = { address: rinfo.address, port: rinfo.port }
    server.wire.push({ direction: 'in', localPort, peer, data })
    endpoint.handle(data, { peer, local: { address: LOOPBACK, port: localPort } }, now())
    flush()
  }
  for (const socket of [ike, natt]) socket.on('error', (e) => server.errors.push(e))
  ike.on('message', receive(ikePort, false))
  natt.on('message', receive(nattPort, true))

  const timer = setInterval(() => {
    endpoint.handleTimeout(now())
    flush()
  }, 250)
  timer.unref()

  let closed: Promise<void> | undefined
  server.close = () =>
    (closed ??= (async () => {
      clearInterval(timer)
      await Promise.all([ike, natt].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    })())
  return server
}
