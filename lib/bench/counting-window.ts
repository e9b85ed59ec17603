/**
 * The measured stretch of a cross-process IKE bench run (the responder's
 * and the I/O floor's): counting on for `seconds`, then off, and the wall
 * time and this process's CPU over it. The caller's socket callbacks read
 * the flag that `set` flips.
 */
export async function countingWindow(seconds: number, set: (counting: boolean) => void): Promise<{ elapsed: number; processCpuMs: number }> {
  set(true)
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  set(false)
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return { elapsed, processCpuMs: (cpu.user + cpu.system) / 1000 }
}
