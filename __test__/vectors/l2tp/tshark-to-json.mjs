import { readFileSync } from 'node:fs'
const F = 'frame.number udp.srcport _ws.col.Info udp.payload l2tp.flags l2tp.tunnel l2tp.session l2tp.length l2tp.Ns l2tp.Nr l2tp.avp.mandatory l2tp.avp.hidden l2tp.avp.length l2tp.avp.vendor_id l2tp.avp.type l2tp.avp.message_type l2tp.avp.protocol_version l2tp.avp.protocol_revision l2tp.avp.async_framing_supported l2tp.avp.sync_framing_supported l2tp.avp.analog_access_supported l2tp.avp.digital_access_supported l2tp.avp.firmware_revision l2tp.avp.host_name l2tp.avp.vendor_name l2tp.avp.assigned_tunnel_id l2tp.avp.receive_window_size l2tp.avp.assigned_session_id l2tp.avp.call_serial_number l2tp.avp.analog_bearer_type l2tp.avp.digital_bearer_type l2tp.avp.async_framing_type l2tp.avp.sync_framing_type l2tp.avp.connect_speed l2tp.avp.rx_connect_speed _ws.expert.severity'.split(' ')
const perAvp = new Set(['l2tp.avp.mandatory', 'l2tp.avp.hidden', 'l2tp.avp.length', 'l2tp.avp.vendor_id', 'l2tp.avp.type'])
const out = []
for (const line of readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  const [session, ...cols] = line.split('|')
  const rec = { session }
  const tshark = {}
  F.forEach((f, i) => {
    const v = cols[i] ?? ''
    if (f === 'frame.number') rec.frame = Number(v)
    else if (f === 'udp.srcport') rec.direction = v.split(';')[0] === '4500' ? 'server->client' : 'client->server'
    else if (f === '_ws.col.Info') rec.info = v.replace(/\s+/g, ' ')
    else if (f === 'udp.payload') rec.hex = v.split(';').at(-1)
    else if (perAvp.has(f)) tshark[f] = v === '' ? [] : v.split(';').map(Number)
    else if (v !== '') {
      const parts = v.split(';')
      const conv = (x) => (/^(0x[0-9a-f]+|\d+)$/.test(x) ? Number(x) : x)
      tshark[f] = parts.length === 1 ? conv(parts[0]) : parts.map(conv)
    }
  })
  rec.tshark = tshark
  out.push(rec)
}
const doc = {
  source: 'Every L2TP control message (UDP payload, port 1701) in __test__/vectors/real/*/session.pcap, decrypted and dissected by TShark 4.0.17; see README.md in this folder for the command.',
  messages: out,
}
process.stdout.write(JSON.stringify(doc, null, 1).replace(/\n\s+(\d+|"[^"]*"|true|false),?(?=\n)/g, (m) => m) + '\n')
