// Harness for the end-to-end tests: DMR stand-ins and nginx with the module,
// started as children of the test process, on free ports, in a temp dir.
//
// Every process started here is registered and killed when the test process
// exits, whatever happened (a failed assertion, an exception, a timeout).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..', '..');
export const MODULE_SO = process.env.OLLA_MODULE
  || path.join(ROOT, 'build', 'debian', 'ngx_olla_dmr_module.so');
export const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
// the profiles the module reads (OLLA_PROFILES: those of another checkout,
// with OLLA_MODULE built from it)
export const PROFILES = process.env.OLLA_PROFILES || path.join(ROOT, 'profiles');
const STANDIN = path.join(ROOT, 'tools', 'dmr-standin', 'server.js');

// ------------------------------------------------------------ process registry

const children = new Set();

// A child started with { detached: true } leads its own process group
// (nginx: the master and its workers); killing the group leaves no orphaned
// worker holding the listen socket when a run is cut short.
function killAll() {
  for (const c of children) {
    try { process.kill(c.olla_group ? -c.pid : c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll(); process.exit(128 + os.constants.signals[sig]); });
}

function track(child, { group = false } = {}) {
  child.olla_group = group;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child, signal, graceMs) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try { child.kill(signal); } catch { /* gone */ }
  const done = await Promise.race([exited(child).then(() => true), sleep(graceMs, undefined, { ref: false }).then(() => false)]);
  if (!done) {
    try { process.kill(child.olla_group ? -child.pid : child.pid, 'SIGKILL'); } catch { /* gone */ }
    await exited(child);
  }
}

// ------------------------------------------------------------------ ports

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// --------------------------------------------------------------- stand-in

// Starts a DMR stand-in.  opts: port (0 = free), models, list, tokenDelayMs,
// defaultMaxTokens, args (extra flags).  Resolves when it prints its
// "listening" line.
export async function startStandin(opts = {}) {
  const args = [STANDIN, '--host', '127.0.0.1', '--port', String(opts.port ?? 0),
    '--models', opts.models ?? 'ai/smollm2',
    '--list', opts.list ?? 'loaded',
    '--default-max-tokens', String(opts.defaultMaxTokens ?? 64)];
  if (opts.tokenDelayMs) args.push('--token-delay-ms', String(opts.tokenDelayMs));
  if (opts.preload) args.push('--preload');
  if (opts.args) args.push(...opts.args);
  args.push('--verbose'); // one stderr line per request: what reached the backend
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  let partial = '';
  const requests = [];
  const loads = [];
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      const m = /^dmr-standin: (GET|POST|HEAD|PUT|DELETE|OPTIONS) (\S+) (\d+) (\d+)ms$/.exec(l);
      if (m) requests.push({ method: m[1], url: m[2], status: Number(m[3]), ms: Number(m[4]) });
      const ld = /^dmr-standin: loaded (\S+) \((\w+)\) in (\d+) ms$/.exec(l);
      if (ld) loads.push({ model: ld[1], mode: ld[2], ms: Number(ld[3]), at: Date.now() });
    }
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`dmr-standin did not start in 30s: ${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /dmr-standin listening on (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`dmr-standin exited (${code ?? sig}) before listening: ${stderr}`));
    });
  });
  child.stdout.resume();
  const port = Number(new URL(url).port);
  return {
    child, url, port,
    get stderr() { return stderr; },
    // Requests the stand-in answered (health probes included), in order.
    requests,
    // Model loads the stand-in finished ({model, mode, ms, at}), in order:
    // every cold load, whoever asked for it (a request, X-Preload-Only).
    loads,
    // Waits (up to 3 s) until `count` requests answered since index `from`
    // of `requests` match pred; returns those.
    async waitRequests(pred, count = 1, from = 0) {
      const deadline = Date.now() + 3000;
      for (;;) {
        const got = requests.slice(from).filter(pred);
        if (got.length >= count || Date.now() > deadline) return got;
        await sleep(50);
      }
    },
    stop: () => stopChild(child, 'SIGTERM', 5000),
    kill: async () => { try { child.kill('SIGKILL'); } catch { /* gone */ } await exited(child); },
  };
}

// ------------------------------------------------------------------ nginx

// endpoints: [{ url, name, type?, params? }]; upstream: more directives for
// the upstream block, without their ';' (e.g. ['olla_resident_first off']);
// upstreamExtra: the same with their ';' (e.g. ['olla_affinity off;']);
// http, location: more directives for the http block and for the
// olla_route location, without their ';' (e.g. ['limit_req_zone ...'],
// ['return 401']); locationExtra: the location's, with their ';'.
export function nginxConf({ dir, port, endpoints, upstream = [], http = [], location = [],
  checkInterval = '1s', checkTimeout = '500ms', upstreamExtra = [], locationExtra = [] }) {
  const eps = endpoints.map((e) => {
    const p = [`olla_endpoint ${e.url}`, `name=${e.name}`];
    if (e.type) p.push(`type=${e.type}`);
    p.push(`check_interval=${e.checkInterval ?? checkInterval}`, `check_timeout=${e.checkTimeout ?? checkTimeout}`);
    if (e.params) p.push(e.params);
    return `        ${p.join(' ')};`;
  }).join('\n');
  return `load_module ${MODULE_SO};
