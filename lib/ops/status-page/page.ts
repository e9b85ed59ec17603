/**
 * The status page: static HTML and a script that reads /events (Server-Sent
 * Events, one snapshot per second) and redraws. Text goes in with
 * textContent only: user names and failure reasons come from clients.
 */
export const PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>l2tp-ipsec status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff} th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
#state{color:#555} .legend span{display:inline-block;margin-right:1em} .rx{color:#1f77b4} .tx{color:#d62728}
canvas{background:#fff;border:1px solid #ddd;width:100%;height:160px}
.empty{color:#888;font-style:italic}
</style></head>
<body>
<h1>l2tp-ipsec</h1><div id="state">connecting…</div>
<h2>Throughput</h2>
<div class="legend"><span class="rx">■ from clients <b id="rx-rate">0</b></span><span class="tx">■ to clients <b id="tx-rate">0</b></span></div>
<canvas id="graph" width="900" height="160"></canvas>
<h2>Sessions (<span id="session-count">0</span>)</h2>
<table id="sessions"><thead><tr><th class="num">ID</th><th>User</th><th>Address</th><th>Peer</th><th>Auth</th><th>Suite</th><th class="num">Up</th><th class="num">In</th><th class="num">Out</th></tr></thead><tbody></tbody></table>
<h2>Recent failures</h2>
<table id="failures"><thead><tr><th>Time</th><th>Kind</th><th>User</th><th>Peer</th><th>Reason</th></tr></thead><tbody></tbody></table>
<script src="app.js"></script>
</body></html>
`

export const APP = `'use strict'
const token = new URLSearchParams(location.search).get('token') || ''
const points = []
let last
const units = ['B/s', 'KB/s', 'MB/s', 'GB/s']
function rate(v) { let u = 0; while (v >= 1000 && u < units.length - 1) { v /= 1000; u++ } return v.toFixed(u ? 1 : 0) + ' ' + units[u] }
function bytes(v) { const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0; while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ } return (i ? v.toFixed(1) : v) + ' ' + u[i] }
function duration(s) { s = Math.floor(s); return s < 60 ? s + 's' : s < 3600 ? Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's' : Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm' }
function row(cells, numeric) {
  const tr = document.createElement('tr')
  cells.forEach((c, i) => { const td = document.createElement('td'); td.textContent = String(c); if (numeric.includes(i)) td.className = 'num'; tr.appendChild(td) })
  return tr
}
function fill(id, rows, numeric, empty, columns) {
  const body = document.querySelector('#' + id + ' tbody')
  body.replaceChildren()
  if (rows.length === 0) { const tr = document.createElement('tr'); const td = document.createElement('td'); td.colSpan = columns; td.className = 'empty'; td.textContent = empty; tr.appendChild(td); body.appendChild(tr); return }
  for (const r of rows) body.appendChild(row(r, numeric))
}
function draw() {
  const c = document.getElementById('graph'); const g = c.getContext('2d')
  g.clearRect(0, 0, c.width, c.height)
  const max = Math.max(1, ...points.map((p) => Math.max(p.rx, p.tx)))
  for (const [key, color] of [['rx', '#1f77b4'], ['tx', '#d62728']]) {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath()
    points.forEach((p, i) => { const x = c.width - (points.length - 1 - i) * (c.width / 119); const y = c.height - 4 - (p[key] / max) * (c.height - 8); i ? g.lineTo(x, y) : g.moveTo(x, y) })
    g.stroke()
  }
  g.fillStyle = '#666'; g.fillText('max ' + rate(max), 6, 12)
}
function update(s) {
  document.getElementById('state').textContent = 'server ' + s.state + ' · updated ' + new Date(s.time).toLocaleTimeString()
  if (last) {
    const dt = Math.max(0.001, (Date.parse(s.time) - Date.parse(last.time)) / 1000)
    const rx = Math.max(0, s.totals.rxBytes - last.totals.rxBytes) / dt
    const tx = Math.max(0, s.totals.txBytes - last.totals.txBytes) / dt
    points.push({ rx, tx }); if (points.length > 120) points.shift()
    document.getElementById('rx-rate').textContent = rate(rx)
    document.getElementById('tx-rate').textContent = rate(tx)
  }
  last = s
  document.getElementById('session-count').textContent = String(s.sessions.length)
  fill('sessions', s.sessions.map((x) => [x.id, x.user, x.address, x.peer, x.authMethod, x.suite, duration(x.durationSeconds), bytes(x.rxBytes), bytes(x.txBytes)]), [0, 6, 7, 8], 'No sessions.', 9)
  fill('failures', s.failures.map((f) => [new Date(f.time).toLocaleTimeString(), f.kind, f.user || '?', f.peer, f.reason]), [], 'None.', 5)
  draw()
}
const events = new EventSource('events?token=' + encodeURIComponent(token))
events.onmessage = (m) => update(JSON.parse(m.data))
events.onerror = () => { document.getElementById('state').textContent = 'disconnected; retrying…' }
`
