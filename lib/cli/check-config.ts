/**
 * `l2tp-ipsec check-config FILE`: validates a configuration file without
 * starting anything, then reports its crypto posture (weak choices, what
 * they risk, what to use instead: lib/security/posture.ts). Exit codes:
 * 0 valid (warnings and posture findings may be printed: they are advice),
 * 1 invalid, 2 the file cannot be read.
 */
import { ConfigError, loadConfigFile } from '../config/load.js'
import { formatFindings, postureReport } from '../security/posture.js'
import { EXIT } from './exit-codes.js'

export interface CheckConfigOutput {
  log: (line: string) => void
  error: (line: string) => void
}

export async function checkConfig(file: string, out: CheckConfigOutput): Promise<number> {
  try {
    const { config, warnings } = loadConfigFile(file)
    out.log(`ok: ${file}`)
    for (const w of warnings) out.error(`warning: ${w}`)
    for (const line of formatFindings(await postureReport(config))) out.error(line)
    return EXIT.OK
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    if (e.code === 'CONFIG_UNREADABLE') {
      for (const issue of e.issues) out.error(`${file}: ${issue.message}`)
      return EXIT.NOT_FOUND
    }
    out.error(`${file}: invalid configuration`)
    for (const issue of e.issues) out.error(`  ${issue.key}: ${issue.message}`)
    return EXIT.INVALID
  }
}
