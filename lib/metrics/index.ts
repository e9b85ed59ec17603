/** Prometheus metrics of L2tpServer and the HTTP endpoint that serves them. */
export { authFailureClass, createServerMetrics, METRICS_PREFIX, type MetricsEvent, type MetricsSource, type MetricsStatus, type ServerMetrics } from './registry.js'
export { MetricsServerError, parseListen, startMetricsServer, type MetricsHttpServer, type MetricsServerOptions, type Readiness } from './http.js'