daemon off;
master_process on;
worker_processes 2;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;

events { worker_connections 256; }

http {
    log_format e2e '$request_method $request_uri $status ep=$olla_endpoint type=$olla_backend_type '
                   'mode=$olla_mode route=$olla_route model=$olla_model rid=$olla_request_id '
                   'ups="$upstream_addr" ups_status="$upstream_status" reason=$olla_route_reason';
    access_log ${dir}/access.log e2e;
    client_body_temp_path ${dir}/client_body_temp;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;

    olla_profiles ${PROFILES};
${http.map((d) => `    ${d};\n`).join('')}
    upstream models {
${eps}
${upstream.map((d) => `        ${d};\n`).join('')}${upstreamExtra.map((d) => `        ${d}\n`).join('')}        keepalive 16;
    }

    server {
        listen 127.0.0.1:${port};

        location /olla/ {
            olla_route models;
            proxy_pass http://models;
            include ${ROOT}/conf.examples/olla_proxy_params;
${location.map((d) => `            ${d}${d.endsWith('}') ? '' : ';'}\n`).join('')}${locationExtra.map((d) => `            ${d}\n`).join('')}        }

        location /internal/ {
            olla_status;
        }
    }
}
`;
}

// Starts nginx in the foreground (daemon off) with the module and the given
// endpoints; resolves once /internal/health answers 200.  A free port can be
// taken by another process before nginx binds it: then another one is tried.
export async function startNginx(opts) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNginxOnce(opts);
    } catch (e) {
      if (!(e.addressInUse && attempt < 3)) throw e;
    }
  }
}

async function startNginxOnce({ endpoints, ...rest }) {
  if (!fs.existsSync(MODULE_SO)) throw new Error(`module not built: ${MODULE_SO} (run make)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-e2e-'));
  // mkdtemp makes the dir 0700; when the tests run as root, nginx's workers
  // run as nobody and must reach client_body_temp inside it (a request body
  // over client_body_buffer_size, as Claude Code's, goes to a temp file).
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf({ dir, port, endpoints, ...rest }));
  fs.writeFileSync(path.join(dir, 'error.log'), '');
  const child = track(spawn(NGINX_BIN, ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true }), { group: true });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const base = `http://127.0.0.1:${port}`;
  const ngx = {
    child, dir, port, base,
    openaiBase: `${base}/olla/dmr/engines/v1`,
    anthropicBase: `${base}/olla/anthropic`,
    errorLog: () => fs.readFileSync(path.join(dir, 'error.log'), 'utf8'),
    // Parsed access log lines (format "e2e" above).
    accessLog() {
      let text = '';
      try { text = fs.readFileSync(path.join(dir, 'access.log'), 'utf8'); } catch { /* none yet */ }
      return text.split('\n').filter(Boolean).map((l) => {
        const [method, uri, status] = l.split(' ');
        const f = Object.fromEntries([...l.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g)].map((m) => [m[1], m[2] ?? m[3]]));
        return { method, uri, status: Number(status), ...f, line: l };
      });
    },
    // Waits (up to 3 s) for access log lines matching pred (nginx logs a
    // request when it is finalised, which can be just after the client has
    // the whole answer); returns the matching lines.  Select a test's own
    // lines with pred (its URI, or rid: the X-Request-ID it sent), not by
    // their position after an earlier length of the log: the line of an
    // earlier request can be written after that length was read, and the
    // two workers do not write in request order.
    async waitAccess(pred, count = 1) {
      const deadline = Date.now() + 3000;
      for (;;) {
        const lines = ngx.accessLog().filter(pred);
        if (lines.length >= count || Date.now() > deadline) return lines;
        await sleep(50);
      }
    },
    async stop() {
      await stopChild(child, 'SIGQUIT', 10000);
      if (!process.env.E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
    // Lines of error.log at the given levels (e.g. ['alert','crit','emerg']).
    logLines(levels) {
      const re = new RegExp(`\\[(${levels.join('|')})\\]`);
      return ngx.errorLog().split('\n').filter((l) => re.test(l));
    },
    // Worker crashes: "worker process N exited on signal S".
    crashes() {
      return ngx.errorLog().split('\n').filter((l) => /exited on signal/.test(l));
    },
    async endpoints() {
      const r = await fetch(`${base}/internal/status/endpoints`);
      if (r.status !== 200) throw new Error(`status/endpoints: ${r.status}`);
      return r.json();
    },
    // The record of one endpoint in /internal/status/endpoints.
    async endpoint(name) {
      const rec = endpointList(await ngx.endpoints()).find((e) => e.name === name);
      if (!rec) throw new Error(`no endpoint "${name}" in status/endpoints`);
      return rec;
    },
    // Waits until nginx holds no open connection to 127.0.0.1:port (none
    // ESTABLISHED nor CLOSE_WAIT, from /proc/net/tcp): after a backend died,
    // the workers have dropped their kept-alive connections to it, so the
    // next request to it connects afresh (and is refused) instead of being
    // written into a dead cached connection.
    async waitNoConnections(peerPort, { timeoutMs = 5000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const open = tcpConnectionsTo(peerPort);
        if (open.length === 0) return;
        if (Date.now() > deadline) {
          throw new Error(`nginx still holds ${open.length} connection(s) to port ${peerPort} after ${timeoutMs} ms: ${open.join(' | ')}`);
        }
        await sleep(20);
      }
    },
  };
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = ngx.errorLog();
      if (!process.env.E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
      throw Object.assign(new Error(`nginx exited (${child.exitCode ?? child.signalCode}): ${output}\n${log}`),
        { addressInUse: /Address already in use/.test(output + log) });
    }
    try {
      const r = await fetch(`${base}/internal/health`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      const log = ngx.errorLog();
      await ngx.stop();
      throw new Error(`nginx did not answer /internal/health with 200 in 15s: ${output}\n${log}`);
    }
    await sleep(100);
  }
  return ngx;
}

// Sockets on this machine connected to 127.0.0.1:port (remote side), in
// state ESTABLISHED (01) or CLOSE_WAIT (08), from /proc/net/tcp{,6}; each
// as its /proc line.
export function tcpConnectionsTo(port) {
  const found = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const rem = cols[2].split(':');
      if (parseInt(rem[rem.length - 1], 16) !== port) continue;
      if (cols[3] === '01' || cols[3] === '08') found.push(line.trim());
    }
  }
  return found;
}

// The per-endpoint records of /internal/status/endpoints, whatever the
// envelope ({endpoints:[...]}, {data:[...]} or a bare array).
export function endpointList(status) {
  if (Array.isArray(status)) return status;
  for (const k of ['endpoints', 'data']) if (Array.isArray(status?.[k])) return status[k];
  throw new Error(`unexpected status/endpoints shape: ${JSON.stringify(status).slice(0, 500)}`);
}

// Waits until pred(endpoint records) is true; returns the last records.
export async function waitEndpoints(ngx, pred, { timeoutMs = 15000, what = 'endpoint state' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = endpointList(await ngx.endpoints());
      if (pred(last)) return last;
    } catch (e) { last = String(e); }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    }
    await sleep(200);
  }
}

export { sleep };
