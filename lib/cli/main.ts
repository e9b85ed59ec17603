/**
 * The `l2tp-ipsec` command. Exit codes (lib/cli/exit-codes.ts): 0 ok,
 * 1 invalid configuration or an error answer, 2 file not found, 3 no
 * server running, 4 permission denied (or authentication refused, for
 * connect), 5 missing privileges.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { espSuiteInfo, espSuites } from '../esp/index.js'
import { keysCommand, kickCommand, sessionsCommand, statusCommand } from './admin-commands.js'
import { auditVerifyCommand } from './audit-command.js'
import { captureCommand, debugCommand } from './troubleshoot-commands.js'
import { AREAS, areaList, bench, DEFAULT_AREAS, DEFAULT_SIZES, positiveNumber, sizeList, suiteName } from './bench-command.js'
import { checkConfig } from './check-config.js'
import { connect } from './connect.js'
import { serve } from './serve.js'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

const DEFAULT_SOCKET = '/run/l2tp-ipsec/admin.sock'
const DEFAULT_STATE_DIR = process.env['L2TP_IPSEC_STATE_DIR'] ?? '/var/lib/l2tp-ipsec'
const LOG_FORMATS = ['json', 'pretty', 'auto'] as const

function integer(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a whole number, got ${JSON.stringify(value)}`)
  return n
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

const exit = (code: number) => {
  process.exitCode = code
}

const socketOption = () => new Option('--socket <path>', 'the admin socket of the running server').default(DEFAULT_SOCKET)
const logFormat = () => new Option('--log-format <format>', 'json lines, pretty text, or pretty on a terminal').choices(LOG_FORMATS)

export function program(): Command {
  const cli = new Command('l2tp-ipsec').description('L2TP/IPsec VPN server for Linux gateways').version(pkg.version)

  cli
    .command('serve')
    .description('run the server on a YAML configuration (see config/example.yaml); SIGHUP reloads it')
    .option('-c, --config <file>', 'configuration file (default: the embedded default with first-run secrets)')
    .option('--state-dir <dir>', 'where first-run secrets are kept (default config only)', DEFAULT_STATE_DIR)
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal (default: the config)')
    .addOption(logFormat())
    .option('--admin-socket <path>', 'admin socket path (default: the config\'s admin.socket)')
    .option('--keylog <file>', 'debugging: append every IKE and ESP key to FILE (0600) as Wireshark lines; anyone reading it decrypts the sessions')
    .action(async (f: { config?: string; stateDir: string; logLevel?: string; logFormat?: (typeof LOG_FORMATS)[number]; adminSocket?: string; keylog?: string }) => exit(await serve(f)))

  cli
    .command('start')
    .description('run the server on the embedded default configuration: on first run a random PSK and demo user are made and printed')
    .option('--state-dir <dir>', 'where the secrets are kept', DEFAULT_STATE_DIR)
    .addOption(logFormat())
    .option('--admin-socket <path>', 'admin socket path', DEFAULT_SOCKET)
    .action(async (f: { stateDir: string; logFormat?: (typeof LOG_FORMATS)[number]; adminSocket: string }) =>
      exit(await serve({ stateDir: f.stateDir, adminSocket: f.adminSocket, ...(f.logFormat ? { logFormat: f.logFormat } : {}) })),
    )

  cli
    .command('check-config')
    .description('validate a configuration file: prints each bad key and what is wrong, then weak crypto choices (posture); exit 0 when valid')
    .argument('<file>')
    .action(async (file: string) => exit(await checkConfig(file, console)))

  cli
    .command('sessions')
    .description('list the running server\'s sessions')
    .option('--json', 'one JSON array', false)
    .addOption(socketOption())
    .action(async (f: { json: boolean; socket: string }) => exit(await sessionsCommand(f, console)))

  cli
    .command('kick')
    .description('end a session (PPP Terminate, then CDN)')
    .argument('<id>', 'session id from `sessions`', integer)
    .addOption(socketOption())
    .action(async (id: number, f: { socket: string }) => exit(await kickCommand({ socket: f.socket, id }, console)))

  cli
    .command('status')
    .description('the running server\'s state and counters')
    .option('--json', 'JSON', false)
    .addOption(socketOption())
    .action(async (f: { json: boolean; socket: string }) => exit(await statusCommand(f, console)))

  const audit = cli.command('audit').description('the audit log (config audit.file)')
  audit
    .command('verify')
    .description('check the hash chain of audit files, oldest first (audit.log.2 audit.log.1 audit.log); names the first broken record')
    .argument('<files...>')
    .action((files: string[]) => exit(auditVerifyCommand(files, console)))

  cli
    .command('debug')
    .description('follow one client\'s negotiation step by step in plain words (root; needs operations.debug: true)')
    .argument('<user-or-peer>', 'a user name, or the client\'s outer address (optionally address:port)')
    .option('--json', 'one JSON object per step', false)
    .option('--seconds <s>', 'stop after this many seconds (default: Ctrl-C)', positiveNumber)
    .addOption(socketOption())
    .action(async (target: string, f: { json: boolean; seconds?: number; socket: string }) => exit(await debugCommand(target, f, console)))

  cli
    .command('capture')
    .description('write one session\'s decrypted traffic to a pcap file (root; needs operations.capture: true)')
    .requiredOption('--session <id>', 'session id from `sessions`', integer)
    .requiredOption('--out <file>', 'a new pcap file (an existing one is refused)')
    .option('--seconds <s>', 'stop after this many seconds (default: Ctrl-C)', positiveNumber)
    .addOption(socketOption())
    .action(async (f: { session: number; out: string; seconds?: number; socket: string }) => exit(await captureCommand(f, console)))

  cli
    .command('keys')
    .description('print the running server\'s live IKE and ESP keys in Wireshark\'s table formats (needs admin.allowKeyExport: true)')
    .option('--wireshark', 'lines for tshark -o / Wireshark\'s ikev1_decryption_table and esp_sa tables', false)
    .addOption(socketOption())
    .action(async (f: { wireshark: boolean; socket: string }) => exit(await keysCommand(f, console)))

  cli
    .command('connect')
    .description('connect to an L2TP/IPsec server as a client (our own client, over a TUN device); Ctrl-C hangs up')
    .requiredOption('--server <address>', 'server address')
    .option('--server-port <port>', 'server IKE port', integer, 500)
    .option('--psk-file <file>', 'file holding the pre-shared key (or env L2TP_IPSEC_PSK)')
    .option('--psk <key>', 'the pre-shared key (visible to other users in the process list)')
    .requiredOption('--user <name>', 'PPP user name')
    .option('--password-file <file>', 'file holding the password (or env L2TP_IPSEC_PASSWORD)')
    .option('--password <password>', 'the password (visible to other users in the process list)')
    .option('--auth <method>', 'allowed PPP method: mschapv2, chap, pap (repeatable; default all)', collect)
    .option('--local-address <address>', 'our address to send from')
    .option('--tun <name>', 'TUN device name', 'l2tpc0')
    .option('--route <prefix>', 'a prefix to send through the tunnel (repeatable)', collect, [])
    .option('--netns <name>', 'run sockets and TUN in this network namespace')
    .option('--no-reconnect', 'do not reconnect when the session is lost')
    .option('--timeout <seconds>', 'seconds to wait for the session', positiveNumber, 30)
    .option('--log-level <level>', 'log level', 'info')
    .addOption(logFormat().default('auto'))
    .action(async (f: Parameters<typeof connect>[0]) => exit(await connect(f)))

  cli
    .command('bench')
    .description('measure ESP seal/open per core beside `openssl speed`, IKE exchanges, and the data plane through TUN and sockets')
    .option('--json', 'one JSON object per line', false)
    .option('--seconds <s>', 'seconds per measurement', positiveNumber, 1)
    .option('--suite <name>', 'a suite to measure (repeatable); default: one of each cipher and MAC', suiteName)
    .option('--sizes <list>', 'payload sizes in bytes (esp)', sizeList, [...DEFAULT_SIZES])
    .option('--only <areas>', `areas to run, comma-separated: ${AREAS.join(', ')} (default all but soak)`, areaList, [...DEFAULT_AREAS])
    .action(bench)

  cli
    .command('suites')
    .description('list the ESP suites and their key sizes')
    .action(() => {
      for (const name of espSuites()) {
        const i = espSuiteInfo(name)
        console.log(`${name.padEnd(18)} encryption key ${i.encryptionKeyLength} B, integrity key ${i.integrityKeyLength} B, ICV ${i.icvLength} B`)
      }
    })

  return cli
}

// Run when executed directly (bin/l2tp-ipsec.js or `node --import tsx lib/cli/main.ts`).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await program().parseAsync()
}
