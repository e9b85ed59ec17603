/**
 * Builds the IKE vector files of this folder from the recorded real sessions
 * in ../real/<session>/session.pcap. Run once, by hand, from the repo root:
 *
 *   node --import tsx __test__/vectors/ike/extract.ts
 *
 * Each UDP 500 datagram, and each UDP 4500 datagram that starts with the
 * 4-byte non-ESP marker (RFC 3948 2.2; the marker is stripped), is one IKE
 * message. ESP on 4500 and NAT-keepalives (one 0xff byte) are not IKE.
 * Beside each message's hex goes what tshark (run here, never at test time)
 * says about it: `tshark -T pdml` reduced to payload types and lengths, SA
 * proposals/transforms/attributes, vendor IDs and NAT-D hashes.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readCapture } from '../../helpers/pcap.js'
import { parseIpv4 } from '../../helpers/packets.js'

const here = join(import.meta.dirname, '.')
const realDir = join(here, '..', 'real')

interface PdmlNode {
  tag: string
  attrs: Record<string, string>
  children: PdmlNode[]
}

function unescapeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&')
}

/** A line-based PDML reader: tshark writes one element per line. */
function parsePdml(xml: string): PdmlNode[] {
  const root: PdmlNode = { tag: 'root', attrs: {}, children: [] }
  const stack: PdmlNode[] = [root]
  for (const line of xml.split('\n')) {
    const t = line.trim()
    const close = /^<\/(\w+)>$/.exec(t)
    if (close) {
      stack.pop()
      continue
    }
    const open = /^<(\w+)\s*(.*?)(\/?)>$/.exec(t)
    if (!open || t.startsWith('<?')) continue
    const attrs: Record<string, string> = {}
    for (const m of open[2]!.matchAll(/([\w.:-]+)="([^"]*)"/g)) attrs[m[1]!] = unescapeXml(m[2]!)
    const node: PdmlNode = { tag: open[1]!, attrs, children: [] }
    stack[stack.length - 1]!.children.push(node)
    if (open[3] !== '/') stack.push(node)
  }
  return root.children.find((c) => c.tag === 'pdml')?.children ?? []
}

const fields = (n: PdmlNode, name: string): PdmlNode[] => n.children.filter((c) => c.attrs.name === name)
const fieldOf = (n: PdmlNode, name: string): PdmlNode | undefined => fields(n, name)[0]
const show = (n: PdmlNode, name: string): string => fieldOf(n, name)?.attrs.show ?? ''
const num = (n: PdmlNode, name: string): number => Number(show(n, name))

function summarize(isakmp: PdmlNode): unknown {
  const payloads = fields(isakmp, 'isakmp.typepayload')
  const summary: Record<string, unknown> = {
    exchangeType: num(isakmp, 'isakmp.exchangetype'),
    exchangeTypeName: fieldOf(isakmp, 'isakmp.exchangetype')?.attrs.showname?.replace(/^Exchange type: /, ''),
    flags: Number(show(isakmp, 'isakmp.flags')),
    messageId: fieldOf(isakmp, 'isakmp.messageid')?.attrs.value,
    length: num(isakmp, 'isakmp.length'),
    encrypted: fieldOf(isakmp, 'isakmp.flags') ? show(fieldOf(isakmp, 'isakmp.flags')!, 'isakmp.flag_e') === '1' : false,
    payloads: payloads.map((p) => ({ type: Number(p.attrs.show), name: p.attrs.showname, length: num(p, 'isakmp.payloadlength') })),
  }
  const sa = payloads.find((p) => p.attrs.show === '1')
  if (sa) {
    summary.sa = {
      doi: num(sa, 'isakmp.sa.doi'),
      situation: fieldOf(sa, 'isakmp.sa.situation')?.attrs.value,
      proposals: fields(sa, 'isakmp.typepayload').map((prop) => ({
        number: num(prop, 'isakmp.prop.number'),
        protocol: num(prop, 'isakmp.prop.protoid'),
        spiSize: num(prop, 'isakmp.spisize'),
        transformCount: num(prop, 'isakmp.prop.transforms'),
        transforms: fields(prop, 'isakmp.typepayload').map((tr) => ({
          number: num(tr, 'isakmp.trans.number'),
          id: num(tr, 'isakmp.trans.id'),
          attributes: [...fields(tr, 'isakmp.ike.attr'), ...fields(tr, 'isakmp.ipsec.attr')].map((a) => ({
            type: Number(a.children.find((c) => c.attrs.name?.endsWith('.attr.type'))?.attrs.show),
            tv: a.children.find((c) => c.attrs.name?.endsWith('.attr.format'))?.attrs.show === '1',
            value: a.children.find((c) => c.attrs.name?.endsWith('.attr.value'))?.attrs.value,
            text: a.attrs.showname,
          })),
        })),
      })),
    }
  }
  summary.vendorIds = payloads
    .filter((p) => p.attrs.show === '13')
    .map((p) => ({ id: fieldOf(p, 'isakmp.vid_bytes')?.attrs.value, name: show(p, 'isakmp.vid_string') }))
  summary.natD = payloads.filter((p) => p.attrs.show === '20' || p.attrs.show === '130').map((p) => show(p, 'isakmp.ike.nat_hash').replace(/:/g, ''))
  const enc = fieldOf(isakmp, 'isakmp.enc.data')
  if (enc) summary.encryptedDataSize = Number(enc.attrs.size)
  return summary
}

