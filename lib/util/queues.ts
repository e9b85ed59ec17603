/**
 * One shared empty array for queues and lists that are empty most of a
 * session's life: an empty array of its own costs 32 B, and an idle
 * session had ~10 of them (issue #9). It is frozen, so it must be replaced,
 * never added to: `queue = pushed(queue, item)`; a drained queue goes back
 * to it (`queue = NONE`), which also lets go of the backing store it grew.
 */
export const NONE: never[] = Object.freeze([]) as never[]

/** `queue` with `item` at its end: `queue` itself, or a new array when it is the shared NONE. */
export function pushed<T>(queue: T[], item: T): T[] {
  if (queue === NONE) return [item]
  queue.push(item)
  return queue
}
