/**
 * The `security` section: brute-force defence and the resource limits that
 * are not in ipsec/l2tp (ipsec.maxHalfOpen, ipsec.maxHalfOpenPerSource,
 * l2tp.maxTunnelsPerPeer, maxSessionsPerTunnel, maxSessionsPerPeer stay where they were).
 * Every key has a safe default; README "Limits and brute-force defence".
 */
import * as z from 'zod'
import { allowListEntryProblem } from '../security/allow-list.js'

const seconds = () => z.number().min(0)
const positiveInt = () => z.number().int().min(1)

export const securitySchema = z.strictObject({
  /** Sources never rate-limited, delayed nor locked out: addresses or prefixes. */
  allowList: z
    .array(z.string().superRefine((s, ctx) => {
      const problem = allowListEntryProblem(s)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }))
    .default([]),
  /** Phase 1 authentication failures (wrong PSK, refused certificate), per source address. */
  ikeAuth: z
    .strictObject({
      maxFailures: positiveInt().default(10),
      window: seconds().default(900),
      lockout: seconds().default(900),
      baseDelay: seconds().default(1),
      maxDelay: seconds().default(30),
    })
    .prefault({}),
  /** PPP authentication failures, per (user, source) pair and per source. */
  pppAuth: z
    .strictObject({
      maxFailures: positiveInt().default(5),
      window: seconds().default(900),
      lockout: seconds().default(900),
      baseDelay: seconds().default(1),
      maxDelay: seconds().default(60),
      sourceMaxFailures: positiveInt().default(100),
      sourceLockout: seconds().default(900),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** New Main/Aggressive Mode exchanges per second per source (burst twice that); 0: off. */
      ikeRatePerSource: z.number().min(0).default(50),
      /** Established IKE SAs of one identity from distinct addresses/ports. */
      ikeSasPerIdentity: positiveInt().default(256),
      /** IKE messages being reassembled from fragments at once, and bytes per message. */
      ikeFragmentReassemblies: positiveInt().default(32),
      ikeFragmentBytes: z.number().int().min(1024).default(65536),
      /** Authentication requests (local, callback, RADIUS) in flight at once; more are refused as busy. */
      pendingAuth: positiveInt().default(256),
      /** Control frames from the data plane not yet handled by the control plane (queued in Rust or waiting for the JS thread); beyond, dropped and counted (up_queue_full). */
      controlQueue: positiveInt().default(65536),
      /** Their payload bytes (a large IKE datagram is up to 64 KiB: 65536 of them would be 4 GiB); beyond, dropped and counted (up_queue_bytes_full). At least 1 MiB. */
      controlQueueBytes: z.number().int().min(1_048_576).max(0xffff_ffff).default(32 * 1024 * 1024),
    })
    .prefault({}),
})

export type SecurityConfig = z.output<typeof securitySchema>
