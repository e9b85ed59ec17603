/**
 * One timer for a sans-IO core: armed for the earliest deadline the core
 * reports, re-armed after every run. Seconds on a monotonic clock.
 */
import { performance } from 'node:perf_hooks'

export const monotonicSeconds = (): number => performance.now() / 1000

export class TimerLoop {
  private timer: NodeJS.Timeout | undefined
  private armedAt: number | undefined
  private stopped = false

  /** `run(now)` fires what is due and returns the next deadline. */
  constructor(
    private readonly run: (now: number) => number | undefined,
    private readonly clock: () => number = monotonicSeconds,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  /** Makes sure the loop wakes by `at` (earlier arms replace later ones). */
  arm(at: number | undefined): void {
    if (this.stopped || at === undefined) return
    if (this.timer && this.armedAt !== undefined && this.armedAt <= at) return
    if (this.timer) clearTimeout(this.timer)
    this.armedAt = at
    const delay = Math.max(0, Math.ceil((at - this.clock()) * 1000))
    this.timer = setTimeout(() => this.fire(), Math.min(delay, 2 ** 31 - 1))
  }

  private fire(): void {
    this.timer = undefined
    this.armedAt = undefined
    let next: number | undefined
    try {
      next = this.run(this.clock())
    } catch (e) {
      this.onError(e)
      next = this.clock() + 1
    }
    this.arm(next)
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}
