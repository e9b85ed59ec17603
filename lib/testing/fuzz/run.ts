/**
 * Runs a fuzz target with fast-check for a number of executions or a time
 * budget, and reports how many ran and the first failure (shrunk), as JSON
 * ready to be kept as a vector.
 */
import fc from 'fast-check'
import type { FuzzTarget } from './target.js'

export interface FuzzRunOptions {
  /** Stop after this many executions... */
  runs?: number
  /** ...or after this many seconds, whichever comes first (default: runs only). */
  seconds?: number
  /** fast-check seed (default: random; printed in the result for replay). */
  seed?: number
  /** An execution slower than this is a failure (a hang in the making). Default 5000 ms. */
  slowMs?: number
}

export interface FuzzRunResult {
  target: string
  executions: number
  seconds: number
  seed: number
  failure?: { input: unknown; error: string }
}

export async function runFuzzTarget<T>(target: FuzzTarget<T>, options: FuzzRunOptions = {}): Promise<FuzzRunResult> {
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
  const slowMs = options.slowMs ?? 5000
  const started = performance.now()
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000
  let executions = 0
  const property = fc.asyncProperty(target.arbitrary(), async (input) => {
    executions++
    const t0 = performance.now()
    await target.check(input)
    const took = performance.now() - t0
    if (took > slowMs) throw new Error(`one execution took ${Math.round(took)} ms (limit ${slowMs} ms)`)
  })
  const details = await fc.check(property, {
    seed,
    numRuns: options.runs ?? 1_000_000_000,
    ...(Number.isFinite(deadline) ? { interruptAfterTimeLimit: Math.max(1, deadline - performance.now()), markInterruptAsFailure: false } : {}),
    endOnFailure: false,
  })
  const result: FuzzRunResult = { target: target.name, executions, seconds: (performance.now() - started) / 1000, seed }
  if (details.failed && details.counterexample) {
    const error = details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance)
    result.failure = { input: target.toJson(details.counterexample[0] as T), error }
  }
  return result
}
