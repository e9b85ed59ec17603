// The status page in a real browser (Debian's chromium, driven by
// playwright-core): it refuses a request without the token, shows no
// session, then the session of a client that connects, live; a screenshot
// is kept under artifacts/ (git-ignored) for a human to look at.
import test from 'ava'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { pingAsync } from './helpers/netns-run.js'
import { createOpsRig } from './helpers/ops-rig.js'
import { GATEWAY } from './helpers/vpn-rig.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))

test.serial('the status page shows a session appear when a client connects, updating live', async (t) => {
  const o = await createOpsRig(t, 'opsw')
  const page = o.ops.statusPage!
  const base = `http://127.0.0.1:${page.port}`
  t.is((await fetch(`${base}/`)).status, 401, 'no token, no page')
  t.is((await fetch(`${base}/events?token=wrong-token-0123456789`)).status, 401)

  // Fails (not skips) when chromium is missing: the launch throws.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
  t.teardown(() => browser.close())
  const tab = await browser.newPage({ viewport: { width: 1100, height: 760 } })
  const errors: string[] = []
  tab.on('pageerror', (e) => errors.push(e.message))
  await tab.goto(page.url)
  await tab.locator('#state').filter({ hasText: 'server listening' }).waitFor({ timeout: 15_000 })
  t.is(await tab.locator('#session-count').textContent(), '0')
  t.is(await tab.locator('#sessions tbody td').first().textContent(), 'No sessions.')

  const client = o.rig.client()
  const up = await client.connect()
  const row = tab.locator('#sessions tbody tr', { hasText: 'alice' })
  await row.waitFor({ timeout: 15_000 })
  t.is(await tab.locator('#session-count').textContent(), '1')
  const cells = await row.locator('td').allTextContents()
  t.is(cells[1], 'alice')
  t.is(cells[2], up.address)
  t.regex(cells[3]!, /^10\.250\.0\.2:\d+$/)
  t.is(cells[4], 'mschapv2')

  // Traffic moves the throughput figures (and the graph) while it flows.
  const pinging = pingAsync(o.rig.net.b, GATEWAY, 15, ['-I', up.tun, '-s', '1000'])
  await tab.locator('#rx-rate').filter({ hasNotText: /^0 B\/s$/ }).waitFor({ timeout: 15_000 })
  t.regex((await tab.locator('#tx-rate').textContent())!, /[1-9]/)
  t.is((await pinging).received, 15)

  // A refused login appears among the recent failures.
  await t.throwsAsync(o.rig.client({ user: 'bob', password: 'not-bobs-password' }).connect())
  await tab.locator('#failures tbody tr', { hasText: 'bad-password' }).waitFor({ timeout: 15_000 })

  mkdirSync(ARTIFACTS, { recursive: true })
  const shot = `${ARTIFACTS}status-page.png`
  await tab.screenshot({ path: shot, fullPage: true })
  t.log(`screenshot: ${shot}`)
  console.log(`status page screenshot: ${shot}`)
  t.deepEqual(errors, [], 'no script errors')
})
