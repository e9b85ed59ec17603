/**
 * One frozen copy of each distinct small record that many long-lived
 * owners keep alike (an established IKE SA's negotiated suite, its NAT-T
 * findings, our address it was reached on): at 10,000 sessions a record of
 * its own each costs ~40-100 B per session, while the distinct values are a
 * handful (issue #9). Frozen, so an owner must replace its record, never
 * change it. Bounded: when full the table starts over; records handed out
 * stay valid (nothing compares them by identity).
 */
export class SharedRecords<T extends object> {
  readonly #byKey = new Map<string, Readonly<T>>()

  constructor(private readonly limit = 256) {}

  /** The shared frozen record equal to `value`; `key` must tell apart any two values that differ. */
  share(key: string, value: T): Readonly<T> {
    let held = this.#byKey.get(key)
    if (held === undefined) {
      if (this.#byKey.size >= this.limit) this.#byKey.clear()
      held = Object.freeze({ ...value })
      this.#byKey.set(key, held)
    }
    return held
  }

  /** Distinct records held now. */
  get size(): number {
    return this.#byKey.size
  }
}
