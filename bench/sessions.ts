// npm run sessions [-- --counts 1000,10000] [--seconds 30] [--concurrency 50] [--warmup 200] [--build tsx|dist] [--json]
// The sessions benchmark (lib/bench/sessions-bench.ts): the server's memory
// with `counts` established idle sessions from one client fleet, setups per
// second, event-loop delay during LCP echoes, teardown. Also
// `npm run bench -- --only sessions`. Needs root.
//
// --build tsx (default): the server runs in this process, from the sources
// under tsx. --build dist: the server runs from the compiled package
// (dist/, `npm run build:ts`, rebuilt here when a source is newer), in a
// plain node process with no tsx loader: the form `npm install` users run.
// Node flags given to this process (e.g. `node --max-semi-space-size=1
// --import tsx bench/sessions.ts --build dist`) go to that server process;
// the client fleet stays on the sources under tsx either way.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatSessionsRecord, runSessionsBench, type SessionsBenchOptions } from '../lib/bench/sessions-bench.js'

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '1000,10000' },
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '200' },
    build: { type: 'string', default: 'tsx' },
    json: { type: 'boolean', default: false },
  },
})
const counts = values.counts.split(',').map(Number)
if (counts.some((n) => !(Number.isInteger(n) && n > 0 && n <= 16000))) throw new Error(`--counts: session counts of 1 to 16000, got ${values.counts}`)
const lagSeconds = Number(values.seconds)
if (!(lagSeconds > 0)) throw new Error(`--seconds: a positive number, got ${values.seconds}`)
const concurrency = Number(values.concurrency)
if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new Error(`--concurrency: a positive integer, got ${values.concurrency}`)
if (values.build !== 'tsx' && values.build !== 'dist') throw new Error(`--build: tsx or dist, got ${values.build}`)
const warmup = Number(values.warmup)
if (!(Number.isInteger(warmup) && warmup >= 0 && warmup <= 16000)) throw new Error(`--warmup: sessions set up and hung up before the first count, 0 to 16000, got ${values.warmup}`)
const options: SessionsBenchOptions = { counts, lagSeconds, concurrency, warmup }

// This process's node flags without the tsx loader (`--import tsx` or `--import=tsx`).
function nodeFlags(): string[] {
  const flags: string[] = []
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i]!
    if (a === '--import' && process.execArgv[i + 1] === 'tsx') i++
    else if (a !== '--import=tsx') flags.push(a)
  }
  return flags
}

const root = fileURLToPath(new URL('..', import.meta.url))
const compiled = join(root, 'dist', 'bench', 'sessions-bench.js')

function newestSource(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0)
  }
  return newest
}

/** dist/ compiled from the current sources: `npm run build:ts` when any lib/ source or tsconfig is newer than the compiled bench. */
function freshDist(): void {
  const sources = Math.max(newestSource(join(root, 'lib')), statSync(join(root, 'tsconfig.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs)
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= sources) return
  console.error('[sessions] dist/ is older than lib/: npm run build:ts')
  execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: ['ignore', 2, 2] })
}

// What the compiled server process runs: argv[1] the module's URL, argv[2] the options, argv[3] "json" or not, argv[4] its node flags (for the records).
const RUN_COMPILED = `
const [url, options, json, flags] = process.argv.slice(1)
const { runSessionsBench, formatSessionsRecord } = await import(url)
for await (const r of runSessionsBench(JSON.parse(options))) console.log(json === 'json' ? JSON.stringify({ ...r, build: 'dist', node_flags: flags }) : formatSessionsRecord(r))
`

if (values.build === 'dist') {
  freshDist()
  const flags = nodeFlags()
  console.error(`[sessions] server from dist/ (tsc), node flags: ${flags.join(' ') || '(none)'}`)
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', RUN_COMPILED, new URL(`file://${compiled}`).href, JSON.stringify(options), values.json ? 'json' : 'text', flags.join(' ')], { stdio: 'inherit' })
  // Ctrl-C reaches the child through the terminal's process group; a kill of this process is passed on.
  process.on('SIGTERM', () => child.kill('SIGTERM'))
  process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))))
} else {
  const flags = nodeFlags().join(' ')
  console.error(`[sessions] server from the sources under tsx, node flags: ${flags || '(none)'}`)
  for await (const r of runSessionsBench(options)) console.log(values.json ? JSON.stringify({ ...r, build: 'tsx', node_flags: flags }) : formatSessionsRecord(r))
}
