// Inference-aware routing against three DMR stand-ins (real llama.cpp, real
// lazy loads, real per-slot prompt caches), with the official `openai`
// package:
//
//  - a model resident on one stand-in is served there: sequential requests
//    and a few concurrent ones (below the concurrency limit) all go to it,
//    and no other stand-in loads the model (their /engines/ps stays empty,
//    their logs show no load, the gateway started no pre-warm);
//  - a conversation stays on one endpoint (X-Olla-Endpoint, the access
//    log's $olla_route_reason "affinity") and its later turns are answered
//    from the prompt cache (usage.prompt_tokens_details.cached_tokens is
//    most of the prompt).
//
// The model is loaded on a stand-in with X-Preload-Only, sent to it
// directly; the gateway learns it from /engines/ps after a health probe
// (the tests wait until /internal/status/endpoints shows it).  Cold loads
// take LOAD_DELAY_MS more, as on a real machine.  "Sequential" requests
// wait until the gateway counts nothing in flight (see idle()).
//
// Two tests hold what an earlier version got wrong: concurrent requests
// below the endpoint's parallel slots triggered a pre-warm of a cold
// stand-in and some were routed to it while it loaded; two conversations
// of one endpoint could not overlap without one spilling.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { sleep, startNginx, startStandin, waitEndpoints } from './lib/harness.mjs';
import { assertCleanLog, assertOllaHeaders } from './lib/checks.mjs';

const MODEL = 'ai/smollm2';
const NAMES = ['dmr-1', 'dmr-2', 'dmr-3'];
const LOAD_DELAY_MS = 1000;

const isModel = (m) => /^ai\/smollm2(:latest)?$/i.test(m ?? '');

// A long-ish system prompt, so that a turn's prompt is mostly its history.
const SYSTEM = 'You are a coding assistant working in a large repository. '
  + Array.from({ length: 40 }, (_, i) => `Rule ${i + 1}: keep every change small, tested and explained in plain words.`)
    .join(' ');

