/**
 * Site-to-site peers in IKE: which IKE SA is a configured site, with what
 * key, ID and proposals, and which tunnel-mode selectors it may have.
 *
 * Tunnel mode lets the peer send any inner packet from its subnets onto our
 * LAN without a PPP login, so it is granted to an IKE SA only once that SA
 * authenticated as a configured site: with the site's own pre-shared key
 * (chosen by the peer's address before Main Mode message 5, since the ID
 * comes encrypted under it) or with a certificate naming the site's
 * remote ID. Every other peer, including any holder of the L2TP PSK,
 * stays transport-only. The subnets in IDci/IDcr must lie inside the
 * site's configured ones.
 */
import { isIPv4 } from 'node:net'
import type { IdPayload, PayloadInput } from './codec.js'
import { AuthMethod, IdType, PayloadType } from './constants.js'
import type { ResolvedConfig } from './context.js'
import { addressBytes, addressString, idPayload } from './identity.js'
import type { IkeSa } from './ike-sa.js'
import type { ProposalPolicy } from './policy.js'

/** One site-to-site peer, as the IKE core needs it. */
export interface IkeSite {
  name: string
  /** The peer gateway's address; absent: any address (a dynamic peer, recognised by its certificate's ID). */
  peer?: string
  /** The site's own pre-shared key; absent: RSA signatures with the server's certificate. */
  psk?: Buffer
  /** Our ID towards this site (default: ipsec.localId, then our address). */
  localId?: string
  /** The ID the peer must prove (required for a dynamic peer). */
  remoteId?: string
  /** Our subnets and the peer's, CIDR. */
  local: readonly string[]
  remote: readonly string[]
  /** Proposals for this site (default: the server's). */
  policy?: ProposalPolicy
  /** DPD for this site's IKE SAs (default: the server's). */
  dpdDelay?: number
  dpdTimeout?: number
}

export function siteByName(config: ResolvedConfig, name: string | undefined): IkeSite | undefined {
  return name === undefined ? undefined : config.sites.find((s) => s.name === name)
}

/** The PSK site configured for a peer address: its key is the one Main Mode uses with that address. */
export function siteByAddress(config: ResolvedConfig, address: string): IkeSite | undefined {
  return config.sites.find((s) => s.peer !== undefined && s.psk !== undefined && s.peer === address)
}

/** The site an IKE SA negotiates for before it is authenticated: the one we called, or the PSK site of the peer's address. */
export function phase1Site(config: ResolvedConfig, ike: IkeSa): IkeSite | undefined {
  return siteByName(config, ike.site ?? ike.siteIntent) ?? siteByAddress(config, ike.peer.address)
}

export function pskFor(config: ResolvedConfig, ike: IkeSa): Buffer | undefined {
  const site = phase1Site(config, ike)
  return site ? site.psk : config.psk
}

export function policyFor(config: ResolvedConfig, ike: IkeSa): ProposalPolicy {
  return phase1Site(config, ike)?.policy ?? config.policy
}

export function localIdFor(config: ResolvedConfig, ike: IkeSa): string | undefined {
  return phase1Site(config, ike)?.localId ?? config.localId
}

/** Phase 1 authentication methods a peer at `address` may use (a PSK site's address: only its key). */
export function authMethodsFor(config: ResolvedConfig, address: string, fallback: number[]): number[] {
  return siteByAddress(config, address) ? [AuthMethod.PSK] : fallback
}

/** Whether the peer's proved ID is the one `configured` names (address, FQDN, user@FQDN; names case-insensitively). */
export function idMatches(configured: string, id: Pick<IdPayload, 'idType' | 'data'>): boolean {
  const want = idPayload(configured) as PayloadInput & { idType: number; data: Buffer }
  if (want.idType !== id.idType) return false
  if (id.idType === IdType.FQDN || id.idType === IdType.USER_FQDN) return want.data.toString('utf8').toLowerCase() === id.data.toString('utf8').toLowerCase()
  return want.data.equals(id.data)
}

/**
 * After Phase 1 authentication: the site this IKE SA is, if any. A PSK
 * site is the one whose key verified (chosen by address); a certificate
 * site is one whose remote ID the peer proved (and whose address it comes
 * from, when one is configured). An initiator's SA must be the site it
 * called, else authentication fails.
 */
export function authenticatedSite(config: ResolvedConfig, ike: IkeSa, id: Pick<IdPayload, 'idType' | 'data'>, usedSignatures: boolean): { ok: true; site?: string } | { ok: false; reason: string } {
  if (ike.siteIntent !== undefined) {
    const site = siteByName(config, ike.siteIntent)
    if (!site) return { ok: false, reason: `site ${ike.siteIntent} is no longer configured` }
    if (site.remoteId !== undefined && !idMatches(site.remoteId, id)) return { ok: false, reason: `site ${site.name}: the peer's ID is not ${site.remoteId}` }
    return { ok: true, site: site.name }
  }
  if (!usedSignatures) {
    const site = siteByAddress(config, ike.peer.address)
    if (!site) return { ok: true }
    if (site.remoteId !== undefined && !idMatches(site.remoteId, id)) return { ok: false, reason: `site ${site.name}: the peer's ID is not ${site.remoteId}` }
    return { ok: true, site: site.name }
  }
  const site = config.sites.find((s) => s.psk === undefined && s.remoteId !== undefined && idMatches(s.remoteId, id) && (s.peer === undefined || s.peer === ike.peer.address))
  return { ok: true, ...(site ? { site: site.name } : {}) }
}

