// RadiusAuthenticator: PPP's authentication requests as RADIUS
// Access-Requests (RFC 2865; CHAP 2865 5.3/5.40; MS-CHAPv2 RFC 2548; EAP
// RFC 3579), and the replies as AuthResults.
//
// What it sends besides the credentials: NAS-IP-Address and/or
// NAS-Identifier, Service-Type Framed, Framed-Protocol PPP, NAS-Port-Type
// Virtual, Tunnel-Type L2TP and Tunnel-Medium-Type (RFC 2868), and
// Calling-Station-Id = the peer's outer address (what a RADIUS policy or a
// Disconnect-Request can key on). Every request has a Message-Authenticator
// and every reply must (client.ts).
//
// EAP: the State the server sends in an Access-Challenge belongs to that
// server, so the next round must go to it. The `state` we hand PPP is one
// byte of server index followed by the RADIUS State; PPP gives it back
// unchanged with the next EAP packet.
//
// Failures: a reject is `rejected` (counted by the limiter); no answer is
// `timeout`, and an answer we cannot use (an Access-Accept without
// MS-CHAP2-Success, a malformed value) is `callback-error`, neither of which
// counts against the user. The peer sees the generic message either way;
// Reply-Message of a reject goes to `detail` only (a server that says "no
// such user" must not tell a guesser). `authenticate` never rejects.
import { isIPv4, isIPv6 } from 'node:net'
import { withoutDomain } from '../local-users.js'
import { AuthError, GENERIC_FAILURE_MESSAGE, MsChapError, isMsChapErrorCode, type AuthFailure, type AuthRequest, type AuthResult, type AuthSuccess, type Authenticator, type MppeKeys, type MsChapErrorCode, type MsChapV2ChangePassword, type UserPolicy } from '../types.js'
import { all, attr, first, joinEapMessage, readInteger, readIpv4, readIpv6Prefix, readString, splitEapMessage } from './attributes.js'
import { RadiusClient, type RadiusClientOptions } from './client.js'
import { vendorAttributes, type RadiusAttribute, type RadiusPacket } from './codec.js'
import { saltDecrypt } from './crypto.js'
import { Attr, Code, FramedProtocol, MsAttr, NasPortType, ServiceType, TunnelMediumType, TunnelType, VENDOR_MICROSOFT } from './dictionary.js'

/** How this gateway names itself to the RADIUS server (at least one of the first two; RFC 2865 4.1). */
export interface NasIdentity {
  nasIdentifier?: string
  /** IPv4 address sent as NAS-IP-Address. */
  nasIpAddress?: string
  /** IPv6 address sent as NAS-IPv6-Address (RFC 3162). */
  nasIpv6Address?: string
  /** Called-Station-Id: e.g. the gateway's public address clients dial. */
  calledStationId?: string
}

export interface RadiusAuthenticatorOptions extends RadiusClientOptions {
  nas: NasIdentity
  /** Use this client instead of building one from `servers` (tests, sharing). */
  client?: RadiusClient
}

/** What an Access-Accept said beyond UserPolicy, for the server to apply and to echo in accounting. */
export interface RadiusAcceptInfo {
  /** "host:port" of the server that accepted (accounting may go elsewhere). */
  server: string
  /** Class values, to send back unchanged in every Accounting-Request (RFC 2865 5.25). */
  class: Buffer[]
  /** Filter-Id names; mapping them to rules is the server's business. */
  filterId: string[]
  framedMtu?: number
  /** Acct-Interim-Interval in seconds (RFC 2869 5.16). */
  acctInterimInterval?: number
  /** Reply-Message values joined with newlines. */
  replyMessage?: string
  /** Every attribute of the Access-Accept, for anything not mapped here. */
  attributes: RadiusAttribute[]
}

export interface RadiusAuthSuccess extends AuthSuccess {
  radius: RadiusAcceptInfo
}

/** Whether an AuthResult came from a RADIUS Access-Accept (then it carries Class, Filter-Id...). */
export function isRadiusSuccess(result: AuthResult): result is RadiusAuthSuccess {
  return 'ok' in result && result.ok && 'radius' in result
}

/** Framed-IP-Address values that mean "no fixed address" (RFC 2865 5.8). */
const NOT_AN_ADDRESS = new Set(['255.255.255.255', '255.255.255.254', '0.0.0.0'])

function fail(reason: AuthFailure['reason'], detail: string, code: MsChapErrorCode = MsChapError.AUTHENTICATION_FAILURE, retry = false): AuthFailure {
  return { ok: false, reason, detail, retry, code, message: GENERIC_FAILURE_MESSAGE }
}

