/**
 * The real messages the JS fuzz targets mutate: every IKE message of the
 * recorded strongSwan sessions, every L2TP control message and PPP control
 * frame of the recorded xl2tpd/pppd sessions, the FreeRADIUS and RFC 2865
 * RADIUS packets (__test__/vectors/*, each folder's README says where they
 * come from). Read once, lazily.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '__test__', 'vectors')

const hex = (s: string) => Buffer.from(s, 'hex')
const json = (path: string) => JSON.parse(readFileSync(join(VECTORS, path), 'utf8')) as unknown

function once<T>(load: () => T): () => T {
  let value: T | undefined
  return () => (value ??= load())
}

/** IKE messages as sent (no non-ESP marker), client's and server's, plain and encrypted. */
export const ikeSeeds = once(() =>
  readdirSync(join(VECTORS, 'ike'))
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => (json(`ike/${f}`) as { messages: { hex: string }[] }).messages.map((m) => hex(m.hex))),
)

/** L2TP control messages (UDP 1701 payloads), both directions. */
export const l2tpSeeds = once(() => (json('l2tp/real-control.json') as { messages: { hex: string }[] }).messages.map((m) => hex(m.hex)))

/** PPP control frames from FF 03 on (LCP, PAP/CHAP/MS-CHAPv2, IPCP, CCP...). */
export const pppSeeds = once(() =>
  readFileSync(join(VECTORS, 'ppp', 'real-control-frames.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('ppp '))
    .map((l) => hex(l.slice(4).trim())),
)

export interface RadiusSeed {
  secret: Buffer
  request: Buffer
  reply: Buffer
}

/** RADIUS requests with their replies and the shared secret that signed them. */
export const radiusSeeds = once((): RadiusSeed[] => {
  const fr = json('radius/freeradius-mschapv2.json') as { secret: string; request: string; accept: string }
  const rfc = json('radius/rfc2865.json') as { secret: string; exchanges: { request: string; reply: string }[] }
  return [
    { secret: Buffer.from(fr.secret), request: hex(fr.request), reply: hex(fr.accept) },
    ...rfc.exchanges.map((e) => ({ secret: Buffer.from(rfc.secret), request: hex(e.request), reply: hex(e.reply) })),
  ]
})
