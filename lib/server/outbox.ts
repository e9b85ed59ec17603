/**
 * Control frames on their way to the data plane: IKE datagrams, L2TP
 * control messages and PPP frames gathered while the cores are drained,
 * then handed over in one `sendControl` call (one crossing, one sendmmsg).
 */
import type { ControlMeta } from '../../native/index.js'
import type { Transmit } from '../ike/types.js'
import type { L2tpTransmit } from '../l2tp/endpoint.js'
import { packBatch } from '../esp/batch.js'

/** The part of DataPlane the control plane sends through. */
export interface ControlSink {
  sendControl(data: Buffer, offsets: Uint32Array, meta: ControlMeta[]): number
}

export class Outbox {
  private frames: Buffer[] = []
  private meta: ControlMeta[] = []

  get size(): number {
    return this.frames.length
  }

  ike(t: Transmit): void {
    this.push(t.data, { kind: 'ike', peerAddress: t.to.address, peerPort: t.to.port, localPort: t.fromPort, ...(t.fromAddress ? { localAddress: t.fromAddress } : {}) })
  }

  l2tp(t: L2tpTransmit): void {
    this.push(t.datagram, { kind: 'l2tp', binding: t.binding, l2tpPort: t.l2tpPort })
  }

  ppp(session: number, frame: Buffer): void {
    this.push(frame, { kind: 'ppp', session })
  }

  private push(frame: Buffer, meta: ControlMeta): void {
    this.frames.push(frame)
    this.meta.push(meta)
  }

  /** Sends everything gathered; returns how many frames the data plane could not send (no SA yet, session gone: counted in its stats). */
  flush(sink: ControlSink): number {
    if (!this.frames.length) return 0
    const frames = this.frames
    const meta = this.meta
    this.frames = []
    this.meta = []
    const batch = packBatch(frames)
    return frames.length - sink.sendControl(batch.data, batch.offsets, meta)
  }
}