/** RFC 2759 6 / RFC 2548 2.1.5: "E=691 R=0 C=... V=3 M=..." after the Ident byte. */
export function parseMsChapError(value: Buffer): { code?: MsChapErrorCode; retry: boolean } {
  const text = value.subarray(1).toString('latin1')
  const e = /(?:^|\s)E=(\d+)/.exec(text)
  const code = e ? Number(e[1]) : undefined
  return { ...(isMsChapErrorCode(code) ? { code } : {}), retry: /(?:^|\s)R=1(?:\s|$)/.test(text) }
}

/** Bytes of the encrypted password per MS-CHAP-NT-Enc-PW: 255 - 2 - 6 (vendor header) - 4 (Code, Ident, Sequence-Number). */
const NT_ENC_PW_CHUNK = 243

/**
 * A Change-Password (RFC 2759 7) as RFC 2548 carries it, as FreeRADIUS's
 * rlm_mschap reads it: MS-CHAP2-CPW (2.3.4; 68 bytes: Code 7, Ident,
 * Encrypted-Hash, Peer-Challenge, Reserved, NT-Response, Flags) and the
 * 516-byte encrypted password in MS-CHAP-NT-Enc-PW chunks (2.3.3: Code 6,
 * Ident, a 2-byte Sequence-Number from 1, the chunk). The Access-Request
 * carries MS-CHAP-Challenge = the Failure's C= besides.
 */
export function changePasswordAttributes(change: MsChapV2ChangePassword, peerChallenge: Buffer, ntResponse: Buffer): RadiusAttribute[] | undefined {
  if (change.encryptedPassword.length !== 516 || change.encryptedHash.length !== 16 || peerChallenge.length !== 16 || ntResponse.length !== 24) return undefined
  const ident = change.identifier & 0xff
  const out = [attr.vendor(VENDOR_MICROSOFT, MsAttr.CHAP2_CPW, Buffer.concat([Buffer.from([7, ident]), change.encryptedHash, peerChallenge, Buffer.alloc(8), ntResponse, Buffer.alloc(2)]))]
  for (let at = 0, sequence = 1; at < change.encryptedPassword.length; at += NT_ENC_PW_CHUNK, sequence++) {
    const header = Buffer.from([6, ident, 0, sequence])
    out.push(attr.vendor(VENDOR_MICROSOFT, MsAttr.CHAP_NT_ENC_PW, Buffer.concat([header, change.encryptedPassword.subarray(at, at + NT_ENC_PW_CHUNK)])))
  }
  return out
}

/** The identity in an EAP-Response/Identity (RFC 3748 5.1), if that is what `packet` is. */
function eapIdentity(packet: Buffer): string | undefined {
  return packet.length >= 5 && packet[0] === 2 && packet[4] === 1 ? packet.subarray(5, packet.readUInt16BE(2)).toString('utf8') : undefined
}

export class RadiusAuthenticator implements Authenticator {
  readonly client: RadiusClient
  private readonly nas: NasIdentity
  private readonly ownsClient: boolean

