#!/usr/bin/env node
// Installed command: runs the compiled CLI (dist/ is built by `npm run build:ts`).
import { program } from '../dist/cli/main.js'

await program().parseAsync()
