// Sends BYTES of AES-CTR keystream (deterministic per SEED) to ADDRESS:PORT,
// prints `<bytes> <sha256>` of what it sent. Usage: node tcp-source.mjs ADDRESS PORT BYTES SEED
import crypto from 'node:crypto'
import net from 'node:net'

const [address, port, total, seed] = process.argv.slice(2)
const key = crypto.createHash('sha256').update(String(seed)).digest().subarray(0, 16)
const stream = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
const hash = crypto.createHash('sha256')
const chunk = Buffer.alloc(64 * 1024)
let left = Number(total)
const socket = net.connect(Number(port), address, () => {
  const pump = () => {
    while (left > 0) {
      const n = Math.min(chunk.length, left)
      const data = stream.update(chunk.subarray(0, n))
      hash.update(data)
      left -= n
      if (!socket.write(data)) return socket.once('drain', pump)
    }
    socket.end()
  }
  pump()
})
socket.on('close', () => console.log(`${total} ${hash.digest('hex')}`))
socket.on('error', (e) => {
  console.error(`source: ${e.message}`)
  process.exit(2)
})
setTimeout(() => {
  console.error('source: timed out')
  process.exit(2)
}, 120_000).unref()
