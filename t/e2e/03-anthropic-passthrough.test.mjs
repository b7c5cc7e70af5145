// The official Anthropic SDK (@anthropic-ai/sdk) against nginx +
// ngx_olla_dmr_module in front of a DMR stand-in: the Messages API is passed
// through unchanged to DMR's /anthropic/v1/messages (X-Olla-Mode: passthrough).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';

import { startNginx, startStandin } from './lib/harness.mjs';
import { assertCleanLog, assertOllaHeaders, assertSpreadOverTime } from './lib/checks.mjs';
import { assertAnthropicEventOrder, assertWeatherToolUse, WEATHER_TOOL } from './lib/anthropic.mjs';

const TOKEN_DELAY_MS = 25;
const MODEL = 'ai/smollm2';
const PASSTHROUGH = { endpoint: 'dmr-1', backendType: 'docker-model-runner', mode: 'passthrough', model: MODEL };

describe('Anthropic SDK through /olla/anthropic, passthrough to DMR', () => {
  let dmr;
  let ngx;
  let client;

  before(async () => {
    dmr = await startStandin({ tokenDelayMs: TOKEN_DELAY_MS });
    ngx = await startNginx({ endpoints: [{ url: dmr.url, name: 'dmr-1' }] });
    client = new Anthropic({ baseURL: ngx.anthropicBase, apiKey: 'not-needed', maxRetries: 0, timeout: 30000 });
  });

  after(async () => {
    await ngx?.stop();
    await dmr?.stop();
  });

  test('messages.create: a text block, usage, X-Olla-Mode passthrough', async () => {
    const from = dmr.requests.length;
    const { data: msg, response } = await client.messages.create({
      model: MODEL,
      max_tokens: 12,
      temperature: 0,
      messages: [{ role: 'user', content: 'Hello!' }],
    }).withResponse();
    assert.equal(response.status, 200);
    assertOllaHeaders(response.headers, PASSTHROUGH);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.ok(msg.content.length >= 1);
    assert.equal(msg.content[0].type, 'text');
    assert.ok(msg.content[0].text.trim().length > 0, `text: ${JSON.stringify(msg.content[0].text)}`);
    assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), msg.stop_reason);
    assert.ok(msg.usage.input_tokens > 0, `input_tokens ${msg.usage.input_tokens}`);
    assert.ok(msg.usage.output_tokens > 0 && msg.usage.output_tokens <= 12, `output_tokens ${msg.usage.output_tokens}`);
    // DMR itself answered its Anthropic endpoint (nothing was translated).
    const seen = await dmr.waitRequests((r) => r.method === 'POST', 1, from);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url} ${r.status}`), ['POST /anthropic/v1/messages 200']);
  });

  test('messages.stream: text deltas arrive over time, finalMessage has stop_reason', async () => {
    const from = dmr.requests.length;
    const start = performance.now();
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 16,
      temperature: 0,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Write a short story about containers' }],
      ignore_eos: true, // llama-server extension: always 16 tokens
    });
    const times = [];
    let deltas = '';
    const events = [];
    stream.on('text', (d) => { times.push(performance.now() - start); deltas += d; });
    stream.on('streamEvent', (e) => events.push(e));
    const { response } = await stream.withResponse();
    assertOllaHeaders(response.headers, PASSTHROUGH);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const final = await stream.finalMessage();

    assert.ok(deltas.trim().length > 0, 'text deltas');
    assertSpreadOverTime(times, { min: 8, tokenDelayMs: TOKEN_DELAY_MS, label: 'text deltas' });
    assert.deepEqual(assertAnthropicEventOrder(events), ['text']);
    assert.equal(final.stop_reason, 'max_tokens');
    assert.equal(final.content[0].type, 'text');
    assert.equal(final.content[0].text, deltas);
    assert.equal(final.usage.output_tokens, 16);
    assert.ok(final.usage.input_tokens > 0);
    const seen = await dmr.waitRequests((r) => r.method === 'POST', 1, from);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url} ${r.status}`), ['POST /anthropic/v1/messages 200']);
  });

  test('messages.countTokens: input_tokens > 0 (DMR counts them)', async () => {
    const from = dmr.requests.length;
    const { data, response } = await client.messages.countTokens({
      model: MODEL,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Explain what Docker Model Runner is, in detail.' }],
    }).withResponse();
    assert.equal(response.status, 200);
    assertOllaHeaders(response.headers, PASSTHROUGH);
    assert.ok(Number.isInteger(data.input_tokens) && data.input_tokens > 0, `input_tokens ${data.input_tokens}`);
    // A longer prompt counts more tokens (real tokenizer, not a constant).
    const longer = await client.messages.countTokens({
      model: MODEL,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Explain what Docker Model Runner is, in detail. '.repeat(5) }],
    });
    assert.ok(longer.input_tokens > data.input_tokens, `${longer.input_tokens} > ${data.input_tokens}`);
    const seen = await dmr.waitRequests((r) => r.method === 'POST', 2, from);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url} ${r.status}`),
      Array(2).fill('POST /anthropic/v1/messages/count_tokens 200'));
  });

  test('messages.create with a tool: a tool_use block with parsed input', async () => {
    const from = dmr.requests.length;
    const { data: msg, response } = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      temperature: 0,
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    }).withResponse();
    assertOllaHeaders(response.headers, PASSTHROUGH);
    assertWeatherToolUse(msg);
    const seen = await dmr.waitRequests((r) => r.method === 'POST', 1, from);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url} ${r.status}`), ['POST /anthropic/v1/messages 200']);
  });

  test('error.log is clean', () => assertCleanLog(ngx));
});
