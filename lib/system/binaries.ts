/**
 * System tools by absolute path. Under `npm start` / `npm test`, PATH
 * starts with node_modules/.bin, where `nft` is @vercel/nft (a file tracer
 * that exits 0 doing nothing): a firewall rule "applied" through it would
 * silently be missing.
 */
import { accessSync, constants } from 'node:fs'

const DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']
const found = new Map<string, string>()

export function systemBinary(name: 'ip' | 'nft' | 'sysctl'): string {
  let path = found.get(name)
  if (path) return path
  path = DIRS.map((d) => `${d}/${name}`).find((p) => {
    try {
      accessSync(p, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (!path) throw new Error(`${name} not found in ${DIRS.join(', ')}; install ${name === 'nft' ? 'nftables' : name === 'ip' ? 'iproute2' : 'procps'}`)
  found.set(name, path)
  return path
}
