/**
 * A server log record as one step of a client's negotiation, in plain
 * words for `l2tp-ipsec debug`. Records the server writes for other
 * reasons fall back to their message and a few fields.
 */
import type { ProposalPolicy } from '../../ike/policy.js'
import { serverProposals } from './server-proposals.js'

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number; time?: number }

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v))

function peerWords(v: unknown): string {
  if (typeof v === 'object' && v !== null && 'address' in v) {
    const p = v as { address: string; port?: number }
    return p.port === undefined ? p.address : `${p.address}:${p.port}`
  }
  return str(v)
}

function phase(stage: unknown): string {
  return stage === 'quick-mode' ? 'Quick Mode' : stage === 'informational' ? 'Informational' : 'Main Mode'
}

export function plainWords(r: LogRecord, policy: ProposalPolicy | undefined): string {
  switch (r.msg) {
    case 'IKE negotiation failed': {
      let text = `${phase(r.stage)} from ${peerWords(r.peer)} failed: ${str(r.reason)}`
      if (policy && /client offered/.test(str(r.reason))) {
        const server = serverProposals(policy)
        text += `\n  server allows (preset '${policy.preset}'): ${r.stage === 'quick-mode' ? server.quickMode : server.mainMode}`
      }
      return text
    }
    case 'IKE authentication failed':
      return `Main Mode from ${peerWords(r.peer)}: authentication failed: ${str(r.reason)}`
    case 'IKE SA up':
      return `Main Mode done with ${peerWords(r.peer)} (ID ${str(r.peerId)}): ${str(r.suite)}${r.nat ? ', NAT detected: ESP goes in UDP 4500' : ''}`
    case 'IKE SA down':
      return `IKE SA ${str(r.ikeSa)} ended: ${str(r.reason)}`
    case 'ESP SA pair installed':
      return `Quick Mode done: ESP ${str(r.suite)} ${r.udp ? 'in UDP 4500' : 'as raw ESP'}, SPI in ${str(r.spiIn)} / out ${str(r.spiOut)}`
    case 'ESP SA pair removed':
      return `ESP SA pair ${str(r.spiIn)} removed: ${str(r.reason)}`
    case 'L2TP tunnel up':
      return `L2TP: tunnel ${str(r.tunnel)} up with ${str(r.peerHost) || 'the client'}${r.vendor ? ` (${str(r.vendor)})` : ''}`
    case 'L2TP tunnel down':
      return `L2TP: tunnel ${str(r.tunnel)} down (${str(r.reason)}, by ${str(r.by)})`
    case 'L2TP session up, starting PPP':
      return `L2TP: call ${str(r.l2tpSession)} in tunnel ${str(r.tunnel)} up; PPP starts (LCP, then login) as session ${str(r.session)}`
    case 'PPP authenticated':
      return `PPP: ${str(r.user)} logged in with ${str(r.method)}`
    case 'PPP authentication failed':
      return `PPP: login of ${str(r.user) || '?'} with ${str(r.method)} refused: ${str(r.reason)}${r.final ? ' (final: the link ends)' : ''}`
    case 'session up':
      return `Session ${str(r.session)} up: ${str(r.user)} has ${str(r.address)}`
    case 'session down':
      return `Session ${str(r.session)} of ${str(r.user)} down: ${str(r.reason)}${r.detail ? ` (${str(r.detail)})` : ''}; ${str(r.rxBytes)} bytes in, ${str(r.txBytes)} out`
    case 'session refused: no address':
      return `Pool: no address for ${str(r.user)} (${str(r.reason)}): widen pool.range or end idle sessions`
    default: {
      const fields = Object.entries(r)
        .filter(([k]) => !['level', 'time', 'pid', 'hostname', 'msg'].includes(k))
        .map(([k, v]) => `${k}=${k === 'peer' ? peerWords(v) : str(v)}`)
      return `${str(r.msg)}${fields.length ? ` (${fields.join(', ')})` : ''}`
    }
  }
}
