import { NONE } from './queues.js'

/**
 * The ESP SA pairs (inbound SPI -> outbound SPI) of one IKE SA or binding:
 * one at a time, two while a rekey overlaps. A flat array [in, out, in,
 * out, ...] of exact length, not a Map: a Map with one entry costs ~0.2 KB,
 * this ~70 B, and an idle session had two (issue #9). The Map methods their
 * holders use, in insertion order. The array is replaced, never changed in
 * place, so an iteration goes on over the pairs it started with while the
 * loop deletes (as the holders' loops do).
 */
export class SpiPairs implements Iterable<[number, number]> {
  #flat: readonly number[] = NONE

  get size(): number {
    return this.#flat.length / 2
  }

  #indexOf(inbound: number): number {
    const flat = this.#flat
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === inbound) return i
    return -1
  }

  get(inbound: number): number | undefined {
    const i = this.#indexOf(inbound)
    return i < 0 ? undefined : this.#flat[i + 1]
  }

  has(inbound: number): boolean {
    return this.#indexOf(inbound) >= 0
  }

  set(inbound: number, outbound: number): this {
    const i = this.#indexOf(inbound)
    if (i < 0) this.#flat = this.#flat.concat(inbound, outbound)
    else this.#flat = this.#flat.map((v, at) => (at === i + 1 ? outbound : v))
    return this
  }

  delete(inbound: number): boolean {
    const i = this.#indexOf(inbound)
    if (i < 0) return false
    this.#flat = this.#flat.length === 2 ? NONE : this.#flat.slice(0, i).concat(this.#flat.slice(i + 2))
    return true
  }

  *keys(): IterableIterator<number> {
    const flat = this.#flat
    for (let i = 0; i < flat.length; i += 2) yield flat[i]!
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    const flat = this.#flat
    for (let i = 0; i < flat.length; i += 2) yield [flat[i]!, flat[i + 1]!]
  }
}
