/**
 * `serve --keylog FILE`: every new IKE and ESP SA's keys appended to FILE
 * as Wireshark lines (wireshark-keys.ts), for decrypting a capture while
 * debugging. The file is made 0600 (and chmod-ed to 0600 if it existed);
 * the caller logs a warning that keys are being written.
 */
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs'
import { KeyLedger } from './key-ledger.js'

export class KeyLogFile {
  private fd: number | undefined

  constructor(readonly path: string) {
    this.fd = openSync(path, 'a', 0o600)
    // An existing file keeps its mode on open: tighten it.
    fchmodSync(this.fd, 0o600)
    this.write([`# l2tp-ipsec keylog opened ${new Date().toISOString()}: Wireshark UAT lines (tshark -o 'LINE'); anyone reading this file can decrypt these sessions`])
  }

  /** Synchronous on purpose: a debug option, a few lines per SA, and the lines must be there before the capture is read. */
  write(lines: readonly string[]): void {
    if (this.fd === undefined || lines.length === 0) return
    writeSync(this.fd, `${lines.join('\n')}\n`)
  }

  close(): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }
}

/** What the server holds when keys may leave it: the ledger (fed by the server) and the keylog file. */
export interface KeyExporter {
  ledger: KeyLedger
  /** Zeroes the keys held and closes the file. */
  close(): void
}

/** Undefined unless asked for (`keylog` path, admin.allowKeyExport); logs a warning for each way keys leave. */
export function openKeyExport(o: { keylog: string | undefined; allowKeyExport: boolean; localAddress: string; log: { warn(obj: object, msg: string): void } }): KeyExporter | undefined {
  if (!o.keylog && !o.allowKeyExport) return undefined
  const file = o.keylog ? new KeyLogFile(o.keylog) : undefined
  if (file) o.log.warn({ keylog: file.path }, 'writing every IKE and ESP key to the keylog file: anyone who can read it decrypts the sessions (debugging only)')
  if (o.allowKeyExport) o.log.warn({}, 'admin.allowKeyExport is on: the admin socket hands out the live IKE and ESP keys (l2tp-ipsec keys --wireshark)')
  const ledger = new KeyLedger({ localAddress: o.localAddress, ...(file ? { onRecord: (lines: string[]) => file.write(lines) } : {}) })
  return {
    ledger,
    close: () => {
      ledger.clear()
      file?.close()
    },
  }
}
