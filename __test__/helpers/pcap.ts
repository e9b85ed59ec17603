/** Minimal pcap / pcapng reading and pcap writing for test captures. */

export interface Frame {
  linkType: number
  data: Buffer
}

/** LINKTYPE_RAW: frames are bare IPv4/IPv6 packets. */
export const LINKTYPE_RAW = 101
export const LINKTYPE_ETHERNET = 1

export function readCapture(file: Buffer): Frame[] {
  const magic = file.readUInt32LE(0)
  if (magic === 0x0a0d0d0a) return readPcapng(file)
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    const linkType = file.readUInt32LE(20)
    const frames: Frame[] = []
    for (let at = 24; at + 16 <= file.length; ) {
      const caplen = file.readUInt32LE(at + 8)
      frames.push({ linkType, data: file.subarray(at + 16, at + 16 + caplen) })
      at += 16 + caplen
    }
    return frames
  }
  throw new Error(`not a little-endian pcap or pcapng file (magic ${magic.toString(16)})`)
}

function readPcapng(file: Buffer): Frame[] {
  const linkTypes: number[] = []
  const frames: Frame[] = []
  for (let at = 0; at + 12 <= file.length; ) {
    const type = file.readUInt32LE(at)
    const length = file.readUInt32LE(at + 4)
    if (type === 1) linkTypes.push(file.readUInt16LE(at + 8))
    if (type === 6) {
      const iface = file.readUInt32LE(at + 8)
      const caplen = file.readUInt32LE(at + 20)
      frames.push({ linkType: linkTypes[iface] ?? -1, data: file.subarray(at + 28, at + 28 + caplen) })
    }
    at += length
  }
  return frames
}

/** A classic pcap file of raw IP frames, microsecond timestamps. */
export function writePcap(packets: readonly Buffer[], linkType = LINKTYPE_RAW): Buffer {
  const header = Buffer.alloc(24)
  header.writeUInt32LE(0xa1b2c3d4, 0)
  header.writeUInt16LE(2, 4)
  header.writeUInt16LE(4, 6)
  header.writeUInt32LE(65535, 16)
  header.writeUInt32LE(linkType, 20)
  const records = packets.map((p, i) => {
    const r = Buffer.alloc(16)
    r.writeUInt32LE(1_800_000_000 + i, 0)
    r.writeUInt32LE(p.length, 8)
    r.writeUInt32LE(p.length, 12)
    return Buffer.concat([r, p])
  })
  return Buffer.concat([header, ...records])
}
