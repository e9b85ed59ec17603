/**
 * `l2tp-ipsec serve` and `start`: load and validate the configuration,
 * check privileges, run L2tpServer with its admin socket, metrics, audit
 * log and status page (lib/ops), and drain on SIGINT/SIGTERM: not ready,
 * every session ended, up to operations.drainTimeout (SIGHUP reloads the
 * configuration file).
 */
import { networkInterfaces } from 'node:os'
import { AdminServerError } from '../admin/index.js'
import { ConfigError, loadConfigFile, loadDefaultConfig, type LoadedConfig } from '../config/index.js'
import { fingerprint, type LogFormat, type Logger } from '../log/index.js'
import { MetricsServerError } from '../metrics/index.js'
import { createServeLogger } from '../ops/logger.js'
import { prepareOperations, type Operations } from '../ops/operations.js'
import { L2tpServer } from '../server/l2tp-server.js'
import { applyForwarding, type ForwardingHandle } from '../system/forwarding.js'
import { checkPrivileges } from '../system/privileges.js'
import { EXIT, type ExitCode } from './exit-codes.js'
import { connectInstructions } from './instructions.js'

export interface ServeFlags {
  /** A YAML file; absent: the embedded default with first-run secrets from `stateDir`. */
  config?: string
  stateDir: string
  logLevel?: string
  logFormat?: LogFormat
  /** Overrides admin.socket. */
  adminSocket?: string
  /** Debug: append every IKE and ESP key to this file (0600) in Wireshark's formats. */
  keylog?: string
}

interface Output {
  log(s: string): void
  error(s: string): void
}

