/** Every JS fuzz target, in the order the tests and `npm run fuzz:js` run them. */
import { codecTargets } from './codec-targets.js'
import { ikeEndpointTarget } from './ike-target.js'
import { l2tpEndpointTarget } from './l2tp-target.js'
import { pppLinkTarget } from './ppp-target.js'
import { radiusClientTarget } from './radius-target.js'
import type { FuzzTarget } from './target.js'

export const FUZZ_TARGETS: readonly FuzzTarget<never>[] = [...codecTargets, ikeEndpointTarget, l2tpEndpointTarget, pppLinkTarget, radiusClientTarget] as unknown as FuzzTarget<never>[]
