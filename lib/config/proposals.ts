/**
 * `ipsec.proposals` as the ProposalPolicy lib/ike matches offers against:
 * a preset name as is, an explicit mapping as a policy of its own.
 *
 * ProposalPolicy.preset only names a built-in, and lib/ike uses it in
 * rejection messages ("none allowed by preset 'X'") and to skip X when it
 * suggests another preset. For an explicit policy it names the narrowest
 * built-in that accepts everything listed, so those messages point at a
 * preset that is at least as wide as what is configured.
 */
import { PRESETS } from '../ike/policy.js'
import type { PresetName, ProposalPolicy } from '../ike/policy.js'
import type { ServerConfig } from './schema.js'

type Proposals = ServerConfig['ipsec']['proposals']
type Explicit = Exclude<Proposals, string>

export function proposalPolicy(config: Proposals): ProposalPolicy {
  if (typeof config === 'string') return PRESETS[config]
  const closest = closestPreset(config)
  const base = PRESETS[closest]
  return {
    preset: closest,
    phase1: {
      encryption: config.phase1.encryption,
      hash: config.phase1.hash,
      groups: config.phase1.groups,
      maxLifetimeSeconds: config.phase1.lifetime ?? base.phase1.maxLifetimeSeconds,
    },
    phase2: {
      ciphers: config.phase2.ciphers,
      integrity: config.phase2.integrity,
      // PFS with the groups the operator already chose for Phase 1
      pfsGroups: config.phase2.pfsGroups ?? config.phase1.groups,
      requirePfs: config.phase2.requirePfs ?? false,
      maxLifetimeSeconds: config.phase2.lifetime ?? base.phase2.maxLifetimeSeconds,
      maxLifetimeKilobytes: base.phase2.maxLifetimeKilobytes,
    },
    warnings: weakWarnings(config),
  }
}

function closestPreset(p: Explicit): PresetName {
  const within = (list: readonly (string | number)[], allowed: readonly (string | number)[]) => list.every((x) => allowed.includes(x))
  for (const name of ['modern', 'compatible', 'legacy'] as const) {
    const preset = PRESETS[name]
    if (
      within(p.phase1.encryption, preset.phase1.encryption) &&
      within(p.phase1.hash, preset.phase1.hash) &&
      within(p.phase1.groups, preset.phase1.groups) &&
      within(p.phase2.ciphers, preset.phase2.ciphers) &&
      within(p.phase2.integrity, preset.phase2.integrity) &&
      within(p.phase2.pfsGroups ?? [], preset.phase2.pfsGroups)
    ) {
      return name
    }
  }
  return 'legacy'
}

function weakWarnings(p: Explicit): string[] {
  const weak: string[] = []
  if (p.phase1.hash.includes('md5') || p.phase2.integrity.includes('md5')) weak.push('MD5')
  if (p.phase1.encryption.includes('3des') || p.phase2.ciphers.includes('3des')) weak.push('3DES')
  if (p.phase1.groups.includes(2) || (p.phase2.pfsGroups ?? []).includes(2)) weak.push('MODP1024 (group 2)')
  if (weak.length === 0) return []
  return [`ipsec.proposals accepts ${weak.join(', ')}: keep them only for clients that offer nothing better`]
}
