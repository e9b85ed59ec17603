/**
 * The `access` and `anomaly` sections of the configuration (zod), kept out
 * of schema.ts so the zero-trust settings read in one place.
 *
 * access: which traffic policy (of `policies`) a session gets when its
 * user, the login callback or RADIUS names none, and whether a session or
 * a policy that says nothing allows or denies (`default`).
 *
 * anomaly: the data plane's per-session traffic flags (a sudden rise of
 * the packet rate, many distinct destinations in a short time), reported
 * as `session-anomaly` events; `kick` also ends the session.
 */
import * as z from 'zod'

/** Names of `policies` entries (also what a RADIUS Filter-Id carries). */
export const POLICY_NAME = /^[A-Za-z0-9._-]{1,64}$/

export const policyNames = () =>
  z.array(z.string().regex(POLICY_NAME, 'policy names: at most 64 letters, digits, ".", "_" and "-"')).superRefine((list, ctx) => {
    list.forEach((value, i) => {
      if (list.indexOf(value) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(value)} is listed twice` })
    })
  })

export const accessSchema = z
  .strictObject({
    /**
     * allow: a session no policy names is not filtered, and a policy
     * without its own `default` allows what its rules do not deny.
     * deny (zero trust): such a session reaches nothing, and such a policy
     * denies what its rules do not allow.
     */
    default: z.enum(['allow', 'deny']).default('allow'),
    /** Policies for sessions that name none (user, callback and RADIUS said nothing). */
    policies: policyNames().default([]),
  })
  .prefault({})

export const ANOMALY_MODES = ['off', 'notify', 'kick'] as const

export const anomalySchema = z
  .strictObject({
    /** off: not watched; notify: event, metric and log; kick: those, then the session ends (reason 'anomaly'). */
    mode: z.enum(ANOMALY_MODES).default('off'),
    /** Packets per second from the client above `factor` times its moving average, and above `minPps`. */
    rateJump: z
      .strictObject({
        factor: z.number().gt(1).default(10),
        minPps: z.number().int().min(1).default(1000),
        /** Seconds the moving average spans (an exponential average, one sample a second). */
        averageSeconds: z.number().int().min(2).max(3600).default(30),
      })
      .nullable()
      .prefault({}),
    /** Distinct destinations (address, protocol, port) the client sent to within `interval` seconds, above `max`. */
    destinations: z
      .strictObject({
        max: z.number().int().min(8).max(4000).default(256),
        interval: z.number().int().min(1).max(600).default(10),
      })
      .nullable()
      .prefault({}),
  })
  .prefault({})

export type AccessConfig = z.output<typeof accessSchema>
export type AnomalyConfig = z.output<typeof anomalySchema>
