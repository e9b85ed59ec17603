/**
 * Everything `l2tp-ipsec serve` runs beside the server itself: metrics with
 * /healthz and /readyz, the admin socket with its troubleshooting tools,
 * the audit log, the status page, and draining on SIGTERM. Tests start the
 * same thing around a server of their own.
 */
import { AdminRefusal, startAdminServer, type AdminServer, type AdminTools } from '../admin/index.js'
import { AuditLog, auditServerEvents } from '../audit/index.js'
import { proposalPolicy, type ServerConfig } from '../config/index.js'
import type { Logger } from '../log/index.js'
import { createServerMetrics, startMetricsServer, type MetricsHttpServer, type Readiness, type ServerMetrics } from '../metrics/index.js'
import type { L2tpServer } from '../server/l2tp-server.js'
import type { DebugHub } from './debug/debug-hub.js'
import { readinessCheck } from './readiness.js'
import { startStatusPage, type StatusPage } from './status-page/server.js'

export interface OperationsOptions {
  server: L2tpServer
  config: ServerConfig
  log: Logger
  /** The logger's debug hub (createServeLogger); without it `debug` is refused. */
  hub?: DebugHub
  /** Where a generated status-page token is kept. */
  stateDir: string
}

export interface Operations {
  readonly metrics: ServerMetrics
  readonly metricsHttp: MetricsHttpServer | undefined
  readonly admin: AdminServer
  readonly audit: AuditLog | undefined
  readonly statusPage: StatusPage | undefined
  readiness(): Readiness
  /** SIGTERM: not ready from now on; Terminate/CDN to every session, StopCCN, IKE Delete, waiting up to operations.drainTimeout; then the server is closed. */
  drain(signal: string): Promise<void>
  /** A configuration reload was applied or refused: audited. */
  reloaded(outcome: { ok: true; changed: string[]; kicked: number; config: ServerConfig } | { ok: false; error: string }): void
  /** Stops the endpoints and closes the audit log (after drain). */
  close(): Promise<void>
}

/** Creates the counters first (no event missed), so call it before server.listen(); the endpoints open in `open()`. */
export function prepareOperations(o: OperationsOptions): { metrics: ServerMetrics; audit: AuditLog | undefined; open(): Promise<Operations> } {
  const metrics = createServerMetrics(o.server)
  const c = o.config
  const audit = c.audit.file ? new AuditLog({ file: c.audit.file, maxBytes: c.audit.maxBytes, keep: c.audit.keep }) : undefined
  const detachAudit = audit ? auditServerEvents(o.server, audit, (e) => o.log.error({ err: e }, 'audit log write failed')) : () => {}
  const record = (event: Parameters<AuditLog['append']>[0]) => {
    try {
      audit?.append(event)
    } catch (e) {
      o.log.error({ err: e }, 'audit log write failed')
    }
  }
  return {
    metrics,
    audit,
    async open() {
      let draining = false
      const readiness = readinessCheck(() => o.server.status(), () => draining)
      const opened: { metricsHttp?: MetricsHttpServer; statusPage?: StatusPage } = {}
      let admin: AdminServer
      try {
        if (c.metrics.listen) opened.metricsHttp = await startMetricsServer(c.metrics.listen, metrics, { onError: (e) => o.log.warn({ err: e }, 'metrics'), readiness })
        admin = await startAdminServer(c.admin.socket, o.server, {
          onError: (e) => o.log.warn({ err: e }, 'admin socket'),
          tools: adminTools(o),
          onAction: (a) => {
            o.log.info({ admin: a }, 'admin action')
            record({ type: 'admin', method: a.method, params: a.params, ok: a.ok, ...(a.error ? { error: a.error } : {}) })
          },
        })
        if (c.operations.statusPage.listen) opened.statusPage = await startStatusPage({ server: o.server, listen: c.operations.statusPage.listen, tokenFile: c.operations.statusPage.tokenFile, stateDir: o.stateDir, log: o.log })
      } catch (e) {
        await opened.metricsHttp?.close()
        await opened.statusPage?.close()
        throw e
      }
      record({ type: 'server-start', ike: o.server.addresses().ike, natt: o.server.addresses().natt, pool: c.pool.range })
      let closed = false
      return {
        metrics,
        metricsHttp: opened.metricsHttp,
        admin,
        audit,
        statusPage: opened.statusPage,
        readiness,
        async drain(signal) {
          draining = true
          const sessions = o.server.sessions().length
          o.log.info({ signal, sessions, timeout: c.operations.drainTimeout }, 'draining: ending every session, then stopping')
          record({ type: 'server-stop', signal, sessions })
          await o.server.close({ graceSeconds: c.operations.drainTimeout })
        },
        reloaded(outcome) {
          if (outcome.ok) {
            if (o.hub) o.hub.policy = proposalPolicy(outcome.config.ipsec.proposals)
            record({ type: 'config-reload', ok: true, changed: outcome.changed, kicked: outcome.kicked })
          } else record({ type: 'config-reload', ok: false, error: outcome.error })
        },
        async close() {
          if (closed) return
          closed = true
          await admin.close().catch(() => {})
          await opened.metricsHttp?.close().catch(() => {})
          await opened.statusPage?.close().catch(() => {})
          metrics.stop()
          detachAudit()
          audit?.close()
        },
      }
    },
  }
}

/** debug and capture, each only when the configuration allows it. */
function adminTools(o: OperationsOptions): AdminTools {
  const tools: AdminTools = {}
  const hub = o.hub
  if (o.config.operations.debug && hub) {
    tools.debug = (target, send) => {
      o.log.info({ target }, 'debug: following a client')
      return hub.follow(target, send)
    }
  }
  if (o.config.operations.capture) {
    tools.captureStart = (session, path) => {
      if (!o.server.sessions().some((s) => s.id === session)) throw new AdminRefusal('ADMIN_NO_SUCH_SESSION', `no session with id ${session}`)
      try {
        o.server.startCapture(session, path)
      } catch (e) {
        throw new AdminRefusal('ADMIN_REFUSED', (e as Error).message)
      }
      o.log.warn({ session, path }, 'capture: writing the decrypted traffic of a session to a file')
    }
    tools.captureStop = (session) => {
      const result = o.server.stopCapture(session)
      if (result) o.log.info({ session, ...result }, 'capture stopped')
      return result
    }
  }
  return tools
}
