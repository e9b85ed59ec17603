// Our client's first Main Mode message, lost on the wire, is sent again on the IKE
// retransmission timer, not only after connectTimeout (the client used to arm its
// timer from a deadline computed before connect, which had no IKE deadline in it).
import test from 'ava'
import type { ControlMeta } from '../native/index.js'
import { ClientControlPlane } from '../lib/client/client-control-plane.js'
import { PRESETS } from '../lib/ike/policy.js'
import type { LogSink } from '../lib/server/control-plane.js'
import { NullDataPlanePort } from '../lib/testing/null-dataplane.js'

class RecordingPort extends NullDataPlanePort {
  readonly sent: Buffer[] = []
  sendControl(data: Buffer, offsets: Uint32Array, meta: ControlMeta[]): number {
    for (let i = 0; i < meta.length; i++) this.sent.push(Buffer.from(data.subarray(offsets[i], offsets[i + 1])))
    return meta.length
  }
}

const quiet: LogSink = { debug() {}, info() {}, warn() {}, error() {} }

test('a lost Main Mode message 1 is retransmitted on the IKE timer, the same bytes', (t) => {
  let now = 100
  const port = new RecordingPort()
  const core = new ClientControlPlane({
    ike: { policy: PRESETS.compatible, psk: Buffer.from('retransmit-test-psk') },
    l2tp: { role: 'lac', hostName: 'client' },
    ppp: { mtu: 1400, echoInterval: 30, echoFailures: 4, idleTimeout: 0, sessionTimeout: 0, ipv6: false },
    dataplane: port,
    log: quiet,
    localAddress: '10.0.0.2',
    emit: () => {},
    clock: () => now,
    user: 'alice',
    password: 'alice-password',
    onUp: () => {},
    onDown: () => {},
  })
  core.connect({ peer: { address: '10.0.0.1', port: 500 }, local: { address: '10.0.0.2', port: 500 } })
  t.is(port.sent.length, 1, 'Main Mode message 1 sent at connect')
  const deadline = core.nextDeadline()
  t.not(deadline, undefined, 'connect leaves an IKE deadline for the timer to arm')
  t.true(deadline! > now && deadline! <= now + 10, `retransmission due within 10 s, got ${deadline! - now} s`)
  now = deadline!
  core.tick(now)
  t.is(port.sent.length, 2, 'sent again when the deadline passed')
  t.deepEqual(port.sent[1], port.sent[0])
})
