/**
 * IPCP options (RFC 1332, RFC 1877) as `OptionPolicy`s for the automaton.
 *
 * Server (`IpcpServerPolicy`):
 * - Our request carries IP-Address = the gateway (our end of the link).
 * - The peer's IP-Address: the address for this session comes from the
 *   injected `assign` function, asked once (with the peer's address when it
 *   asked for a specific one, which the pool may honour). The peer's value
 *   equal to it is Acked; 0.0.0.0 ("give me one", RFC 1332 3.3), any other
 *   value, or no IP-Address option at all is Nak'd with it (RFC 1661 5.3: a
 *   Nak may name an option the request lacked).
 * - Primary/Secondary DNS and NBNS (RFC 1877 1.1-1.4): Nak'd with the
 *   configured server, Acked when equal, Rejected when none is configured.
 * - IP-Compression-Protocol (Van Jacobson, RFC 1332 3.2), the deprecated
 *   IP-Addresses (3.1) and unknown options: Rejected. The data plane does
 *   no header compression.
 *
 * Client (`IpcpClientPolicy`): asks for IP-Address 0.0.0.0 (or a configured
 * one) and, when wanted, both DNS servers as 0.0.0.0; takes what the server
 * Naks; Acks the server's own non-zero IP-Address.
 */
import type { RequestVerdict, OptionPolicy } from './automaton.js'
import { decodeIpcp } from './codec.js'
import type { IpcpOption } from './codec.js'
import { IpcpOptionType } from './constants.js'
import { optionBytes, parseOptions, verdictOf } from './lcp.js'
import { NONE } from '../util/queues.js'

const ANY = '0.0.0.0'

/** The outcome of the server's address assignment (the shape of Ipv4Pool's `Allocation`). */
export type AddressAssignment = { ok: true; address: string } | { ok: false; reason: string }

export interface IpcpServerPolicyOptions {
  /** Our end of the link (the pool's gateway). */
  localAddress: string
  /** Up to two DNS servers, primary first. */
  dns?: readonly string[]
  /** Up to two NBNS (WINS) servers, primary first. */
  nbns?: readonly string[]
  /** The peer's address for this session; `requested` is the non-zero address the peer asked for, if any. Called at most once per success. */
  assign(requested: string | undefined): AddressAssignment
}

const NAMESERVER_SLOTS = [
  { type: IpcpOptionType.PRIMARY_DNS, kind: 'primary-dns', list: 'dns', index: 0 },
  { type: IpcpOptionType.SECONDARY_DNS, kind: 'secondary-dns', list: 'dns', index: 1 },
  { type: IpcpOptionType.PRIMARY_NBNS, kind: 'primary-nbns', list: 'nbns', index: 0 },
  { type: IpcpOptionType.SECONDARY_NBNS, kind: 'secondary-nbns', list: 'nbns', index: 1 },
] as const

export class IpcpServerPolicy implements OptionPolicy {
  readonly localAddress: string
  readonly dns: readonly string[]
  readonly nbns: readonly string[]
  /** Asked once, then let go (it is a closure over the link: ~0.4 KB a session kept for nothing, issue #9). */
  #assign: ((requested: string | undefined) => AddressAssignment) | undefined
  #peerAddress: string | undefined
  #failure: string | undefined
  #sendAddress = true

  constructor(options: IpcpServerPolicyOptions) {
    this.localAddress = options.localAddress
    this.dns = options.dns ?? []
    this.nbns = options.nbns ?? NONE
    this.#assign = options.assign
  }

  /** The address assigned to the peer, once asked for. */
  get peerAddress(): string | undefined {
    return this.#peerAddress
  }

  /** Why the peer could not be given an address (the link then ends). */
  get failure(): string | undefined {
    return this.#failure
  }

  reset(): void {
    this.#sendAddress = true
  }

  buildRequest(): Buffer {
    return this.#sendAddress ? optionBytes({ kind: 'ip-address', type: 3, address: this.localAddress }) : Buffer.alloc(0)
  }

