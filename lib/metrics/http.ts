/**
 * The metrics endpoint: a small node:http server for Prometheus to scrape.
 *
 *   GET /metrics  the text exposition (HEAD too)
 *   GET /healthz  200 while the process answers (liveness)
 *   GET /readyz   200 when the server takes new clients, else 503 with the
 *                 reasons (draining, data plane down); for load balancers
 *                 and keepalived check scripts
 *   GET /         a short page that links /metrics
 *   other paths   404; other methods 405
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerMetrics } from './registry.js'

export interface MetricsHttpServer {
  /** The bound address (IPv6 without brackets) and port (resolved when 0 was asked). */
  address: string
  port: number
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

export interface MetricsServerOptions {
  /** Errors after the server listens (a scrape that failed is answered 500 and reported here too). */
  onError?: (e: Error) => void
  /** What /readyz answers; absent: ready while the endpoint answers. */
  readiness?: () => Readiness
}

/** Ready to take new clients, or the reasons why not ("draining", "data plane down"). */
export interface Readiness {
  ready: boolean
  reasons: string[]
}

/** Thrown (rejected) when the listen address is malformed or cannot be bound. */
export class MetricsServerError extends Error {
  /** The system error code (EADDRINUSE, EACCES...), or 'BAD_LISTEN'. */
  readonly code: string

  constructor(message: string, code: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'MetricsServerError'
    this.code = code
  }
}

/** "host:port" or "[v6]:port" (as the config's `metrics.listen`) into its host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(listen)
  const port = Number(m?.[3])
  if (!m || port > 65535) throw new MetricsServerError(`metrics: listen address ${JSON.stringify(listen)} is not "host:port" (IPv6 as "[::1]:9100")`, 'BAD_LISTEN')
  return { host: (m[1] ?? m[2])!, port }
}

const PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another exporter or a second l2tp-ipsec?)',
  EACCES: 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'no local interface has this address',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (temporary failure)',
  EAFNOSUPPORT: 'this address family is not supported here',
}

const INDEX_PAGE = `<!DOCTYPE html>
<html><head><title>l2tp-ipsec metrics</title></head>
<body><h1>l2tp-ipsec</h1><p>Prometheus metrics: <a href="/metrics">/metrics</a>; health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a></p></body></html>
`

/** Starts the endpoint on `listen` ("host:port", IPv6 as "[::1]:9100"; port 0 picks a free one). */
export async function startMetricsServer(listen: string, metrics: ServerMetrics, options: MetricsServerOptions = {}): Promise<MetricsHttpServer> {
  const { host, port } = parseListen(listen)
  const report = (e: Error) => {
    try {
      options.onError?.(e)
    } catch {
      // a throwing reporter must not take the endpoint down
    }
  }

  const readiness = options.readiness ?? (() => ({ ready: true, reasons: [] }))
  const server = createServer((req, res) => void handle(req, res, metrics, report, readiness))
  // A slow or stuck scraper must not hold sockets forever.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'ERROR'
      const problem = PROBLEMS[code] ?? e.message
      reject(new MetricsServerError(`metrics: cannot listen on ${listen}: ${problem} (${code})`, code, e))
    }
    server.once('error', onError)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError)
      resolve()
    })
  })
  server.on('error', (e) => report(e))

  const bound = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    address: bound.address,
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, metrics: ServerMetrics, report: (e: Error) => void, readiness: () => Readiness): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]
  const head = req.method === 'HEAD'
  if ((path === '/healthz' || path === '/readyz') && (req.method === 'GET' || head)) {
    if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head)
    let r: Readiness
    try {
      r = readiness()
    } catch (e) {
      r = { ready: false, reasons: [`readiness check failed: ${(e as Error).message}`] }
    }
    return send(res, r.ready ? 200 : 503, 'text/plain; charset=utf-8', r.ready ? 'ready\n' : `not ready: ${r.reasons.join('; ')}\n`, head)
  }
  if (path !== '/' && path !== '/metrics') return send(res, 404, 'text/plain; charset=utf-8', 'Not found: the metrics are at /metrics\n', head)
  if (req.method !== 'GET' && !head) {
    res.setHeader('Allow', 'GET, HEAD')
    return send(res, 405, 'text/plain; charset=utf-8', `Method ${req.method} not allowed: use GET\n`, false)
  }
  if (path === '/') return send(res, 200, 'text/html; charset=utf-8', INDEX_PAGE, head)
  try {
    const body = await metrics.metrics()
    send(res, 200, metrics.registry.contentType, body, head)
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e))
    report(err)
    send(res, 500, 'text/plain; charset=utf-8', `collecting the metrics failed: ${err.message}\n`, head)
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  if (res.headersSent || res.destroyed) return
  res.statusCode = status
  res.setHeader('Content-Type', contentType)
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.end(head ? undefined : body)
}
