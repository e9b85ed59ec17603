/**
 * What the server accepts, in the words the IKE refusals use for what the
 * client offered ("AES-256/SHA1/MODP1024"), so `debug` shows both sides.
 */
import type { ProposalPolicy } from '../../ike/policy.js'

const GROUPS: Record<number, string> = { 2: 'MODP1024', 5: 'MODP1536', 14: 'MODP2048', 15: 'MODP3072', 16: 'MODP4096', 19: 'ECP256', 20: 'ECP384', 21: 'ECP521' }

function cipherWords(name: string): string {
  const gcm = /^aes(\d+)gcm-16$/.exec(name)
  if (gcm) return `AES-${gcm[1]}-GCM`
  const aes = /^aes(\d+)$/.exec(name)
  if (aes) return `AES-${aes[1]}`
  return name.toUpperCase()
}

const hashWords = (name: string) => name.toUpperCase()

/** "Main Mode: AES-256, AES-128 with SHA256, SHA384 and MODP2048, ECP256" and the Quick Mode line. */
export function serverProposals(policy: ProposalPolicy): { mainMode: string; quickMode: string } {
  const p1 = policy.phase1
  const p2 = policy.phase2
  return {
    mainMode: `${p1.encryption.map(cipherWords).join(', ')} with ${p1.hash.map(hashWords).join(', ')} and ${p1.groups.map((g) => GROUPS[g] ?? `group ${g}`).join(', ')}`,
    quickMode: `${p2.ciphers.map(cipherWords).join(', ')} with ${p2.integrity.map(hashWords).join(', ')} (GCM carries its own integrity)`,
  }
}
