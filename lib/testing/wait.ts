/** (Used by the tests and the benchmarks.) Polling for a condition without blocking the event loop. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function until(what: () => boolean, ms = 5000, step = 50): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!what() && Date.now() < deadline) await sleep(step)
  return what()
}
