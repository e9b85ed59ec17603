/**
 * From a YAML file (or any parsed value) to a ServerConfig: validation,
 * then the files the configuration names (pskFile, certificate PEMs) read
 * and checked, so a server built from the result does not fail later on a
 * missing or mismatched file. Every problem found is reported at once.
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { AGGRESSIVE_MODE_WARNING } from '../ike/aggressive-mode.js'
import { IkeCertError, loadCredentials, loadTrustAnchors } from '../ike/certificates.js'
import { proposalPolicy } from './proposals.js'
import { configIssues, parseOptions, serverConfigSchema } from './schema.js'
import type { ConfigIssue, ServerConfig } from './schema.js'

/**
 * - `CONFIG_INVALID`: the configuration (or a file it names) is wrong; `issues` say where.
 * - `CONFIG_UNREADABLE`: the configuration file itself could not be read.
 */
export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_UNREADABLE'

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code: ConfigErrorCode
  readonly issues: ConfigIssue[]

  constructor(issues: ConfigIssue[], code: ConfigErrorCode = 'CONFIG_INVALID') {
    super(issues.map((i) => `${i.key}: ${i.message}`).join('\n'))
    this.code = code
    this.issues = issues
  }
}

export interface LoadedConfig {
  config: ServerConfig
  /** Posture notes for the operator's log; none of them stops the server. */
  warnings: string[]
}

/**
 * Validates `input` and reads the files it names, relative to `baseDir`
 * (default: the working directory). Throws ConfigError listing every issue.
 */
export function parseServerConfig(input: unknown, options: { baseDir?: string } = {}): LoadedConfig {
  const parsed = serverConfigSchema.safeParse(input, parseOptions)
  if (!parsed.success) throw new ConfigError(configIssues(parsed.error.issues))
  const config = parsed.data
  const baseDir = options.baseDir ?? process.cwd()
  const issues: ConfigIssue[] = []
  const warnings: string[] = []
  const ipsec = { ...config.ipsec }

  if (ipsec.pskFile !== undefined) {
    const psk = readReferenced(baseDir, ipsec.pskFile, 'ipsec.pskFile', issues, warnings)?.trim()
    if (psk === '') issues.push({ key: 'ipsec.pskFile', message: `${ipsec.pskFile} is empty` })
    else if (psk !== undefined && psk.length < 8) issues.push({ key: 'ipsec.pskFile', message: `the key in ${ipsec.pskFile} must have at least 8 characters, got ${psk.length}` })
    else if (psk !== undefined) ipsec.psk = psk
  }

  if (ipsec.certificate !== undefined) {
    const paths = ipsec.certificate
    const cert = readReferenced(baseDir, paths.cert, 'ipsec.certificate.cert', issues, warnings, false)
    const key = readReferenced(baseDir, paths.key, 'ipsec.certificate.key', issues, warnings)
    const ca = readReferenced(baseDir, paths.ca, 'ipsec.certificate.ca', issues, warnings, false)
    if (cert !== undefined && key !== undefined) certIssue(() => loadCredentials({ cert, key }), issues)
    if (ca !== undefined) certIssue(() => loadTrustAnchors(ca), issues)
    if (cert !== undefined && key !== undefined && ca !== undefined) ipsec.certificate = { cert, key, ca }
  }

  const radius = config.radius === null ? null : resolveRadiusFiles(config.radius, baseDir, issues, warnings)

  // Each site's key file, read like ipsec.pskFile.
  const sites = config.sites.map((site, i) => {
    if (site.pskFile === undefined) return site
    const key = `sites[${i}].pskFile`
    const psk = readReferenced(baseDir, site.pskFile, key, issues, warnings)?.trim()
    if (psk === '') issues.push({ key, message: `${site.pskFile} is empty` })
    else if (psk !== undefined && psk.length < 8) issues.push({ key, message: `the key in ${site.pskFile} must have at least 8 characters, got ${psk.length}` })
    return psk ? { ...site, psk } : site
  })

  if (issues.length > 0) throw new ConfigError(issues)

  if (ipsec.aggressiveMode && ipsec.psk !== undefined) warnings.push(AGGRESSIVE_MODE_WARNING)
  warnings.push(...proposalPolicy(ipsec.proposals).warnings)
  if (config.ppp.dns6.length > 0 && config.pool.ipv6 === null) {
    warnings.push('ppp.dns6 is set but pool.ipv6 is not: no Router Advertisements are sent, so clients never learn these servers')
  }
  if (config.forwarding.masquerade !== null && !config.forwarding.enable) {
    warnings.push('forwarding.masquerade is set but forwarding.enable is false: no NAT rule is installed')
  }
  for (const site of sites) if (site.proposals !== undefined) warnings.push(...proposalPolicy(site.proposals).warnings.map((w) => `sites ${site.name}: ${w}`))
  return { config: { ...config, ipsec, radius, sites }, warnings }
}

