/**
 * What an exchange handler may do: read the configuration, draw random
 * bytes, queue datagrams and events. The endpoint (endpoint.ts) provides it.
 */
import type { IkeSa } from './ike-sa.js'
import type { IkeConfig, IkeEvent, Transmit } from './types.js'

export type ResolvedConfig = Required<Omit<IkeConfig, 'localId' | 'psk' | 'certificate' | 'fragmentReassembly'>> & Pick<IkeConfig, 'localId' | 'psk' | 'certificate' | 'fragmentReassembly'>

export interface Context {
  readonly config: ResolvedConfig
  readonly now: number
  /** Wall-clock time, for certificate validity only. */
  wallClock(): Date
  random(bytes: number): Buffer
  /** Queues a datagram; with `sa`, remembers it for retransmission. */
  send(t: Transmit, sa?: IkeSa, answers?: string): void
  emit(event: IkeEvent): void
  /** May this authenticated peer have one more IKE SA (its peerId set)? Why not, or undefined. */
  admitPeer?(ike: IkeSa): string | undefined
}
