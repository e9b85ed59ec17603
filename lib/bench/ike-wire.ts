/**
 * How the IKE benchmark's two processes frame datagrams on their loopback
 * UDP socket pair: 6 octets — the initiator's index, the logical source and
 * destination ports (500 or 4500, so NAT-T floating stays visible) — then
 * the IKE message. The responder sees each initiator as
 * BENCH_CLIENT_ADDRESS:10000+index, like a server seeing many clients.
 */
export const BENCH_SERVER_ADDRESS = '192.0.2.1'
export const BENCH_CLIENT_ADDRESS = '198.51.100.2'

export interface BenchDatagram {
  index: number
  fromPort: number
  toPort: number
  data: Buffer
}

export function frameDatagram(index: number, fromPort: number, toPort: number, data: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(6 + data.length)
  framed.writeUInt16BE(index, 0)
  framed.writeUInt16BE(fromPort, 2)
  framed.writeUInt16BE(toPort, 4)
  data.copy(framed, 6)
  return framed
}

export function unframeDatagram(message: Buffer): BenchDatagram {
  return { index: message.readUInt16BE(0), fromPort: message.readUInt16BE(2), toPort: message.readUInt16BE(4), data: message.subarray(6) }
}
