/**
 * `l2tp-ipsec audit verify FILE...`: checks the hash chain of audit files
 * (oldest first when several: audit.log.2 audit.log.1 audit.log). Exit 0
 * when intact; 1 naming the first broken record; 2 when a file is missing.
 */
import { existsSync } from 'node:fs'
import { verifyAuditFiles } from '../audit/index.js'
import { EXIT, type ExitCode } from './exit-codes.js'

interface Output {
  log(s: string): void
  error(s: string): void
}

export function auditVerifyCommand(files: readonly string[], out: Output): ExitCode {
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length) {
    out.error(`audit verify: no such file: ${missing.join(', ')}`)
    return EXIT.NOT_FOUND
  }
  const result = verifyAuditFiles(files)
  if (!result.ok) {
    out.error(`audit verify: FAILED at record seq ${result.seq} (${result.file} line ${result.line}): ${result.problem}`)
    return EXIT.INVALID
  }
  const from = result.continuesEarlierFile ? ' (continuing an earlier file not given)' : ''
  const last = result.last ? `; last record seq ${result.last.seq}, hash ${result.last.hash}` : ''
  out.log(`audit verify: OK, ${result.records} records${from}${last}`)
  return EXIT.OK
}
