#!/usr/bin/env node
// test.mjs: the status page in a real browser (Debian's chromium, headless,
// driven over the DevTools protocol by playwright-core).  Run by
// "make test-page" (tools/statuspage/run.sh installs what it needs).
//
//  1. the header: src/ngx_olla_dmr_page.h is what page.html makes (not
//     stale), and compiled it gives back page.html byte for byte;
//  2. the page against mock.mjs: every endpoint state, tiers in priority
//     order, names shown as text (never as markup), token rates when the
//     JSON has token counters and no token column when it has none, a
//     health change in the recent changes, "gateway unreachable" on a 502
//     and on a dropped connection with the last data kept, recovery, any
//     location prefix, no horizontal scrolling on a phone, and the CSP
//     refusing an injected script (so that "no violation" below means
//     something);
//  3. the page against the real thing: nginx + the module built from this
//     tree, an olla_status location, two DMR stand-ins (tools/dmr-standin);
//     the page shows both healthy and the resident model, then one stand-in
//     is killed and the page must show it offline or unhealthy, and the
//     change, within a few polls (waits on the DOM, no fixed sleep); then
//     nginx is stopped and the page must say "gateway unreachable" and keep
//     the last data.  The page is the one olla_status serves at
//     /internal/ui/ when it answers there (then its body must be page.html
//     and its CSP the generated one); until then nginx serves page.html from
//     a file next to a second olla_status location, with the same CSP.
//
// Every page is watched for console errors and warnings, uncaught
// exceptions, CSP violations (securitypolicyviolation events) and requests
// that leave the origin.  Screenshots (laptop 1366x768, phone 390x844,
// light and dark) go to build/statuspage/.
//
// Environment: NGINX_BIN (default /usr/sbin/nginx), OLLA_MODULE (default
// build/debian/ngx_olla_dmr_module.so), CHROMIUM (default /usr/bin/chromium),
// PAGE_KEEP=1 keeps nginx's temp dir.
//
// Output: one line per check, then "page: N checks, M failed"; exit status
// 0 when none failed.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { freePort, startStandin } from '../../t/e2e/lib/harness.mjs';
import { HEADER, PAGE, ROOT, csp, header } from './gen.mjs';
import { sampleState, startMock } from './mock.mjs';

const OUT = path.join(ROOT, 'build', 'statuspage');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const MODULE_SO = process.env.OLLA_MODULE
  || path.join(ROOT, 'build', 'debian', 'ngx_olla_dmr_module.so');
const DEADLINE_MS = 240000;

const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

const html = fs.readFileSync(PAGE, 'utf8');
const policy = csp(html);

// ------------------------------------------------------------------ checks

let checks = 0;
let failed = 0;