  #addressFor(requested: string | undefined): string | undefined {
    if (this.#peerAddress === undefined && this.#failure === undefined) {
      const result = this.#assign!(requested === ANY ? undefined : requested)
      this.#assign = undefined
      if (result.ok) this.#peerAddress = result.address
      else this.#failure = result.reason
    }
    return this.#peerAddress
  }

  checkRequest(options: Buffer): RequestVerdict {
    const parsed = parseOptions<IpcpOption>(options, decodeIpcp)
    if (!parsed) return { verdict: 'reject', options }
    const rejects: Buffer[] = []
    const naks: Buffer[] = []
    let sawAddress = false
    for (const { option, bytes } of parsed) {
      if (option.kind === 'ip-address') {
        sawAddress = true
        const address = this.#addressFor(option.address)
        if (address === undefined) rejects.push(bytes)
        else if (address !== option.address) naks.push(optionBytes({ kind: 'ip-address', type: 3, address }))
        continue
      }
      const slot = NAMESERVER_SLOTS.find((s) => s.kind === option.kind)
      if (slot && option.kind === slot.kind) {
        const configured = this[slot.list][slot.index]
        if (configured === undefined) rejects.push(bytes)
        else if (option.address !== configured) naks.push(optionBytes({ kind: slot.kind, type: slot.type, address: configured } as IpcpOption))
        continue
      }
      // ip-compression (VJ), ip-addresses (deprecated), unknown or malformed
      rejects.push(bytes)
    }
    if (!sawAddress) {
      const address = this.#addressFor(undefined)
      if (address !== undefined) naks.push(optionBytes({ kind: 'ip-address', type: 3, address }))
    }
    return verdictOf(rejects, naks)
  }

  onAck(): void {}

  /** The peer would like us to use another address: ours is fixed, so the request stays (Max-Configure ends it if the peer insists). */
  onNak(): boolean {
    return true
  }

  onReject(options: Buffer): boolean {
    const parsed = parseOptions<IpcpOption>(options, decodeIpcp)
    if (parsed?.some(({ option }) => option.type === IpcpOptionType.IP_ADDRESS)) this.#sendAddress = false
    return true
  }
}

export interface IpcpClientPolicyOptions {
  /** The address to ask for (default 0.0.0.0: "assign me one"). */
  requestAddress?: string
  /** Ask for the primary and secondary DNS servers (default true). */
  requestDns?: boolean
}

/** What the client ended up with. */
export interface IpcpClientResult {
  address: string
  /** The server's end of the link (its IP-Address option), when it sent one. */
  peerAddress: string | undefined
  dns: string[]
}

export class IpcpClientPolicy implements OptionPolicy {
  readonly #initialAddress: string
  readonly #requestDns: boolean
  #address = ANY
  #dns: (string | undefined)[] = []
  #peerAddress: string | undefined
  #acked: { address: string; dns: string[] } | undefined

  constructor(options: IpcpClientPolicyOptions = {}) {
    this.#initialAddress = options.requestAddress ?? ANY
    this.#requestDns = options.requestDns ?? true
    this.reset()
  }

  /** What the server agreed to, after its Configure-Ack. */
  get result(): IpcpClientResult | undefined {
    if (!this.#acked) return undefined
    return { address: this.#acked.address, peerAddress: this.#peerAddress, dns: [...this.#acked.dns] }
  }

  reset(): void {
    this.#address = this.#initialAddress
    this.#dns = this.#requestDns ? [ANY, ANY] : []
    this.#acked = undefined
  }

  buildRequest(): Buffer {
    const options: IpcpOption[] = [{ kind: 'ip-address', type: 3, address: this.#address }]
    if (this.#dns[0] !== undefined) options.push({ kind: 'primary-dns', type: 129, address: this.#dns[0] })
    if (this.#dns[1] !== undefined) options.push({ kind: 'secondary-dns', type: 131, address: this.#dns[1] })
    return Buffer.concat(options.map(optionBytes))
  }

  checkRequest(options: Buffer): RequestVerdict {
    const parsed = parseOptions<IpcpOption>(options, decodeIpcp)
    if (!parsed) return { verdict: 'reject', options }
    const rejects: Buffer[] = []
    let peerAddress: string | undefined
    for (const { option, bytes } of parsed) {
      // The server's own address is whatever it says; 0.0.0.0 would ask us for one, which a client cannot give.
      if (option.kind === 'ip-address' && option.address !== ANY) peerAddress = option.address
      else rejects.push(bytes)
    }
    const verdict = verdictOf(rejects, [])
    if (verdict.verdict === 'ack') this.#peerAddress = peerAddress
    return verdict
  }

  onAck(): void {
    this.#acked = { address: this.#address, dns: this.#dns.filter((d): d is string => d !== undefined && d !== ANY) }
  }

  onNak(options: Buffer): boolean {
    const parsed = parseOptions<IpcpOption>(options, decodeIpcp)
    if (!parsed) return true
    for (const { option } of parsed) {
      if (option.kind === 'ip-address' && option.address !== ANY) this.#address = option.address
      else if (option.kind === 'primary-dns' && this.#requestDns) this.#dns[0] = option.address
      else if (option.kind === 'secondary-dns' && this.#requestDns) this.#dns[1] = option.address
    }
    return true
  }

  onReject(options: Buffer): boolean {
    const parsed = parseOptions<IpcpOption>(options, decodeIpcp)
    if (!parsed) return true
    for (const { option } of parsed) {
      // Without an address there is no IPv4 over this link.
      if (option.type === IpcpOptionType.IP_ADDRESS) return false
      if (option.type === IpcpOptionType.PRIMARY_DNS) this.#dns[0] = undefined
      if (option.type === IpcpOptionType.SECONDARY_DNS) this.#dns[1] = undefined
    }
    return true
  }
}
