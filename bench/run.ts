// npm run bench [-- --json] [--seconds S] [--suite NAME ...] [--sizes 64,512,1400]
// The same as `l2tp-ipsec bench`: one JSON object per line with --json.
import { program } from '../lib/cli/main.js'

await program().parseAsync(['bench', ...process.argv.slice(2)], { from: 'user' })