// --- selectors --------------------------------------------------------------------

/** A CIDR prefix as numbers: family, address bytes, length. */
interface Cidr {
  v6: boolean
  bytes: Buffer
  length: number
}

function parseCidr(text: string): Cidr {
  const [address, len] = text.split('/') as [string, string | undefined]
  const bytes = addressBytes(address)
  return { v6: bytes.length === 16, bytes, length: len === undefined ? bytes.length * 8 : Number(len) }
}

function maskLength(mask: Buffer): number | undefined {
  let length = 0
  let ended = false
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1
      if (set && ended) return undefined
      if (set) length++
      else ended = true
    }
  }
  return length
}

/** A selector ID (RFC 2407 4.6.2: address, subnet, or a range that is a whole prefix) as a CIDR; undefined otherwise. */
export function selectorCidr(id: Pick<IdPayload, 'idType' | 'data'>): Cidr | undefined {
  const d = id.data
  switch (id.idType) {
    case IdType.IPV4_ADDR:
    case IdType.IPV6_ADDR:
      return d.length === 4 || d.length === 16 ? { v6: d.length === 16, bytes: d, length: d.length * 8 } : undefined
    case IdType.IPV4_ADDR_SUBNET:
    case IdType.IPV6_ADDR_SUBNET: {
      const half = id.idType === IdType.IPV4_ADDR_SUBNET ? 4 : 16
      if (d.length !== half * 2) return undefined
      const length = maskLength(d.subarray(half))
      return length === undefined ? undefined : { v6: half === 16, bytes: d.subarray(0, half), length }
    }
    case IdType.IPV4_ADDR_RANGE:
    case IdType.IPV6_ADDR_RANGE: {
      const half = id.idType === IdType.IPV4_ADDR_RANGE ? 4 : 16
      if (d.length !== half * 2) return undefined
      const first = d.subarray(0, half)
      const last = d.subarray(half)
      // A range is taken only when it is exactly one prefix: the first address with every host bit clear, the last with every one set.
      for (let length = 0; length <= half * 8; length++) {
        const cidr = { v6: half === 16, bytes: first, length }
        if (!normalise(cidr).bytes.equals(first)) continue
        const top = Buffer.from(first)
        for (let bit = length; bit < half * 8; bit++) top[bit >> 3] = top[bit >> 3]! | (0x80 >> (bit & 7))
        if (top.equals(last)) return cidr
      }
      return undefined
    }
    default:
      return undefined
  }
}

function normalise(c: Cidr): Cidr {
  const bytes = Buffer.from(c.bytes)
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, c.length - i * 8))
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff)
  }
  return { ...c, bytes }
}

/** Whether `inner` lies inside `outer`. */
function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.v6 !== inner.v6 || inner.length < outer.length) return false
  return normalise({ ...inner, length: outer.length }).bytes.equals(normalise(outer).bytes)
}

export function cidrString(c: Cidr): string {
  return `${addressString(c.bytes)}/${c.length}`
}

/** Whether the selector ID lies inside one of the CIDR prefixes. */
export function selectorWithin(id: Pick<IdPayload, 'idType' | 'data'>, prefixes: readonly string[]): boolean {
  const cidr = selectorCidr(id)
  return cidr !== undefined && prefixes.some((p) => contains(parseCidr(p), cidr))
}

/** A subnet ID payload for a CIDR prefix (IPV4_ADDR_SUBNET / IPV6_ADDR_SUBNET, any protocol and port). */
export function subnetId(prefix: string): PayloadInput {
  const c = normalise(parseCidr(prefix))
  const half = c.bytes.length
  const mask = Buffer.alloc(half)
  for (let i = 0; i < half; i++) mask[i] = (0xff << (8 - Math.max(0, Math.min(8, c.length - i * 8)))) & 0xff
  return { type: PayloadType.ID, idType: isIPv4(addressString(c.bytes)) && half === 4 ? IdType.IPV4_ADDR_SUBNET : IdType.IPV6_ADDR_SUBNET, protocol: 0, port: 0, data: Buffer.concat([c.bytes, mask]) }
}

/** Whether an IKE SA's Quick Modes may negotiate tunnel mode: it authenticated as a site. */
export function tunnelSite(config: ResolvedConfig, ike: IkeSa): IkeSite | undefined {
  return siteByName(config, ike.site)
}
