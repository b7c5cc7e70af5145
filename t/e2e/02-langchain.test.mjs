// LangChain's ChatOpenAI (@langchain/openai) against nginx +
// ngx_olla_dmr_module in front of a DMR stand-in, with the base URL of
// Olla's DMR page (http://HOST:PORT/olla/dmr/engines/v1).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ChatOpenAI } from '@langchain/openai';
import { AIMessage, AIMessageChunk, HumanMessage, SystemMessage } from '@langchain/core/messages';

import { startNginx, startStandin } from './lib/harness.mjs';
import { assertCleanLog, assertSpreadOverTime } from './lib/checks.mjs';

const TOKEN_DELAY_MS = 25;
const MODEL = 'ai/smollm2';
const CHAT_PATH = '/olla/dmr/engines/v1/chat/completions';

describe('LangChain ChatOpenAI through /olla/dmr/engines/v1', () => {
  let dmr;
  let ngx;

  before(async () => {
    dmr = await startStandin({ tokenDelayMs: TOKEN_DELAY_MS });
    ngx = await startNginx({ endpoints: [{ url: dmr.url, name: 'dmr-1' }] });
  });

  after(async () => {
    await ngx?.stop();
    await dmr?.stop();
  });

  // rid: sent as X-Request-ID, so that the access log lines of a test are
  // found by it (not by position: a line of an earlier request can be
  // written after the log's length was read)
  const llm = ({ rid, ...extra } = {}) => new ChatOpenAI({
    model: MODEL,
    apiKey: 'not-needed',
    configuration: { baseURL: ngx.openaiBase, ...(rid ? { defaultHeaders: { 'X-Request-ID': rid } } : {}) },
    temperature: 0,
    maxRetries: 0,
    timeout: 30000,
    ...extra,
  });

  test('invoke: an AIMessage with content, usage metadata, through the gateway', async () => {
    const res = await llm({ maxTokens: 12, rid: 'lc-invoke' }).invoke([
      new SystemMessage('You are a helpful assistant.'),
      new HumanMessage('Hello!'),
    ]);
    assert.ok(res instanceof AIMessage, `an AIMessage, got ${res?.constructor?.name}`);
    assert.equal(typeof res.content, 'string');
    assert.ok(res.content.trim().length > 0, `non-empty content: ${JSON.stringify(res.content)}`);
    assert.ok(res.usage_metadata, 'usage_metadata');
    assert.ok(res.usage_metadata.input_tokens > 0);
    assert.ok(res.usage_metadata.output_tokens > 0 && res.usage_metadata.output_tokens <= 12);
    assert.equal(res.response_metadata?.finish_reason !== undefined, true, 'finish_reason in response_metadata');

    const lines = await ngx.waitAccess((l) => l.rid === 'lc-invoke');
    const mine = lines.filter((l) => l.uri === CHAT_PATH);
    assert.equal(mine.length, 1, `one chat request through the gateway: ${JSON.stringify(lines)}`);
    assert.equal(mine[0].status, 200);
    assert.equal(mine[0].ep, 'dmr-1');
    assert.equal(mine[0].type, 'docker-model-runner');
    assert.equal(mine[0].model, MODEL);
  });

  test('invoke with a plain string prompt (the seed snippet)', async () => {
    const res = await llm({ maxTokens: 8, temperature: 0.7 }).invoke('Hello!');
    assert.ok(res instanceof AIMessage);
    assert.ok(res.content.length > 0);
  });

  test('stream: several chunks arriving over time', async () => {
    const start = performance.now();
    const stream = await llm({ maxTokens: 16, modelKwargs: { ignore_eos: true }, rid: 'lc-stream' })
      .stream('Write a short story about containers');
    const times = [];
    let text = '';
    let full;
    for await (const chunk of stream) {
      assert.ok(chunk instanceof AIMessageChunk, `an AIMessageChunk, got ${chunk?.constructor?.name}`);
      if (typeof chunk.content === 'string' && chunk.content.length > 0) {
        times.push(performance.now() - start);
        text += chunk.content;
      }
      full = full ? full.concat(chunk) : chunk;
    }
    assert.ok(text.trim().length > 0, 'streamed text');
    assertSpreadOverTime(times, { min: 8, tokenDelayMs: TOKEN_DELAY_MS, label: 'content chunks' });
    assert.equal(full.content, text);
    // streamUsage (default on) asks for stream_options.include_usage.
    assert.equal(full.usage_metadata?.output_tokens, 16, `usage ${JSON.stringify(full.usage_metadata)}`);

    const mine = (await ngx.waitAccess((l) => l.rid === 'lc-stream')).filter((l) => l.uri === CHAT_PATH);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].status, 200);
    assert.equal(mine[0].ep, 'dmr-1');
  });

  test('error.log is clean', () => assertCleanLog(ngx));
});
