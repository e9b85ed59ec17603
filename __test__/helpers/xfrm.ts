/** Reads `ip xfrm state` output into ESP SA parameters for our EspSa. */

export interface XfrmSa {
  src: string
  dst: string
  spi: number
  suite: string
  encryptionKey: Buffer
  integrityKey: Buffer
  /** Packets sent on the SA when the state was dumped (`oseq` if this side sent, else the highest `seq` received). */
  packets: number
}

function suiteOf(enc: string | undefined, encKeyLen: number, auth: string | undefined, truncBits: number): string {
  if (enc === 'rfc4106(gcm(aes))') return `aes${(encKeyLen - 4) * 8}gcm-16`
  const cipher = enc === 'cbc(aes)' ? `aes${encKeyLen * 8}` : enc === 'cbc(des3_ede)' ? '3des' : undefined
  const mac: Record<string, string> = { 'hmac(md5)': 'md5', 'hmac(sha1)': 'sha1', 'hmac(sha256)': truncBits === 96 ? 'sha256_96' : 'sha256', 'hmac(sha384)': 'sha384', 'hmac(sha512)': 'sha512' }
  if (!cipher || !auth || !mac[auth]) throw new Error(`no suite for ${enc} / ${auth}`)
  return `${cipher}-${mac[auth]}`
}

export function parseXfrmState(text: string): XfrmSa[] {
  return text.split(/^(?=src )/m).filter((b) => b.startsWith('src ')).map((block) => {
    const [, src, dst] = /^src (\S+) dst (\S+)/.exec(block)!
    const spi = Number(/spi (0x[0-9a-f]+)/.exec(block)![1])
    const aead = /aead (\S+) 0x([0-9a-f]+)/.exec(block)
    const enc = /\benc (\S+) 0x([0-9a-f]+)/.exec(block)
    const auth = /auth-trunc (\S+) 0x([0-9a-f]+) (\d+)/.exec(block)
    const encryptionKey = Buffer.from((aead ?? enc)![2]!, 'hex')
    const integrityKey = auth ? Buffer.from(auth[2]!, 'hex') : Buffer.alloc(0)
    const suite = suiteOf((aead ?? enc)![1], encryptionKey.length, auth?.[1], Number(auth?.[3] ?? 0))
    const oseq = Number(/oseq (0x[0-9a-f]+)/.exec(block)![1])
    const seq = Number(/context: seq (0x[0-9a-f]+)/.exec(block)![1])
    return { src: src!, dst: dst!, spi, suite, encryptionKey, integrityKey, packets: Math.max(oseq, seq) }
  })
}