const tsharkVersion = execFileSync('tshark', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]

for (const session of readdirSync(realDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
  const pcapPath = join(realDir, session, 'session.pcap')
  const frames = readCapture(readFileSync(pcapPath))
  const pdml = parsePdml(
    execFileSync('tshark', ['-r', pcapPath, '-T', 'pdml'], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }),
  )
  const info = execFileSync('tshark', ['-r', pcapPath, '-T', 'fields', '-e', 'frame.number', '-e', '_ws.col.Info'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
  if (pdml.length !== frames.length) throw new Error(`${session}: tshark sees ${pdml.length} frames, helpers ${frames.length}`)
  const messages: unknown[] = []
  const counts = { ike: 0, esp: 0, keepalive: 0 }
  frames.forEach((frame, i) => {
    const ip = parseIpv4(frame.data, frame.linkType)
    if (!ip || ip.protocol !== 17) return
    const sport = ip.payload.readUInt16BE(0)
    const dport = ip.payload.readUInt16BE(2)
    let message = ip.payload.subarray(8)
    let nonEspMarker = false
    if (sport === 4500 || dport === 4500) {
      if (message.length === 1 && message[0] === 0xff) {
        counts.keepalive++
        return
      }
      if (message.length < 4 || message.readUInt32BE(0) !== 0) {
        counts.esp++
        return
      }
      message = message.subarray(4)
      nonEspMarker = true
    } else if (sport !== 500 && dport !== 500) {
      return
    }
    counts.ike++
    const isakmp = pdml[i]!.children.find((c) => c.tag === 'proto' && c.attrs.name === 'isakmp')
    if (!isakmp) throw new Error(`${session} frame ${i + 1}: tshark found no ISAKMP`)
    messages.push({
      frame: i + 1,
      from: dport === 500 || dport === 4500 ? 'client' : 'server',
      udp: `${sport}->${dport}`,
      nonEspMarker,
      info: info[i]?.[1],
      hex: message.toString('hex'),
      tshark: summarize(isakmp),
    })
  })
  const out = {
    source: `__test__/vectors/real/${session}/session.pcap (see ../real/README.md and PROVENANCE.md)`,
    extractedBy: '__test__/vectors/ike/extract.ts',
    tshark: tsharkVersion,
    note: 'hex is the IKE message as sent (UDP 4500 non-ESP marker removed); frame numbers are tshark\'s; "from" is client (initiator, behind NAT) or server (responder on 500/4500)',
    counts: { frames: frames.length, ...counts },
    messages,
  }
  writeFileSync(join(here, `${session}.json`), JSON.stringify(out, null, 2) + '\n')
  console.log(session, out.counts)
}
