// Makes a namespace pair with the test rig, prints the two names, then ends
// as MODE says: "hang" (until a signal), "throw" (an uncaught exception) or
// "exit" (process.exit without cleanup). Usage: node --import tsx netns-hold.ts MODE
import { createNetnsPair } from '../../lib/testing/netns.js'

const mode = process.argv[2]
const net = createNetnsPair('hold')
console.log(`${net.a} ${net.b}`)
if (mode === 'hang') setInterval(() => {}, 1000)
else if (mode === 'throw') setTimeout(() => {
  throw new Error('thrown on purpose')
}, 10)
else process.exit(3)
