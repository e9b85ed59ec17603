/**
 * The reference figures: `openssl speed` for the same cipher and MAC, on
 * the same machine, in the same run.
 */
import { execFileSync } from 'node:child_process'

const cache = new Map<string, number>()

/** Gbit/s that `openssl speed <args>` reports for one block size. */
export function opensslSpeed(args: readonly string[], bytes: number, seconds: number): number {
  const key = `${args.join(' ')}/${bytes}/${seconds}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), '-bytes', String(bytes), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  // Last line: "<algorithm>   <N>k" with N in 1000s of bytes per second.
  const last = out.trim().split('\n').pop() ?? ''
  const match = /([\d.]+)k\s*$/.exec(last)
  if (!match) throw new Error(`cannot read openssl speed output: ${last}`)
  const gbps = (Number(match[1]) * 1000 * 8) / 1e9
  cache.set(key, gbps)
  return gbps
}

const CIPHERS: Record<string, string> = {
  aes128: 'aes-128-cbc',
  aes192: 'aes-192-cbc',
  aes256: 'aes-256-cbc',
  '3des': 'des-ede3-cbc',
  'aes128gcm-16': 'aes-128-gcm',
  'aes256gcm-16': 'aes-256-gcm',
}
const HASHES: Record<string, string> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha256_96: 'sha256', sha384: 'sha384', sha512: 'sha512' }

/**
 * OpenSSL's figure for a suite: the cipher's `-evp` figure (with `-decrypt`
 * for open); for suites with a separate MAC, the harmonic combination with
 * `-hmac`, since one core does both in turn.
 */
export function opensslReference(suite: string, op: 'seal' | 'open', bytes: number, seconds: number): number {
  const decrypt = op === 'open' ? ['-decrypt'] : []
  const aead = CIPHERS[suite]
  if (aead) return opensslSpeed(['-evp', aead, ...decrypt], bytes, seconds)
  const [cipher, mac] = suite.split('-') as [string, string]
  const c = opensslSpeed(['-evp', CIPHERS[cipher]!, ...decrypt], bytes, seconds)
  const m = opensslSpeed(['-hmac', HASHES[mac]!], bytes, seconds)
  return 1 / (1 / c + 1 / m)
}

/**
 * Operations per CPU second that `openssl speed <algorithm>` reports (its
 * last column; openssl speed divides by user CPU time unless -elapsed).
 */
export function opensslSpeedOps(algorithm: string, seconds: number): number {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), algorithm], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const last = out.trim().split('\n').pop() ?? ''
  const match = /([\d.]+)\s*$/.exec(last)
  if (!match) throw new Error(`cannot read openssl speed output: ${last}`)
  return Number(match[1])
}

/**
 * Bits of the private exponent OpenSSL generates for a named FFDHE group
 * (what `openssl speed ffdhNNNN` uses): read from the key `openssl genpkey`
 * makes, the largest of three (the top bit is random).
 */
export function opensslFfdhExponentBits(group: string): number {
  let bits = 0
  for (let i = 0; i < 3; i++) {
    const pem = execFileSync('openssl', ['genpkey', '-algorithm', 'DH', '-pkeyopt', `group:${group}`], { stdio: ['ignore', 'pipe', 'ignore'] })
    const text = execFileSync('openssl', ['pkey', '-text', '-noout'], { input: pem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] })
    const hex = /private-key:\s*([\s\S]*?)\n\s*public-key:/.exec(text)?.[1]?.replace(/[\s:]/g, '')
    if (!hex) throw new Error(`cannot read the private key of openssl genpkey group:${group}`)
    bits = Math.max(bits, BigInt(`0x${hex}`).toString(2).length)
  }
  return bits
}
