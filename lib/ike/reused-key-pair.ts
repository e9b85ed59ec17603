/**
 * For load generators only (the IKE benchmark's initiators, the client
 * fleet): one Main Mode key pair per group shared by every initiator SA, so
 * an initiator costs one Diffie-Hellman operation per exchange to the
 * responder's two and the responder, not its load generator, runs out of
 * CPU (the responder still makes a fresh key pair for every SA). Reuse
 * gives up forward secrecy between those SAs: never in a server or a real
 * client (see EndpointOptions.initiatorKeyPair).
 */
import { DhKeyPair, type DhGroup, type DhKeys } from './dh.js'

const keyPairs = new Map<number, DhKeyPair>()

export function reusedKeyPair(group: DhGroup): DhKeys {
  let kp = keyPairs.get(group.id)
  if (!kp) keyPairs.set(group.id, (kp = new DhKeyPair(group)))
  const keys = kp
  return { group, publicKey: keys.publicKey, computeSecret: (peer) => keys.computeSecret(peer), destroy: () => {} }
}
