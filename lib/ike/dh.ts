// Diffie-Hellman for IKEv1 phase 1 and PFS: the MODP groups of RFC 2409
// section 6 and RFC 3526 through node:crypto, and the ECP groups of RFC
// 5903 through the native addon (aws-lc: node:crypto's ECDH checks our own
// key pair on every computeSecret, two extra scalar multiplications, which
// doubled the responder's ECDH cost; crates/dataplane/src/ike). Wire formats follow RFC 2409 / RFC 5903 section 7: a MODP
// public value and shared secret are left-padded to the length of the
// prime; an ECP public value is x | y with no point-format octet, and the
// ECP shared secret is the x coordinate alone.
import { createDiffieHellman, type DiffieHellman } from 'node:crypto'
import { IkeEcdh } from '../../native/index.js'
import { IkeCryptoError, type IkeCryptoErrorCode } from './crypto.js'
import { randomBytesPooled } from './random.js'

/** One Diffie-Hellman group as IKE negotiates it (RFC 2409 appendix A "Group Description"). */
export interface DhGroup {
  /** The IKE group number. */
  id: number
  /** `modp768`, `modp2048`, `ecp384`, ... */
  name: string
  kind: 'modp' | 'ecp'
  /** Bytes of a public value in the Key Exchange payload (and of a MODP shared secret). */
  publicLength: number
}

interface ModpDefinition extends DhGroup {
  kind: 'modp'
  prime: bigint
  primeBytes: Buffer
  /** Bits of a generated private exponent. */
  exponentBits: number
}

interface EcpDefinition extends DhGroup {
  kind: 'ecp'
  /** Bytes of one coordinate (and of the shared secret). */
  coordinateLength: number
}

type GroupDefinition = ModpDefinition | EcpDefinition

// The primes, generator 2, from RFC 2409 section 6.1/6.2 (groups 1, 2) and
// RFC 3526 sections 2-5 (groups 5, 14, 15, 16).
const MODP_PRIMES: Record<number, readonly string[]> = {
  1: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF',
  ],
  2: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED',
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF',
  ],
  5: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED',
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05',
    '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB',
    '9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF',
  ],
  14: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED',
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05',
    '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB',
    '9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B',
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718',
    '3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF',
  ],
  15: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED',
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05',
    '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB',
    '9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B',
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718',
    '3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33',
    'A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7',
    'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864',
    'D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2',
    '08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF',
  ],
  16: [
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74',
    '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437',
    '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED',
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05',
    '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB',
    '9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B',
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718',
    '3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33',
    'A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7',
    'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864',
    'D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2',
    '08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7',
    '88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8',
    'DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2',
    '233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9',
    '93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF',
  ],
}

/**
 * Private exponent sizes: RFC 3526 section 8 gives, for each group, twice
 * its larger strength estimate as the exponent size (240, 320, 420, 480
 * bits for groups 5, 14, 15, 16); we never go below 256 bits. A short
 * exponent costs a fraction of a full-length one and loses nothing
 * (RFC 3526 section 8, RFC 2412 appendix E).
 */
const EXPONENT_BITS: Record<number, number> = { 1: 256, 2: 256, 5: 256, 14: 320, 15: 420, 16: 480 }

const MODP_NAMES: Record<number, string> = { 1: 'modp768', 2: 'modp1024', 5: 'modp1536', 14: 'modp2048', 15: 'modp3072', 16: 'modp4096' }

function modp(id: number): ModpDefinition {
  const hex = MODP_PRIMES[id]!.join('')
  return {
    id,
    name: MODP_NAMES[id]!,
    kind: 'modp',
    publicLength: hex.length / 2,
    prime: BigInt(`0x${hex}`),
    primeBytes: Buffer.from(hex, 'hex'),
    exponentBits: EXPONENT_BITS[id]!,
  }
}

function ecp(id: number, bits: number): EcpDefinition {
  const coordinateLength = Math.ceil(bits / 8)
  return { id, name: `ecp${bits}`, kind: 'ecp', publicLength: 2 * coordinateLength, coordinateLength }
}

const GROUPS = new Map<number, GroupDefinition>([
  [1, modp(1)],
  [2, modp(2)],
  [5, modp(5)],
  [14, modp(14)],
  [15, modp(15)],
  [16, modp(16)],
  // RFC 5903 sections 3.1-3.3: NIST P-256, P-384, P-521.
  [19, ecp(19, 256)],
  [20, ecp(20, 384)],
  [21, ecp(21, 521)],
])