function check(name, ok, detail = '') {
  checks++;
  if (ok) {
    console.log(`ok ${checks} - ${name}`);
  } else {
    failed++;
    console.log(`not ok ${checks} - ${name}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

// Waits until the page's DOM matches selector (state: attached); a check.
async function seen(page, selector, name, timeout = 10000) {
  const t0 = Date.now();
  try {
    await page.locator(selector).first().waitFor({ state: 'attached', timeout });
    return check(`${name} (${Date.now() - t0} ms)`, true);
  } catch (e) {
    return check(name, false, `no ${selector} after ${timeout} ms`);
  }
}

async function gone(page, selector, name, timeout = 10000) {
  try {
    await page.locator(selector).first().waitFor({ state: 'detached', timeout });
    return check(name, true);
  } catch {
    return check(name, false, `${selector} still there after ${timeout} ms`);
  }
}

// The text of the first match, or null.
async function text(page, selector) {
  const l = page.locator(selector).first();
  return (await l.count()) ? (await l.textContent()).replace(/\s+/g, ' ').trim() : null;
}

// ------------------------------------------------------------- processes

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

const watchdog = setTimeout(() => {
  console.log(`not ok - the test did not finish in ${DEADLINE_MS / 1000} s`);
  console.log(`page: ${checks + 1} checks, ${failed + 1} failed`);
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', r));
}

// nginx with the module: the OpenAI route, olla_status at /internal/, and
// (until the module serves the page itself) page.html from a file at
// /fileui/ui/ next to a second olla_status location at /fileui/.
async function startNginx(endpoints) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-page-'));
  fs.mkdirSync(path.join(dir, 'ui'));
  fs.copyFileSync(PAGE, path.join(dir, 'ui', 'index.html'));
  // the workers may run as another user (nobody when the master is root)
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(path.join(dir, 'ui'), 0o755);
  fs.chmodSync(path.join(dir, 'ui', 'index.html'), 0o644);
  const port = await freePort();
  const eps = endpoints.map((e) => `        olla_endpoint ${e.url} name=${e.name} priority=${e.priority}`
    + ' check_interval=1s check_timeout=500ms;').join('\n');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `load_module ${MODULE_SO};
daemon off;
master_process on;
worker_processes 2;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body_temp;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;
    olla_profiles ${ROOT}/profiles;
    upstream models {
${eps}
        keepalive 16;
    }
    server {
        listen 127.0.0.1:${port};
        location /olla/ {
            olla_route models;
            proxy_pass http://models;
            include ${ROOT}/conf.examples/olla_proxy_params;
        }
        location /internal/ { olla_status; }
        location /fileui/ { olla_status; }
        location /fileui/ui/ {
            alias ${dir}/ui/;
            default_type text/html;
            add_header Content-Security-Policy "${policy}" always;
            add_header Cache-Control no-store always;
        }
    }
}
`);
  const child = spawn(NGINX_BIN, ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nginx exited: ${output}\n${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
    }
    try {
      const r = await fetch(`${base}/internal/status/endpoints`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`nginx did not answer in 15 s: ${output}`);
    await sleep(100);
  }
  return {
    child, dir, base,
    async stop() {
      try { child.kill('SIGTERM'); } catch { /* gone */ }
      await exited(child);
      children.delete(child);
    },
    cleanup() {
      if (!process.env.PAGE_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
    errorLog: () => fs.readFileSync(path.join(dir, 'error.log'), 'utf8'),
  };
}

// ----------------------------------------------------------------- pages

// A page in its own browser context, watched: console errors and warnings
// (tagged with the phase the test was in), uncaught exceptions, CSP
// violations, every request.
async function openPage(browser, url, { phone = false, scheme = 'light' } = {}) {
  const ctx = await browser.newContext({
    viewport: phone ? PHONE : LAPTOP,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
    colorScheme: scheme,
  });
  await ctx.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ''}`.trim());
    });
  });
  const page = await ctx.newPage();
  const w = { ctx, page, url, phase: 'up', console: [], errors: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      w.console.push({ phase: w.phase, type: m.type(), text: m.text() });
    }
  });
  page.on('pageerror', (e) => w.errors.push(e.message));
  page.on('request', (r) => w.requests.push(r.url()));
  const res = await page.goto(url);
  w.response = res;
  return w;
}

// What went wrong on a watched page: console errors and warnings (a failed
// status fetch is expected while the test has the gateway down), uncaught
// exceptions, CSP violations, requests off the origin.
async function verdict(w, name) {
  const origin = new URL(w.url).origin;
  const bad = w.console.filter((c) => !(c.phase === 'down' && /Failed to load resource/.test(c.text)));
  check(`${name}: no console error or warning`, bad.length === 0,
    bad.map((c) => `${c.type}: ${c.text}`).join(' | '));
  check(`${name}: no uncaught exception`, w.errors.length === 0, w.errors.join(' | '));
  let v = [];
  try { v = await w.page.evaluate(() => window.__csp); } catch (e) { v = [`(could not read: ${e.message})`]; }
  check(`${name}: no CSP violation`, Array.isArray(v) && v.length === 0, JSON.stringify(v));
  const off = w.requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
  check(`${name}: no request leaves ${origin}`, off.length === 0, off.join(' '));
}

async function shot(page, name, { full = false } = {}) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: full });
  console.log(`# screenshot ${path.relative(ROOT, file)}`);
}

async function noOverflow(page, name) {
  const m = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth,
  }));
  check(`${name}: no horizontal scrolling (${m.sw} <= ${m.cw})`, m.sw <= m.cw, JSON.stringify(m));
}

