/**
 * Keys to groups of values, where most groups hold one value (an identity's
 * one IKE SA, a binding's one tunnel or call): a lone value is stored as
 * itself and a Set is made only for a second one, so an index over 10,000
 * sessions costs a Map entry each, not a Map entry and a Set (issue #9).
 * Values must not be Sets themselves.
 */
export class MultiMap<K, V extends object> {
  readonly #map = new Map<K, V | Set<V>>()

  add(key: K, value: V): void {
    const held = this.#map.get(key)
    if (held === undefined) this.#map.set(key, value)
    else if (held instanceof Set) held.add(value)
    else if (held !== value) this.#map.set(key, new Set([held, value]))
  }

  delete(key: K, value: V): void {
    const held = this.#map.get(key)
    if (held === value) this.#map.delete(key)
    else if (held instanceof Set) {
      held.delete(value)
      if (held.size === 1) this.#map.set(key, held.values().next().value!)
    }
  }

  /** The values under `key`, as a new array (safe to change the map while going through it). */
  get(key: K): V[] {
    const held = this.#map.get(key)
    return held === undefined ? [] : held instanceof Set ? [...held] : [held]
  }

  /** How many values `key` holds. */
  count(key: K): number {
    const held = this.#map.get(key)
    return held === undefined ? 0 : held instanceof Set ? held.size : 1
  }

  has(key: K, value: V): boolean {
    const held = this.#map.get(key)
    return held === value || (held instanceof Set && held.has(value))
  }
}
