/**
 * Process exit codes of the `l2tp-ipsec` command, so scripts and systemd can
 * tell "fix your config" from "start the server first" from "run as root".
 */
export const EXIT = {
  OK: 0,
  /** Invalid configuration, or the server answered with an error (no such session...). */
  INVALID: 1,
  /** A file named on the command line does not exist. */
  NOT_FOUND: 2,
  /** No server is listening on the admin socket, or it does not answer. */
  NOT_RUNNING: 3,
  /** The admin socket is root-only and we are not root. */
  PERMISSION: 4,
  /** The server lacks capabilities it needs (CAP_NET_ADMIN...). */
  PRIVILEGES: 5,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]
