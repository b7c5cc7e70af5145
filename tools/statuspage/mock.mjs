#!/usr/bin/env node
// mock.mjs: a stand-in for olla_status, to develop and test the status page
// without nginx: serves page.html at <prefix>/ui/ (with the CSP gen.mjs
// computes, read afresh on every request) and sample JSON at
// <prefix>/status/endpoints and <prefix>/status/models, every endpoint state
// and the future token counters included.
//
//   node tools/statuspage/mock.mjs [--port 8099] [--prefix /internal/]
//                                  [--no-tokens] [--animate]
//
// --animate moves the counters and flips an endpoint's health now and then,
// to watch the page live.  The browser test imports startMock() and changes
// mock.state itself.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE, csp, lint } from './gen.mjs';

const MIN = 60;

// A gateway with every state the page has to show.  now: unix seconds.
export function sampleState(now = Math.floor(Date.now() / 1000), { tokens = true } = {}) {
  const ep = (o) => ({
    name: o.name,
    url: o.url,
    type: o.type ?? 'docker-model-runner',
    upstream: o.upstream ?? 'models',
    priority: o.priority,
    status: o.status,
    reason: o.reason ?? '',
    last_check: o.lastCheck === null ? null : new Date((now - (o.ago ?? 1)) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    last_check_unix: o.lastCheck === null ? 0 : now - (o.ago ?? 1),
    latency_ms: o.latency ?? 3,
    consecutive_failures: o.fails ?? 0,
    circuit: o.circuit ?? 'closed',
    models: o.models ?? [],
    model_count: (o.models ?? []).length,
    next_check_ms: 840,
    in_flight: o.inFlight ?? 0,
    requests: o.requests ?? 0,
    failures: o.failures ?? 0,
    residency: o.residency ?? { state: 'known', checked: now - 1, models: [] },
    decisions: { resident: o.dec ?? 0, affinity: 0, spill: 0, loading: 0, cold: o.cold ?? 0, fallback: 0 },
    preloads: 0,
    probes: o.probes ?? 42,
    ...(tokens && o.tokens ? { tokens: o.tokens } : {}),
  });
  const res = (state, model, inUse = false, source = 'endpoint') => ({
    model, state, in_use: inUse, mode: 'completion', last_used: now - 20, source,
  });
  const endpoints = [
    ep({ name: 'gpu-1', url: 'http://10.0.0.11:12434', priority: 100, status: 'healthy',
         reason: 'HTTP 200, 3 models', latency: 4, inFlight: 3, requests: 15320, failures: 2,
         models: ['ai/llama3.2:3B-Q4_K_M', 'ai/qwen3:8B-Q4_K_M', 'ai/smollm2:latest'],
         residency: { state: 'known', checked: now - 1, models: [
           res('resident', 'ai/llama3.2:3B-Q4_K_M', true), res('loading', 'ai/qwen3:8B-Q4_K_M')] },
         dec: 9120, cold: 12, tokens: { prompt: 4123456, completion: 1834022 } }),
    ep({ name: 'gpu-2', url: 'http://10.0.0.12:12434', priority: 100, status: 'healthy',
         reason: 'HTTP 200, 2 models', latency: 6, inFlight: 1, requests: 9822,
         models: ['ai/llama3.2:3B-Q4_K_M', 'ai/smollm2:latest'],
         residency: { state: 'known', checked: now - 1, models: [res('resident', 'ai/smollm2:latest', false, 'gateway')] },
         dec: 5210, cold: 4, tokens: { prompt: 2211000, completion: 990412 } }),
    ep({ name: 'cpu-box', url: 'http://cpu-box.lan:12434', priority: 80, status: 'unhealthy',
         reason: 'HTTP 503 from /engines/v1/models', latency: 812, fails: 2, circuit: 'half-open',
         requests: 311, failures: 17, models: ['ai/smollm2:latest'],
         residency: { state: 'unknown', checked: 0, reason: 'HTTP 503', models: [] } }),
    ep({ name: '<img src=x onerror="window.__pwned=1">', url: 'http://127.0.0.1:9/<b>x</b>',
         priority: 80, status: 'config_error', reason: 'profile "<script>" has no models path',
         circuit: 'closed', models: [] }),
    ep({ name: 'ollama-laptop', url: 'http://laptop.lan:11434', type: 'ollama', priority: 50,
         status: 'offline', reason: 'connect() failed (111: Connection refused)', latency: 0,
         fails: 7, circuit: 'open', ago: 3 * MIN, requests: 48, failures: 9,
         residency: { state: 'none', checked: 0, models: [] } }),
    ep({ name: 'lm-studio', url: 'http://studio.lan:1234', type: 'lm-studio', priority: 50,
         status: 'rate_limited', reason: 'HTTP 429', latency: 15, requests: 2, fails: 1 }),
    ep({ name: 'new-box', url: 'http://new-box.lan:12434', priority: 50, status: 'unknown',
         reason: 'not checked yet', lastCheck: null, latency: 0,
         residency: { state: 'unknown', checked: 0, reason: 'not read yet', models: [] } }),
  ];
  return { endpoints, models: modelsOf(endpoints) };
}

// status/models as the module builds it from the endpoint records.
export function modelsOf(endpoints) {
  const by = new Map();
  for (const e of endpoints) {
    for (const id of e.models) {
      if (!by.has(id)) {
        by.set(id, { model: { id, object: 'model', owned_by: 'docker',
                              dmr: { context_window: 131072, parameters: '3.21B', quantization: 'Q4_K_M', size: '1.87GiB' } },
                     endpoints: [], types: [], resident_on: [], loading_on: [] });
      }
      const m = by.get(id);
      m.endpoints.push(e.name);
      if (!m.types.includes(e.type)) m.types.push(e.type);
      for (const r of e.residency?.models ?? []) {
        if (r.model !== id) continue;
        (r.state === 'loading' ? m.loading_on : m.resident_on).push(e.name);
      }
    }
  }
  return [...by.values()];
}

// Serves the page and mock.state.  mock.fail = 502 (or any status) answers
// the status paths with that status; mock.fail = 'reset' drops the
// connections; mock.failModels = 500 fails status/models alone.
export function startMock({ port = 0, prefix = '/internal/', state = sampleState() } = {}) {
  const mock = { state, fail: null, hits: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
      res.end(body);
    };
    if (url.pathname === `${prefix}ui/`) {
      const html = fs.readFileSync(PAGE, 'utf8');
      lint(html);
      return send(200, 'text/html; charset=utf-8', html, { 'Content-Security-Policy': csp(html) });
    }
    if (url.pathname === `${prefix}ui`) {
      return send(301, 'text/plain', '', { Location: `${prefix}ui/` });
    }
    const which = { [`${prefix}status/endpoints`]: 'endpoints', [`${prefix}status/models`]: 'models' }[url.pathname];
    if (!which) return send(404, 'application/json', '{"error":{"message":"not found"}}\n');
    mock.hits++;
    if (mock.fail === 'reset') return req.socket.destroy();
    if (mock.fail) return send(mock.fail, 'application/json', '{"error":{"message":"mock failure"}}\n');
    if (which === 'models' && mock.failModels) {
      return send(mock.failModels, 'application/json', '{"error":{"message":"mock failure"}}\n');
    }
    const list = mock.state[which];
    return send(200, 'application/json', `${JSON.stringify({ [which]: list, total: list.length })}\n`);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      mock.port = server.address().port;
      mock.base = `http://127.0.0.1:${mock.port}`;
      mock.pageUrl = `${mock.base}${prefix}ui/`;
      mock.close = () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); });
      resolve(mock);
    });
  });
}

