// `forwarding` in a network namespace of the test's own: IPv4 forwarding
// turned on and our nftables table masquerading the pool out of one
// interface, gone again after remove().
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { applyForwarding, NFT_TABLE } from '../lib/system/forwarding.js'
import { systemBinary } from '../lib/system/binaries.js'
import { addNamespace, ip, removeNamespace } from '../lib/testing/netns.js'

const inNs = (ns: string, ...argv: string[]) => execFileSync(systemBinary('ip'), ['netns', 'exec', ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

test.serial('forwarding on and a masquerade table for the pool; remove() deletes the table; a bad interface name is refused', async (t) => {
  const ns = `l2t-fwd-${process.pid}`
  addNamespace(ns)
  t.teardown(() => removeNamespace(ns))
  ip('-n', ns, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan1')
  t.is(inNs(ns, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '0')
  const handle = await applyForwarding({ pools: ['192.168.42.10-192.168.42.20'], masquerade: 'wan0', netns: ns })
  t.is(inNs(ns, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '1')
  const table = inNs(ns, systemBinary('nft'), 'list', 'table', 'ip', NFT_TABLE)
  t.regex(table, /type nat hook postrouting/)
  t.regex(table, /ip saddr \{ 192\.168\.42\.10-192\.168\.42\.20 \} oifname "wan0" masquerade/, "nft merges our CIDR blocks back into the range")
  // Applying again (a server restarted after a crash) replaces the table rather than adding a second.
  const again = await applyForwarding({ pools: ['192.168.42.10-192.168.42.20'], masquerade: 'wan0', netns: ns })
  t.is((inNs(ns, systemBinary('nft'), 'list', 'tables').match(new RegExp(NFT_TABLE, 'g')) ?? []).length, 1)
  await again.remove()
  await handle.remove()
  t.notRegex(inNs(ns, systemBinary('nft'), 'list', 'tables'), new RegExp(NFT_TABLE))
  await t.throwsAsync(applyForwarding({ pools: ['192.168.42.10'], masquerade: 'eth0; flush ruleset', netns: ns }), { message: /not an interface name/ })
})