/** Runs until a signal; resolves with the exit code. */
export async function serve(flags: ServeFlags, out: Output = console): Promise<ExitCode> {
  // The default configuration listens on 500/4500 and keeps secrets under
  // /var/lib: say what is missing before failing on either.
  if (!flags.config) {
    const early = checkPrivileges({ bindLowPorts: true, tun: true })
    if (!early.ok) {
      out.error(`l2tp-ipsec: missing ${early.missing.join(', ')}.\n${early.hint}`)
      return EXIT.PRIVILEGES
    }
  }
  let loaded: LoadedConfig
  let firstRun: ReturnType<typeof loadDefaultConfig>['state'] | undefined
  try {
    if (flags.config) loaded = loadConfigFile(flags.config)
    else {
      const d = loadDefaultConfig(flags.stateDir)
      loaded = d
      firstRun = d.state
    }
  } catch (e) {
    return configFailure(e, flags.config ?? 'the default configuration', out)
  }
  if (flags.adminSocket) loaded = { ...loaded, config: { ...loaded.config, admin: { ...loaded.config.admin, socket: flags.adminSocket } } }
  const c = loaded.config
  const { log, hub } = createServeLogger({ level: flags.logLevel ?? c.log.level, format: flags.logFormat ?? c.log.format, debug: c.operations.debug, proposals: c.ipsec.proposals })

  const privileges = checkPrivileges({ bindLowPorts: Math.min(c.listen.ikePort || 1024, c.listen.nattPort || 1024) < 1024, tun: true, rawEsp: c.ipsec.rawEsp })
  if (!privileges.ok) {
    out.error(`l2tp-ipsec: missing ${privileges.missing.join(', ')}.\n${privileges.hint}`)
    return EXIT.PRIVILEGES
  }

  const server = L2tpServer.fromConfig(loaded, { logger: log, stateDir: flags.stateDir, ...(flags.keylog ? { keylog: flags.keylog } : {}) })
  server.on('error', (e) => log.error({ err: e }, 'server error'))
  // Counting (metrics, audit) starts before listen() so no early event is missed.
  let prepared: ReturnType<typeof prepareOperations>
  try {
    prepared = prepareOperations({ server, config: c, log, hub, stateDir: flags.stateDir })
  } catch (e) {
    log.fatal({ err: e }, 'cannot start')
    out.error(`l2tp-ipsec: cannot start: ${(e as Error).message}`)
    return EXIT.INVALID
  }
  try {
    await server.listen()
  } catch (e) {
    log.fatal({ err: e }, 'cannot start')
    out.error(`l2tp-ipsec: cannot start: ${(e as Error).message}`)
    prepared.metrics.stop()
    prepared.audit?.close()
    return EXIT.INVALID
  }
  log.info({ pskFingerprint: c.ipsec.psk ? fingerprint(c.ipsec.psk) : undefined, users: c.users.length }, 'configuration loaded')

  let forwarding: ForwardingHandle | undefined
  let ops: Operations
  try {
    if (c.forwarding.enable) forwarding = await applyForwarding({ pools: c.pool.range, masquerade: c.forwarding.masquerade, netns: c.dataplane.netns })
    ops = await prepared.open()
  } catch (e) {
    const message = e instanceof AdminServerError || e instanceof MetricsServerError ? e.message : `setup failed: ${(e as Error).message}`
    log.fatal({ err: e }, message)
    out.error(`l2tp-ipsec: ${message}`)
    prepared.metrics.stop()
    prepared.audit?.close()
    await forwarding?.remove()
    await server.close()
    return EXIT.INVALID
  }
  const metricsHttp = ops.metricsHttp
  if (metricsHttp) log.info({ address: metricsHttp.address, port: metricsHttp.port }, 'metrics at /metrics, /healthz, /readyz')
  // The handlers go in before anything tells the operator (or a supervisor
  // reading the log) that the server is up: a SIGTERM sent on that cue must
  // drain and exit 0, not meet the default action and kill the process.
  const stopped = new Promise<ExitCode>((resolve) => {
    let stopping = false
    const stop = async (signal: string) => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'stopping')
      // /readyz says 503 from here on, while the clients are told goodbye.
      await ops.drain(signal).catch((e: unknown) => log.error({ err: e }, 'close failed'))
      await ops.close()
      await forwarding?.remove().catch((e: unknown) => log.error({ err: e }, 'removing the forwarding rules failed'))
      process.off('SIGHUP', reload)
      resolve(EXIT.OK)
    }
    const reload = () => void reloadFrom(flags, server, log, ops)
    process.once('SIGINT', () => void stop('SIGINT'))
    process.once('SIGTERM', () => void stop('SIGTERM'))
    process.on('SIGHUP', reload)
  })
  log.info({ socket: c.admin.socket }, 'admin socket ready (l2tp-ipsec sessions)')

  if (firstRun) {
    out.log(
      connectInstructions({ server: serverAddressHint(c.listen.address, c.tun.name), psk: firstRun.psk, user: firstRun.user, password: firstRun.password }) +
        `\n  (these secrets are kept in ${firstRun.path}; the server is running, Ctrl-C stops it)\n`,
    )
  }
  return stopped
}

async function reloadFrom(flags: ServeFlags, server: L2tpServer, log: Logger, ops: Operations): Promise<void> {
  if (!flags.config) {
    log.warn({}, 'SIGHUP: running on the default configuration, nothing to reload')
    return
  }
  try {
    const loaded = loadConfigFile(flags.config)
    const result = server.reload(loaded)
    log.info({ kicked: result.kicked, changed: result.changed }, 'configuration reloaded')
    ops.reloaded({ ok: true, changed: result.changed, kicked: result.kicked, config: loaded.config })
  } catch (e) {
    log.error({ err: e, issues: e instanceof ConfigError ? e.issues : undefined }, 'reload refused; the running configuration stays')
    const issues = e instanceof ConfigError ? e.issues.map((i) => `${i.key}: ${i.message}`).join('; ') : (e as Error).message
    ops.reloaded({ ok: false, error: issues })
  }
}

export function configFailure(e: unknown, what: string, out: Output): ExitCode {
  if (e instanceof ConfigError) {
    out.error(`${what}: invalid configuration`)
    for (const issue of e.issues) out.error(`  ${issue.key}: ${issue.message}`)
    return e.code === 'CONFIG_UNREADABLE' ? EXIT.NOT_FOUND : EXIT.INVALID
  }
  out.error(`${what}: ${(e as Error).message}`)
  return EXIT.INVALID
}

/** What clients should dial: the listen address, or this host's first global IPv4 address. */
function serverAddressHint(listen: string, tun: string): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (name === tun) continue
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return "<this server's address>"
}
