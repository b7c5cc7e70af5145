// Assertions shared by the e2e test files.

import assert from 'node:assert/strict';

// Header access for both a fetch Headers object and a plain object.
export function header(headers, name) {
  if (typeof headers?.get === 'function') return headers.get(name);
  const k = Object.keys(headers || {}).find((h) => h.toLowerCase() === name.toLowerCase());
  return k === undefined ? null : headers[k];
}

// The X-Olla-* headers every routed response carries.
export function assertOllaHeaders(headers, { endpoint, backendType = 'docker-model-runner', mode, model } = {}) {
  const ep = header(headers, 'x-olla-endpoint');
  if (endpoint instanceof RegExp) assert.match(ep ?? '', endpoint, 'X-Olla-Endpoint');
  else if (endpoint) assert.equal(ep, endpoint, 'X-Olla-Endpoint');
  else assert.ok(ep, 'X-Olla-Endpoint present');
  assert.equal(header(headers, 'x-olla-backend-type'), backendType, 'X-Olla-Backend-Type');
  assert.match(header(headers, 'x-olla-request-id') ?? '', /^[\x21-\x7e]{8,}$/, 'X-Olla-Request-ID');
  if (mode !== undefined) assert.equal(header(headers, 'x-olla-mode'), mode, 'X-Olla-Mode');
  if (model !== undefined) assert.equal(header(headers, 'x-olla-model'), model, 'X-Olla-Model');
}

// A DMR model id for ai/smollm2 (DMR lists it as ai/smollm2:latest).
export function isSmollm2(id) {
  return /^ai\/smollm2(:latest)?$/i.test(String(id));
}

// nginx's error.log after a suite: no crash, no alert/crit/emerg; with
// noErrors, no [error] line either (a successful request leaves none).
export function assertCleanLog(ngx, { noErrors = true } = {}) {
  assert.deepEqual(ngx.crashes(), [], 'no worker process crashed');
  assert.deepEqual(ngx.logLines(['alert', 'crit', 'emerg']), [], 'no [alert]/[crit]/[emerg] in error.log');
  if (noErrors) assert.deepEqual(ngx.logLines(['error']), [], 'no [error] in error.log');
}

// Arrival times (ms since start) of streamed pieces: several, spread over
// time (not delivered in one burst at the end).
export function assertSpreadOverTime(times, { min = 3, tokenDelayMs, label = 'chunks' } = {}) {
  assert.ok(times.length >= min, `at least ${min} ${label} arrived (got ${times.length})`);
  const span = times[times.length - 1] - times[0];
  // With a per-token delay of D ms, N pieces arrive over about (N-1)*D ms;
  // half of that leaves room for scheduling noise but fails on a burst.
  const want = Math.floor(((times.length - 1) * tokenDelayMs) / 2);
  assert.ok(span >= want,
    `${label} arrived over time: first-to-last ${span} ms, want >= ${want} ms (times ${times.map((t) => t.toFixed(0)).join(',')})`);
}
