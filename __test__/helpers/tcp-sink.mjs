// Accepts one TCP connection, hashes everything it receives, prints
// `<bytes> <sha256>` and exits. Usage: node tcp-sink.mjs ADDRESS PORT
import crypto from 'node:crypto'
import net from 'node:net'

const [address, port] = process.argv.slice(2)
const server = net.createServer((socket) => {
  const hash = crypto.createHash('sha256')
  let bytes = 0
  socket.on('data', (chunk) => {
    bytes += chunk.length
    hash.update(chunk)
  })
  socket.on('end', () => {
    console.log(`${bytes} ${hash.digest('hex')}`)
    socket.end()
    server.close()
  })
})
server.listen(Number(port), address, () => console.log('listening'))
setTimeout(() => {
  console.error('sink: timed out')
  process.exit(2)
}, 120_000).unref()
