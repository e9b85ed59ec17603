// Makes a fresh checkout runnable: installs npm dependencies when they are
// missing or older than the lockfile, and builds the native addon when it is
// missing or older than the Rust sources. Node built-ins only, because it
// runs before `npm ci`.
import { execSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const run = (command) => {
  console.error(`[setup] ${command}`)
  execSync(command, { cwd: root, stdio: 'inherit' })
}

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) {
    if (entry === 'target' || entry === 'node_modules') continue
    newest = Math.max(newest, newestMtime(join(path, entry)))
  }
  return newest
}

const lock = join(root, 'package-lock.json')
const installed = join(root, 'node_modules', '.package-lock.json')
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  run('npm ci --no-audit --no-fund')
}

const addon = readdirSync(join(root, 'native')).find((f) => f.endsWith('.node'))
const sources = Math.max(
  newestMtime(join(root, 'crates')),
  newestMtime(join(root, 'Cargo.toml')),
  newestMtime(join(root, 'Cargo.lock')),
)
if (process.env.L2TP_IPSEC_SKIP_NATIVE_BUILD !== '1') {
  if (!addon || statSync(join(root, 'native', addon)).mtimeMs < sources) {
    // The `ci` profile: optimised, no LTO, so a fresh build takes a minute,
    // not five. `npm run build` makes the LTO release binary.
    run('npm run build:native:dev')
  }
}
