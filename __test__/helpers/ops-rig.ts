// The e2e rig (server and clients in namespaces) with the operations layer
// of `serve` around the server: metrics with /healthz and /readyz on
// loopback, the admin socket, the audit log, debug, capture and the status
// page, all in a temporary directory.
import { Writable } from 'node:stream'
import { join } from 'node:path'
import type { L2tpServerOptions } from '../../lib/server/l2tp-server.js'
import { createServeLogger } from '../../lib/ops/logger.js'
import { prepareOperations, type Operations } from '../../lib/ops/operations.js'
import { within } from './netns-run.js'
import { createRig, type Rig, type Teardown } from './vpn-rig.js'

export interface OpsRig {
  rig: Rig
  ops: Operations
  socket: string
  auditFile: string
  metricsUrl: string
  /** GET a path of the metrics listener: status and body. */
  get(path: string): Promise<{ status: number; body: string }>
  /** Every log line the server wrote (JSON). */
  logLines: string[]
}

export async function createOpsRig(t: Teardown, tag: string, overrides: Partial<L2tpServerOptions> = {}): Promise<OpsRig> {
  const logLines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''))
      done()
    },
  })
  const proposals = (overrides.ipsec as { proposals?: 'modern' | 'compatible' | 'legacy' } | undefined)?.proposals ?? 'compatible'
  const { log, hub } = createServeLogger({ level: 'info', format: 'json', debug: true, proposals, destination: sink })
  const rig = await createRig(t, tag, { ...overrides, logger: log })
  const socket = join(rig.tempDir, 'admin.sock')
  const auditFile = join(rig.tempDir, 'audit', 'audit.log')
  const config = {
    ...rig.server.config,
    metrics: { listen: '127.0.0.1:0' },
    admin: { ...rig.server.config.admin, socket },
    audit: { file: auditFile, maxBytes: 1024 * 1024, keep: 3 },
    operations: { drainTimeout: 5, statusPage: { listen: '127.0.0.1:0', tokenFile: null }, debug: true, capture: true },
  }
  const ops = await prepareOperations({ server: rig.server, config, log, hub, stateDir: rig.tempDir }).open()
  // Bounded, so that the rig's own teardown (the namespaces) runs after it whatever happens.
  t.teardown(async () => void (await within(ops.close(), 15_000)))
  const metricsUrl = `http://127.0.0.1:${ops.metricsHttp!.port}`
  return {
    rig,
    ops,
    socket,
    auditFile,
    metricsUrl,
    logLines,
    async get(path) {
      const res = await fetch(metricsUrl + path)
      return { status: res.status, body: await res.text() }
    },
  }
}

/** The value of one sample of a Prometheus text exposition (0 when absent). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return 0
}