/**
 * The groups we negotiate. Group 1 (768 bits) is known to `dhGroup` so it
 * can be named in logs and refused, but is never accepted.
 */
export const SUPPORTED_DH_GROUPS: readonly number[] = Object.freeze([2, 5, 14, 15, 16, 19, 20, 21])

/** Bits of the private exponents we generate for MODP group `id`; undefined for ECP or unknown groups. */
export function modpExponentBits(id: number): number | undefined {
  const group = GROUPS.get(id)
  return group?.kind === 'modp' ? group.exponentBits : undefined
}

/** The group with IKE number `id`, or undefined if we do not know it. */
export function dhGroup(id: number): DhGroup | undefined {
  const group = GROUPS.get(id)
  if (!group) return undefined
  return { id: group.id, name: group.name, kind: group.kind, publicLength: group.publicLength }
}

function definition(group: DhGroup): GroupDefinition {
  const known = GROUPS.get(group.id)
  if (!known) throw new IkeCryptoError('IKE_UNKNOWN_GROUP', `unknown Diffie-Hellman group ${group.id}`)
  return known
}

function leftPad(value: Buffer, length: number): Buffer {
  if (value.length === length) return value
  if (value.length > length) throw new IkeCryptoError('IKE_BAD_KE', `value of ${value.length} bytes is longer than ${length}`)
  const padded = Buffer.alloc(length)
  value.copy(padded, length - value.length)
  return padded
}

function toBigInt(value: Buffer): bigint {
  return value.length === 0 ? 0n : BigInt(`0x${value.toString('hex')}`)
}

/** Bits of a big-endian unsigned value (0 for zero). */
function bitLength(value: Buffer): number {
  let i = 0
  while (i < value.length && value[i] === 0) i++
  return i === value.length ? 0 : (value.length - i - 1) * 8 + (32 - Math.clz32(value[i]!))
}

/** A fresh exponent of exactly `bits` bits (top bit set), random below it. */
function randomExponent(bits: number): Buffer {
  const bytes = randomBytesPooled(Math.ceil(bits / 8))
  const excess = bytes.length * 8 - bits
  bytes[0] = (bytes[0]! & (0xff >> excess)) | (0x80 >> excess)
  return bytes
}

/**
 * One node:crypto DiffieHellman per MODP group, shared by all key pairs:
 * each operation sets its exponent and computes at once (synchronously),
 * so an IKE SA holds only its exponent, and a key pair costs no new native
 * object and no BIGNUM conversion of the prime. `low`/`high` are 1 and
 * p - 1 padded to the prime's length, for the range check of peer values
 * without BigInt.
 */
interface ModpEngine {
  dh: DiffieHellman
  one: Buffer
  pMinus1: Buffer
}
const MODP_ENGINES = new Map<number, ModpEngine>()

function modpEngine(def: ModpDefinition): ModpEngine {
  let engine = MODP_ENGINES.get(def.id)
  if (!engine) {
    const one = Buffer.alloc(def.publicLength)
    one[one.length - 1] = 1
    const pMinus1 = Buffer.from(def.primeBytes)
    pMinus1[pMinus1.length - 1]! -= 1 // p is odd: no borrow
    engine = { dh: createDiffieHellman(def.primeBytes, Buffer.from([2])), one, pMinus1 }
    MODP_ENGINES.set(def.id, engine)
  }
  return engine
}

/** What an IKE SA needs of its Diffie-Hellman half (DhKeyPair, or a load generator's reused one). */
export interface DhKeys {
  readonly group: DhGroup
  readonly publicKey: Buffer
  computeSecret(peerPublic: Buffer): Buffer
  destroy(): void
}

/**
 * Our half of one Diffie-Hellman exchange. `privateKey` is for tests and
 * known-answer vectors: a MODP exponent or an ECP scalar, big-endian.
 * `destroy()` zeroes the private value once the shared secret is known.
 */
export class DhKeyPair implements DhKeys {
  readonly group: DhGroup
  /** Our public value as it goes into the KE payload. */
  readonly publicKey: Buffer
  readonly #definition: GroupDefinition
  /** MODP: our exponent. */
  #exponent: Buffer | undefined
  /** ECP: the native key pair (the scalar stays in Rust). */
  #ecdh: IkeEcdh | undefined

