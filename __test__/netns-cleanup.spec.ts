// The test rig's namespaces go even when a test's teardowns never run: a
// worker that ava kills at its timeout (SIGTERM), an interrupted run
// (SIGINT), an uncaught exception, process.exit. Before, such runs left
// l2t-* namespaces behind on the machine.
import test from 'ava'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { removeNamespace } from '../lib/testing/netns.js'
import { until } from '../lib/testing/wait.js'

const HOLD = fileURLToPath(new URL('./helpers/netns-hold.ts', import.meta.url))

/** Runs netns-hold.ts MODE; resolves with the namespaces it made, then `signal` sent (if any), and the exit. */
async function hold(t: { teardown(fn: () => void): void }, mode: string, signal?: NodeJS.Signals): Promise<{ names: string[]; existed: boolean; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLD, mode], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, sig) => r({ code, signal: sig })))
  await until(() => out.includes('\n'), 20_000)
  const names = out.trim().split(' ').filter((n) => n !== '')
  // Should this test fail, its namespaces still go.
  t.teardown(() => names.forEach(removeNamespace))
  let existed = true
  if (signal) {
    existed = names.every((n) => existsSync(`/run/netns/${n}`))
    child.kill(signal)
  }
  return { names, existed, ...(await exited) }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`a process killed by ${signal} (ava's worker timeout, an interrupted run) leaves no namespace behind, and still dies of the signal`, async (t) => {
    const r = await hold(t, 'hang', signal)
    t.is(r.names.length, 2)
    t.true(r.existed, 'both namespaces exist while the process lives')
    t.is(r.signal, signal, `exit ${r.code}`)
    for (const n of r.names) t.false(existsSync(`/run/netns/${n}`), `${n} left behind`)
  })
}

test('an uncaught exception or process.exit leaves no namespace behind', async (t) => {
  for (const mode of ['throw', 'exit']) {
    const r = await hold(t, mode)
    t.is(r.names.length, 2, mode)
    t.not(r.code, 0, mode)
    for (const n of r.names) t.false(existsSync(`/run/netns/${n}`), `${mode}: ${n} left behind`)
  }
})
