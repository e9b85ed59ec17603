/**
 * A JS fuzz target: a fast-check arbitrary of inputs and a check that
 * throws when a property breaks. Inputs are JSON (buffers as hex) so a
 * failing one can be kept under __test__/vectors/fuzz/<target>/ and replayed
 * by the tests.
 */
import type fc from 'fast-check'

export interface FuzzTarget<T> {
  name: string
  /** What is fed to what, and what must hold. */
  description: string
  arbitrary: () => fc.Arbitrary<T>
  /** Throws (or rejects) when a property breaks. */
  check: (input: T) => void | Promise<void>
  /** Input <-> JSON, for crash vectors. */
  toJson: (input: T) => unknown
  fromJson: (json: unknown) => T
}

/** A property broke: not one of the typed errors the code under test may throw. */
export class FuzzPropertyError extends Error {
  override readonly name = 'FuzzPropertyError'
}

/** Runs `fn`; an exception passes only if `allowed` accepts it. */
export function onlyTyped(what: string, fn: () => unknown, allowed: (e: unknown) => boolean): void {
  try {
    fn()
  } catch (e) {
    if (allowed(e)) return
    throw new FuzzPropertyError(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e })
  }
}

/** Byte inputs serialise as hex. */
export const bufferJson = {
  toJson: (b: Buffer) => b.toString('hex'),
  fromJson: (j: unknown) => Buffer.from(String(j), 'hex'),
}
