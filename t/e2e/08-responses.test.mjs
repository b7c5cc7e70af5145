// The OpenAI Responses API through the gateway's OpenAI route
// (/olla/proxy/v1/responses) with the official `openai` package, in front of
// TWO DMR stand-ins that serve it statefully, as DMR does (tools/dmr-standin:
// an in-memory store, previous_response_id chaining, GET/DELETE by id).
//
// A response lives on the endpoint that created it, so the gateway must send
// every request that names a response (previous_response_id, GET/DELETE
// /responses/{id}, .../input_items) to that endpoint: it learns the id from
// the response on its way back (JSON, or the stream's response.created).  An
// id it does not know gets its own 404, in OpenAI's error shape.
//
// To show the pin at work, each follow-up turn uses an input that, sent
// without previous_response_id, is routed to the OTHER endpoint (found by
// asking first): only the pin can bring it back to the creator.  The model
// is loaded on both stand-ins beforehand, so residency does not decide.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { startNginx, startStandin, sleep } from './lib/harness.mjs';
import { assertCleanLog, header } from './lib/checks.mjs';

const MODEL = 'ai/smollm2';
const NAMES = ['dmr-1', 'dmr-2'];
const RID = /^resp_[a-z0-9]{24}$/;

describe('Responses API through /olla/proxy/v1, two DMR endpoints, pinned by response id', () => {
  const standins = {};
  let ngx;
  let client;

  before(async () => {
    for (const name of NAMES) {
      standins[name] = await startStandin({ list: 'store', args: ['--answer-tokens', '8'] });
    }
    ngx = await startNginx({ endpoints: NAMES.map((name) => ({ url: standins[name].url, name })) });
    client = new OpenAI({ baseURL: `${ngx.base}/olla/proxy/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
    // the model loaded on both, and the gateway knowing it
    await Promise.all(NAMES.map(async (name) => {
      const r = await fetch(`${standins[name].url}/engines/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Preload-Only': 'true' },
        body: JSON.stringify({ model: MODEL }),
      });
      assert.equal(r.status, 200, `preload on ${name}`);
      await r.arrayBuffer();
    }));
    const deadline = Date.now() + 15000;
    for (;;) {
      const st = await (await fetch(`${ngx.base}/internal/status/models`)).json();
      const rec = st.models?.find((m) => /^ai\/smollm2(:latest)?$/.test(m.model?.id));
      if (rec && NAMES.every((n) => rec.resident_on?.includes(n))) break;
      if (Date.now() > deadline) throw new Error(`the gateway does not see ${MODEL} resident on both: ${JSON.stringify(st)}`);
      await sleep(100);
    }
  });

  after(async () => {
    await ngx?.stop();
    for (const s of Object.values(standins)) await s?.stop();
  });

  const endpointOf = (response) => header(response.headers, 'x-olla-endpoint');
  const other = (name) => NAMES.find((n) => n !== name);

  // What reached a stand-in since index `from`, health probes left out.
  const calls = (name, from) => standins[name].requests.slice(from)
    .filter((r) => !(r.method === 'GET' && /\/(models|ps)$/.test(r.url)))
    .map((r) => `${r.method} ${r.url} ${r.status}`);

  // Runs fn (one request through the gateway) and waits until the
  // endpoint that answered (X-Olla-Endpoint of fn's response) has logged
  // it: a stand-in logs a request when its answer has ended, which can be
  // just after the client has it, so a later request's "what reached the
  // other endpoint" does not see this one late.
  async function logged(fn, match) {
    const from = Object.fromEntries(NAMES.map((n) => [n, standins[n].requests.length]));
    const out = await fn();
    const ep = out.endpoint ?? endpointOf(out.response);
    if (NAMES.includes(ep)) {
      const got = await standins[ep].waitRequests(match, 1, from[ep]);
      assert.equal(got.length, 1, `${ep} logged the request`);
    }
    return out;
  }

  // responses.create, JSON or streamed; -> { resp, endpoint, events }
  function create(params) {
    return logged(async () => {
      if (!params.stream) {
        const { data, response } = await client.responses.create({ model: MODEL, max_output_tokens: 8, ...params }).withResponse();
        return { resp: data, endpoint: endpointOf(response), response };
      }
      const { data: stream, response } = await client.responses.create({ model: MODEL, max_output_tokens: 8, ...params }).withResponse();
      const events = [];
      for await (const ev of stream) events.push(ev);
      const done = events.at(-1);
      assert.equal(done?.type, 'response.completed', `the stream ends with response.completed: ${events.map((e) => e.type).join(' ')}`);
      return { resp: done.response, endpoint: endpointOf(response), response, events };
    }, (r) => r.method === 'POST' && /\/responses$/.test(r.url));
  }

  // a by-id request through the SDK, logged by its endpoint
  const byId = (id, call) => logged(async () => {
    const { data, response } = await call().withResponse();
    return { data, response };
  }, (r) => r.method !== 'POST' && r.url.includes(id));

  // An input that, sent on its own (no previous_response_id), the gateway
  // routes to `target`.
  async function inputRoutedTo(target, tag) {
    const seen = [];
    for (let i = 0; i < 24; i++) {
      const input = `${tag} ${i}: what happens next?`;
      const { endpoint } = await create({ input, max_output_tokens: 1, store: false });
      seen.push(endpoint);
      if (endpoint === target) return input;
    }
    throw new Error(`no input of 24 was routed to ${target} (went to ${seen.join(', ')}): the gateway does not spread new conversations`);
  }

  test('responses.create (JSON): a stored Response from DMR, X-Olla-* headers', async () => {
    const from = Object.fromEntries(NAMES.map((n) => [n, standins[n].requests.length]));
    const { resp, endpoint, response } = await create({ input: 'Say hello', instructions: 'Be brief.' });
    assert.equal(response.status, 200);
    assert.ok(NAMES.includes(endpoint), `X-Olla-Endpoint ${endpoint}`);
    assert.equal(header(response.headers, 'x-olla-backend-type'), 'docker-model-runner');
    assert.match(header(response.headers, 'x-olla-request-id') ?? '', /^[\x21-\x7e]{8,}$/);
    assert.match(resp.id, RID);
    assert.equal(resp.object, 'response');
    assert.equal(resp.status, 'completed');
    assert.equal(resp.output[0].type, 'message');
    assert.ok(resp.output_text.trim().length > 0, `output_text ${JSON.stringify(resp.output_text)}`);
    assert.ok(resp.usage.input_tokens > 0 && resp.usage.output_tokens > 0, JSON.stringify(resp.usage));
    const seen = await standins[endpoint].waitRequests((r) => r.method === 'POST', 1, from[endpoint]);
    assert.match(seen[0]?.url ?? '', /\/responses$/, JSON.stringify(seen));
    assert.deepEqual(calls(other(endpoint), from[other(endpoint)]), [], 'the other endpoint was not asked');
  });

  test('responses.create (stream): the Responses event stream through the gateway', async () => {
    const { resp, endpoint, response, events } = await create({ input: 'Tell me a story', stream: true });
    assert.match(header(response.headers, 'content-type') ?? '', /^text\/event-stream/);
    assert.ok(NAMES.includes(endpoint), `X-Olla-Endpoint ${endpoint}`);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress'], types.join(' '));
    assert.ok(types.includes('response.output_text.delta'), types.join(' '));
    assert.equal(events[0].response.id, resp.id, 'response.created and response.completed name the same response');
    assert.match(resp.id, RID);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(resp.output_text, deltas);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i + 1), 'sequence numbers 1..n');
  });

  // Two chains of three turns, one started on each endpoint; every
  // follow-up's input would go to the other endpoint if it were not pinned.
  const chains = [];

  test('a three-turn chain stays on the endpoint that created each response (two chains, JSON and streamed)', async () => {
    // a first turn on each endpoint
    const firsts = {};
    for (let i = 0; i < 24 && Object.keys(firsts).length < 2; i++) {
      const streamed = Object.keys(firsts).length === 1; // the second chain starts with a stream
      const t = await create({ input: `Chain ${i}: tell me about containers.`, stream: streamed });
      if (!firsts[t.endpoint]) firsts[t.endpoint] = t;
    }
    assert.deepEqual(Object.keys(firsts).sort(), NAMES, `new conversations went to both endpoints: ${Object.keys(firsts)}`);

    for (const [creator, first] of Object.entries(firsts)) {
      const chain = { creator, ids: [first.resp.id] };
      const streamedChain = !!first.events;
      let prev = first.resp;
      for (const turn of [2, 3]) {
        const input = await inputRoutedTo(other(creator), `Chain on ${creator}, turn ${turn}`);
        const from = Object.fromEntries(NAMES.map((n) => [n, standins[n].requests.length]));
        // chain 1: JSON, JSON, stream; chain 2: stream, stream, JSON
        const stream = streamedChain ? turn === 2 : turn === 3;
        const t = await create({ input, previous_response_id: prev.id, stream });
        assert.ok(t.endpoint, 'X-Olla-Endpoint');
        assert.equal(t.endpoint, creator,
          `turn ${turn} (previous_response_id ${prev.id}, created on ${creator}) went to ${t.endpoint}; without the id this input goes to ${other(creator)}`);
        assert.equal(t.resp.previous_response_id, prev.id);
        assert.equal(t.resp.status, 'completed');
        assert.match(t.resp.id, RID);
        // the creator answered it; the other endpoint was not asked
        const seen = await standins[creator].waitRequests((r) => r.method === 'POST', 1, from[creator]);
        assert.deepEqual(seen.map((r) => `${r.method} ${r.url.replace(/^.*(\/responses)$/, '$1')} ${r.status}`), ['POST /responses 200']);
        assert.deepEqual(calls(other(creator), from[other(creator)]), [], `nothing reached ${other(creator)}`);
        chain.ids.push(t.resp.id);
        prev = t.resp;
      }
      chains.push(chain);
    }
  });

  test('retrieve, input items and delete by id reach the creator; a deleted or unknown id is 404', async (t) => {
    if (chains.length === 0) t.skip('no chain was built');
    for (const { creator, ids } of chains) {
      const id = ids.at(-1);
      const from = Object.fromEntries(NAMES.map((n) => [n, standins[n].requests.length]));

      const { data: got, response: r1 } = await byId(id, () => client.responses.retrieve(id));
      assert.equal(r1.status, 200);
      assert.equal(endpointOf(r1), creator, `GET ${id} went to ${endpointOf(r1)}, created on ${creator}`);
      assert.equal(got.id, id);
      assert.equal(got.status, 'completed');

      const { response: r2 } = await byId(id, () => client.responses.inputItems.list(id));
      assert.equal(r2.status, 200);
      assert.equal(endpointOf(r2), creator, 'input_items went to the creator');

      const { response: r3 } = await byId(id, () => client.responses.delete(id));
      assert.equal(r3.status, 200);
      assert.equal(endpointOf(r3), creator, 'DELETE went to the creator');

      const seen = await standins[creator].waitRequests((r) => r.method !== 'POST' && r.url.includes(id), 3, from[creator]);
      assert.deepEqual(seen.map((r) => `${r.method} ${r.url.replace(/^.*\/responses\//, '/responses/')} ${r.status}`),
        [`GET /responses/${id} 200`, `GET /responses/${id}/input_items 200`, `DELETE /responses/${id} 200`]);
      assert.deepEqual(calls(other(creator), from[other(creator)]), [], `nothing reached ${other(creator)}`);

      // deleted: 404 (from the creator, or from the gateway if it forgot the id)
      await assert.rejects(client.responses.retrieve(id), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);

      // the earlier responses of the chain are still there, on the creator
      const { data: older, response: r4 } = await byId(ids[0], () => client.responses.retrieve(ids[0]));
      assert.equal(endpointOf(r4), creator);
      assert.equal(older.id, ids[0]);
    }
  });

  test('an id the gateway does not know: its own 404, in OpenAI\'s error shape; no endpoint is asked', async () => {
    const id = `resp_${'0'.repeat(24)}`;
    const from = Object.fromEntries(NAMES.map((n) => [n, standins[n].requests.length]));
    for (const [method, path] of [['GET', `/responses/${id}`], ['GET', `/responses/${id}/input_items`], ['DELETE', `/responses/${id}`]]) {
      const r = await fetch(`${ngx.base}/olla/proxy/v1${path}`, { method });
      const text = await r.text();
      assert.equal(r.status, 404, `${method} ${path}: ${text}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const body = JSON.parse(text);
      assert.equal(typeof body.error?.message, 'string', `OpenAI error shape: ${text}`);
      assert.equal(typeof body.error?.type, 'string', `OpenAI error shape (type): ${text}`);
    }
    await assert.rejects(client.responses.retrieve(id), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
    for (const n of NAMES) assert.deepEqual(calls(n, from[n]), [], `nothing reached ${n}`);
  });

  test('error.log is clean', () => assertCleanLog(ngx));
});
