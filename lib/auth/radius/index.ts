// lib/auth/radius: RADIUS for the gateway: authentication (RFC 2865, 2548,
// 3579), accounting (RFC 2866) and dynamic authorization (RFC 5176).
//
//   const auth = new RadiusAuthenticator({ servers: [{ host, secretFile }], nas: { nasIdentifier } })
//   const acct = new RadiusAccounting({ servers: [{ host, secret }], nas, queueFile })
//   const dae = await startDaeServer({ clients: [{ address, secret }], onDisconnect, onCoa })
export { RadiusAuthenticator, isRadiusSuccess, parseMsChapError, type NasIdentity, type RadiusAcceptInfo, type RadiusAuthSuccess, type RadiusAuthenticatorOptions } from './authenticator.js'
export { RadiusAccounting, TERMINATE_CAUSES, type AccountingCounters, type AccountingSession, type AccountingStats, type RadiusAccountingOptions } from './accounting.js'
export { startDaeServer, type DaeChanges, type DaeClient, type DaeDropReason, type DaeEvent, type DaeMatch, type DaeOptions, type DaeServer, type DaeStats } from './dae.js'
export { RadiusClient, DROP_REASONS, loadSecret, type RadiusClientEvent, type RadiusClientOptions, type RadiusClientStats, type RadiusDropReason, type RadiusRequest, type RadiusResult, type RadiusServerOptions } from './client.js'
export { PersistentQueue, type QueueEntry, type QueueOptions } from './queue.js'
export * from './codec.js'
export * from './dictionary.js'
export * from './attributes.js'
export * from './crypto.js'
export * from './authenticators.js'