// --animate: requests and tokens flow, gpu-2 goes offline and comes back.
function animate(mock, tokens) {
  let tick = 0;
  setInterval(() => {
    tick++;
    const now = Math.floor(Date.now() / 1000);
    for (const e of mock.state.endpoints) {
      if (e.status !== 'healthy') continue;
      e.requests += Math.floor(Math.random() * 6);
      e.in_flight = Math.floor(Math.random() * 4);
      e.last_check_unix = now - 1;
      e.last_check = new Date((now - 1) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      if (tokens && e.tokens) {
        e.tokens.prompt += Math.floor(Math.random() * 3000);
        e.tokens.completion += Math.floor(Math.random() * 400);
      }
    }
    const g2 = mock.state.endpoints.find((e) => e.name === 'gpu-2');
    if (tick % 15 === 0) {
      const down = g2.status === 'healthy';
      Object.assign(g2, down
        ? { status: 'offline', reason: 'connect() failed (111: Connection refused)', circuit: 'open', consecutive_failures: 3 }
        : { status: 'healthy', reason: 'HTTP 200, 2 models', circuit: 'closed', consecutive_failures: 0 });
    }
  }, 1000);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name, def) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : def;
  };
  const tokens = !argv.includes('--no-tokens');
  const prefix = opt('--prefix', '/internal/');
  const mock = await startMock({ port: Number(opt('--port', 8099)), prefix,
                                 state: sampleState(undefined, { tokens }) });
  if (argv.includes('--animate')) animate(mock, tokens);
  console.log(`statuspage mock: ${mock.pageUrl}`);
}
