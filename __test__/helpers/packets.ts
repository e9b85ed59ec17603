/** IPv4 and UDP headers for test packets, with real checksums. */

function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!
  if (data.length % 2) sum += data[data.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

export function ipv4(src: string, dst: string, protocol: number, payload: Buffer, id = 1): Buffer {
  const h = Buffer.alloc(20)
  h[0] = 0x45
  h.writeUInt16BE(20 + payload.length, 2)
  h.writeUInt16BE(id & 0xffff, 4)
  h[8] = 64
  h[9] = protocol
  Buffer.from(src.split('.').map(Number)).copy(h, 12)
  Buffer.from(dst.split('.').map(Number)).copy(h, 16)
  h.writeUInt16BE(~onesComplementSum(h) & 0xffff, 10)
  return Buffer.concat([h, payload])
}

/** A UDP datagram; checksum computed over the IPv4 pseudo-header unless `zeroChecksum`. */
export function udp(src: string, dst: string, sport: number, dport: number, payload: Buffer, zeroChecksum = false): Buffer {
  const u = Buffer.alloc(8)
  u.writeUInt16BE(sport, 0)
  u.writeUInt16BE(dport, 2)
  u.writeUInt16BE(8 + payload.length, 4)
  const datagram = Buffer.concat([u, payload])
  if (!zeroChecksum) {
    const pseudo = Buffer.alloc(12)
    Buffer.from(src.split('.').map(Number)).copy(pseudo, 0)
    Buffer.from(dst.split('.').map(Number)).copy(pseudo, 4)
    pseudo[9] = 17
    pseudo.writeUInt16BE(datagram.length, 10)
    const sum = onesComplementSum(datagram, onesComplementSum(pseudo))
    datagram.writeUInt16BE(~sum & 0xffff || 0xffff, 6)
  }
  return datagram
}

/** Strips Ethernet (if any) and IPv4; returns protocol, addresses and the IP payload. */
export function parseIpv4(frame: Buffer, linkType: number): { protocol: number; src: string; dst: string; payload: Buffer } | undefined {
  let ip = frame
  if (linkType === 1) {
    if (frame.readUInt16BE(12) !== 0x0800) return undefined
    ip = frame.subarray(14)
  } else if (linkType !== 101) {
    return undefined
  }
  if (ip[0]! >> 4 !== 4) return undefined
  const ihl = (ip[0]! & 0x0f) * 4
  const total = ip.readUInt16BE(2)
  return {
    protocol: ip[9]!,
    src: [...ip.subarray(12, 16)].join('.'),
    dst: [...ip.subarray(16, 20)].join('.'),
    payload: ip.subarray(ihl, total),
  }
}

/**
 * An L2TPv2 control message (RFC 2661 section 3.1): a HELLO with the T, L
 * and S bits set, for payloads that tshark must recognise as L2TP.
 */
export function l2tpHello(tunnelId: number, ns: number): Buffer {
  const avp = Buffer.from([0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06]) // Message Type = HELLO (6)
  const h = Buffer.alloc(12)
  h.writeUInt16BE(0xc802, 0)
  h.writeUInt16BE(12 + avp.length, 2)
  h.writeUInt16BE(tunnelId, 4)
  h.writeUInt16BE(0, 6)
  h.writeUInt16BE(ns, 8)
  h.writeUInt16BE(0, 10)
  return Buffer.concat([h, avp])
}
