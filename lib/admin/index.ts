export { adminRequest, AdminClientError, type AdminClientErrorCode, type AdminRequestOptions } from './client.js'
export {
  ADMIN_METHODS,
  MAX_REQUEST_BYTES,
  type AdminErrorCode,
  type AdminMethod,
  type AdminParams,
  type AdminRequest,
  type AdminResponse,
  type AdminResults,
  type AdminStreamLine,
  type DebugEvent,
} from './protocol.js'
export { AdminRefusal, AdminServerError, startAdminServer, type AdminAction, type AdminServer, type AdminServerErrorCode, type AdminServerOptions, type AdminTools } from './server.js'
export { openAdminSession, type AdminSession } from './session.js'
