import { NotifyType } from '../constants.js'

/**
 * Stable codes of `IkeCodecError`:
 * - `IKE_TRUNCATED`: the input ended inside a fixed-size structure (the
 *   ISAKMP header, a generic payload header, a proposal or transform header)
 *   or before the length the ISAKMP header announces.
 * - `IKE_BAD_LENGTH`: a length field is impossible: below its structure's
 *   minimum, or reaching past the payload or message that contains it.
 * - `IKE_BAD_VERSION`: the major version is not 1.
 * - `IKE_MALFORMED`: lengths are consistent but the contents are not (a
 *   proposal chain with a next-payload other than 2 or 0, a transform count
 *   that does not match, DELETE SPIs that do not fill the payload...).
 * - `IKE_BAD_VALUE`: only from the encoders: a field out of its wire range.
 */
export type IkeCodecErrorCode = 'IKE_TRUNCATED' | 'IKE_BAD_LENGTH' | 'IKE_BAD_VERSION' | 'IKE_MALFORMED' | 'IKE_BAD_VALUE'

/** Where in the input a decoding error was found. */
export interface IkeCodecErrorContext {
  /** The payload type being decoded, if any. */
  payloadType?: number
  /** Byte offset in the buffer given to the decoder (datagram or body). */
  offset?: number
}

/** The only error the IKE codec throws, on any input. */
export class IkeCodecError extends Error {
  override readonly name = 'IkeCodecError'
  readonly code: IkeCodecErrorCode
  /** The NotifyType to answer with (RFC 2408 3.14.1), e.g. PAYLOAD_MALFORMED. */
  readonly notify: number
  readonly payloadType: number | undefined
  readonly offset: number | undefined

  constructor(code: IkeCodecErrorCode, message: string, notify: number = NotifyType.PAYLOAD_MALFORMED, context: IkeCodecErrorContext = {}) {
    super(message)
    this.code = code
    this.notify = notify
    this.payloadType = context.payloadType
    this.offset = context.offset
  }
}
