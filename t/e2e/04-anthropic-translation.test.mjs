// The official Anthropic SDK (@anthropic-ai/sdk) against nginx +
// ngx_olla_dmr_module when the only backend speaks OpenAI (an
// `olla_endpoint ... type=openai-compatible` pointed at a stand-in): the
// module translates Messages API requests to /v1/chat/completions and the
// answers, JSON or SSE, back (X-Olla-Mode: translation).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';

import { startNginx, startStandin } from './lib/harness.mjs';
import { assertCleanLog, assertOllaHeaders, assertSpreadOverTime } from './lib/checks.mjs';
import {
  assertAnthropicEventOrder, assertWeatherToolUse, recordingFetch, sseEventTypes, WEATHER_TOOL,
} from './lib/anthropic.mjs';

const TOKEN_DELAY_MS = 25;
const MODEL = 'ai/smollm2';
const TRANSLATION = { endpoint: 'oai-1', backendType: 'openai-compatible', mode: 'translation', model: MODEL };

describe('Anthropic SDK through /olla/anthropic, translated for an OpenAI-only backend', () => {
  let oai;
  let ngx;
  let client;
  const raw = recordingFetch();

  before(async () => {
    oai = await startStandin({ tokenDelayMs: TOKEN_DELAY_MS });
    ngx = await startNginx({ endpoints: [{ url: oai.url, name: 'oai-1', type: 'openai-compatible' }] });
    client = new Anthropic({
      baseURL: ngx.anthropicBase, apiKey: 'not-needed', maxRetries: 0, timeout: 30000, fetch: raw,
    });
  });

  after(async () => {
    await ngx?.stop();
    await oai?.stop();
  });

  // What reached the backend since `from` (health probes left out).
  const backendCalls = (from) => oai.requests.slice(from).filter((r) => r.method !== 'GET')
    .map((r) => `${r.method} ${r.url} ${r.status}`);

  test('messages.create: a text block, usage, X-Olla-Mode translation', async () => {
    const from = oai.requests.length;
    const { data: msg, response } = await client.messages.create({
      model: MODEL,
      max_tokens: 12,
      temperature: 0,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Hello!' }],
    }).withResponse();
    assert.equal(response.status, 200);
    assertOllaHeaders(response.headers, TRANSLATION);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.content[0].type, 'text');
    assert.ok(msg.content[0].text.trim().length > 0, `text: ${JSON.stringify(msg.content[0].text)}`);
    assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), msg.stop_reason);
    assert.ok(msg.usage.input_tokens > 0, `input_tokens ${msg.usage.input_tokens}`);
    assert.ok(msg.usage.output_tokens > 0 && msg.usage.output_tokens <= 12, `output_tokens ${msg.usage.output_tokens}`);
    await oai.waitRequests((r) => r.method === 'POST', 1, from);
    assert.deepEqual(backendCalls(from), ['POST /v1/chat/completions 200'], 'translated to a chat completion');
  });

  test('messages.stream: Anthropic event order, deltas over time, finalMessage', async () => {
    const from = oai.requests.length;
    const start = performance.now();
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 16,
      temperature: 0,
      messages: [{ role: 'user', content: 'Write a short story about containers' }],
    });
    const events = [];
    const times = [];
    let deltas = '';
    stream.on('streamEvent', (e) => events.push(e));
    stream.on('text', (d) => { times.push(performance.now() - start); deltas += d; });
    const { response } = await stream.withResponse();
    assertOllaHeaders(response.headers, TRANSLATION);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const final = await stream.finalMessage();
    await oai.waitRequests((r) => r.method === 'POST', 1, from);
    assert.deepEqual(backendCalls(from), ['POST /v1/chat/completions 200']);

    // On the wire: message_start, then a ping (as Anthropic's API sends;
    // the SDK drops pings), then the blocks.
    const wire = sseEventTypes((await raw.last()).text);
    assert.deepEqual(wire.slice(0, 3), ['message_start', 'ping', 'content_block_start'], wire.join(' '));
    assert.deepEqual(wire.filter((t) => t !== 'ping'), events.map((e) => e.type), 'the SDK saw what was sent');
    assert.deepEqual(assertAnthropicEventOrder(events), ['text']);
    assert.ok(deltas.trim().length > 0, 'text deltas');
    // (ignore_eos cannot be passed through a translation, so the greedy
    // answer to this prompt decides the length: 16 tokens today.)
    assertSpreadOverTime(times, { min: 5, tokenDelayMs: TOKEN_DELAY_MS, label: 'text deltas' });
    assert.equal(final.content.length, 1);
    assert.equal(final.content[0].type, 'text');
    assert.equal(final.content[0].text, deltas);
    assert.ok(['end_turn', 'max_tokens'].includes(final.stop_reason), `stop_reason ${final.stop_reason}`);
    // stream_options.include_usage is asked for: real usage, not an estimate
    assert.ok(final.usage.output_tokens > 0 && final.usage.output_tokens <= 16, `output_tokens ${final.usage.output_tokens}`);
    assert.ok(final.usage.input_tokens > 0);
  });

  test('messages.countTokens: a local estimate (the backend is not asked)', async () => {
    const from = oai.requests.length;
    const { data, response } = await client.messages.countTokens({
      model: MODEL,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Explain what Docker Model Runner is, in detail.' }],
    }).withResponse();
    assert.equal(response.status, 200);
    assert.ok(Number.isInteger(data.input_tokens) && data.input_tokens > 0, `input_tokens ${data.input_tokens}`);
    const longer = await client.messages.countTokens({
      model: MODEL,
      system: 'You are a helpful assistant.',
      messages: [{ role: 'user', content: 'Explain what Docker Model Runner is, in detail. '.repeat(5) }],
      tools: [WEATHER_TOOL],
    });
    assert.ok(longer.input_tokens > data.input_tokens, `${longer.input_tokens} > ${data.input_tokens}`);
    assert.deepEqual(backendCalls(from), [], 'no request reached the backend');
  });

  test('messages.create with a tool named in the prompt: tool_use block with parsed input', async () => {
    const { data: msg, response } = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      temperature: 0,
      tools: [WEATHER_TOOL],
      messages: [{ role: 'user', content: 'What is the weather in Paris? Use get weather.' }],
    }).withResponse();
    assertOllaHeaders(response.headers, TRANSLATION);
    assertWeatherToolUse(msg);
  });

  test('messages.stream with tool_choice forcing the tool: input_json deltas, parsed tool_use', async () => {
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 64,
      temperature: 0,
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'How warm is it in Lisbon?' }],
    });
    const events = [];
    const partials = [];
    stream.on('streamEvent', (e) => events.push(e));
    stream.on('inputJson', (partial) => partials.push(partial));
    const { response } = await stream.withResponse();
    assertOllaHeaders(response.headers, TRANSLATION);
    const final = await stream.finalMessage();

    assert.deepEqual(assertAnthropicEventOrder(events), ['tool_use']);
    assert.ok(partials.length >= 1, 'input_json_delta events');
    const tu = assertWeatherToolUse(final);
    assert.deepEqual(JSON.parse(partials.join('')), tu.input, 'the partial JSON adds up to the input');
  });

  test('tool_result round trip: the follow-up answer is text', async () => {
    const first = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      temperature: 0,
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    });
    const tu = assertWeatherToolUse(first);
    const { data: msg, response } = await client.messages.create({
      model: MODEL,
      max_tokens: 12,
      temperature: 0,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: '18 degrees celsius, sunny' }] },
      ],
    }).withResponse();
    assertOllaHeaders(response.headers, TRANSLATION);
    assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), `stop_reason ${msg.stop_reason}`);
    assert.equal(msg.content[0].type, 'text');
    assert.ok(msg.content[0].text.trim().length > 0);
  });

  test('error.log is clean', () => assertCleanLog(ngx));
});