  constructor(group: DhGroup, privateKey?: Buffer) {
    const def = definition(group)
    this.#definition = def
    this.group = dhGroup(def.id)!
    if (def.kind === 'modp') {
      if (privateKey) {
        const x = toBigInt(privateKey)
        if (x < 2n || x >= def.prime - 1n) throw new IkeCryptoError('IKE_BAD_PRIVATE_KEY', `private exponent out of range for ${def.name}`)
      }
      // A generated exponent has exactly exponentBits (< the prime's) bits: in range.
      const exponent = Buffer.from(privateKey ?? randomExponent(def.exponentBits))
      const { dh } = modpEngine(def)
      dh.setPrivateKey(exponent)
      // With the private key set, generateKeys() only computes g^x mod p.
      this.publicKey = leftPad(dh.generateKeys(), def.publicLength)
      this.#exponent = exponent
      this.#ecdh = undefined
    } else {
      if (privateKey && privateKey.length > def.coordinateLength) throw new IkeCryptoError('IKE_BAD_PRIVATE_KEY', `private key too long for ${def.name}`)
      const ecdh = nativeEcdh(() => new IkeEcdh(def.id, privateKey))
      this.publicKey = ecdh.publicKey()
      this.#ecdh = ecdh
      this.#exponent = undefined
    }
  }

  /** Zeroes our exponent (MODP) or has the addon free (and wipe) our scalar (ECP): no shared secret after this. */
  destroy(): void {
    this.#exponent?.fill(0)
    this.#exponent = undefined
    this.#ecdh?.destroy()
    this.#ecdh = undefined
  }

  /** Bit length of the private exponent or scalar. */
  get privateKeyBits(): number {
    if (this.#ecdh) return this.#ecdh.privateKeyBits()
    if (!this.#exponent) throw new IkeCryptoError('IKE_BAD_PRIVATE_KEY', 'the key pair was destroyed')
    return bitLength(this.#exponent)
  }

  /**
   * The shared secret g^xy from the peer's KE payload data: for MODP the
   * value left-padded to the prime's length, for ECP the x coordinate
   * (RFC 5903 section 7). Throws IKE_BAD_KE on a wrong length, a MODP value
   * outside 2..p-2 (RFC 2631 section 2.1.5 style check: 0, 1 and p-1 force
   * the secret), or a point that is not on the curve.
   */
  computeSecret(peerPublic: Buffer): Buffer {
    const def = this.#definition
    if (peerPublic.length !== def.publicLength) {
      throw new IkeCryptoError('IKE_BAD_KE', `${def.name} public value must be ${def.publicLength} bytes, got ${peerPublic.length}`)
    }
    if (def.kind === 'modp') {
      const engine = modpEngine(def)
      if (peerPublic.compare(engine.one) <= 0 || peerPublic.compare(engine.pMinus1) >= 0) throw new IkeCryptoError('IKE_BAD_KE', `${def.name} public value out of range`)
      if (!this.#exponent) throw new IkeCryptoError('IKE_BAD_PRIVATE_KEY', 'the key pair was destroyed')
      let secret: Buffer
      try {
        engine.dh.setPrivateKey(this.#exponent)
        secret = engine.dh.computeSecret(peerPublic)
      } catch (cause) {
        throw new IkeCryptoError('IKE_BAD_KE', `${def.name} public value rejected`, { cause })
      }
      return leftPad(secret, def.publicLength)
    }
    const ecdh = this.#ecdh
    if (!ecdh) throw new IkeCryptoError('IKE_BAD_PRIVATE_KEY', 'the key pair was destroyed')
    return leftPad(nativeEcdh(() => ecdh.computeSecret(peerPublic)), def.coordinateLength)
  }
}

/** Runs a call into the native ECDH, rethrowing its errors (code IKE_*) as IkeCryptoError. */
function nativeEcdh<T>(call: () => T): T {
  try {
    return call()
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    const known: readonly string[] = ['IKE_BAD_KE', 'IKE_BAD_PRIVATE_KEY', 'IKE_UNKNOWN_GROUP']
    if (typeof code === 'string' && known.includes(code)) throw new IkeCryptoError(code as IkeCryptoErrorCode, (cause as Error).message, { cause })
    throw cause
  }
}