describe('resident models and conversation affinity (three DMR stand-ins)', () => {
  let ss = [];
  let ngx;
  const earlier = []; // error.log findings of the gateways already stopped

  before(async () => {
    ss = await Promise.all(NAMES.map(() => startStandin({
      list: 'store', // DMR lists its whole store: every endpoint "can serve" the model
      args: ['--load-delay-ms', String(LOAD_DELAY_MS), '--ctx-size', '16384'],
    })));
    await preload(0);
  });

  after(async () => {
    await ngx?.stop();
    await Promise.all(ss.map((s) => s.stop()));
  });

  // Loads the model on stand-in i (X-Preload-Only waits for the load).
  async function preload(i) {
    const r = await fetch(`${ss[i].url}/engines/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Preload-Only': 'true' },
      body: JSON.stringify({ model: MODEL }),
    });
    await r.arrayBuffer();
    assert.equal(r.status, 200, `preload on ${NAMES[i]}`);
  }

  async function ps(i) {
    const r = await fetch(`${ss[i].url}/engines/ps`);
    return (await r.json()).filter((e) => e.mode === 'completion');
  }

  // The model unloaded from dmr-2 and dmr-3 (an earlier test may have
  // loaded it there): /engines/unload until their /engines/ps is empty;
  // their loads are counted from here.
  const since = [0, 0, 0];
  async function resetOthers() {
    const deadline = Date.now() + 15000;
    for (const i of [1, 2]) {
      for (;;) {
        if ((await ps(i)).length === 0) break;
        const r = await fetch(`${ss[i].url}/engines/unload`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ all: true }),
        });
        await r.arrayBuffer();
        if (Date.now() > deadline) throw new Error(`${NAMES[i]} keeps the model: ${JSON.stringify(await ps(i))}`);
        await sleep(100);
      }
      since[i] = ss[i].loads.length;
    }
  }

  const residentOn = (e) => (e.residency?.models ?? []).some((m) => isModel(m.model) && m.state === 'resident');

  // A gateway over the three stand-ins (the previous one stopped), once
  // every endpoint is healthy and its residency read: the model resident
  // exactly on `resident`.
  async function gateway(upstreamExtra, resident) {
    if (ngx) {
      earlier.push(...ngx.crashes(), ...ngx.logLines(['alert', 'crit', 'emerg', 'error']));
      await ngx.stop();
    }
    ngx = await startNginx({ endpoints: ss.map((s, i) => ({ url: s.url, name: NAMES[i] })), upstreamExtra });
    await waitEndpoints(ngx, (eps) => NAMES.every((n) => {
      const e = eps.find((x) => x.name === n);
      return e?.status === 'healthy' && e.residency?.checked && residentOn(e) === resident.includes(n);
    }), { what: `all healthy, the model resident on ${resident.join(', ')} only` });
    return new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
  }

  // One chat completion with a distinct opening; the endpoint that served it.
  async function ask(client, rid, { stream = false } = {}) {
    const params = {
      model: MODEL,
      messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: `Question ${rid}` }],
      temperature: 0,
      max_tokens: 6,
    };
    const opts = { headers: { 'X-Request-ID': rid } };
    if (!stream) {
      const { data, response } = await client.chat.completions.create(params, opts).withResponse();
      assertOllaHeaders(response.headers, { model: MODEL });
      assert.ok(data.choices[0].message.content.length > 0, `${rid}: content`);
      return response.headers.get('x-olla-endpoint');
    }
    const { data: s, response } = await client.chat.completions.create({ ...params, stream: true }, opts)
      .withResponse();
    assertOllaHeaders(response.headers, { model: MODEL });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0, `${rid}: streamed content`);
    return response.headers.get('x-olla-endpoint');
  }

  // Sequential for the gateway too: the previous request has left its
  // endpoint (a client can have a stream's last byte, and send its next
  // request, before nginx has read the end of the upstream response and
  // released the endpoint).
  const idle = () => waitEndpoints(ngx, (eps) => eps.every((e) => e.in_flight === 0),
    { what: 'no request in flight' });

  // Requests sent one at a time, then `concurrent` at once, twice.
  async function traffic(client, label, { sequential = 4, concurrent = 3 } = {}) {
    const seen = [];
    for (let i = 0; i < sequential; i++) {
      await idle();
      seen.push(await ask(client, `res06-${label}-s${i}`, { stream: i === 1 }));
    }
    await idle();
    for (let k = 0; k < 2; k++) {
      seen.push(...await Promise.all([...Array(concurrent).keys()]
        .map((i) => ask(client, `res06-${label}-c${k}${i}`, { stream: i === 0 }))));
    }
    return seen;
  }

  // Only dmr-1 has the model: nothing else loaded it or is loading it
  // (/engines/ps, the stand-ins' logs), the gateway started no pre-warm,
  // and every request of `label` was routed to dmr-1 as resident.
  async function assertResidentOnly(label, n) {
    const lines = await ngx.waitAccess((l) => l.rid?.startsWith(`res06-${label}-`), n);
    assert.equal(lines.length, n, lines.map((l) => l.line).join('\n'));
    const status = await waitEndpoints(ngx, () => true);
    const facts = await Promise.all([1, 2].map(async (i) => ({
      name: NAMES[i],
      ps: await ps(i),
      loads: ss[i].loads.slice(since[i]),
      preloads: status.find((e) => e.name === NAMES[i]).preloads,
    })));
    const why = `\naccess log:\n${lines.map((l) => l.line).join('\n')}\nothers: ${JSON.stringify(facts)}`;
    for (const l of lines) {
      assert.equal(l.ep, 'dmr-1', `every request to the resident stand-in${why}`);
      assert.ok(['resident', 'affinity'].includes(l.reason), `reason resident or affinity: ${l.line}${why}`);
      assert.equal(l.status, 200, l.line);
    }
    for (const f of facts) {
      assert.deepEqual(f.ps, [], `${f.name}: /engines/ps shows no runner (loaded or loading)${why}`);
      assert.deepEqual(f.loads, [], `${f.name}: no load in its log${why}`);
      assert.equal(f.preloads, 0, `${f.name}: the gateway started no pre-warm there${why}`);
    }
    assert.ok((await ps(0)).some((e) => !e.loading), 'dmr-1 still has the model loaded');
  }

  test('resident first (pre-warming off): sequential and concurrent requests all go to the resident stand-in', async () => {
    await resetOthers();
    const client = await gateway(['olla_prewarm off;'], ['dmr-1']);
    const seen = await traffic(client, 'np');
    assert.deepEqual([...new Set(seen)], ['dmr-1'], `endpoints: ${seen}`);
    await assertResidentOnly('np', seen.length);
  });

  test('defaults: sequential requests all go to the resident stand-in, nothing loads elsewhere', async () => {
    await resetOthers();
    const client = await gateway([], ['dmr-1']);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      await idle();
      seen.push(await ask(client, `res06-sq-${i}`, { stream: i % 3 === 2 }));
    }
    assert.deepEqual([...new Set(seen)], ['dmr-1'], `endpoints: ${seen}`);
    await assertResidentOnly('sq', seen.length);
  });

  // Known to fail: with 2 requests in flight on dmr-1 (its limit is 10,
  // its backend has 4 slots) the pick counts dmr-1 at its "fair share" of
  // the tier (1.25 x 2 / 3 endpoints, rounded up: 1) and pre-warms a cold
  // stand-in; requests whose conversation hashes first to that stand-in
  // are then routed there (reason "affinity") while it is still loading,
  // and wait for the load.  See BENCHMARKS.md, "Routing: resident models
  // and conversation affinity".
  test('defaults: concurrent requests below the limit all go to the resident stand-in, nothing loads elsewhere',
    async () => {
      await resetOthers();
      const client = await gateway([], ['dmr-1']);
      const seen = await traffic(client, 'cc', { sequential: 0 });
      await assertResidentOnly('cc', seen.length);
    });

  // One turn of a conversation: the answer appended to c.messages with the
  // next user message; the turn's endpoint, usage and timings in c.turns.
  async function turn(client, c, t, { maxTokens = 12 } = {}) {
    const rid = `res06-${c.name}-${t}`;
    const { data, response } = await client.chat.completions.create({
      model: MODEL, messages: c.messages, temperature: 0, max_tokens: maxTokens,
    }, { headers: { 'X-Request-ID': rid } }).withResponse();
    assertOllaHeaders(response.headers, { model: MODEL });
    c.turns.push({ endpoint: response.headers.get('x-olla-endpoint'), usage: data.usage, timings: data.timings, rid });
    c.messages = [...c.messages, { role: 'assistant', content: data.choices[0].message.content },
      { role: 'user', content: `Turn ${t + 2} of ${c.name}: go on with the next step.` }];
  }

  test('a conversation stays on one endpoint; its later turns are answered from the prompt cache', async () => {
    // the model resident everywhere: affinity has a choice to make
    await Promise.all([1, 2].map(preload)); // joins a load still under way
    const client = await gateway([], NAMES);
    // Two conversations, their turns interleaved.  Their system prompts
    // differ: two conversations that share a long system prompt and an
    // endpoint would take turns in one llama.cpp slot (llama-server picks
    // the idle slot with the longest common prefix), and each would
    // re-evaluate its own history at every turn; that is the backend's
    // affair, not the gateway's.
    const convs = [
      { name: 'conv-alpha', system: SYSTEM },
      { name: 'conv-beta', system: `You translate technical documents. ${SYSTEM.split('').reverse().join('')}` },
    ].map((c) => ({
      ...c,
      messages: [{ role: 'system', content: c.system }, { role: 'user', content: `Project ${c.name}: where do we start?` }],
      turns: [],
    }));
    for (let t = 0; t < 4; t++) {
      for (const c of convs) {
        await idle();
        await turn(client, c, t);
      }
    }
    for (const c of convs) {
      const lines = await ngx.waitAccess((l) => l.rid?.startsWith(`res06-${c.name}-`), 4);
      const why = `\n${JSON.stringify(c.turns)}\n${lines.map((l) => l.line).join('\n')}`;
      assert.equal(new Set(c.turns.map((x) => x.endpoint)).size, 1, `${c.name}: every turn on one endpoint${why}`);
      assert.equal(lines.length, 4, why);
      for (const l of lines) {
        assert.equal(l.ep, c.turns[0].endpoint, `${c.name}: access log endpoint${why}`);
        assert.equal(l.reason, 'affinity', `${c.name}: routed by affinity: ${l.line}${why}`);
      }
      for (const [t, x] of c.turns.entries()) {
        if (t === 0) continue;
        const cached = x.usage.prompt_tokens_details?.cached_tokens;
        const before = c.turns[t - 1].usage.prompt_tokens;
        assert.ok(Number.isInteger(cached) && cached > 0, `${c.name} turn ${t + 1}: cached_tokens ${cached}${why}`);
        // the whole previous prompt (the conversation so far) came from the
        // cache: only the last answer and the new message were evaluated
        assert.ok(cached >= before,
          `${c.name} turn ${t + 1}: cached_tokens ${cached} >= the previous turn's prompt_tokens ${before}${why}`);
        assert.ok(cached >= 0.8 * x.usage.prompt_tokens,
          `${c.name} turn ${t + 1}: most of the prompt from the cache (${cached} of ${x.usage.prompt_tokens})${why}`);
        if (x.timings) assert.equal(x.timings.cache_n, cached, `${c.name} turn ${t + 1}: timings.cache_n`);
      }
    }
  });

  // Known to fail: the bound of consistent hashing with bounded loads is
  // ceil(1.25 x (requests in flight + 1) / endpoints); with 3 endpoints and
  // one request in flight it is 1, so an endpoint that serves one request
  // is "over its bound" and a second conversation whose turn arrives then
  // spills to another endpoint (and comes back at its next turn), although
  // the endpoint has 4 slots and a limit of 10.
  test('two conversations of one endpoint keep it while their turns overlap',
    async () => {
      const client = await gateway([], NAMES);
      // openings until two have the same endpoint (at most 4 for 3 endpoints)
      const byEp = new Map();
      let pair;
      for (let k = 0; !pair && k < 8; k++) {
        const c = {
          name: `ovl-${k}`,
          messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: `Overlap ${k}` }],
          turns: [],
        };
        await idle();
        await turn(client, c, 0);
        const ep = c.turns[0].endpoint;
        if (byEp.has(ep)) pair = [byEp.get(ep), c];
        else byEp.set(ep, c);
      }
      assert.ok(pair, 'two openings with the same endpoint');
      for (let t = 1; t < 4; t++) {
        await idle();
        await Promise.all(pair.map((c) => turn(client, c, t, { maxTokens: 32 })));
      }
      const lines = await ngx.waitAccess((l) => pair.some((c) => l.rid?.startsWith(`res06-${c.name}-`)), 8);
      const why = `\n${lines.map((l) => l.line).join('\n')}`;
      for (const c of pair) {
        assert.deepEqual(c.turns.map((x) => x.endpoint), c.turns.map(() => c.turns[0].endpoint),
          `${c.name}: every turn on ${c.turns[0].endpoint}${why}`);
      }
    });

  test('error.log: no crash, alert or error (every gateway of this file)', () => {
    assert.deepEqual(earlier, [], 'the gateways stopped earlier');
    assertCleanLog(ngx);
  });
});
