/**
 * The operations sections of the configuration (issue #11): the audit log,
 * draining on SIGTERM, the status page, and the root-only troubleshooting
 * tools. Kept apart from schema.ts, which only mounts them.
 */
import * as z from 'zod'

const hostPort = () =>
  z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port" (IPv6 as "[::1]:9478")')

export const auditSchema = z.strictObject({
  /** Append-only, hash-chained JSON lines; null: no audit log. */
  file: z.string().min(1).nullable().default(null),
  maxBytes: z.number().int().min(4096).default(10 * 1024 * 1024),
  keep: z.number().int().min(1).max(1000).default(10),
})

export const operationsSchema = z.strictObject({
  /** Seconds SIGTERM waits for clients to acknowledge Terminate/CDN/StopCCN/Delete before it cuts. */
  drainTimeout: z.number().min(0).max(600).default(10),
  statusPage: z
    .strictObject({
      /** Where the status page listens (HTTP); null: off. Keep it on localhost or behind a TLS proxy. */
      listen: hostPort().nullable().default(null),
      /** A file holding the access token; null: a random token kept in <state dir>/status-token (0600). */
      tokenFile: z.string().min(1).nullable().default(null),
    })
    .prefault({}),
  /** `l2tp-ipsec debug USER-or-PEER` over the admin socket (root only). */
  debug: z.boolean().default(false),
  /** `l2tp-ipsec capture --session ID` (root only): the session's decrypted packets into a pcap. */
  capture: z.boolean().default(false),
})
