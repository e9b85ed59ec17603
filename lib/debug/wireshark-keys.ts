/**
 * IKEv1 and ESP keys in Wireshark's own table formats, so that a capture of
 * the server's traffic decrypts in Wireshark or tshark: the IKEv1
 * decryption table (`ikev1_decryption_table`: initiator cookie, encryption
 * key) opens Main Mode messages 5/6, Quick Mode and Informational
 * exchanges; the ESP SA table (`esp_sa`) opens ESP, raw or in UDP 4500.
 *
 * One line per record, written as tshark's `-o` option takes it:
 *
 *   uat:ikev1_decryption_table:<icookie hex>,<key hex>
 *   uat:esp_sa:"IPv4","<src>","<dst>","0x<spi>","<cipher>","0x<key>","<mac>","0x<key>"
 *
 * so `tshark -r capture.pcap -o esp.enable_encryption_decode:TRUE
 * -o'uat:…' …` reads them directly, and the part after the second colon is
 * a line of the table file in a Wireshark profile (~/.config/wireshark/
 * esp_sa, ikev1_decryption_table). Lines starting with `#` say what each
 * record is (peer, responder cookie, algorithm); Wireshark ignores them.
 * A later esp_sa line for the same SPI replaces an earlier one (an SA
 * reinstalled with another ICV length): keep the last.
 *
 * Used by `serve --keylog` and `l2tp-ipsec keys --wireshark`. Debug and
 * operator tooling only: whoever holds these lines reads every session.
 */

/** An IKE SA's Phase 1 keys, hex. */
export interface IkeKeyRecord {
  ikeSa: string
  peer: string
  initiatorCookie: string
  responderCookie: string
  /** The Phase 1 encryption key (derived from SKEYID_e), as long as the cipher takes. */
  encryptionKey: string
  /** "AES-256-CBC", "3DES-CBC". */
  cipher: string
}

/** One ESP SA (one direction), hex keys. */
export interface EspKeyRecord {
  /** The IPsec peer (binding) the SA belongs to in the server. */
  binding: number
  spi: number
  /** Outer addresses as on the wire; "*" when unknown (any). */
  source: string
  destination: string
  /** Our suite name, e.g. "aes256-sha1", "aes128gcm-16", "aes256-sha256_96". */
  suite: string
  encryptionKey: string
  integrityKey: string
  udpEncapsulated: boolean
}

export interface KeyExport {
  ike: IkeKeyRecord[]
  esp: EspKeyRecord[]
}

// Wireshark's names for the algorithms (epan/dissectors/packet-esp.c).
const ESP_ENCRYPTION: Record<string, string> = {
  aes128: 'AES-CBC [RFC3602]',
  aes192: 'AES-CBC [RFC3602]',
  aes256: 'AES-CBC [RFC3602]',
  '3des': 'TripleDES-CBC [RFC2451]',
  'aes128gcm-16': 'AES-GCM with 16 octet ICV [RFC4106]',
  'aes256gcm-16': 'AES-GCM with 16 octet ICV [RFC4106]',
}
const ESP_AUTHENTICATION: Record<string, string> = {
  md5: 'HMAC-MD5-96 [RFC2403]',
  sha1: 'HMAC-SHA-1-96 [RFC2404]',
  sha256: 'HMAC-SHA-256-128 [RFC4868]',
  sha256_96: 'HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]',
  sha384: 'HMAC-SHA-384-192 [RFC4868]',
  sha512: 'HMAC-SHA-512-256 [RFC4868]',
}

/** Wireshark's encryption and authentication names for one of our ESP suites (AEAD suites: authentication NULL). */
export function wiresharkEspAlgorithms(suite: string): { encryption: string; authentication: string } {
  const aead = ESP_ENCRYPTION[suite]
  if (aead) return { encryption: aead, authentication: 'NULL' }
  const dash = suite.indexOf('-')
  const encryption = ESP_ENCRYPTION[suite.slice(0, dash)]
  const authentication = ESP_AUTHENTICATION[suite.slice(dash + 1)]
  if (dash < 0 || !encryption || !authentication) throw new Error(`no Wireshark name for the ESP suite ${JSON.stringify(suite)}`)
  return { encryption, authentication }
}

const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/** A record of ikev1_decryption_table: the initiator's cookie and the Phase 1 encryption key (byte fields: bare hex, as Wireshark saves them). */
export function ikev1DecryptionRecord(k: Pick<IkeKeyRecord, 'initiatorCookie' | 'encryptionKey'>): string {
  return `${k.initiatorCookie},${k.encryptionKey}`
}

/** A record of esp_sa. GCM keys carry their 4-byte salt at the end, as Wireshark wants them. */
export function espSaRecord(k: Pick<EspKeyRecord, 'spi' | 'source' | 'destination' | 'suite' | 'encryptionKey' | 'integrityKey'>): string {
  const { encryption, authentication } = wiresharkEspAlgorithms(k.suite)
  const family = k.source.includes(':') || k.destination.includes(':') ? 'IPv6' : 'IPv4'
  const spi = `0x${(k.spi >>> 0).toString(16).padStart(8, '0')}`
  return [family, k.source, k.destination, spi, encryption, `0x${k.encryptionKey}`, authentication, k.integrityKey ? `0x${k.integrityKey}` : ''].map(quote).join(',')
}

/** Every record as tshark `-o` values, each preceded by a comment line. */
export function wiresharkKeyLines(keys: KeyExport): string[] {
  const lines: string[] = []
  for (const k of keys.ike) {
    lines.push(`# IKE SA ${k.ikeSa} peer ${k.peer}: icookie ${k.initiatorCookie} rcookie ${k.responderCookie} ${k.cipher}`)
    lines.push(`uat:ikev1_decryption_table:${ikev1DecryptionRecord(k)}`)
  }
  for (const k of keys.esp) {
    lines.push(`# ESP SA 0x${(k.spi >>> 0).toString(16).padStart(8, '0')} ${k.source} -> ${k.destination} ${k.suite}${k.udpEncapsulated ? ' in UDP 4500' : ' raw (protocol 50)'} (binding ${k.binding})`)
    lines.push(`uat:esp_sa:${espSaRecord(k)}`)
  }
  return lines
}

/** tshark arguments that decrypt with the given lines (what `keys --wireshark` or the keylog holds). */
export function tsharkKeyArgs(lines: readonly string[]): string[] {
  const args = ['-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE']
  // Wireshark takes the first row that matches: of several rows for one SPI (a reinstalled SA) keep the last.
  const esp = new Map<string, string>()
  for (const line of lines) {
    if (line.startsWith('uat:esp_sa:')) esp.set(line.split('","')[3] ?? line, line)
    else if (line.startsWith('uat:')) args.push('-o', line)
  }
  for (const line of esp.values()) args.push('-o', line)
  return args
}
