/**
 * `l2tp-ipsec check-config FILE`: validates a configuration file without
 * starting anything. Exit codes: 0 valid (warnings may be printed),
 * 1 invalid, 2 the file cannot be read.
 */
import { ConfigError, loadConfigFile } from '../config/load.js'
import { EXIT } from './exit-codes.js'

export interface CheckConfigOutput {
  log: (line: string) => void
  error: (line: string) => void
}

export function checkConfig(file: string, out: CheckConfigOutput): number {
  try {
    const { warnings } = loadConfigFile(file)
    out.log(`ok: ${file}`)
    for (const w of warnings) out.error(`warning: ${w}`)
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
