/**
 * The status page's HTTP listener (operations.statusPage.listen, keep it on
 * localhost): GET /?token=T the page, /app.js its script, /events?token=T a
 * Server-Sent Events stream with one snapshot a second. Without the token:
 * 401 and nothing else. The token may also come as `Authorization: Bearer`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../../log/index.js'
import { parseListen } from '../../metrics/index.js'
import { APP, PAGE } from './page.js'
import { failureRecorder, snapshot, type SnapshotSource } from './snapshot.js'
import { loadStatusToken, tokenMatches } from './token.js'

export interface StatusPage {
  address: string
  port: number
  /** The page's address with its token: for whoever may see it (tests, the admin). */
  url: string
  close(): Promise<void>
}

export interface StatusPageOptions {
  server: SnapshotSource
  listen: string
  tokenFile: string | null
  stateDir: string
  log: Logger
  /** Milliseconds between snapshots (default 1000). */
  intervalMs?: number
}

const SECURITY_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
}

export async function startStatusPage(o: StatusPageOptions): Promise<StatusPage> {
  const { host, port } = parseListen(o.listen)
  const { token, file } = loadStatusToken(o.tokenFile, o.stateDir)
  const failures = failureRecorder(o.server)
  const streams = new Set<ServerResponse>()
  const tick = setInterval(() => {
    if (streams.size === 0) return
    const data = `data: ${JSON.stringify(snapshot(o.server, failures.recent))}\n\n`
    for (const res of streams) res.write(data)
  }, o.intervalMs ?? 1000)
  tick.unref()

  const server = createServer((req, res) => handle(req, res))
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://status')
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...SECURITY_HEADERS })
      res.end(body)
    }
    if (req.method !== 'GET') return send(405, 'text/plain; charset=utf-8', 'GET only\n')
    if (url.pathname === '/app.js') return send(200, 'text/javascript; charset=utf-8', APP)
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!tokenMatches(url.searchParams.get('token') ?? bearer, token)) return send(401, 'text/plain; charset=utf-8', `token required: open /?token=... (the token is in ${file})\n`)
    if (url.pathname === '/') return send(200, 'text/html; charset=utf-8', PAGE)
    if (url.pathname === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive', ...SECURITY_HEADERS })
      res.write(`retry: 2000\ndata: ${JSON.stringify(snapshot(o.server, failures.recent))}\n\n`)
      streams.add(res)
      req.once('close', () => streams.delete(res))
      return
    }
    send(404, 'text/plain; charset=utf-8', 'not found\n')
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address() as AddressInfo
  const shown = bound.address.includes(':') ? `[${bound.address}]` : bound.address
  o.log.info({ address: bound.address, port: bound.port, tokenFile: file }, 'status page ready (open it with ?token= from the token file)')
  return {
    address: bound.address,
    port: bound.port,
    url: `http://${shown}:${bound.port}/?token=${encodeURIComponent(token)}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(tick)
        failures.stop()
        for (const res of streams) res.end()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
