/**
 * Which data-plane traffic policy a session gets (zero trust, per user or
 * group): the names its login brought (a RADIUS Filter-Id, the user's
 * `policies` in the configuration, the login callback's `policy.policies`),
 * the callback's inline rules and rate, else `access.policies`; what no rule
 * matches is decided by the policies' own `default`, else `access.default`.
 *
 * Direction: the data plane applies the policy to packets from the client
 * (towards the inner network), statelessly. Packets towards the client are
 * not filtered by it, so replies from an allowed destination come back; a
 * host the policy denies may send to the client, but whatever the client
 * answers it is dropped (and counted), so no exchange with it completes.
 *
 * Pure: the server control plane calls it at login, on a CoA and on reload.
 */
import type { PolicyOptions, PolicyRuleOptions } from '../../native/index.js'
import type { PolicyRule, UserPolicy } from '../auth/types.js'
import type { ServerConfig } from '../config/index.js'

/** One configured policy as the data plane takes it; `default` absent: the access mode decides. */
export interface NamedPolicy {
  default?: 'allow' | 'deny'
  rules: PolicyRuleOptions[]
  rateBps?: number
}

/** Everything the choice depends on, rebuilt from the configuration at start and on reload. */
export interface SessionPolicySet {
  mode: 'allow' | 'deny'
  /** For sessions that name no policy. */
  defaults: readonly string[]
  policies: Readonly<Record<string, NamedPolicy>>
  /** Local users and the policies the configuration gives them (a reload reads them again). */
  users: ReadonlyMap<string, readonly string[] | undefined>
}

/** What a login said about its session's traffic. */
export interface PolicySources {
  user: string
  /** RADIUS Filter-Id (or a CoA's): when non-empty, over the user's own names. */
  filterId?: readonly string[]
  /** The authenticator's policy (local user, callback). */
  policy?: UserPolicy
}

/** The configuration's `policies`, `access` and users' names, as the server uses them. */
export function sessionPolicySet(c: Pick<ServerConfig, 'policies' | 'access' | 'users'>): SessionPolicySet {
  const policies: Record<string, NamedPolicy> = {}
  for (const [name, p] of Object.entries(c.policies)) {
    policies[name] = {
      ...(p.default !== undefined ? { default: p.default } : {}),
      rules: p.rules.map((r) => ({
        action: r.action,
        prefix: r.destination,
        ...(r.protocol !== 'any' ? { protocol: r.protocol } : {}),
        ...(r.ports !== undefined ? { ports: String(r.ports) } : {}),
      })),
      ...(p.rateBps !== undefined ? { rateBps: p.rateBps } : {}),
    }
  }
  return { mode: c.access.default, defaults: c.access.policies, policies, users: new Map(c.users.map((u) => [u.name, u.policies])) }
}

/** The session's policy, or why there is none (a name that is not configured, a malformed inline rule). */
export function resolveSessionPolicy(set: SessionPolicySet, from: PolicySources): PolicyOptions | { error: string } {
  const inline = from.policy?.allow ?? []
  const rules: PolicyRuleOptions[] = []
  for (const [i, r] of inline.entries()) {
    const rule = inlineRule(r)
    if (typeof rule === 'string') return { error: `policy.allow[${i}]: ${rule}` }
    rules.push(rule)
  }
  const own = from.filterId && from.filterId.length > 0 ? from.filterId : set.users.has(from.user) ? set.users.get(from.user) : from.policy?.policies
  const names = own && own.length > 0 ? own : inline.length > 0 ? [] : set.defaults
  const missing = names.filter((n) => !Object.hasOwn(set.policies, n))
  if (missing.length > 0) return { error: `${missing.map((n) => JSON.stringify(n)).join(', ')} ${missing.length === 1 ? 'is not a configured policy' : 'are not configured policies'}` }
  const chosen = names.map((n) => set.policies[n]!)
  rules.push(...chosen.flatMap((p) => p.rules))
  const defaults = chosen.map((p) => p.default)
  const rates = [...chosen.map((p) => p.rateBps), from.policy?.rateBps].filter((r): r is number => r !== undefined)
  return {
    // Several policies: any that denies by default makes the session deny by default.
    default: defaults.includes('deny') ? 'deny' : defaults.includes('allow') ? 'allow' : set.mode,
    rules,
    ...(rates.length > 0 ? { rateBps: Math.min(...rates) } : {}),
  }
}

const PROTOCOLS = new Set(['any', 'tcp', 'udp', 'sctp', 'icmp', 'icmpv6'])

/** A callback's rule as the data plane takes it (the data plane checks the prefix itself). */
function inlineRule(r: PolicyRule): PolicyRuleOptions | string {
  if (typeof r !== 'object' || r === null) return 'not an object'
  if (r.action !== 'allow' && r.action !== 'deny') return `action must be "allow" or "deny", got ${JSON.stringify(r.action)}`
  if (typeof r.destination !== 'string' || r.destination.length === 0) return 'destination must be an address or prefix'
  if (r.protocol !== undefined && !PROTOCOLS.has(r.protocol)) return `protocol ${JSON.stringify(r.protocol)} is not one of ${[...PROTOCOLS].join(', ')}`
  let ports: string | undefined
  if (r.ports !== undefined) {
    const [a, b] = Array.isArray(r.ports) ? r.ports : []
    if (!Number.isInteger(a) || !Number.isInteger(b) || a! < 0 || b! > 65535 || a! > b!) return 'ports must be [first, last], 0..65535, first not above last'
    ports = `${a}-${b}`
  }
  return {
    action: r.action,
    prefix: r.destination,
    ...(r.protocol !== undefined && r.protocol !== 'any' ? { protocol: r.protocol } : {}),
    ...(ports !== undefined ? { ports } : {}),
  }
}

/** Whether two resolved policies are the same (a reload reinstalls only what changed). */
export function samePolicy(a: PolicyOptions | undefined, b: PolicyOptions | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
