/**
 * What the server accepts in IKEv1 Phase 1 and Phase 2 (ESP), as presets.
 * IKEv1 Phase 1 has no AEAD: AES-GCM is ESP only. The first acceptable
 * transform in the client's order wins (proposal.ts).
 */

export type Phase1Encryption = 'aes128' | 'aes192' | 'aes256' | '3des'
export type HashName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'
export type EspCipher = 'aes128' | 'aes192' | 'aes256' | '3des' | 'aes128gcm-16' | 'aes256gcm-16'
export type EspIntegrity = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512'
export type PresetName = 'modern' | 'compatible' | 'legacy'

export interface Phase1Policy {
  encryption: readonly Phase1Encryption[]
  hash: readonly HashName[]
  groups: readonly number[]
  /** Longest Phase 1 lifetime we keep; longer offers are accepted and expire at this. */
  maxLifetimeSeconds: number
}

export interface Phase2Policy {
  ciphers: readonly EspCipher[]
  /** For the non-AEAD ciphers. */
  integrity: readonly EspIntegrity[]
  /** Groups accepted when the client asks for PFS. */
  pfsGroups: readonly number[]
  requirePfs: boolean
  maxLifetimeSeconds: number
  /** 0: no volume limit of our own. */
  maxLifetimeKilobytes: number
}

export interface ProposalPolicy {
  preset: PresetName
  phase1: Phase1Policy
  phase2: Phase2Policy
  /** Posture warnings to log when the policy is loaded. */
  warnings: readonly string[]
}

const STRONG_GROUPS = [14, 15, 16, 19, 20, 21] as const

const modern: ProposalPolicy = {
  preset: 'modern',
  phase1: {
    encryption: ['aes256', 'aes128', 'aes192'],
    hash: ['sha256', 'sha384', 'sha512'],
    groups: STRONG_GROUPS,
    maxLifetimeSeconds: 86400,
  },
  phase2: {
    ciphers: ['aes256gcm-16', 'aes128gcm-16', 'aes256', 'aes128', 'aes192'],
    integrity: ['sha256', 'sha384', 'sha512'],
    pfsGroups: STRONG_GROUPS,
    requirePfs: false,
    maxLifetimeSeconds: 28800,
    maxLifetimeKilobytes: 0,
  },
  warnings: [],
}

const compatible: ProposalPolicy = {
  preset: 'compatible',
  phase1: {
    encryption: ['aes256', 'aes128', 'aes192', '3des'],
    hash: ['sha256', 'sha384', 'sha512', 'sha1'],
    groups: [...STRONG_GROUPS, 5, 2],
    maxLifetimeSeconds: 86400,
  },
  phase2: {
    ciphers: ['aes256gcm-16', 'aes128gcm-16', 'aes256', 'aes128', 'aes192', '3des'],
    integrity: ['sha256', 'sha384', 'sha512', 'sha1'],
    pfsGroups: [...STRONG_GROUPS, 5, 2],
    requirePfs: false,
    maxLifetimeSeconds: 28800,
    maxLifetimeKilobytes: 0,
  },
  warnings: [
    "proposal preset 'compatible' accepts SHA1, 3DES and MODP1024 (group 2) so the built-in clients of Windows, macOS/iOS and Android connect; use 'modern' if every client offers AES with SHA2 and group 14 or better",
  ],
}

const legacy: ProposalPolicy = {
  preset: 'legacy',
  phase1: { ...compatible.phase1, hash: [...compatible.phase1.hash, 'md5'] },
  phase2: { ...compatible.phase2, integrity: [...compatible.phase2.integrity, 'md5'] },
  warnings: [
    ...compatible.warnings,
    "proposal preset 'legacy' also accepts MD5: only for old routers that offer nothing better",
  ],
}

export const PRESETS: Readonly<Record<PresetName, ProposalPolicy>> = { modern, compatible, legacy }

export const DEFAULT_PRESET: PresetName = 'compatible'