type RadiusConfig = NonNullable<ServerConfig['radius']>

/** RADIUS secretFile and queueFile paths made absolute (relative to `baseDir`); each secret file read once to check it. */
function resolveRadiusFiles(radius: RadiusConfig, baseDir: string, issues: ConfigIssue[], warnings: string[]): RadiusConfig {
  const withSecret = <T extends { secretFile?: string | undefined }>(entry: T, key: string): T => {
    if (entry.secretFile === undefined) return entry
    const text = readReferenced(baseDir, entry.secretFile, `${key}.secretFile`, issues, warnings)
    if (text !== undefined && text.replace(/\r?\n$/, '') === '') issues.push({ key: `${key}.secretFile`, message: `${entry.secretFile} is empty` })
    return { ...entry, secretFile: resolve(baseDir, entry.secretFile) }
  }
  const accounting = radius.accounting && {
    ...radius.accounting,
    ...(radius.accounting.servers ? { servers: radius.accounting.servers.map((s, i) => withSecret(s, `radius.accounting.servers[${i}]`)) } : {}),
    queueFile: radius.accounting.queueFile === null ? null : resolve(baseDir, radius.accounting.queueFile),
  }
  return {
    ...radius,
    servers: radius.servers.map((s, i) => withSecret(s, `radius.servers[${i}]`)),
    accounting,
    dae: radius.dae && { ...radius.dae, clients: radius.dae.clients.map((c, i) => withSecret(c, `radius.dae.clients[${i}]`)) },
  }
}

/**
 * Reads and validates a YAML configuration file; the files it names are
 * relative to its directory. Throws ConfigError: CONFIG_UNREADABLE with
 * key `(file)`, or CONFIG_INVALID (YAML syntax under key `(yaml)`).
 */
export function loadConfigFile(path: string): LoadedConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError([{ key: '(file)', message: `cannot read ${path}: ${fileProblem(e)}` }], 'CONFIG_UNREADABLE')
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (e: { pos: [number, number] }) => {
    const { line, col } = lineCounter.linePos(e.pos[0])
    return `line ${line}, column ${col}`
  }
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ key: '(yaml)', message: `${at(e)}: ${e.message}` })))
  }
  if (doc.contents === null) throw new ConfigError([{ key: '(config)', message: `${path} holds no configuration` }])
  const loaded = parseServerConfig(doc.toJS(), { baseDir: dirname(resolve(path)) })
  loaded.warnings.unshift(...doc.warnings.map((w) => `YAML ${at(w)}: ${w.message}`))
  return loaded
}

/**
 * The text of a file the configuration names, or undefined with an issue
 * at `key`. A secret readable by other local users gets a warning.
 */
function readReferenced(baseDir: string, path: string, key: string, issues: ConfigIssue[], warnings: string[], secret = true): string | undefined {
  // Code may hand PEM text itself (new L2tpServer({ ipsec: { certificate: { cert: pem, ... } } })).
  if (path.includes('-----BEGIN ')) return path
  const full = resolve(baseDir, path)
  try {
    const text = readFileSync(full, 'utf8')
    if (secret) {
      const mode = statSync(full).mode & 0o777
      if ((mode & 0o077) !== 0) warnings.push(`${key}: ${full} is accessible to other users (mode 0${mode.toString(8)}); chmod 600 it`)
    }
    return text
  } catch (e) {
    issues.push({ key, message: `cannot read ${full}: ${fileProblem(e)}` })
    return undefined
  }
}

function fileProblem(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  return e instanceof Error ? e.message : String(e)
}

// loadCredentials / loadTrustAnchors start their messages with what was wrong
const CERT_KEYS: Record<string, string> = { cert: 'ipsec.certificate.cert', key: 'ipsec.certificate.key', 'trust anchors': 'ipsec.certificate.ca' }

function certIssue(load: () => unknown, issues: ConfigIssue[]): void {
  try {
    load()
  } catch (e) {
    if (!(e instanceof IkeCertError)) throw e
    const m = /^(cert|key|trust anchors): (.*)$/s.exec(e.message)
    issues.push(m ? { key: CERT_KEYS[m[1]!]!, message: m[2]! } : { key: 'ipsec.certificate', message: e.message })
  }
}
