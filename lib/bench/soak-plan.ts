/**
 * The soak benchmark's fixed layout: session slot i sends to its own target
 * address behind the server (the server's namespace answers the whole
 * SOAK_TARGET_NET locally), from the pool address its session got.
 */
export const SOAK_TARGET_NET = '10.99.0.0/16'
export const SOAK_ECHO_PORT = 7
/** Room for 16,000 sessions (the sessions benchmark holds 10,000). */
export const SOAK_POOL = { range: '10.100.0.10-10.100.63.250', gateway: '10.100.0.1' }

/** Slot i's target: 10.99.(i / 250).(i % 250 + 1). */
export function soakTarget(slot: number): string {
  return `10.99.${Math.floor(slot / 250)}.${(slot % 250) + 1}`
}

export function soakUser(slot: number): { name: string; password: string } {
  return { name: `soak-${slot}`, password: `soak-pass-${slot}` }
}

export interface TrafficReport {
  sent: number
  received: number
  /** Sent and never answered, by when they were sent. */
  lost: number
  /** Of them, sent within REKEY_WINDOW of a rekey of their session. */
  lostNearRekey: number
  /**
   * The lost ones, each in the first bucket that applies by when it was
   * sent: within CONNECT_WINDOW after its session came up, within
   * REKEY_WINDOW of a rekey, within END_WINDOW before its session stopped
   * sending, or none of these (`other`).
   */
  lostByWindow: { connect: number; rekey: number; end: number; other: number }
  /** Datagrams that came back but matched no request in flight (duplicates, or after the drain). */
  answersUnmatched: number
  /** Answers that came more than LATE_MS after their request. */
  late: number
  /** Session slots that got at least one answer. */
  sessionsAnswered: number
  /** The most the generator's 20 ms send timer ran late (its JS busy), ms. */
  tickLateMsMax: number
  /** Datagrams not sent because the generator's timer ran more than an interval late (sent one instead of catching up). */
  sendsSkipped: number
}

/** Seconds before and after a rekey whose losses rekeying may explain. */
export const REKEY_WINDOW = { before: 1, after: 3 }

/** Seconds after a session comes up whose losses are the setup's (the server installing the session as the client already sends). */
export const CONNECT_WINDOW = 1
/** Seconds before a session stopped sending whose losses were in flight when it ended. */
export const END_WINDOW = 1
