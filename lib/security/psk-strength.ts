/**
 * How many guesses a pre-shared key withstands, by zxcvbn (dictionary
 * words, keyboard patterns, dates, repeats: a realistic estimate, not
 * length x alphabet). Loaded lazily: its dictionaries take a second or two
 * to load, so only `check-config` pays for them.
 *
 * Why it matters: with IKEv1 PSK anyone who gets a client to start Main
 * Mode with them (an active man in the middle, a rogue access point) gets
 * message 5 encrypted under keys derived from the PSK and can test guesses
 * offline, at GPU speed (a guess is a few HMACs): 1e10 guesses per second
 * is a conservative rate. With Aggressive Mode on, anyone who can reach
 * the server gets a PSK-keyed hash without even being in the path.
 */

/** Offline guesses per second assumed for an attacker (one GPU rig: HMAC-SHA1 PRF and key derivation). */
export const OFFLINE_GUESSES_PER_SECOND = 1e10
/** Below this many guesses (log10), a PSK falls within about 30 years at that rate. */
export const MIN_GUESSES_LOG10 = 20
/** Shorter keys are reported whatever their estimate. */
export const MIN_PSK_LENGTH = 20

export interface PskStrength {
  guessesLog10: number
  /** Seconds to exhaust the estimate at OFFLINE_GUESSES_PER_SECOND. */
  crackSeconds: number
  weak: boolean
  /** What makes it weak, in words; never the key. */
  reasons: string[]
}

type Checker = (password: string) => { guessesLog10: number; sequence: { pattern: string }[] }
let checker: Promise<Checker> | undefined

async function load(): Promise<Checker> {
  const [{ ZxcvbnFactory }, common, en] = await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')])
  const factory = new ZxcvbnFactory({ dictionary: { ...common.dictionary, ...en.dictionary }, graphs: common.adjacencyGraphs, translations: en.translations })
  return (password) => factory.check(password)
}

export async function pskStrength(psk: string | Buffer): Promise<PskStrength> {
  const text = typeof psk === 'string' ? psk : psk.toString('latin1')
  const result = (await (checker ??= load()))(text)
  const reasons: string[] = []
  if (text.length < MIN_PSK_LENGTH) reasons.push(`${text.length} characters (fewer than ${MIN_PSK_LENGTH})`)
  if (result.guessesLog10 < MIN_GUESSES_LOG10) {
    const patterns = [...new Set(result.sequence.map((s) => s.pattern).filter((p) => p !== 'bruteforce'))]
    reasons.push(`about 1e${result.guessesLog10.toFixed(1)} guesses${patterns.length ? ` (found: ${patterns.join(', ')})` : ''}`)
  }
  const crackSeconds = 10 ** result.guessesLog10 / OFFLINE_GUESSES_PER_SECOND
  return { guessesLog10: result.guessesLog10, crackSeconds, weak: reasons.length > 0, reasons }
}

/** "3 hours", "40 years": the order of magnitude of a duration. */
export function humanDuration(seconds: number): string {
  const units: [number, string][] = [[31_557_600 * 1e6, 'million years'], [31_557_600, 'years'], [86_400, 'days'], [3_600, 'hours'], [60, 'minutes'], [1, 'seconds']]
  for (const [size, name] of units) if (seconds >= size) return `${Math.round(seconds / size)} ${name}`
  return 'under a second'
}
