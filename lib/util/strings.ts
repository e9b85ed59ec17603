/**
 * `s` as one flat string. A string built by concatenation (`a + b`, a
 * template) is a tree of parts: for a short key kept for a session's life
 * (an IKE SA id, an index key) the tree and its parts cost ~2-3 times the
 * characters (issue #9). The UTF-8 round trip gives a flat copy; should it
 * not give back the same string (a lone surrogate), `s` is kept as it is.
 */
export function flatString(s: string): string {
  const flat = Buffer.from(s, 'utf8').toString('utf8')
  return flat === s ? flat : s
}
