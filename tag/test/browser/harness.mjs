// What the browser tests run against: the real Sillage binary on the
// embedded default (free loopback ports, a fresh data directory), a small
// HTTP server for the test pages on another loopback origin (so the tag's
// requests are cross-origin, as on a customer's site), and Debian's Chromium
// driven by playwright-core, kept off every network but 127.0.0.1.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { parquetReadObjects, asyncBufferFromFile } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export const WRITE_KEY = 'sillage-demo';
export const ADMIN_TOKEN = 'sillage-admin-dev';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// eventually polls cond (sync or async) every 50 ms until it is truthy, and
// throws with msg() after timeout ms.
export async function eventually(cond, timeout, msg) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`not within ${timeout} ms: ${typeof msg === 'function' ? await msg() : msg}`);
    await sleep(50);
  }
}

// startSillage starts the binary (SILLAGE_BIN, or built from the repository
// into the data directory) and resolves once the collector and admin
// /readyz answer 200. stop() terminates it and removes the directory.
export async function startSillage() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sillage-browser-'));
  let bin = process.env.SILLAGE_BIN;
  if (!bin) {
    bin = path.join(dir, 'sillage');
    execFileSync('go', ['build', '-o', bin, './cmd/sillage'], { cwd: ROOT, stdio: 'inherit' });
  }
  const [broker, coll, admin] = [await freePort(), await freePort(), await freePort()];
  const s = {
    dir,
    data: path.join(dir, 'data'),
    collector: `http://127.0.0.1:${coll}`,
    admin: `http://127.0.0.1:${admin}`,
    logFile: path.join(dir, 'sillage.log'),
  };
  const log = openSync(s.logFile, 'a');
  s.proc = spawn(bin, [
    '-data.dir', s.data,
    '-embedded.broker-addr', `127.0.0.1:${broker}`,
    '-collector.addr', `127.0.0.1:${coll}`,
    '-admin.addr', `127.0.0.1:${admin}`,
    '-sink.max-age', '1s',
  ], { stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => s.proc.on('exit', resolve));
  s.log = () => { try { return readFileSync(s.logFile, 'utf8'); } catch { return ''; } };
  s.stop = async () => {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill('SIGTERM');
      const t = setTimeout(() => s.proc.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    }
    if (!process.env.SILLAGE_KEEP) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(async () => {
      if (s.proc.exitCode !== null) throw new Error(`sillage exited with ${s.proc.exitCode}:\n${s.log()}`);
      const ok = await Promise.all([s.collector, s.admin].map((u) => fetch(u + '/readyz').then((r) => r.ok, () => false)));
      return ok.every(Boolean);
    }, 60000, () => `sillage is not ready:\n${s.log()}`);
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}

// accepted returns the collector's sillage_collector_events_accepted_total.
export async function accepted(s) {
  const r = await fetch(s.admin + '/metrics', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!r.ok) throw new Error(`GET /metrics: ${r.status}`);
  const m = (await r.text()).match(/^sillage_collector_events_accepted_total (\S+)$/m);
  return m ? Number(m[1]) : 0;
}

// transitions returns the latest segment membership transitions.
export async function transitions(s) {
  const r = await fetch(s.admin + '/v1/segments/transitions?limit=100', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  return r.ok ? (await r.json()).transitions || [] : [];
}

// lakeEvents reads every row of the lake's events table (the Parquet files
// the sink has written so far): event_id (the messageId), type, event,
// anonymous_id, user_id.
export async function lakeEvents(s) {
  const root = path.join(s.data, 'lake', 'events');
  if (!existsSync(root)) return [];
  const rows = [];
  for (const f of readdirSync(root, { recursive: true }).filter((f) => f.endsWith('.parquet')).sort()) {
    const file = await asyncBufferFromFile(path.join(root, f));
    rows.push(...await parquetReadObjects({ file, compressors, columns: ['event_id', 'type', 'event', 'anonymous_id', 'user_id'] }));
  }
  return rows;
}

// The test pages. Every path not listed serves the SPA page, so that a
// reload after history.pushState finds a page.
const SNIPPET = (tag, load) => `<script>
  !function () {
    var s = window.sillage = window.sillage || [];
    if (s.loaded) return;
    ['load', 'page', 'track', 'identify', 'alias', 'consent', 'reset', 'productViewed', 'productAdded', 'signedUp'].forEach(function (m) {
      s[m] = function () { s.push([m].concat([].slice.call(arguments))); };
    });
    var t = document.createElement('script');
    t.async = true;
    t.src = ${JSON.stringify(tag)};
    document.head.appendChild(t);
    s.load(${load});
  }();
</script>`;

function pages(collector) {
  const tag = collector + '/tag.js';
  const demo = readFileSync(path.join(ROOT, 'collector/static/demo.html'), 'utf8').replace("t.src = '/tag.js';", `t.src = ${JSON.stringify(tag)};`);
  if (!demo.includes(tag)) throw new Error('demo.html no longer loads /tag.js the way the test expects');
  return {
    '/demo': demo,
    '/away': '<!doctype html><title>Elsewhere</title><p>No tag on this page.</p>',
    spa: `<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>${SNIPPET(tag, `{ writeKey: '${WRITE_KEY}' }`)}</head>
<body><a id="away" href="/away">leave</a></body></html>`,
  };
}

// startPages serves the test pages on a free loopback port.
export async function startPages(collector) {
  const p = pages(collector);
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(p[u.pathname] || p.spa);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

// Chromium as root on Debian (DESIGN.md §6). The proxy that goes nowhere
// and the resolver that resolves nothing keep the browser off the network:
// loopback bypasses the proxy (Chromium's implicit rule), nothing else does.
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--proxy-server=http://127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

// VISITOR_UA is the user agent of a visitor's desktop Chromium of the
// installed version. Headless Chromium says "HeadlessChrome", which the
// enricher rightly flags as a bot (kept out of segments): the pages under
// test play a person's browser, so they present as one.
export function visitorUserAgent() {
  const m = /(\d+)\.\d+\.\d+\.\d+/.exec(execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }));
  const major = m ? m[1] : '120';
  return `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
}

// openBrowser starts Chromium with a fresh profile and records every request
// the pages make to the collector's /v1/ API: {body, status} (status
// undefined until answered, 0 when the request failed). close() stops it
// and removes the profile.
export async function openBrowser(collector) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'sillage-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000,
    userAgent: visitorUserAgent(),
  });
  context.setDefaultTimeout(10000);
  const b = { context, requests: [], strays: [] };
  context.on('request', (req) => {
    const u = new URL(req.url());
    if (u.hostname !== '127.0.0.1') b.strays.push(req.url());
    if (!req.url().startsWith(collector + '/v1/')) return;
    const r = { url: req.url(), kind: req.resourceType(), body: JSON.parse(req.postData() || 'null'), status: undefined };
    b.requests.push(r);
    req.response().then((res) => { r.status = res ? res.status() : 0; }, () => { r.status = 0; });
  });
  context.on('requestfailed', (req) => {
    const r = b.requests.find((x) => x.url === req.url() && x.status === undefined);
    if (r) r.status = 0;
  });
  b.page = (await context.pages())[0] || (await context.newPage());
  // events returns every event sent, each with its request's status.
  b.events = () => b.requests.flatMap((r) => (r.body && r.body.batch ? r.body.batch : [r.body]).map((e) => ({ ...e, status: r.status, kind: r.kind })));
  // delivered returns the events whose request got a 2xx answer.
  b.delivered = () => b.events().filter((e) => e.status >= 200 && e.status < 300);
  b.close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return b;
}
