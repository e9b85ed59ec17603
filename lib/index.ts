/**
 * l2tp-ipsec: an L2TP/IPsec VPN server for Linux gateways.
 * The public types live in the hand-written `index.d.ts` at the package root.
 */
export { EspSa, ESP_STATUS, espSuiteInfo, espStatusCodes, espSuites, packBatch, unpackBatch } from './esp/index.js'
export { DataPlane } from './dataplane/index.js'
export { L2tpServer, type L2tpServerOptions } from './server/l2tp-server.js'
export { L2tpClient, L2tpClientError, type L2tpClientOptions } from './client/l2tp-client.js'
export { ConfigError, loadConfigFile, parseServerConfig } from './config/index.js'
