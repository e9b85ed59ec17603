/**
 * Running with no configuration file: the embedded config/default.yaml plus
 * secrets made on first start and kept in a state directory, so the server
 * comes up usable and the same PSK and demo login survive restarts.
 *
 * The secrets are typed by hand into phones and laptops, so they use a
 * 32-letter lowercase alphabet without look-alikes (no i, l, o, u):
 * 5 bits per character, counted into the lengths below.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { ConfigError, parseServerConfig } from './load.js'
import type { LoadedConfig } from './load.js'

export const SECRET_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
/** 26 characters: 130 bits. */
export const PSK_LENGTH = 26
/** 20 characters: 100 bits. */
export const PASSWORD_LENGTH = 20
export const DEMO_USER = 'demo'

export interface FirstRunState {
  psk: string
  user: string
  password: string
  /** Whether this call made the state (first start). */
  created: boolean
  /** The state file. */
  path: string
}

/** The embedded default configuration, config/default.yaml at the package root. */
export const defaultConfigPath: string = fileURLToPath(new URL('../../config/default.yaml', import.meta.url))

/**
 * The PSK and demo login of `stateDir`/state.json, made on the first call.
 * The file is created without ever being visible half-written, and never
 * replaces one another process made first.
 */
export function ensureFirstRunState(stateDir: string): FirstRunState {
  const path = join(stateDir, 'state.json')
  const existing = readState(path)
  if (existing) return { ...existing, created: false, path }

  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const fresh = { psk: randomSecret(PSK_LENGTH), user: DEMO_USER, password: randomSecret(PASSWORD_LENGTH) }
  const tmp = join(stateDir, `.state.json.${process.pid}.${randomBytes(4).toString('hex')}`)
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    writeSync(fd, `${JSON.stringify({ ...fresh, createdAt: new Date().toISOString() }, null, 2)}\n`)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  try {
    // link, unlike rename, fails if the target exists: a concurrent first run keeps its state
    linkSync(tmp, path)
  } catch (e) {
    const code = (e as { code?: unknown }).code
    if (code === 'EEXIST') {
      unlinkSync(tmp)
      const theirs = readState(path)
      if (theirs) return { ...theirs, created: false, path }
      throw e
    }
    // file systems without hard links
    renameSync(tmp, path)
    return { ...fresh, created: true, path }
  }
  unlinkSync(tmp)
  return { ...fresh, created: true, path }
}

function readState(path: string): Omit<FirstRunState, 'created' | 'path'> | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return undefined
    throw e
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    data = undefined
  }
  const s = data as Partial<Record<'psk' | 'user' | 'password', unknown>> | undefined
  if (typeof s?.psk !== 'string' || s.psk.length < 8 || typeof s.user !== 'string' || s.user === '' || typeof s.password !== 'string' || s.password === '') {
    throw new Error(`${path} is not a valid state file (expected JSON with psk, user and password); move it away to make a new one`)
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  return { psk: s.psk, user: s.user, password: s.password }
}

function randomSecret(length: number): string {
  // 256 is a multiple of 32, so taking 5 bits of each byte is uniform
  return Array.from(randomBytes(length), (b) => SECRET_ALPHABET[b & 31]).join('')
}

/**
 * config/default.yaml with the PSK and demo user of `stateDir` merged in
 * (they are not in the file), validated like any configuration.
 */
export function loadDefaultConfig(stateDir: string): LoadedConfig & { state: FirstRunState } {
  const state = ensureFirstRunState(stateDir)
  let base: unknown
  try {
    base = parse(readFileSync(defaultConfigPath, 'utf8'))
  } catch (e) {
    throw new ConfigError([{ key: '(file)', message: `cannot read the embedded ${defaultConfigPath}: ${e instanceof Error ? e.message : String(e)}` }], 'CONFIG_UNREADABLE')
  }
  const file = (base ?? {}) as Record<string, unknown>
  const ipsec = (file['ipsec'] ?? {}) as Record<string, unknown>
  const input = { ...file, ipsec: { ...ipsec, psk: state.psk }, users: [{ name: state.user, password: state.password }] }
  return { ...parseServerConfig(input, { baseDir: dirname(defaultConfigPath) }), state }
}
