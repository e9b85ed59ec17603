export { createLogger, fingerprint, REDACT_PATHS, silentLogger, type LogFormat, type Logger, type LoggerOptions } from './logger.js'
