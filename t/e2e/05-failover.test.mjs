// Failover with the OpenAI SDK: two DMR stand-ins behind one upstream.
// One is killed (SIGKILL) between requests: requests keep succeeding (nginx
// retries the refused connection on the other endpoint; then the health
// checker marks it offline); it is started again on the same port and
// receives traffic again once it is healthy.
//
// The retry case must not race the health checker: if dmr-1 were probed
// between the kill and the requests, it would be offline before any request
// tried it, and nothing would be retried.  So dmr-1 is probed every
// CHECK_S seconds, the kill follows a probe that was just done (its
// next_check_ms in /internal/status/endpoints is still most of the
// interval), nginx has dropped its kept-alive connections to the dead port
// (/proc/net/tcp), and the four requests are sent at once: nginx picks
// their endpoints within milliseconds, seconds before the next probe can
// run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { startNginx, startStandin, waitEndpoints } from './lib/harness.mjs';
import { assertCleanLog, assertOllaHeaders, isSmollm2 } from './lib/checks.mjs';

const MODEL = 'ai/smollm2';
const CHECK_S = 5; // dmr-1's check_interval

describe('failover between two DMR stand-ins', () => {
  let a; // dmr-1: killed and restarted
  let b; // dmr-2
  let ngx;
  let client;
  const byName = (eps, name) => eps.find((e) => e.name === name);

  before(async () => {
    [a, b] = await Promise.all([startStandin({ list: 'store' }), startStandin({ list: 'store' })]);
    ngx = await startNginx({
      endpoints: [{ url: a.url, name: 'dmr-1', checkInterval: `${CHECK_S}s` }, { url: b.url, name: 'dmr-2' }],
      // the balancer alone decides (least connections, ties rotate): with
      // residency and affinity on, every request would go where the model
      // is loaded, and a restarted endpoint would stay cold
      upstream: ['olla_resident_first off', 'olla_affinity off'],
    });
    await waitEndpoints(ngx, (eps) => ['dmr-1', 'dmr-2'].every((n) => byName(eps, n)?.status === 'healthy'
      && byName(eps, n).models.some(isSmollm2)), { what: 'dmr-1 and dmr-2 healthy' });
    client = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
  });

  after(async () => {
    await ngx?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  // One chat completion (streamed when asked), sent with X-Request-ID
  // "fo-<i>" so that its access log line is found by rid; returns the
  // endpoint name.
  async function chat(i, { stream = false } = {}) {
    const params = {
      model: MODEL, messages: [{ role: 'user', content: `Hello number ${i}` }], temperature: 0, max_tokens: 4,
    };
    const opts = { headers: { 'X-Request-ID': `fo-${i}` } };
    if (!stream) {
      const { data, response } = await client.chat.completions.create(params, opts).withResponse();
      assert.equal(response.status, 200);
      assertOllaHeaders(response.headers, { endpoint: /^dmr-[12]$/, model: MODEL });
      assert.ok(data.choices[0].message.content.length > 0, `request ${i}: content`);
      return response.headers.get('x-olla-endpoint');
    }
    const { data: s, response } = await client.chat.completions.create({ ...params, stream: true }, opts)
      .withResponse();
    assertOllaHeaders(response.headers, { endpoint: /^dmr-[12]$/, model: MODEL });
    let text = '';
    let finish = null;
    for await (const c of s) {
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(text.length > 0 && finish, `request ${i} (stream): text and finish_reason`);
    return response.headers.get('x-olla-endpoint');
  }

  async function run(n, label, opts = {}) {
    const seen = [];
    for (let i = 0; i < n; i++) seen.push(await chat(`${label}-${i}`, { stream: i % 3 === 2, ...opts }));
    return seen;
  }

  // n requests sent at once (every third streamed); the endpoint names in
  // request order.
  function runAtOnce(n, label) {
    return Promise.all([...Array(n).keys()].map((i) => chat(`${label}-${i}`, { stream: i % 3 === 2 })));
  }

  // The access log lines of the requests sent with label (by rid).
  const linesOf = async (label, n) => ngx.waitAccess((l) => l.rid?.startsWith(`fo-${label}-`), n);

  test('both endpoints serve requests', async () => {
    const seen = await run(6, 'before');
    assert.deepEqual([...new Set(seen)].sort(), ['dmr-1', 'dmr-2'], `endpoints: ${seen}`);
  });

  test('dmr-1 killed: requests keep succeeding, retried on dmr-2', async () => {
    // Right after a probe of dmr-1: its next one is at least CHECK_S - 1.5 s
    // away (the status is polled every 200 ms).
    const fresh = (CHECK_S - 1.5) * 1000;
    const eps = await waitEndpoints(ngx, (e) => byName(e, 'dmr-1')?.status === 'healthy'
      && byName(e, 'dmr-1').next_check_ms >= fresh,
    { timeoutMs: (CHECK_S + 5) * 1000, what: `a probe of dmr-1 that was just done (next_check_ms >= ${fresh})` });
    const probed = byName(eps, 'dmr-1');
    await a.kill(); // SIGKILL: connections to its port are refused from now on
    // nginx noticed: no kept-alive connection to the dead port is left for
    // a request to be written into.
    await ngx.waitNoConnections(a.port);
    // Still before the health checker can have noticed: nginx gets
    // "connection refused" from dmr-1 and retries on dmr-2.
    const seen = await runAtOnce(4, 'killed');
    const after1 = await ngx.endpoint('dmr-1');
    assert.deepEqual([...new Set(seen)], ['dmr-2'], `endpoints: ${seen}`);
    const lines = await linesOf('killed', 4);
    assert.equal(lines.length, 4, lines.map((l) => l.line).join('\n'));
    assert.ok(lines.every((l) => l.status === 200));
    const retried = lines.filter((l) => l.ups.includes(','));
    assert.ok(retried.length >= 1,
      `at least one request was tried on dmr-1 (${a.port}) and retried on dmr-2: ${lines.map((l) => l.line).join('\n')}`
      + `\ndmr-1 before the kill: ${JSON.stringify(probed)}\ndmr-1 after the requests: ${JSON.stringify(after1)}`);
    for (const l of retried) {
      assert.equal(l.ups, `127.0.0.1:${a.port}, 127.0.0.1:${b.port}`, `retry order: ${l.line}`);
      assert.equal(l.ups_status, '502, 200', l.line);
    }
  });

  test('the health checker marks dmr-1 offline; requests still succeed', async () => {
    const eps = await waitEndpoints(ngx, (e) => byName(e, 'dmr-1')?.status === 'offline',
      { timeoutMs: (CHECK_S + 10) * 1000, what: 'dmr-1 offline' });
    assert.equal(byName(eps, 'dmr-2').status, 'healthy');
    const h = await fetch(`${ngx.base}/internal/health`);
    assert.equal(h.status, 200, 'the gateway is healthy with one endpoint left');
    await h.arrayBuffer();
    const seen = await run(4, 'offline');
    assert.deepEqual([...new Set(seen)], ['dmr-2'], `endpoints: ${seen}`);
    // dmr-1 is known dead: not even tried.
    const lines = await linesOf('offline', 4);
    assert.ok(lines.every((l) => l.ups === `127.0.0.1:${b.port}`), lines.map((l) => l.line).join('\n'));
  });

  test('dmr-1 restarted on the same port: healthy again, receives traffic', async () => {
    a = await startStandin({ list: 'store', port: a.port });
    await waitEndpoints(ngx, (e) => byName(e, 'dmr-1')?.status === 'healthy',
      { timeoutMs: 30000, what: 'dmr-1 healthy again' });
    const seen = await run(8, 'after');
    assert.ok(seen.includes('dmr-1') && seen.includes('dmr-2'), `both endpoints serve again: ${seen}`);
    const st = byName(await waitEndpoints(ngx, () => true), 'dmr-1');
    assert.equal(st.circuit, 'closed', JSON.stringify(st));
  });

  test('error.log: no crash or alert (connect() errors of the kill are expected)', () => {
    assertCleanLog(ngx, { noErrors: false });
    const errs = ngx.logLines(['error']);
    assert.ok(errs.every((l) => /connect\(\) failed|upstream prematurely closed|olla:/.test(l)),
      `only connection errors: ${errs.join('\n')}`);
  });
});
