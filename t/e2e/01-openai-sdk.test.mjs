// The official `openai` npm package against nginx + ngx_olla_dmr_module in
// front of a DMR stand-in, with the base URL of Olla's DMR page:
// http://HOST:PORT/olla/dmr/engines/v1

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';

import { startNginx, startStandin, waitEndpoints } from './lib/harness.mjs';
import { assertCleanLog, assertOllaHeaders, assertSpreadOverTime, isSmollm2 } from './lib/checks.mjs';

const TOKEN_DELAY_MS = 25;
const MODEL = 'ai/smollm2';

describe('OpenAI SDK through /olla/dmr/engines/v1', () => {
  let dmr;
  let ngx;
  let client;

  before(async () => {
    // --list store: the model is listed before it was ever loaded, so the
    // health checks discover it and models.list() has something to show.
    dmr = await startStandin({ list: 'store', tokenDelayMs: TOKEN_DELAY_MS });
    ngx = await startNginx({ endpoints: [{ url: dmr.url, name: 'dmr-1' }] });
    await waitEndpoints(ngx, (eps) => eps.some((e) => e.name === 'dmr-1' && e.status === 'healthy'
      && e.models.some(isSmollm2)), { what: 'dmr-1 healthy with ai/smollm2 discovered' });
    client = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
  });

  after(async () => {
    await ngx?.stop();
    await dmr?.stop();
  });

  test('chat.completions.create: content, usage and X-Olla headers', async () => {
    const { data, response } = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Explain what Docker Model Runner is' },
      ],
      temperature: 0,
      max_tokens: 12,
    }).withResponse();

    assert.equal(response.status, 200);
    assertOllaHeaders(response.headers, { endpoint: 'dmr-1', model: MODEL });
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices.length, 1);
    const msg = data.choices[0].message;
    assert.equal(msg.role, 'assistant');
    assert.equal(typeof msg.content, 'string');
    assert.ok(msg.content.trim().length > 0, `non-empty content: ${JSON.stringify(msg.content)}`);
    assert.ok(['stop', 'length'].includes(data.choices[0].finish_reason), data.choices[0].finish_reason);
    const u = data.usage;
    assert.ok(Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0, `prompt_tokens ${u.prompt_tokens}`);
    assert.ok(Number.isInteger(u.completion_tokens) && u.completion_tokens > 0 && u.completion_tokens <= 12,
      `completion_tokens ${u.completion_tokens}`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  });

  test('chat.completions.create: a client X-Request-ID comes back as X-Olla-Request-ID', async () => {
    const rid = `e2e-${Date.now()}-abc`;
    const { data, response } = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], temperature: 0, max_tokens: 4,
    }, { headers: { 'X-Request-ID': rid } }).withResponse();
    assert.equal(response.headers.get('x-olla-request-id'), rid);
    assert.ok(data.choices[0].message.content.length > 0);
  });

  test('chat.completions.create stream: chunks arrive over time, text and finish_reason', async () => {
    const start = performance.now();
    const { data: stream, response } = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Write a short story about containers' }],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      max_tokens: 16,
      ignore_eos: true, // llama-server extension: always 16 tokens
    }).withResponse();

    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assertOllaHeaders(response.headers, { endpoint: 'dmr-1', model: MODEL });

    const contentTimes = [];
    let text = '';
    let finish = null;
    let usage = null;
    let role = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta?.role) role = choice.delta.role;
      if (choice.delta?.content) {
        contentTimes.push(performance.now() - start);
        text += choice.delta.content;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(role, 'assistant');
    assert.ok(text.trim().length > 0, 'concatenated text is non-empty');
    assert.equal(finish, 'length', 'final finish_reason (16 tokens, ignore_eos)');
    assertSpreadOverTime(contentTimes, { min: 8, tokenDelayMs: TOKEN_DELAY_MS, label: 'content chunks' });
    assert.ok(usage, 'a usage chunk (stream_options.include_usage)');
    assert.equal(usage.completion_tokens, 16);
    assert.ok(usage.prompt_tokens > 0);
  });

  test('completions.create: text and usage', async () => {
    const { data, response } = await client.completions.create({
      model: MODEL, prompt: 'Once upon a time', temperature: 0, max_tokens: 8,
    }).withResponse();
    assertOllaHeaders(response.headers, { endpoint: 'dmr-1', model: MODEL });
    assert.equal(data.object, 'text_completion');
    assert.ok(data.choices[0].text.trim().length > 0, `non-empty text: ${JSON.stringify(data.choices[0].text)}`);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.ok(data.usage.completion_tokens > 0 && data.usage.completion_tokens <= 8);
  });

  test('embeddings.create: a vector of numbers (SDK default base64 and float)', async () => {
    // The SDK asks for base64 by default and decodes it.
    const { data, response } = await client.embeddings.create({
      model: MODEL, input: 'containers are great',
    }).withResponse();
    assertOllaHeaders(response.headers, { endpoint: 'dmr-1', model: MODEL });
    assert.equal(data.object, 'list');
    assert.equal(data.data.length, 1);
    const v = data.data[0].embedding;
    assert.ok(Array.isArray(v) && v.length > 0, 'an array');
    assert.ok(v.every((x) => typeof x === 'number' && Number.isFinite(x)), 'finite numbers');
    assert.ok(v.some((x) => x !== 0), 'not all zero');
    assert.ok(data.usage.prompt_tokens > 0);

    const f = await client.embeddings.create({ model: MODEL, input: ['containers are great', 'b'], encoding_format: 'float' });
    assert.equal(f.data.length, 2);
    assert.equal(f.data[0].embedding.length, v.length, 'same dimension');
    // Deterministic engine: the same input gives the same vector either way.
    f.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-5, `dim ${i}: ${x} vs ${v[i]}`));
  });

  test('models.list: answered by the gateway, contains ai/smollm2', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.ok(ids.some(isSmollm2), `ai/smollm2 in ${JSON.stringify(ids)}`);
    // by its URI: the only models request of this file (a position in the
    // log could include a line of an earlier request written late)
    const lines = await ngx.waitAccess((l) => l.uri === '/olla/dmr/engines/v1/models');
    assert.equal(lines.length, 1, 'one models request');
    assert.equal(lines[0].status, 200);
    assert.equal(lines[0].ups, '-', `answered by the gateway, not proxied: ${lines[0].line}`);
  });

  test('explicit engine path /olla/dmr/engines/llama.cpp/v1: chat completion', async () => {
    const llama = new OpenAI({
      baseURL: `${ngx.base}/olla/dmr/engines/llama.cpp/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30000,
    });
    const from = dmr.requests.length;
    const { data, response } = await llama.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Hello' }], temperature: 0.7, max_tokens: 6,
    }).withResponse();
    assertOllaHeaders(response.headers, { endpoint: 'dmr-1', model: MODEL });
    assert.ok(data.choices[0].message.content.length > 0);
    // the stand-in's line of an earlier POST may come in after `from` was
    // read: look for this request's path
    const seen = await dmr.waitRequests((r) => r.method === 'POST' && r.url.includes('/llama.cpp/'), 1, from);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url} ${r.status}`),
      ['POST /engines/llama.cpp/v1/chat/completions 200']);
  });

  test('error.log is clean', () => assertCleanLog(ngx));
});