// The smallest font size of any visible text on the page, in CSS pixels.
async function smallestFont(page) {
  return page.evaluate(() => {
    let min = Infinity;
    let what = '';
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim()) continue;
      const el = n.parentElement;
      if (!el || !el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) continue;
      const s = parseFloat(getComputedStyle(el).fontSize);
      if (s < min) { min = s; what = n.textContent.trim().slice(0, 40); }
    }
    return { min, what };
  });
}

// ------------------------------------------------------------ 1. header

function headerChecks() {
  const have = fs.existsSync(HEADER) ? fs.readFileSync(HEADER, 'utf8') : '';
  check('src/ngx_olla_dmr_page.h is up to date with page.html (else: make page)', have === header(html));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-page-cc-'));
  try {
    fs.writeFileSync(path.join(dir, 'rt.c'), `#include <stdio.h>
#include "ngx_olla_dmr_page.h"
static const char page[] = NGX_OLLA_DMR_PAGE;
static const char policy[] = NGX_OLLA_DMR_PAGE_CSP;
int main(int argc, char **argv) {
    (void) argv;
    if (argc > 1) { fputs(policy, stdout); return 0; }
    return fwrite(page, 1, sizeof(page) - 1, stdout) == sizeof(page) - 1 ? 0 : 1;
}
`);
    execFileSync('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-O1', '-I', path.join(ROOT, 'src'),
      '-o', path.join(dir, 'rt'), path.join(dir, 'rt.c')], { stdio: 'pipe' });
    const out = execFileSync(path.join(dir, 'rt'), { maxBuffer: 1 << 24 });
    check('the header compiles (-Wall -Wextra -Werror) and NGX_OLLA_DMR_PAGE is page.html byte for byte',
      Buffer.compare(out, fs.readFileSync(PAGE)) === 0, `${out.length} bytes vs ${fs.statSync(PAGE).size}`);
    const cspOut = execFileSync(path.join(dir, 'rt'), ['csp']).toString();
    check('NGX_OLLA_DMR_PAGE_CSP is the policy with the page\'s hashes', cspOut === policy, cspOut);
  } catch (e) {
    check('the header compiles and round-trips', false, String(e.stderr || e.message).slice(0, 2000));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------- 2. mock

async function mockChecks(browser) {
  const mock = await startMock({ state: sampleState() });
  const w = await openPage(browser, mock.pageUrl);
  const { page } = w;
  check('mock: the page is served with the CSP', w.response.headers()['content-security-policy'] === policy);

  await seen(page, '#conn[data-state="live"]', 'mock: live');
  const n = await page.locator('article.card').count();
  check('mock: one card per endpoint (7)', n === 7, `got ${n}`);
  const tiers = await page.locator('.tier').evaluateAll((els) => els.map((e) => e.dataset.priority));
  check('mock: tiers by priority, highest first (100, 80, 50)', tiers.join() === '100,80,50', tiers.join());

  const labels = { healthy: 'Healthy', unhealthy: 'Unhealthy', offline: 'Offline',
                   config_error: 'Config error', rate_limited: 'Rate limited', unknown: 'Unknown' };
  for (const [st, label] of Object.entries(labels)) {
    const t = await text(page, `article.card[data-status="${st}"] .badge`);
    check(`mock: a ${st} endpoint has the text label "${label}"`, t && t.includes(label), t);
  }
  const hasColour = await page.evaluate(() => {
    const ok = getComputedStyle(document.querySelector('article.card[data-status="healthy"] .badge')).color;
    const bad = getComputedStyle(document.querySelector('article.card[data-status="offline"] .badge')).color;
    return ok !== bad;
  });
  check('mock: healthy and offline badges differ in colour', hasColour);

  const evil = mock.state.endpoints[3].name;
  const shown = await page.locator('article.card h4').evaluateAll((els) => els.map((e) => e.textContent));
  check('mock: a name with markup is shown as text', shown.includes(evil), JSON.stringify(shown));
  const injected = await page.evaluate(() => ({
    img: document.querySelectorAll('img').length, b: document.querySelectorAll('.url b').length,
    pwned: window.__pwned === 1,
  }));
  check('mock: no markup from the JSON reached the DOM', !injected.img && !injected.b && !injected.pwned,
    JSON.stringify(injected));

  const res = await text(page, 'article.card[data-endpoint="gpu-1"] .resident');
  check('mock: resident and loading models on the card', res && /llama3\.2.*in use.*qwen3.*loading/.test(res), res);
  const names = (sel) => page.locator(sel).evaluateAll((els) => els.map((e) => e.textContent).join(' '));
  const loadedOn = await names('tr[data-model="ai/smollm2:latest"] td[data-label="Loaded on"] .chip .name');
  const servedBy = await names('tr[data-model="ai/smollm2:latest"] td[data-label="Served by"] .chip .name');
  check('mock: models table: where a model is loaded and who serves it',
    loadedOn === 'gpu-2' && servedBy === 'gpu-1 gpu-2 cpu-box', `${loadedOn} / ${servedBy}`);

  // tokens: rates from counter deltas
  check('mock: a tokens tile while the JSON has token counters', await page.locator('#sum-tokens').count() === 1);
  const g1 = mock.state.endpoints[0];
  const g2 = mock.state.endpoints[1];
  const bump = setInterval(() => {
    g1.tokens.completion += 500; g1.tokens.prompt += 2000; g1.requests += 3;
    g2.tokens.completion += 250; g2.tokens.prompt += 1000; g2.requests += 1;
  }, 500);
  try {
    await page.waitForFunction(() => {
      const v = document.querySelector('#sum-tokens .value');
      return v && parseFloat(v.textContent.replace(/,/g, '')) > 0;
    }, null, { timeout: 10000 });
    check('mock: tokens per second from the counters\' deltas', true);
  } catch {
    check('mock: tokens per second from the counters\' deltas', false, await text(page, '#sum-tokens'));
  }
  const rq = await text(page, 'article.card[data-endpoint="gpu-1"] .nums');
  check('mock: requests per second on the card', rq && /\d(\.\d)?\/s/.test(rq), rq);
  clearInterval(bump);

  await shot(page, 'mock-laptop');
  await shot(page, 'mock-laptop-full', { full: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'mock-laptop-dark');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check('mock: prefers-color-scheme: dark gives a dark page', /rgb\((\d+), (\d+), (\d+)\)/.test(bg)
    && bg.match(/\d+/g).slice(0, 3).every((c) => Number(c) < 60), bg);
  await page.emulateMedia({ colorScheme: 'light' });

  // a health change, a circuit change, a model loaded
  Object.assign(g2, { status: 'offline', reason: 'connect() failed (111: Connection refused)', circuit: 'open',
                      consecutive_failures: 3 });
  g1.residency.models[1].state = 'resident';
  await seen(page, 'article.card[data-endpoint="gpu-2"][data-status="offline"]', 'mock: the card turns offline');
  await seen(page, '#changes li[data-kind="status"][data-endpoint="gpu-2"][data-to="offline"]',
    'mock: the change is listed');
  await seen(page, '#changes li[data-kind="circuit"][data-endpoint="gpu-2"][data-to="open"]',
    'mock: the circuit change is listed');
  await seen(page, '#changes li[data-kind="model"][data-endpoint="gpu-1"][data-to="resident"]',
    'mock: a model loaded is listed');
  const sum = await text(page, '#sum-endpoints .value');
  check('mock: the summary counts 1 healthy of 7', sum === '1 of 7', sum);

  // no token counters: no token column
  for (const e of mock.state.endpoints) delete e.tokens;
  await gone(page, '#sum-tokens', 'mock: the tokens tile goes when the JSON has no token counters');
  const tokCells = await page.locator('article.card .nums dt', { hasText: 'Tok/s' }).count();
  check('mock: no tokens on the cards either', tokCells === 0, `${tokCells} left`);

  // unreachable: a 502, then dropped connections; then back
  w.phase = 'down';
  mock.fail = 502;
  await seen(page, '#conn[data-state="down"]', 'mock: 502: "gateway unreachable"');
  const banner = await text(page, '#banner');
  check('mock: the banner says why and that the last data is shown',
    banner && /Gateway unreachable/.test(banner) && /HTTP 502/.test(banner) && /last data/.test(banner), banner);
  check('mock: the last data stays on the page', await page.locator('article.card').count() === 7);
  await shot(page, 'mock-laptop-unreachable');
  mock.fail = 'reset';
  await page.waitForFunction(() => /network error/.test(document.getElementById('banner').textContent),
    null, { timeout: 10000 }).then(() => check('mock: a dropped connection: "network error"', true),
    async () => check('mock: a dropped connection: "network error"', false, await text(page, '#banner')));
  mock.fail = null;
  await seen(page, '#conn[data-state="live"]', 'mock: live again');
  w.phase = 'up';
  check('mock: the banner is hidden again', !(await page.locator('#banner').isVisible()));
  await seen(page, '#changes li[data-kind="gateway"][data-to="up"]', 'mock: "reachable again" is listed');
  const nchanges = await page.locator('#changes li').count();
  check('mock: the changes are kept (at most 50)', nchanges >= 5 && nchanges <= 50, `${nchanges}`);

  // status/models fails alone: the endpoints stay live, the models say so
  w.phase = 'down';
  mock.failModels = 500;
  await page.waitForFunction(() => /not refreshed: HTTP 500/.test(document.getElementById('models-note').textContent),
    null, { timeout: 10000 }).then(() => check('mock: status/models failing alone is said, the rest stays live', true),
    async () => check('mock: status/models failing alone is said, the rest stays live', false, await text(page, '#models-note')));
  check('mock: ... and the models table keeps the last data', await page.locator('tr[data-model]').count() === 3);
  check('mock: ... and the page is still live', await page.locator('#conn[data-state="live"]').count() === 1);
  mock.failModels = null;
  await page.waitForFunction(() => !/not refreshed/.test(document.getElementById('models-note').textContent),
    null, { timeout: 10000 }).then(() => check('mock: models refreshed again', true),
    () => check('mock: models refreshed again', false));
  w.phase = 'up';

  // a phone
  const p = await openPage(browser, mock.pageUrl, { phone: true });
  await seen(p.page, 'article.card', 'mock phone: cards');
  await noOverflow(p.page, 'mock phone');
  const f = await smallestFont(p.page);
  check(`mock phone: no text smaller than 13 px (smallest ${f.min} px)`, f.min >= 13, JSON.stringify(f));
  await shot(p.page, 'mock-phone');
  await shot(p.page, 'mock-phone-full', { full: true });
  await p.page.emulateMedia({ colorScheme: 'dark' });
  await shot(p.page, 'mock-phone-dark');
  const fl = await smallestFont(page);
  check(`mock laptop: no text smaller than 13 px (smallest ${fl.min} px)`, fl.min >= 13, JSON.stringify(fl));
  await noOverflow(page, 'mock laptop');

  // another location prefix: the page finds its JSON relative to itself
  const deep = await startMock({ prefix: '/gw/a/', state: sampleState() });
  const d = await openPage(browser, deep.pageUrl);
  await seen(d.page, 'article.card[data-endpoint="gpu-1"]', 'mock: under /gw/a/ the page reads /gw/a/status/...');
  const noslash = await openPage(browser, deep.pageUrl.replace(/\/$/, ''));
  await seen(noslash.page, 'article.card[data-endpoint="gpu-1"]', 'mock: .../ui without the slash works too');

  // the CSP is enforced: an injected inline script does not run
  const c = await openPage(browser, mock.pageUrl);
  await seen(c.page, 'article.card', 'csp control: page up');
  const blocked = await c.page.evaluate(async () => {
    const s = document.createElement('script');
    s.appendChild(document.createTextNode('window.__injected = 1;'));
    document.body.appendChild(s);
    let html = 'ok';
    try { document.body.insertAdjacentHTML('beforeend', '<i></i>'); html = 'allowed'; } catch { html = 'refused'; }
    await new Promise((r) => setTimeout(r, 50));
    return { ran: window.__injected === 1, violations: window.__csp.length, html };
  });
  check('csp control: an injected inline script is refused and reported',
    !blocked.ran && blocked.violations > 0, JSON.stringify(blocked));
  check('csp control: Trusted Types refuse HTML strings', blocked.html === 'refused', JSON.stringify(blocked));
  await c.ctx.close();

  await verdict(w, 'mock laptop');
  await verdict(p, 'mock phone');
  await verdict(d, 'mock /gw/a/');
  await verdict(noslash, 'mock /gw/a/ui');
  for (const x of [w, p, d, noslash]) await x.ctx.close();
  await mock.close();
  await deep.close();
}

// ------------------------------------------------------------- 3. nginx

async function gatewayChecks(browser) {
  if (!fs.existsSync(MODULE_SO)) {
    check(`the module is built (${MODULE_SO})`, false, 'run make');
    return;
  }
  const a = await startStandin({ models: 'ai/smollm2,ai/tinyllama', list: 'store' });
  const b = await startStandin({ models: 'ai/smollm2', list: 'store' });
  const ngx = await startNginx([
    { url: a.url, name: 'dmr-a', priority: 95 },
    { url: b.url, name: 'dmr-b', priority: 80 },
  ]);
  try {
    // the page: from the module when it serves it, else from the file
    let pageUrl = `${ngx.base}/fileui/ui/`;
    const r = await fetch(`${ngx.base}/internal/ui/`);
    const body = await r.text();
    if (r.status === 200 && /^text\/html/.test(r.headers.get('content-type') || '')) {
      pageUrl = `${ngx.base}/internal/ui/`;
      console.log('# the module serves the page at /internal/ui/');
      check('module: /internal/ui/ is page.html', body === html, `${body.length} bytes`);
      check('module: with the generated Content-Security-Policy',
        r.headers.get('content-security-policy') === policy, r.headers.get('content-security-policy'));
    } else {
      console.log(`# /internal/ui/ answers ${r.status}: the page is served from a file at /fileui/ui/`);
    }

    // one request, so that a model is resident and counted
    const chat = await fetch(`${ngx.base}/olla/dmr/engines/v1/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'ai/smollm2', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    await chat.text();
    check('gateway: a chat completion through it', chat.status === 200, `HTTP ${chat.status}`);

    const lap = await openPage(browser, pageUrl);
    const ph = await openPage(browser, pageUrl, { phone: true });
    check('gateway: the page is served with the CSP',
      lap.response.headers()['content-security-policy'] === policy);
    for (const [w, name] of [[lap, 'laptop'], [ph, 'phone']]) {
      await seen(w.page, 'article.card[data-endpoint="dmr-a"][data-status="healthy"]', `gateway ${name}: dmr-a healthy`, 15000);
      await seen(w.page, 'article.card[data-endpoint="dmr-b"][data-status="healthy"]', `gateway ${name}: dmr-b healthy`, 15000);
    }
    const tiers = await lap.page.locator('.tier').evaluateAll((els) => els.map((e) => e.dataset.priority));
    check('gateway: two tiers, 95 then 80', tiers.join() === '95,80', tiers.join());
    await seen(lap.page, 'article.card[data-endpoint="dmr-a"] .chip.resident',
      'gateway: the model the request loaded is resident on dmr-a', 15000);
    await seen(lap.page, 'tr[data-model="ai/smollm2:latest"] .chip.resident',
      'gateway: the models table says where it is loaded', 15000);
    const served = await text(lap.page, 'tr[data-model="ai/smollm2:latest"]');
    check('gateway: ai/smollm2 served by dmr-a and dmr-b', served && /dmr-a/.test(served) && /dmr-b/.test(served), served);
    const reqs = await lap.page.locator('article.card[data-endpoint="dmr-a"] .nums div:nth-child(2) dd')
      .evaluate((dd) => dd.firstChild.textContent);
    check('gateway: dmr-a counts the request', reqs === '1', reqs);
    // the chat completion's usage, counted by the module when it was logged
    const used = (await (await fetch(`${ngx.base}/internal/status/endpoints`)).json())
      .endpoints.find((e) => e.name === 'dmr-a').usage.tokens;
    check('gateway: the module counted the answer\'s tokens', used.prompt > 0 && used.completion > 0,
      JSON.stringify(used));
    await seen(lap.page, '#sum-tokens', 'gateway: a tokens tile from the module\'s counters', 15000);
    await shot(lap.page, 'laptop-healthy');

    // one stand-in dies
    const t0 = Date.now();
    await b.kill();
    const down = 'article.card[data-endpoint="dmr-b"]:is([data-status="offline"], [data-status="unhealthy"])';
    for (const [w, name] of [[lap, 'laptop'], [ph, 'phone']]) {
      await seen(w.page, down, `gateway ${name}: dmr-b shown offline or unhealthy after it is killed`, 20000);
    }
    console.log(`# dmr-b shown down ${Date.now() - t0} ms after the kill`);
    await seen(lap.page, '#changes li[data-kind="status"][data-endpoint="dmr-b"]', 'gateway: the change is listed');
    const ch = await text(lap.page, '#changes li[data-endpoint="dmr-b"]');
    check('gateway: the change reads healthy -> offline/unhealthy', ch && /Healthy.*(Offline|Unhealthy)/.test(ch), ch);
    const sum = await text(lap.page, '#sum-endpoints .value');
    check('gateway: the summary says 1 of 2 healthy', sum === '1 of 2', sum);
    const tierBadge = await text(lap.page, '.tier[data-priority="80"] .tier-head .badge');
    check('gateway: the fallback tier says 0 of 1 healthy', tierBadge === '0 of 1 healthy', tierBadge);
    await noOverflow(lap.page, 'gateway laptop');
    await noOverflow(ph.page, 'gateway phone');

    await shot(lap.page, 'laptop');
    await shot(lap.page, 'laptop-full', { full: true });
    await shot(ph.page, 'phone');
    await shot(ph.page, 'phone-full', { full: true });
    await lap.page.emulateMedia({ colorScheme: 'dark' });
    await ph.page.emulateMedia({ colorScheme: 'dark' });
    await shot(lap.page, 'laptop-dark');
    await shot(ph.page, 'phone-dark');
    await lap.page.emulateMedia({ colorScheme: 'light' });

    // the gateway goes away
    lap.phase = 'down';
    ph.phase = 'down';
    await ngx.stop();
    await seen(lap.page, '#conn[data-state="down"]', 'gateway: nginx stopped: "gateway unreachable"', 15000);
    const banner = await text(lap.page, '#banner');
    check('gateway: the banner says so', banner && /Gateway unreachable/.test(banner) && /network error/.test(banner), banner);
    check('gateway: the last data stays',
      await lap.page.locator('article.card[data-endpoint="dmr-a"][data-status="healthy"]').count() === 1);
    await seen(lap.page, '#changes li[data-kind="gateway"][data-to="down"]', 'gateway: listed in the changes');
    await seen(ph.page, '#conn[data-state="down"]', 'gateway phone: "gateway unreachable"', 15000);
    await shot(lap.page, 'laptop-unreachable');
    await shot(ph.page, 'phone-unreachable');

    await verdict(lap, 'gateway laptop');
    await verdict(ph, 'gateway phone');
    await lap.ctx.close();
    await ph.ctx.close();
    const alerts = ngx.errorLog().split('\n').filter((l) => /\[(alert|crit|emerg)\]|exited on signal/.test(l));
    check('gateway: no alert, crit or crash in error.log', alerts.length === 0, alerts.join(' | '));
  } finally {
    await ngx.stop();
    ngx.cleanup();
    await a.stop();
    await b.kill();
  }
}

// ------------------------------------------------------------------ main

fs.mkdirSync(OUT, { recursive: true });
headerChecks();

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  console.log(`# ${CHROMIUM} ${browser.version()}`);
  await mockChecks(browser);
  await gatewayChecks(browser);
} catch (e) {
  check('the test ran to the end', false, e.stack || String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
}

console.log(`page: ${checks} checks, ${failed} failed`);
process.exit(failed ? 1 : 0);
