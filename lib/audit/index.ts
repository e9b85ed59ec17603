/** The tamper-evident audit log: hash-chained JSON lines, rotation that keeps the chain, verification. */
export { AuditLog, type AuditLogOptions } from './audit-log.js'
export { chainRecord, GENESIS, parseRecord, type AuditEvent, type ChainState } from './chain.js'
export { auditServerEvents } from './server-audit.js'
export { verifyAuditFiles, type VerifyFailure, type VerifyOk } from './verify.js'
