/**
 * The reference of the IKE benchmark: what OpenSSL needs for the
 * responder's two Diffie-Hellman operations of one exchange (key
 * generation and shared secret), on this machine, in this run.
 *
 * MODP: `openssl speed ffdhNNNN` times one shared-secret derivation with
 * OpenSSL's own private exponent for the FFDHE group (225 bits for 2048),
 * shorter than ours (320 bits for group 14, RFC 3526 section 8). So the
 * same run also times OpenSSL's modular exponentiation (node:crypto's
 * DiffieHellman calls DH_generate_key / DH_compute_key) with both exponent
 * lengths, and scales openssl speed's figure by what our length costs:
 * bound = speed ops/s x t(derive, OpenSSL's bits) / (t(keygen, our bits) +
 * t(derive, our bits)), all in CPU time.
 *
 * ECP: openssl speed ecdhpNNN ops/s / 2 (it times derivation only; key
 * generation on a fixed base is cheaper, so this bound is a little low).
 */
import { createDiffieHellman, getDiffieHellman, randomBytes, type DiffieHellman } from 'node:crypto'
import { threadCpuMicros } from '../../native/index.js'
import { modpExponentBits } from '../ike/dh.js'
import { opensslFfdhExponentBits, opensslSpeedOps } from './openssl-speed.js'

export interface DhReference {
  /** `openssl speed` operations per CPU second, as it reports them. */
  opensslSpeedOps: number
  opensslAlgorithm: string
  /** Private exponent bits: OpenSSL's (what openssl speed used) and ours (MODP only). */
  opensslExponentBits?: number
  ourExponentBits?: number
  /** The bound: exchanges per CPU second if the responder did nothing but its two DH operations. */
  exchangesPerSecond: number
}

const SPEED_NAME: Record<number, string> = { 14: 'ffdh2048', 15: 'ffdh3072', 16: 'ffdh4096', 19: 'ecdhp256', 20: 'ecdhp384', 21: 'ecdhp521' }
const FFDHE_NAME: Record<number, string> = { 14: 'ffdhe2048', 15: 'ffdhe3072', 16: 'ffdhe4096' }

function exponent(bits: number): Buffer {
  const bytes = randomBytes(Math.ceil(bits / 8))
  const excess = bytes.length * 8 - bits
  bytes[0] = (bytes[0]! & (0xff >> excess)) | (0x80 >> excess)
  return bytes
}

/** CPU microseconds (of this thread, as the responder is timed) per call of `f`, over about `budgetMs` of CPU. */
function cpuMicros(f: () => unknown, budgetMs: number): number {
  f()
  const start = threadCpuMicros()
  let n = 0
  let used = 0
  do {
    f()
    n++
    used = threadCpuMicros() - start
  } while (used < budgetMs * 1000)
  return used / n
}

/** OpenSSL's CPU time for g^x mod p and y^x mod p with an x of `bits` bits, in the MODP group `id`. */
function modexpMicros(id: number, bits: number, budgetMs: number): { keygen: number; derive: number } {
  const prime = getDiffieHellman(`modp${id}`).getPrime()
  const make = (): DiffieHellman => {
    const dh = createDiffieHellman(prime, Buffer.from([2]))
    dh.setPrivateKey(exponent(bits))
    return dh
  }
  const ours = make()
  const peerPublic = make().generateKeys()
  // With the private key set, generateKeys() only computes g^x mod p.
  return { keygen: cpuMicros(() => ours.generateKeys(), budgetMs), derive: cpuMicros(() => ours.computeSecret(peerPublic), budgetMs) }
}

export function dhReference(group: number, seconds: number): DhReference {
  const algorithm = SPEED_NAME[group]
  if (!algorithm) throw new Error(`no openssl speed reference for group ${group}`)
  const ops = opensslSpeedOps(algorithm, seconds)
  const ourBits = modpExponentBits(group)
  if (ourBits === undefined) return { opensslSpeedOps: ops, opensslAlgorithm: algorithm, exchangesPerSecond: ops / 2 }
  const theirBits = opensslFfdhExponentBits(FFDHE_NAME[group]!)
  // Alternate the two lengths so a change in machine load hits both alike.
  let theirs = 0
  let mine = 0
  for (let round = 0; round < 3; round++) {
    theirs += modexpMicros(group, theirBits, 150).derive
    const m = modexpMicros(group, ourBits, 150)
    mine += m.keygen + m.derive
  }
  return { opensslSpeedOps: ops, opensslAlgorithm: algorithm, opensslExponentBits: theirBits, ourExponentBits: ourBits, exchangesPerSecond: (ops * theirs) / mine }
}
