// index.d.ts is written by hand (it is the package's documented contract);
// these compile-time checks fail `tsc --noEmit` (npm run lint) when it and
// the implementation drift apart. The runtime test makes ava count the file
// and checks the exports exist.
import test from 'ava'
import type * as Public from '../index.js'
import * as lib from '../lib/index.js'
import type { ServerConfigInput } from '../lib/config/index.js'
import type { AuthCallback } from '../lib/auth/index.js'
import type { ClientUpInfo, L2tpClientOptions } from '../lib/client/l2tp-client.js'
import type { ServerEvents, ServerStatus, SessionInfo, SiteInfo } from '../lib/server/types.js'

/** True when each is assignable to the other. */
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

const checks: {
  config: Agree<Public.ServerConfigInput, ServerConfigInput>
  session: Agree<Public.SessionInfo, SessionInfo>
  status: Agree<Public.ServerStatus, ServerStatus>
  sessionUp: Agree<Public.ServerEvents['session-up'], ServerEvents['session-up']>
  sessionDown: Agree<Public.ServerEvents['session-down'], ServerEvents['session-down']>
  authFailure: Agree<Public.ServerEvents['auth-failure'], ServerEvents['auth-failure']>
  refused: Agree<Public.ServerEvents['session-refused'], ServerEvents['session-refused']>
  site: Agree<Public.SiteInfo, SiteInfo>
  siteUp: Agree<Public.ServerEvents['site-up'], ServerEvents['site-up']>
  siteDown: Agree<Public.ServerEvents['site-down'], ServerEvents['site-down']>
  clientOptions: Agree<Omit<Public.L2tpClientOptions, 'logger'>, Omit<L2tpClientOptions, 'logger'>>
  clientUp: Agree<Public.ClientUpInfo, ClientUpInfo>
  callback: Agree<Public.AuthCallback, AuthCallback>
} = { config: true, session: true, status: true, sessionUp: true, sessionDown: true, authFailure: true, refused: true, site: true, siteUp: true, siteDown: true, clientOptions: true, clientUp: true, callback: true }

test('the public entry point exports what index.d.ts declares', (t) => {
  t.true(Object.values(checks).every(Boolean))
  for (const name of ['L2tpServer', 'L2tpClient', 'L2tpClientError', 'ConfigError', 'loadConfigFile', 'parseServerConfig', 'EspSa', 'DataPlane', 'packBatch', 'unpackBatch'] as const) {
    t.is(typeof lib[name], 'function', name)
  }
})
