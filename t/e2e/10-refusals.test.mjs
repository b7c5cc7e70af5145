// nginx's own refusals on an olla_route location, as the official SDKs see
// them: `return 401` (a key check written with "if"), `return 403`, and
// limit_req's 429 reach the `openai` and `@anthropic-ai/sdk` packages as
// their AuthenticationError, PermissionDeniedError and RateLimitError, with
// the error body in each API's shape and limit_req's Retry-After.  The
// backend is a few lines of HTTP here: the refusals happen before any
// endpoint is asked; one request per SDK shows that the right key passes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

import { startNginx, waitEndpoints } from './lib/harness.mjs';
import { assertCleanLog } from './lib/checks.mjs';

const MODEL = 'ai/smollm2';
const AUTH = 'authentication is required to use this API';
const DENY = 'access to this API is forbidden';
const LIMITED = "too many requests: over the gateway's request rate limit; retry after 60 s";

// a DMR that lists one model and answers every POST at once
function startBackend() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      if (req.method === 'GET') {
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'ai/smollm2:latest', object: 'model', created: 1, owned_by: 'docker' }] }));
      } else if (/messages/.test(req.url)) {
        res.end(JSON.stringify({
          id: 'msg_1', type: 'message', role: 'assistant', model: MODEL,
          content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 1 },
        }));
      } else {
        res.end(JSON.stringify({
          id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: MODEL,
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('nginx refusals through the SDKs', () => {
  let backend;
  let ngx;

  before(async () => {
    backend = await startBackend();
    ngx = await startNginx({
      endpoints: [{ url: `http://127.0.0.1:${backend.address().port}`, name: 'dmr-1' }],
      // only requests with an X-Limit header count (an empty key is not limited)
      http: ['limit_req_zone $http_x_limit zone=e2e_limit:1m rate=1r/m'],
      location: [
        'set $key_ok 0',
        'if ($http_authorization = "Bearer right") { set $key_ok 1; }',
        'if ($http_x_api_key = "right") { set $key_ok 1; }',
        'if ($key_ok = 0) { return 401; }',
        'if ($http_x_refuse = "403") { return 403; }',
        'limit_req zone=e2e_limit',
        'limit_req_status 429',
      ],
    });
    await waitEndpoints(ngx, (eps) => eps.some((e) => e.name === 'dmr-1' && e.status === 'healthy'),
      { what: 'dmr-1 healthy' });
  });

  after(async () => {
    await ngx?.stop();
    await new Promise((resolve) => (backend ? backend.close(resolve) : resolve()));
  });

  const chat = (client) => client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4,
  });
  const message = (client) => client.messages.create({
    model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }],
  });

  test('OpenAI SDK: the right key passes, a wrong one is an AuthenticationError', async () => {
    const good = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'right', maxRetries: 0 });
    const data = await chat(good);
    assert.equal(data.choices[0].message.content, 'hi');

    const bad = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(chat(bad), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${e?.constructor?.name}`);
      assert.equal(e.status, 401);
      assert.equal(e.type, 'authentication_error');
      assert.equal(e.code, 'unauthorized');
      assert.equal(e.param, null);
      assert.match(e.message, new RegExp(AUTH));
      assert.match(e.headers.get('content-type') ?? '', /^application\/json/);
      return true;
    });
  });

  test('OpenAI SDK: a 403 is a PermissionDeniedError', async () => {
    const client = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'right', maxRetries: 0,
      defaultHeaders: { 'X-Refuse': '403' } });
    await assert.rejects(chat(client), (e) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError, `PermissionDeniedError, got ${e?.constructor?.name}`);
      assert.equal(e.type, 'permission_error');
      assert.equal(e.code, 'forbidden');
      assert.match(e.message, new RegExp(DENY));
      return true;
    });
  });

  test('OpenAI SDK: limit_req is a RateLimitError with Retry-After', async () => {
    const client = new OpenAI({ baseURL: ngx.openaiBase, apiKey: 'right', maxRetries: 0,
      defaultHeaders: { 'X-Limit': 'openai' } });
    await chat(client);
    await assert.rejects(chat(client), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `RateLimitError, got ${e?.constructor?.name}`);
      assert.equal(e.status, 429);
      assert.equal(e.type, 'rate_limit_error');
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.equal(e.headers.get('retry-after'), '60');
      assert.match(e.message, /over the gateway's request rate limit; retry after 60 s/);
      return true;
    });
  });

  test('Anthropic SDK: the right key passes, a wrong one is an AuthenticationError', async () => {
    const good = new Anthropic({ baseURL: ngx.anthropicBase, apiKey: 'right', maxRetries: 0 });
    const msg = await message(good);
    assert.equal(msg.content[0].text, 'hi');

    const bad = new Anthropic({ baseURL: ngx.anthropicBase, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(message(bad), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, `AuthenticationError, got ${e?.constructor?.name}`);
      assert.equal(e.status, 401);
      assert.equal(e.error.type, 'error');
      assert.deepEqual({ type: e.error.error.type, message: e.error.error.message },
        { type: 'authentication_error', message: AUTH });
      assert.match(e.error.request_id, /^[0-9a-f]{32}$/);
      return true;
    });
  });

  test('Anthropic SDK: a 403 is a PermissionDeniedError, limit_req a RateLimitError', async () => {
    const denied = new Anthropic({ baseURL: ngx.anthropicBase, apiKey: 'right', maxRetries: 0,
      defaultHeaders: { 'X-Refuse': '403' } });
    await assert.rejects(message(denied), (e) => {
      assert.ok(e instanceof Anthropic.PermissionDeniedError, `PermissionDeniedError, got ${e?.constructor?.name}`);
      assert.equal(e.error.error.type, 'permission_error');
      assert.equal(e.error.error.message, DENY);
      return true;
    });

    const limited = new Anthropic({ baseURL: ngx.anthropicBase, apiKey: 'right', maxRetries: 0,
      defaultHeaders: { 'X-Limit': 'anthropic' } });
    await message(limited);
    await assert.rejects(message(limited), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError, `RateLimitError, got ${e?.constructor?.name}`);
      assert.equal(e.headers.get('retry-after'), '60');
      assert.equal(e.error.error.type, 'rate_limit_error');
      assert.equal(e.error.error.message, LIMITED);
      return true;
    });
  });

  test('error.log: no crash, nothing above [error]', () => {
    assertCleanLog(ngx, { noErrors: false });
  });
});