  /** Throws AuthError on bad options (no server, no secret, unreadable secret file, no NAS identity). */
  constructor(options: RadiusAuthenticatorOptions) {
    const nas = options.nas ?? {}
    if (nas.nasIdentifier === undefined && nas.nasIpAddress === undefined && nas.nasIpv6Address === undefined) {
      throw new AuthError('AUTH_BAD_OPTION', 'RADIUS: give nas.nasIdentifier or nas.nasIpAddress (RFC 2865 4.1)')
    }
    if (nas.nasIpAddress !== undefined && !isIPv4(nas.nasIpAddress)) throw new AuthError('AUTH_BAD_OPTION', `RADIUS: nas.nasIpAddress ${JSON.stringify(nas.nasIpAddress)} is not an IPv4 address`)
    if (nas.nasIpv6Address !== undefined && !isIPv6(nas.nasIpv6Address)) throw new AuthError('AUTH_BAD_OPTION', `RADIUS: nas.nasIpv6Address ${JSON.stringify(nas.nasIpv6Address)} is not an IPv6 address`)
    this.nas = { ...nas }
    this.ownsClient = !options.client
    this.client = options.client ?? new RadiusClient(options)
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close()
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    try {
      return await this.ask(request)
    } catch (error) {
      return fail('internal-error', `RADIUS: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private async ask(request: AuthRequest): Promise<AuthResult> {
    const user = request.method === 'eap' ? (request.user ?? eapIdentity(request.eapMessage) ?? '') : request.user
    const attributes = [...(user ? [attr.string(Attr.USER_NAME, user)] : []), ...this.nasAttributes(request.peer.address)]
    let server: number | undefined
    switch (request.method) {
      case 'pap':
        if (Buffer.byteLength(request.password) > 128) return fail('malformed', 'PAP password longer than RADIUS allows (128 bytes)')
        attributes.push(attr.string(Attr.USER_PASSWORD, request.password))
        break
      case 'chap-md5':
        if (request.response.length !== 16) return fail('malformed', `CHAP-MD5 response of ${request.response.length} bytes, expected 16`)
        attributes.push(attr.octets(Attr.CHAP_PASSWORD, Buffer.concat([Buffer.from([request.identifier]), request.response])))
        attributes.push(attr.octets(Attr.CHAP_CHALLENGE, request.challenge))
        break
      case 'mschapv2': {
        const { authenticatorChallenge: ac, peerChallenge: pc, ntResponse: nt } = request
        if (ac.length !== 16 || pc.length !== 16 || nt.length !== 24) return fail('malformed', `MS-CHAPv2 field sizes ${ac.length}/${pc.length}/${nt.length}, expected 16/16/24`)
        attributes.push(attr.vendor(VENDOR_MICROSOFT, MsAttr.CHAP_CHALLENGE, ac))
        if (request.changePassword) {
          const cpw = changePasswordAttributes(request.changePassword, pc, nt)
          if (!cpw) return fail('malformed', 'MS-CHAPv2 Change-Password fields of the wrong size')
          attributes.push(...cpw)
          break
        }
        // RFC 2548 2.3.2: Ident, Flags (0), Peer-Challenge, Reserved (8 zero), Response
        attributes.push(attr.vendor(VENDOR_MICROSOFT, MsAttr.CHAP2_RESPONSE, Buffer.concat([Buffer.from([0, 0]), pc, Buffer.alloc(8), nt])))
        break
      }
      case 'eap':
        if (request.eapMessage.length < 4) return fail('malformed', `EAP packet of ${request.eapMessage.length} bytes`)
        attributes.push(...splitEapMessage(request.eapMessage))
        if (request.state && request.state.length > 0) {
          server = request.state[0]!
          if (request.state.length > 1) attributes.push(attr.octets(Attr.STATE, request.state.subarray(1)))
        }
        break
    }
    const result = await this.client.send({ code: Code.ACCESS_REQUEST, attributes, ...(server !== undefined ? { server } : {}) })
    if (!result.ok) return fail(result.reason === 'timeout' ? 'timeout' : 'callback-error', `RADIUS: ${result.detail}`)
    const reply = result.packet
    const serverName = this.client.serverNames[result.server] ?? String(result.server)
    try {
      switch (reply.code) {
        case Code.ACCESS_ACCEPT:
          return this.accepted(request, user, reply, result.requestAuthenticator, result.secret, serverName)
        case Code.ACCESS_REJECT:
          return this.rejected(request, reply, serverName)
        default:
          return this.challenged(request, reply, result.server, serverName)
      }
    } catch (error) {
      // RFC 2865 5: an invalid attribute in a reply makes it a reject; not the user's fault
      return fail('callback-error', `RADIUS ${serverName}: unusable reply: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private nasAttributes(peerAddress: string): RadiusAttribute[] {
    const { nasIdentifier, nasIpAddress, nasIpv6Address, calledStationId } = this.nas
    return [
      ...(nasIpAddress !== undefined ? [attr.ipv4(Attr.NAS_IP_ADDRESS, nasIpAddress)] : []),
      ...(nasIpv6Address !== undefined ? [attr.ipv6(Attr.NAS_IPV6_ADDRESS, nasIpv6Address)] : []),
      ...(nasIdentifier !== undefined ? [attr.string(Attr.NAS_IDENTIFIER, nasIdentifier)] : []),
      attr.integer(Attr.NAS_PORT_TYPE, NasPortType.VIRTUAL),
      attr.integer(Attr.SERVICE_TYPE, ServiceType.FRAMED),
      attr.integer(Attr.FRAMED_PROTOCOL, FramedProtocol.PPP),
      attr.tagged(Attr.TUNNEL_TYPE, 0, TunnelType.L2TP),
      attr.tagged(Attr.TUNNEL_MEDIUM_TYPE, 0, peerAddress.includes(':') ? TunnelMediumType.IPV6 : TunnelMediumType.IPV4),
      attr.string(Attr.CALLING_STATION_ID, peerAddress),
      ...(calledStationId !== undefined ? [attr.string(Attr.CALLED_STATION_ID, calledStationId)] : []),
    ]
  }

  private accepted(request: AuthRequest, user: string, reply: RadiusPacket, requestAuthenticator: Buffer, secret: Buffer, server: string): AuthResult {
    const a = reply.attributes
    const ms = vendorAttributes(a, VENDOR_MICROSOFT)
    let authenticatorResponse: string | undefined
    if (request.method === 'mschapv2') {
      // RFC 2548 2.3.3: Ident + "S=" + 40 hex digits; without it the peer cannot trust us, so no success
      const success = ms.find((v) => v.type === MsAttr.CHAP2_SUCCESS)?.value.subarray(1).toString('latin1')
      const s = success && /^S=[0-9A-Fa-f]{40}/.exec(success)?.[0]
      if (!s) return fail('callback-error', `RADIUS ${server}: Access-Accept for MS-CHAPv2 without a valid MS-CHAP2-Success`)
      authenticatorResponse = s.toUpperCase()
    }
    const policy: UserPolicy = {}
    const framedIp = first(a, Attr.FRAMED_IP_ADDRESS)
    if (framedIp) {
      const address = readIpv4(framedIp, 'Framed-IP-Address')
      if (!NOT_AN_ADDRESS.has(address)) policy.address = address
    }
    const prefix = first(a, Attr.FRAMED_IPV6_PREFIX)
    if (prefix) policy.ipv6Prefix = readIpv6Prefix(prefix)
    const sessionTimeout = first(a, Attr.SESSION_TIMEOUT)
    if (sessionTimeout) policy.sessionTimeout = readInteger(sessionTimeout, 'Session-Timeout')
    const idleTimeout = first(a, Attr.IDLE_TIMEOUT)
    if (idleTimeout) policy.idleTimeout = readInteger(idleTimeout, 'Idle-Timeout')

    const info: RadiusAcceptInfo = { server, class: all(a, Attr.CLASS), filterId: all(a, Attr.FILTER_ID).map(readString), attributes: a }
    const mtu = first(a, Attr.FRAMED_MTU)
    if (mtu) info.framedMtu = readInteger(mtu, 'Framed-MTU')
    const interim = first(a, Attr.ACCT_INTERIM_INTERVAL)
    if (interim) info.acctInterimInterval = readInteger(interim, 'Acct-Interim-Interval')
    const replyMessage = all(a, Attr.REPLY_MESSAGE).map(readString).join('\n')
    if (replyMessage) info.replyMessage = replyMessage

    const send = ms.find((v) => v.type === MsAttr.MPPE_SEND_KEY)
    const recv = ms.find((v) => v.type === MsAttr.MPPE_RECV_KEY)
    let mppeKeys: MppeKeys | undefined
    if (send && recv) mppeKeys = { send: saltDecrypt(send.value, secret, requestAuthenticator), receive: saltDecrypt(recv.value, secret, requestAuthenticator) }

    const named = first(a, Attr.USER_NAME)
    const canonical = named ? readString(named) : request.method === 'mschapv2' ? withoutDomain(user) : user
    const success: RadiusAuthSuccess = {
      ok: true,
      user: canonical,
      policy,
      radius: info,
      ...(authenticatorResponse !== undefined ? { authenticatorResponse } : {}),
      ...(mppeKeys ? { mppeKeys } : {}),
      ...(info.replyMessage !== undefined ? { message: info.replyMessage } : {}),
      ...(request.method === 'mschapv2' && request.changePassword ? { passwordChanged: true } : {}),
    }
    return success
  }

  private rejected(request: AuthRequest, reply: RadiusPacket, server: string): AuthFailure {
    const message = all(reply.attributes, Attr.REPLY_MESSAGE).map(readString).join('\n')
    const detail = `RADIUS ${server}: Access-Reject${message ? `: ${JSON.stringify(message)}` : ''}`
    if (request.method === 'mschapv2') {
      const error = vendorAttributes(reply.attributes, VENDOR_MICROSOFT).find((v) => v.type === MsAttr.CHAP_ERROR)
      if (error) {
        const parsed = parseMsChapError(error.value)
        return fail('rejected', `${detail} (${error.value.subarray(1).toString('latin1')})`, parsed.code ?? MsChapError.AUTHENTICATION_FAILURE, parsed.retry)
      }
    }
    return fail('rejected', detail)
  }

  private challenged(request: AuthRequest, reply: RadiusPacket, serverIndex: number, server: string): AuthResult {
    if (request.method !== 'eap') return fail('rejected', `RADIUS ${server}: Access-Challenge for ${request.method}, which cannot carry one`)
    const eapMessage = joinEapMessage(reply.attributes)
    if (!eapMessage || eapMessage.length < 4) return fail('callback-error', `RADIUS ${server}: Access-Challenge without an EAP-Message`)
    const state = first(reply.attributes, Attr.STATE) ?? Buffer.alloc(0)
    return { challenge: true, eapMessage, state: Buffer.concat([Buffer.from([serverIndex]), state]) }
  }
}
