/**
 * IPV6CP options (RFC 5072 4) as an `OptionPolicy`, the same on both ends:
 * - Interface-Identifier (4.1): ours is random and non-zero. The peer's is
 *   Acked unless it is zero or equal to ours (a collision, or a loop), which
 *   is Nak'd with a new random identifier. A Nak of ours takes the suggested
 *   identifier when it is usable, else a fresh random one.
 * - IPv6-Compression-Protocol (4.2) and unknown options: Rejected.
 * Router Advertisements and prefixes are not IPV6CP's business (RFC 5072 5).
 */
import type { OptionPolicy, RequestVerdict } from './automaton.js'
import { decodeIpv6cp } from './codec.js'
import type { Ipv6cpOption } from './codec.js'
import { Ipv6cpOptionType } from './constants.js'
import { defaultRandom, optionBytes, parseOptions, verdictOf, type RandomSource } from './lcp.js'

const ZERO = Buffer.alloc(8)

export class Ipv6cpPolicy implements OptionPolicy {
  readonly #random: RandomSource
  #identifier: Buffer
  #send = true
  #peerIdentifier: Buffer | undefined
  #acked: Buffer | undefined

  constructor(options: { random?: RandomSource } = {}) {
    this.#random = options.random ?? defaultRandom
    this.#identifier = this.#newIdentifier()
  }

  /** Our interface identifier once the peer acknowledged it. */
  get localIdentifier(): Buffer | undefined {
    return this.#acked
  }

  /** The peer's interface identifier as we acknowledged it. */
  get peerIdentifier(): Buffer | undefined {
    return this.#peerIdentifier
  }

  #newIdentifier(...avoid: (Buffer | undefined)[]): Buffer {
    for (;;) {
      const candidate = Buffer.from(this.#random(8))
      if (!candidate.equals(ZERO) && !avoid.some((a) => a?.equals(candidate))) return candidate
    }
  }

  reset(): void {
    this.#send = true
    this.#acked = undefined
  }

  buildRequest(): Buffer {
    return this.#send ? optionBytes({ kind: 'interface-identifier', type: 1, identifier: this.#identifier }) : Buffer.alloc(0)
  }

  checkRequest(options: Buffer): RequestVerdict {
    const parsed = parseOptions<Ipv6cpOption>(options, decodeIpv6cp)
    if (!parsed) return { verdict: 'reject', options }
    const rejects: Buffer[] = []
    const naks: Buffer[] = []
    let peer: Buffer | undefined
    for (const { option, bytes } of parsed) {
      if (option.kind !== 'interface-identifier') {
        rejects.push(bytes)
        continue
      }
      if (option.identifier.equals(ZERO) || (this.#send && option.identifier.equals(this.#identifier))) {
        naks.push(optionBytes({ kind: 'interface-identifier', type: 1, identifier: this.#newIdentifier(this.#identifier) }))
      } else {
        peer = option.identifier
      }
    }
    const verdict = verdictOf(rejects, naks)
    if (verdict.verdict === 'ack') this.#peerIdentifier = peer
    return verdict
  }

  onAck(): void {
    this.#acked = this.#send ? this.#identifier : undefined
  }

  onNak(options: Buffer): boolean {
    const parsed = parseOptions<Ipv6cpOption>(options, decodeIpv6cp)
    for (const { option } of parsed ?? []) {
      if (option.kind !== 'interface-identifier') continue
      const usable = !option.identifier.equals(ZERO) && !this.#peerIdentifier?.equals(option.identifier)
      this.#identifier = usable ? Buffer.from(option.identifier) : this.#newIdentifier(this.#identifier, this.#peerIdentifier)
      this.#send = true
    }
    return true
  }

  onReject(options: Buffer): boolean {
    const parsed = parseOptions<Ipv6cpOption>(options, decodeIpv6cp)
    if (parsed?.some(({ option }) => option.type === Ipv6cpOptionType.INTERFACE_IDENTIFIER)) this.#send = false
    return true
  }
}
