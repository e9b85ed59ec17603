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
} from './protocol.js'
export { AdminServerError, startAdminServer, type AdminServer, type AdminServerErrorCode, type AdminServerOptions } from './server.js'
