/**
 * The crypto posture of a configuration, for `l2tp-ipsec check-config`:
 * each weak choice with what it risks and what to use instead. Findings are
 * advice, not errors: the command still exits 0 (a deployment may need
 * MODP1024 for an old client), and the operator sees the cost.
 *
 * `weak`: a known attack applies. `advice`: sound today, better exists.
 */
import type { ServerConfig } from '../config/index.js'
import { proposalPolicy } from '../config/index.js'
import { humanDuration, pskStrength, MIN_GUESSES_LOG10, OFFLINE_GUESSES_PER_SECOND } from './psk-strength.js'

export interface PostureFinding {
  level: 'weak' | 'advice'
  /** The configuration key to change. */
  key: string
  finding: string
  risk: string
  instead: string
}

const SMALL_GROUPS: Record<number, string> = { 2: 'MODP1024 (group 2)', 5: 'MODP1536 (group 5)' }

export async function postureReport(config: ServerConfig): Promise<PostureFinding[]> {
  const out: PostureFinding[] = []
  const policy = proposalPolicy(config.ipsec.proposals)
  const key = 'ipsec.proposals'
  const groups = [...new Set([...policy.phase1.groups, ...policy.phase2.pfsGroups])].filter((g) => SMALL_GROUPS[g]).sort((a, b) => a - b)
  if (groups.length) {
    out.push({
      level: 'weak',
      key,
      finding: `${groups.map((g) => SMALL_GROUPS[g]).join(' and ')} accepted (preset '${policy.preset}')`,
      risk: 'Diffie-Hellman below 2048 bits: a 1024-bit prime shared by many servers is within reach of precomputation by a well-funded attacker (Logjam, 2015), who then decrypts recorded sessions; RFC 8247 forbids group 2 for IKE',
      instead: "groups of 2048 bits or more: 14 (MODP2048), 19 or 20 (ECP256/384): the 'modern' preset (Windows offers group 14 with AES only after the RasMan registry value NegotiateDH2048_AES256 is set)",
    })
  }
  if (policy.phase1.encryption.includes('3des') || policy.phase2.ciphers.includes('3des')) {
    out.push({
      level: 'weak',
      key,
      finding: '3DES accepted',
      risk: '64-bit blocks: after about 32 GB under one key, birthday collisions leak plaintext (Sweet32, CVE-2016-2183); also slow',
      instead: 'AES-GCM for ESP (aes128gcm-16, aes256gcm-16) and AES-CBC for Phase 1',
    })
  }
  if (policy.phase1.hash.includes('md5') || policy.phase2.integrity.includes('md5')) {
    out.push({
      level: 'weak',
      key,
      finding: 'MD5 accepted',
      risk: 'MD5 collisions are practical; HMAC-MD5 has no known forgery but no margin left, and RFC 8221/8247 say MUST NOT',
      instead: 'SHA2-256 (sha256) or AES-GCM for ESP',
    })
  }
  if (policy.phase1.hash.includes('sha1') || policy.phase2.integrity.includes('sha1')) {
    out.push({
      level: 'advice',
      key,
      finding: 'SHA-1 accepted',
      risk: 'SHA-1 collisions are practical (SHAttered, 2017); HMAC-SHA1 and the PRF remain sound, but there is no margin',
      instead: 'SHA2-256 where every client offers it (the modern preset)',
    })
  }
  if (config.ipsec.aggressiveMode) {
    out.push({
      level: 'weak',
      key: 'ipsec.aggressiveMode',
      finding: 'Aggressive Mode enabled',
      risk: 'the server sends a hash keyed by the PSK to anyone who asks with a valid ID, without authenticating them: offline guessing of the PSK from one packet (ike-scan -A, psk-crack)',
      instead: 'Main Mode (aggressiveMode: false): on Android leave "IPsec identifier" empty (filling it in is what switches racoon to Aggressive Mode); or certificates',
    })
  }
  const psk = config.ipsec.psk
  if (psk !== undefined) {
    const methods = config.ppp.auth.filter((m) => m !== 'eap')
    if (methods.length) {
      const how: Record<string, string> = {
        mschapv2: 'MS-CHAPv2 responses, which crack to the NT hash in one 2^56 DES search (chapcrack) whatever the password',
        chap: 'CHAP-MD5 responses, open to offline guessing of the password',
        pap: 'PAP passwords in clear',
      }
      out.push({
        level: 'weak',
        key: 'ipsec.psk',
        finding: `a shared pre-shared key with ${methods.join(', ')}`,
        risk: `IKEv1 with a PSK authenticates the group, not the server: any holder of the PSK (every user) can pose as the server (a rogue access point, DNS or ARP spoofing) and collect ${methods.map((m) => how[m]).join('; ')}`,
        instead: 'a server certificate (ipsec.certificate) so clients authenticate the server, or a per-user credential checked before PPP; at the least keep the PSK secret and rotate it',
      })
    }
    const strength = await pskStrength(psk)
    if (strength.weak) {
      out.push({
        level: 'weak',
        key: config.ipsec.pskFile !== undefined ? 'ipsec.pskFile' : 'ipsec.psk',
        finding: `short or guessable pre-shared key: ${strength.reasons.join('; ')}`,
        risk: `whoever gets a client to start Main Mode with them can test guesses offline; at ${OFFLINE_GUESSES_PER_SECOND.toExponential(0)} guesses per second this one falls in about ${humanDuration(strength.crackSeconds)} (strong: 1e${MIN_GUESSES_LOG10} guesses or more). The PSK is all an IKEv1 PSK session's secrecy rests on against a future quantum attacker too (README)`,
        instead: 'a random key of 32 characters or more (openssl rand -base64 33), or certificates',
      })
    }
  }
  return out
}

/** The findings as check-config prints them. */
export function formatFindings(findings: readonly PostureFinding[]): string[] {
  return findings.flatMap((f) => [`posture ${f.level}: ${f.key}: ${f.finding}`, `  risk: ${f.risk}`, `  instead: ${f.instead}`])
}
