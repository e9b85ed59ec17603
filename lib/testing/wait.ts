/** (Used by the tests and the benchmarks.) Polling for a condition without blocking the event loop. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function until(what: () => boolean, ms = 5000, step = 50): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!what() && Date.now() < deadline) await sleep(step)
  return what()
}

/**
 * Waits for `work` at most `ms`; true when it settled in time. A teardown
 * step uses it so that one that hangs (a server that never finishes closing)
 * cannot hold back the steps after it, such as deleting the namespaces.
 */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))
  try {
    return await Promise.race([work.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}
