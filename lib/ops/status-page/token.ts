/** The status page's access token: from a file the operator gives, or random and kept in the state directory (0600). */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export function loadStatusToken(tokenFile: string | null, stateDir: string): { token: string; file: string } {
  if (tokenFile) {
    const token = readFileSync(tokenFile, 'utf8').trim()
    if (token.length < 16) throw new Error(`operations.statusPage.tokenFile: ${tokenFile} holds fewer than 16 characters; use a long random token`)
    return { token, file: tokenFile }
  }
  const file = join(stateDir, 'status-token')
  try {
    const token = readFileSync(file, 'utf8').trim()
    if (token.length >= 16) return { token, file }
  } catch {
    // first run: make one
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const token = randomBytes(24).toString('base64url')
  writeFileSync(file, `${token}\n`, { mode: 0o600 })
  return { token, file }
}

/** Constant-time: hashing first makes the lengths equal. */
export function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}
