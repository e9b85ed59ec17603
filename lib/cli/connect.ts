/**
 * `l2tp-ipsec connect`: our client from the command line. Secrets come from
 * files or the environment rather than argv (which other users can read
 * in /proc); the flags exist for quick tests.
 */
import { readFileSync } from 'node:fs'
import { L2tpClient, L2tpClientError } from '../client/l2tp-client.js'
import { createLogger, type LogFormat } from '../log/index.js'
import { checkPrivileges } from '../system/privileges.js'
import { EXIT, type ExitCode } from './exit-codes.js'

export interface ConnectFlags {
  server: string
  serverPort: number
  psk?: string
  pskFile?: string
  user: string
  password?: string
  passwordFile?: string
  auth?: string[]
  localAddress?: string
  tun: string
  route: string[]
  netns?: string
  reconnect: boolean
  timeout: number
  logLevel: string
  logFormat: LogFormat
}

interface Output {
  log(s: string): void
  error(s: string): void
}

function secret(flag: string | undefined, file: string | undefined, env: string): string | undefined {
  if (file) return readFileSync(file, 'utf8').trim()
  return flag ?? process.env[env]
}

export async function connect(flags: ConnectFlags, out: Output = console): Promise<ExitCode> {
  let psk: string | undefined
  let password: string | undefined
  try {
    psk = secret(flags.psk, flags.pskFile, 'L2TP_IPSEC_PSK')
    password = secret(flags.password, flags.passwordFile, 'L2TP_IPSEC_PASSWORD')
  } catch (e) {
    out.error(`l2tp-ipsec connect: ${(e as Error).message}`)
    return EXIT.NOT_FOUND
  }
  if (!psk) {
    out.error('l2tp-ipsec connect: no pre-shared key: give --psk-file FILE, L2TP_IPSEC_PSK or --psk')
    return EXIT.INVALID
  }
  if (password === undefined) {
    out.error('l2tp-ipsec connect: no password: give --password-file FILE, L2TP_IPSEC_PASSWORD or --password')
    return EXIT.INVALID
  }
  const privileges = checkPrivileges({ bindLowPorts: false, tun: true })
  if (!privileges.ok) {
    out.error(`l2tp-ipsec connect: missing ${privileges.missing.join(', ')}.\n${privileges.hint}`)
    return EXIT.PRIVILEGES
  }
  const log = createLogger({ level: flags.logLevel, format: flags.logFormat })
  const client = new L2tpClient({
    server: flags.server,
    serverPort: flags.serverPort,
    psk,
    user: flags.user,
    password,
    ...(flags.auth ? { auth: flags.auth as ('mschapv2' | 'chap' | 'pap')[] } : {}),
    ...(flags.localAddress ? { local: { address: flags.localAddress } } : {}),
    tun: { name: flags.tun },
    routes: flags.route,
    ...(flags.netns ? { netns: flags.netns } : {}),
    reconnect: flags.reconnect,
    connectTimeout: flags.timeout,
    logger: log,
  })
  client.on('down', (d) => out.error(`disconnected: ${d.reason}: ${d.detail}`))
  client.on('reconnecting', (r) => out.error(`reconnecting in ${r.delaySeconds} s (attempt ${r.attempt})`))
  client.on('up', (u) => out.log(`connected: address ${u.address}, server ${u.gateway ?? '?'}, dns ${u.dns.join(' ') || '-'}, device ${u.tun}`))
  try {
    await client.connect()
  } catch (e) {
    out.error(`l2tp-ipsec connect: ${(e as Error).message}`)
    await client.close()
    return e instanceof L2tpClientError && e.code === 'CLIENT_AUTH_FAILED' ? EXIT.PERMISSION : EXIT.INVALID
  }
  return new Promise<ExitCode>((resolve) => {
    const stop = () => void client.close().then(() => resolve(EXIT.OK))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}
