#!/usr/bin/env node
// selftest.js: checks a dmr-standin end to end over HTTP (no dependencies).
//
//   node selftest.js              start a stand-in on a free port, test it, stop it
//   node selftest.js --url http://127.0.0.1:12434
//                                 test a running stand-in (must be --list loaded,
//                                 serving ai/smollm2, nothing loaded yet); the
//                                 checks that need their own instances (load
//                                 delay, idle timeout, old-DMR 503, small
//                                 context, --list store) are skipped
//   node selftest.js --bench      also measure startup time and tokens/s
//
// Exit status 0 when every check passes.

'use strict';

const http = require('http');
const path = require('path');
const { spawn } = require('child_process');

const argv = process.argv.slice(2);
const BENCH = argv.includes('--bench');
const urlArg = argv.includes('--url') ? argv[argv.indexOf('--url') + 1] : null;

let BASE;
let failures = 0;
let passes = 0;

function check(name, cond, detail) {
  if (cond) { passes++; console.log(`ok   ${name}`); } else {
    failures++;
    console.log(`FAIL ${name}${detail !== undefined ? ': ' + (typeof detail === 'string' ? detail : JSON.stringify(detail)).slice(0, 400) : ''}`);
  }
}

function request(method, p, body, headers = {}, { onChunk, abortAfter, abortAfterMs } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(p, BASE);
    const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = Object.assign({}, headers);
    if (data) { h['Content-Type'] = h['Content-Type'] || 'application/json'; h['Content-Length'] = data.length; }
    const t0 = process.hrtime.bigint();
    const req = http.request({ method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers: h }, (res) => {
      const chunks = [];
      const times = [];
      let n = 0;
      res.on('data', (c) => {
        chunks.push(c);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (onChunk) onChunk(c);
        n++;
        if (abortAfter && n >= abortAfter) { req.destroy(); resolve({ aborted: true, status: res.statusCode }); }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), times }));
      res.on('error', () => {});
    });
    req.on('error', (e) => { if (!abortAfter && !abortAfterMs) reject(e); });
    if (abortAfterMs) setTimeout(() => { req.destroy(); resolve({ aborted: true }); }, abortAfterMs);
    if (data) req.write(data);
    req.end();
  });
}

const post = (p, b, h, o) => request('POST', p, b, h, o);
const get = (p, h) => request('GET', p, undefined, h);
const json = (r) => { try { return JSON.parse(r.text); } catch { return null; } };

function sseData(text) {
  return text.split('\n\n').filter(Boolean).map((blk) => {
    const ev = /^event: (.*)$/m.exec(blk);
    const d = /^data: (.*)$/m.exec(blk);
    return { event: ev ? ev[1] : null, data: d ? d[1] : null };
  });
}

const CHAT = { model: 'ai/smollm2', messages: [{ role: 'user', content: 'Say hello' }] };

async function tests() {
  let r = await get('/');
  check('GET / liveness', r.status === 200 && r.text === 'Docker Model Runner is running' && /text\/plain/.test(r.headers['content-type']), r.text);

  r = await get('/engines/v1/models');
  check('models list empty before first use (lazy loading)', r.status === 200 && r.text === '{"object":"list","data":[]}\n' && r.headers['content-type'] === 'application/json', r.text);
  for (const b of ['llama.cpp', 'vllm', 'whatever']) {
    const r2 = await get(`/engines/${b}/v1/models`);
    check(`models list under /engines/${b}/ (backend ignored)`, r2.status === 200 && r2.text === r.text, r2.text);
  }

  r = await post('/engines/v1/chat/completions', { model: 'ai/nope', messages: [] });
  check('unknown model: 404 text', r.status === 404 && r.text === `error while getting model: get model '"ai/nope"': model not found\n` && /text\/plain/.test(r.headers['content-type']), r.text);
  r = await post('/engines/v1/chat/completions', { messages: [] });
  check('missing model: 400 model is required', r.status === 400 && r.text === 'model is required\n', r.text);
  r = await post('/engines/v1/chat/completions', '{"model":');
  check('bad JSON: 400 invalid request', r.status === 400 && r.text === 'invalid request\n', r.text);
  r = await post('/engines/vllm/v1/chat/completions', CHAT);
  check('vllm: 412 not installed', r.status === 412 && r.text.startsWith('backend "vllm" is not installed; run: docker model install-runner --backend vllm'), r.text);
  r = await post('/engines/nosuch/v1/chat/completions', CHAT);
  check('unknown backend: 404 backend not found', r.status === 404 && r.text === 'backend not found\n', r.text);
  r = await post('/engines/v1/chat/completions', CHAT, { Origin: 'https://evil.example' });
  check('foreign Origin: 403', r.status === 403 && r.text === 'Origin not allowed\n', r.text);
  r = await get('/engines/v1/models', { Origin: 'http://localhost:8080' });
  check('local Origin allowed', r.status === 200 && r.headers['access-control-allow-origin'] === 'http://localhost:8080');
  r = await get('/engines/v1/chat/completions');
  check('GET on a POST route: 405', r.status === 405, r.status);
  r = await post('/anthropic/v1/messages', { model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  check('anthropic unknown model: 404 Anthropic JSON', r.status === 404 && json(r) && json(r).error.type === 'not_found_error' && json(r).error.message === 'Model not found: claude-sonnet-4', r.text);

  // preload-only loads without inference
  r = await post('/engines/v1/chat/completions', CHAT, { 'X-Preload-Only': 'true' });
  check('X-Preload-Only: empty 200', r.status === 200 && r.text === '', r.text);
  r = await get('/engines/v1/models');
  let j = json(r);
  check('model listed after load, DMR shape', j && j.data.length === 1 && j.data[0].id === 'ai/smollm2:latest' && j.data[0].owned_by === 'docker' &&
    j.data[0].object === 'model' && typeof j.data[0].created === 'number' && j.data[0].dmr && j.data[0].dmr.architecture === 'llama' &&
    r.text.endsWith('\n'), r.text);
  r = await get('/engines/v1/models/ai/smollm2:latest');
  check('model retrieve', r.status === 200 && json(r) && json(r).id === 'ai/smollm2:latest', r.text);

  r = await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { max_tokens: 16 }));
  j = json(r);
  check('chat completion', r.status === 200 && j && j.object === 'chat.completion' && j.choices[0].message.role === 'assistant' &&
    typeof j.choices[0].message.content === 'string' && ['stop', 'length'].includes(j.choices[0].finish_reason) &&
    j.usage.completion_tokens >= 1 && j.usage.completion_tokens <= 16 && j.usage.prompt_tokens > 0, r.text);

  for (const [name, p] of [['SmolLM2', '/engines/llama.cpp/v1/chat/completions'], ['ai/smollm2:latest', '/v1/chat/completions'], ['smollm2', '/engines/v1/chat/completions']]) {
    r = await post(p, { model: name, max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
    check(`name ${name} via ${p}`, r.status === 200, r.text);
  }
  r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2:LATEST', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
  check('tag is case-sensitive (ai/smollm2:LATEST is unknown)', r.status === 404, r.status);

  // greedy generation is deterministic: max_tokens and stop sequences
  const greedy = Object.assign({}, CHAT, { temperature: 0, max_tokens: 12 });
  const g1 = json(await post('/engines/v1/chat/completions', greedy));
  const g2 = json(await post('/engines/v1/chat/completions', greedy));
  check('greedy decoding is deterministic', g1 && g2 && g1.choices[0].message.content === g2.choices[0].message.content, [g1, g2]);
  const words = g1.choices[0].message.content.split(' ');
  if (words.length >= 4) {
    const stopAt = ' ' + words[2];
    const g3 = json(await post('/engines/v1/chat/completions', Object.assign({}, greedy, { stop: [stopAt] })));
    const expect = g1.choices[0].message.content.slice(0, g1.choices[0].message.content.indexOf(stopAt));
    check('stop sequence cuts the text, finish_reason stop', g3 && g3.choices[0].message.content === expect && g3.choices[0].finish_reason === 'stop', [expect, g3]);
  }

  r = await post('/engines/v1/completions', { model: 'smollm2', prompt: 'x', max_tokens: 300, ignore_eos: true });
  check('ignore_eos runs to max_tokens', json(r) && json(r).usage.completion_tokens === 300 && json(r).choices[0].finish_reason === 'length', r.text.slice(0, 200));
  r = await request('HEAD', '/engines/v1/models');
  check('HEAD /engines/v1/models', r.status === 200 && r.text === '', r.status);

  // streaming
  const chunkTimes = [];
  r = await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { stream: true, max_tokens: 24, stream_options: { include_usage: true } }), {},
    { onChunk: () => chunkTimes.push(Date.now()) });
  const ev = sseData(r.text);
  const last = ev[ev.length - 1];
  const objs = ev.slice(0, -1).map((e) => JSON.parse(e.data));
  const content = objs.filter((o) => o.choices[0] && o.choices[0].delta && typeof o.choices[0].delta.content === 'string');
  const fin = objs.find((o) => o.choices[0] && o.choices[0].finish_reason);
  const usage = objs.find((o) => o.usage);
  check('stream: text/event-stream', /text\/event-stream/.test(r.headers['content-type']), r.headers['content-type']);
  check('stream: role chunk first, content chunks, finish chunk, usage chunk, [DONE] last',
    objs[0].choices[0].delta.role === 'assistant' && content.length >= 1 && fin && usage && usage.choices.length === 0 &&
    usage.usage.completion_tokens === content.length && last.data === '[DONE]' && objs.every((o) => o.object === 'chat.completion.chunk'), r.text.slice(0, 300));
  check('stream: one network chunk per token (flushed)', chunkTimes.length >= content.length, `${chunkTimes.length} chunks for ${content.length} tokens`);

  r = await post('/v1/completions', { model: 'smollm2', prompt: 'Once upon a time', max_tokens: 8, stream: true });
  const cev = sseData(r.text);
  check('completions stream', r.status === 200 && cev[cev.length - 1].data === '[DONE]' && JSON.parse(cev[0].data).object === 'text_completion', r.text.slice(0, 200));
  r = await post('/engines/llama.cpp/v1/completions', { model: 'smollm2', prompt: 'Once upon a time', max_tokens: 8 });
  check('completions', r.status === 200 && json(r).choices[0].text.length > 0, r.text);

  r = await post('/engines/v1/embeddings', { model: 'ai/smollm2', input: ['hello world', 'the quick dog'] });
  j = json(r);
  const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  check('embeddings: 2 unit vectors of 64 dims', r.status === 200 && j.object === 'list' && j.data.length === 2 && j.data[0].embedding.length === 64 &&
    Math.abs(norm(j.data[1].embedding) - 1) < 1e-6 && j.usage.prompt_tokens > 0, r.text.slice(0, 200));
  r = await post('/engines/v1/embeddings', { model: 'ai/smollm2', input: 'hello world' });
  check('embeddings are deterministic', JSON.stringify(json(r).data[0].embedding) === JSON.stringify(j.data[0].embedding));

  // Anthropic
  const AM = { model: 'ai/smollm2', max_tokens: 12, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] };
  r = await post('/anthropic/v1/messages', AM);
  j = json(r);
  check('anthropic message', r.status === 200 && j.type === 'message' && j.role === 'assistant' && j.content[0].type === 'text' &&
    ['end_turn', 'max_tokens'].includes(j.stop_reason) && j.usage.input_tokens > 0, r.text);
  r = await post('/anthropic/v1/messages?beta=true', Object.assign({}, AM, { stream: true }));
  const aev = sseData(r.text);
  const names = aev.map((e) => e.event);
  const order = names.filter((n, i) => n !== names[i - 1]);
  check('anthropic stream event order', JSON.stringify(order) === JSON.stringify(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']), names);
  const md = JSON.parse(aev.find((e) => e.event === 'message_delta').data);
  check('anthropic stream usage', md.usage.output_tokens === names.filter((n) => n === 'content_block_delta').length, md);
  r = await post('/anthropic/v1/messages/count_tokens', { model: 'ai/smollm2', messages: [{ role: 'user', content: 'Hello there' }] });
  check('count_tokens', r.status === 200 && json(r).input_tokens > 0, r.text);
  r = await post('/v1/messages', AM);
  check('/v1/messages alias', r.status === 200 && json(r).type === 'message', r.text);

  // tools
  const ATOOL = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } }];
  r = await post('/anthropic/v1/messages', Object.assign({}, AM, { max_tokens: 100, tools: ATOOL, tool_choice: { type: 'any' } }));
  j = json(r);
  check('anthropic tool_use', j && j.stop_reason === 'tool_use' && j.content[0].type === 'tool_use' && j.content[0].name === 'get_weather' &&
    typeof j.content[0].input.city === 'string', r.text);
  r = await post('/anthropic/v1/messages', Object.assign({}, AM, { max_tokens: 100, stream: true, tools: ATOOL,
    messages: [{ role: 'user', content: 'Use get_weather for Rome' }] }));
  const tev = sseData(r.text);
  const partial = tev.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.partial_json).join('');
  const tstart = JSON.parse(tev.find((e) => e.event === 'content_block_start').data);
  check('anthropic streamed tool_use (auto, name mentioned)', tstart.content_block.type === 'tool_use' && typeof JSON.parse(partial).city === 'string' &&
    JSON.parse(tev.find((e) => e.event === 'message_delta').data).delta.stop_reason === 'tool_use', r.text.slice(0, 400));
  const OTOOL = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } }];
  r = await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { tools: OTOOL, tool_choice: { type: 'function', function: { name: 'lookup' } } }));
  j = json(r);
  check('openai tool call', j && j.choices[0].finish_reason === 'tool_calls' && j.choices[0].message.tool_calls[0].function.name === 'lookup' &&
    typeof JSON.parse(j.choices[0].message.tool_calls[0].function.arguments).q === 'string', r.text);
  r = await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { max_tokens: 4, tools: OTOOL }));
  check('openai tools, auto, not mentioned: text answer', json(r) && json(r).choices[0].message.content !== null, r.text);

  // client going away mid-stream, then concurrency beyond the slots
  const cut = await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { stream: true, max_tokens: 2000 }), {}, { abortAfter: 3 });
  check('client abort mid-stream', cut.aborted === true);
  await new Promise((res) => setTimeout(res, 100));
  const many = await Promise.all(Array.from({ length: 7 }, (_, i) => post('/engines/v1/chat/completions', Object.assign({}, CHAT, { max_tokens: 20, seed: i }))));
  check('7 concurrent requests (4 slots) all answered', many.every((x) => x.status === 200), many.map((x) => x.status));
  r = await get('/engines/ps');
  check('/engines/ps: not in use afterwards (in_use omitted), last_used a timestamp',
    json(r).length >= 1 && json(r).every((x) => x.in_use === undefined && x.loading === undefined && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(x.last_used) &&
      x.last_used !== '0001-01-01T00:00:00Z'), r.text);

  r = await post('/engines/unload', { all: true });
  check('unload', r.status === 200 && json(r).unloaded_runners >= 1, r.text);
  r = await get('/engines/v1/models');
  check('list empty again after unload', r.text === '{"object":"list","data":[]}\n', r.text);

  await cacheTests();
  await anthropicCompat();
  await configureTests();
  await responsesTests();
}

const ZERO = '0001-01-01T00:00:00Z';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// polls fn until pred(value) holds (bounded: ms), returns the last value
async function until(fn, pred, ms = 5000) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (pred(v) || Date.now() > end) return v;
    await sleep(25);
  }
}
const ps = async () => json(await get('/engines/ps'));

// llama-server's prompt cache: slots keep their tokens; a request reuses the
// longest common prefix and reports it in timings.cache_n and usage
async function cacheTests() {
  const words = 'the quick brown fox jumps over the lazy dog while people talk about the weather ';
  const prefix = words.repeat(72); // about 2k tokens
  const ask = (q) => post('/engines/v1/chat/completions', { model: 'ai/smollm2', max_tokens: 4, temperature: 0,
    messages: [{ role: 'system', content: prefix }, { role: 'user', content: q }] });
  const a = json(await ask('first question'));
  const b = json(await ask('second question, another one'));
  // (a slot used before shares only the start of the chat template)
  check('prompt cache: first request evaluates the whole prompt', a && a.timings.cache_n < 8 &&
    a.timings.prompt_n === a.usage.prompt_tokens - a.timings.cache_n && a.usage.prompt_tokens > 1900 &&
    a.usage.prompt_tokens_details.cached_tokens === a.timings.cache_n, a && [a.timings, a.usage]);
  const shared = a.usage.prompt_tokens - 25; // the system prefix, about
  check('prompt cache: second request with a shared 2k prefix reuses it (cache_n, cached_tokens)',
    b && b.timings.cache_n >= shared && b.timings.cache_n < b.usage.prompt_tokens && b.usage.prompt_tokens_details.cached_tokens === b.timings.cache_n &&
    b.timings.prompt_n === b.usage.prompt_tokens - b.timings.cache_n, b && [b.timings, b.usage]);
  check('prompt cache: the cached request processes its prompt faster', b && b.timings.prompt_ms < a.timings.prompt_ms,
    [a.timings.prompt_ms, b.timings.prompt_ms]);
  console.log(`     prompt cache: ${a.usage.prompt_tokens} tokens cold ${a.timings.prompt_ms.toFixed(1)} ms; ` +
    `${b.usage.prompt_tokens} tokens with cache_n ${b.timings.cache_n}: ${b.timings.prompt_ms.toFixed(1)} ms`);
  // an identical prompt: one token is evaluated again (llama-server's n_past--)
  const c = json(await ask('second question, another one'));
  check('prompt cache: identical prompt re-evaluates exactly one token', c && c.timings.prompt_n === 1 && c.timings.cache_n === c.usage.prompt_tokens - 1, c && c.timings);

  // slot choice by longest common prefix: two conversations interleaved keep
  // their own slots (4 slots), the LRU slot takes a stranger
  const other = 'a completely different conversation about music and rivers and stone '.repeat(40);
  const askB = (q) => post('/engines/v1/chat/completions', { model: 'ai/smollm2', max_tokens: 2, temperature: 0,
    messages: [{ role: 'system', content: other }, { role: 'user', content: q }] });
  const b1 = json(await askB('one'));
  const a2 = json(await ask('third question'));
  const b2 = json(await askB('two'));
  check('slot choice: interleaved conversations each find their prefix',
    b1 && a2 && b2 && a2.timings.cache_n >= shared && b2.timings.cache_n >= b1.usage.prompt_tokens - 25, [b1 && b1.timings, a2 && a2.timings, b2 && b2.timings]);

  // streaming: timings ride on the last chunk (the usage chunk)
  const r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2', max_tokens: 3, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'system', content: prefix }, { role: 'user', content: 'stream me' }] });
  const objs = sseData(r.text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  const lastObj = objs[objs.length - 1];
  check('stream: usage chunk last, with timings and cached_tokens', lastObj.choices.length === 0 && lastObj.timings && lastObj.usage &&
    lastObj.usage.prompt_tokens_details.cached_tokens >= shared && lastObj.timings.cache_n === lastObj.usage.prompt_tokens_details.cached_tokens &&
    !objs.slice(0, -1).some((o) => o.timings), JSON.stringify(lastObj));

  // Anthropic usage: cache_read_input_tokens, input_tokens = the rest
  const am = (q) => post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 3, system: prefix, messages: [{ role: 'user', content: q }] });
  await am('warm up');
  const m = json(await am('and now a question'));
  check('anthropic usage: cache_read_input_tokens + input_tokens, no cache_creation_input_tokens',
    m && m.usage.cache_read_input_tokens >= shared && m.usage.input_tokens >= 1 && m.usage.input_tokens < 40 &&
    !('cache_creation_input_tokens' in m.usage), m && m.usage);
}

// what llama-server's Anthropic endpoint accepts and rejects
async function anthropicCompat() {
  const cc = (cch, extra = {}) => Object.assign({
    model: 'ai/smollm2', max_tokens: 8, temperature: 1, stream: false,
    system: [{ type: 'text', text: `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};` },
      { type: 'text', text: 'You are Claude Code. '.repeat(60), cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hello there' }, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc' } }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'Hi.' },
        { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: '/x' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'file body' }] }] },
      { role: 'system', content: 'a system message inside messages' },
      { role: 'user', content: [{ type: 'text', text: 'thanks', cache_control: { type: 'ephemeral' } }] }],
    tools: [{ name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } },
      { type: 'web_search_20250305', name: 'web_search', max_uses: 5 }],
    tool_choice: { type: 'auto' }, thinking: { type: 'enabled', budget_tokens: 1024 },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] }, output_config: { effort: 'high' },
    metadata: { user_id: 'user_x' },
  }, extra);
  let r = await post('/anthropic/v1/messages?beta=true', cc('a5145'));
  const j = json(r);
  check('anthropic: a Claude Code 2.1 body (system role in messages, unknown fields, document, thinking) is accepted', r.status === 200 && j && j.type === 'message', r.text);
  r = await post('/anthropic/v1/messages?beta=true', cc('b0c1d'));
  const j2 = json(r);
  check('anthropic: the billing header cch stamp does not break the prefix cache', j2 && j2.usage.cache_read_input_tokens > 300, j2 && j2.usage);
  r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 4, messages: [{ role: 'user', content: [
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] }] });
  check('anthropic: image on a text-only model -> 500 llama-server JSON', r.status === 500 && json(r) &&
    json(r).error.message === 'image input is not supported - hint: if this is unexpected, you may need to provide the mmproj' && json(r).error.type === 'server_error', r.text);
  r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 4 });
  check("anthropic: no messages -> 500 'messages' is required", r.status === 500 && json(r) && json(r).error.message === "'messages' is required", r.text);
  r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 4, messages: [{ role: 'user', content: 5 }] });
  check('anthropic: content of a wrong type -> 400', r.status === 400 && json(r) && json(r).error.message === "Expected 'content' to be a string or an array", r.text);
  r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 4, messages: [{ role: 'assistant', content: 'a' }, { role: 'assistant', content: 'b' }] });
  check('anthropic: two trailing assistant messages -> 400', r.status === 400 && json(r) &&
    json(r).error.message === 'Cannot have 2 or more assistant messages at the end of the list.', r.text);
  r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2', messages: [{ content: 'no role' }] });
  check('chat: a message without role -> 500 Failed to parse messages', r.status === 500 && json(r) &&
    json(r).error.message === `Failed to parse messages: Missing 'role' in message: {"content":"no role"}`, r.text);
  r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] });
  check('chat: image_url on a text-only model -> 500', r.status === 500 && /^image input is not supported/.test(json(r).error.message), r.text);
  r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: 'x' }] });
  const words = json(r).content.length ? json(r).content[0].text.split(' ') : [];
  if (words.length >= 3) {
    r = await post('/anthropic/v1/messages', { model: 'ai/smollm2', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: 'x' }], stop_sequences: [' ' + words[1]] });
    check('anthropic: a stop sequence ends with stop_reason end_turn and stop_sequence set (llama-server)',
      json(r).stop_reason === 'end_turn' && json(r).stop_sequence === ' ' + words[1], r.text);
  }
}

// DMR's Responses API (pkg/responses): stateful, over chat completions
async function responsesTests() {
  const RID = /^resp_[a-z0-9]{24}$/;
  const events = (text) => sseData(text).map((e) => ({ event: e.event, data: e.data === null ? null : JSON.parse(e.data) }));
  let r = await post('/v1/responses', { model: 'ai/smollm2', input: 'Say hello', max_output_tokens: 8, temperature: 0, instructions: 'Be brief.' });
  const a = json(r);
  check('responses: create, a completed Response (id resp_ + 24, message output, output_text, usage)', r.status === 200 &&
    /^application\/json/.test(r.headers['content-type']) && a && RID.test(a.id) && a.object === 'response' && a.status === 'completed' &&
    a.model === 'ai/smollm2' && Number.isInteger(a.created_at) && a.output.length === 1 && a.output[0].type === 'message' &&
    /^msg_[a-z0-9]{24}$/.test(a.output[0].id) && a.output[0].role === 'assistant' && a.output[0].status === 'completed' &&
    a.output[0].content[0].type === 'output_text' && a.output[0].content[0].text === a.output_text && a.output_text.length > 0 &&
    a.usage.output_tokens === 8 && a.usage.input_tokens > 0 && a.usage.total_tokens === a.usage.input_tokens + 8 &&
    a.store === true && a.instructions === 'Be brief.' && a.previous_response_id === null && a.error === null && a.tools === null &&
    a.metadata === null && a.max_output_tokens === 8 && !('finish_reason' in a), r.text);
  const fresh = json(await post('/v1/responses', { model: 'ai/smollm2', input: 'And then?', max_output_tokens: 4, temperature: 0 }));
  r = await post('/responses', { model: 'ai/smollm2', input: 'And then?', max_output_tokens: 4, temperature: 0, previous_response_id: a.id });
  const b = json(r);
  check('responses: previous_response_id chains (the earlier output is part of the prompt)', r.status === 200 && b.previous_response_id === a.id &&
    RID.test(b.id) && b.id !== a.id && b.usage.input_tokens > fresh.usage.input_tokens, [fresh.usage, b.usage]);

  // streaming
  r = await post('/engines/v1/responses', { model: 'ai/smollm2', input: 'Tell a story', max_output_tokens: 6, stream: true, previous_response_id: b.id });
  const ev = events(r.text);
  const names = ev.map((e) => e.event);
  const want = ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    ...Array(6).fill('response.output_text.delta'), 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed'];
  check('responses: stream event sequence (created, in_progress, item/part added, deltas, done, completed)', r.status === 200 &&
    /^text\/event-stream/.test(r.headers['content-type']) && JSON.stringify(names) === JSON.stringify(want), names);
  check('responses: stream events carry type = event name and sequence_number 1..n',
    ev.every((e, i) => e.data.type === e.event && e.data.sequence_number === i + 1), ev.map((e) => [e.event, e.data.sequence_number]));
  const done = ev[ev.length - 1].data.response;
  const deltas = ev.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join('');
  check('responses: response.completed has the id of response.created, the text of the deltas, finish_reason, incomplete_details',
    done.id === ev[0].data.response.id && RID.test(done.id) && done.status === 'completed' && done.output_text === deltas &&
    done.output[0].content[0].text === deltas && done.finish_reason === 'length' && done.incomplete_details.reason === 'max_tokens' &&
    done.usage === null && done.previous_response_id === b.id && ev[0].data.response.status === 'in_progress', done);
  check('responses: DMR event shapes (output_index 0 omitted, output_text.done carries part, added part has no text)',
    !('output_index' in ev[2].data) && ev[3].data.part.type === 'output_text' && !('text' in ev[3].data.part) &&
    ev[4].data.item_id === ev[2].data.item.id && ev[10].data.part.text === deltas, ev.slice(2, 5).concat(ev.slice(10, 11)));

  // retrieve, input_items, delete, on every prefix
  let all = true;
  for (const p of ['/responses', '/v1/responses', '/engines/responses', '/engines/v1/responses', '/engines/llama.cpp/v1/responses']) {
    r = await get(`${p}/${done.id}`);
    if (!(r.status === 200 && json(r).id === done.id && json(r).output_text === deltas)) all = false;
  }
  check('responses: GET {prefix}/{id} on the five prefixes (one store)', all, r.text);
  r = await get(`/v1/responses/${a.id}/input_items`);
  check('responses: input_items: an empty list (DMR keeps no input items)', r.status === 200 && r.text === '{"data":[],"object":"list"}\n', r.text);
  r = await request('DELETE', `/v1/responses/${a.id}`);
  check('responses: DELETE', r.status === 200 && r.text === `{"deleted":true,"id":"${a.id}","object":"response.deleted"}\n`, r.text);
  r = await request('DELETE', `/v1/responses/${a.id}`);
  check('responses: DELETE again: 404 not_found', r.status === 404 && r.text === '{"error":{"code":"not_found","message":"Response not found"}}\n', r.text);
  r = await get(`/v1/responses/${a.id}`);
  check('responses: GET a deleted response: 404', r.status === 404 && json(r).error.code === 'not_found', r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'x', max_output_tokens: 1, previous_response_id: a.id });
  check('responses: previous_response_id unknown: 400 invalid_request',
    r.status === 400 && r.text === `{"error":{"code":"invalid_request","message":"previous_response_id \\"${a.id}\\" was not found"}}\n`, r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'x', max_output_tokens: 1, store: false });
  const ns = json(r);
  r = await get(`/v1/responses/${ns.id}`);
  check('responses: store false is not kept', ns.store === false && r.status === 404, r.text);

  // errors
  r = await post('/v1/responses', { input: 'x' });
  check('responses: no model: 400 model is required', r.status === 400 && json(r).error.code === 'invalid_request' && json(r).error.message === 'model is required', r.text);
  r = await post('/v1/responses', '{"model":');
  check('responses: bad JSON: 400 Invalid JSON', r.status === 400 && /^Invalid JSON: /.test(json(r).error.message), r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'x', include: ['reasoning.encrypted_content'] });
  check('responses: include: 400 not supported', r.status === 400 && json(r).error.message === 'include is not supported by Docker Model Runner Responses compatibility layer', r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'x', tools: [{ type: 'web_search' }] });
  check('responses: a non-function tool: 400', r.status === 400 && json(r).error.message === 'tool type "web_search" is not supported by Docker Model Runner Responses compatibility layer', r.text);
  r = await get('/v1/responses');
  check('responses: GET on the create route: 405, Allow: POST', r.status === 405 && r.headers.allow === 'POST', r.status);
  r = await post('/v1/responses', { model: 'ai/nope', input: 'x' });
  check('responses: unknown model: the failed Response at 404, error upstream_error with the scheduler text', r.status === 404 &&
    json(r).status === 'failed' && json(r).error.code === 'upstream_error' && /model not found\n$/.test(json(r).error.message), r.text);
  r = await post('/v1/responses', { model: 'ai/nope', input: 'x', stream: true });
  const fe = events(r.text);
  check('responses: unknown model, streaming: 200 with an error event and response.failed (DMR writes the events before the status)',
    r.status === 200 && JSON.stringify(fe.map((e) => e.event)) === '["error","response.failed"]' &&
    fe[0].data.error.message === 'Upstream service returned status code: 404' && fe[1].data.response.status === 'failed', r.text);

  // function calls
  const tools = [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'weather in Paris?', tools, tool_choice: 'required' });
  const fc = json(r);
  check('responses: a function_call output item (call_id, name, JSON arguments)', r.status === 200 && fc.output.length === 1 &&
    fc.output[0].type === 'function_call' && /^item_[a-z0-9]{24}$/.test(fc.output[0].id) && /^call_/.test(fc.output[0].call_id) &&
    fc.output[0].name === 'get_weather' && typeof JSON.parse(fc.output[0].arguments).city === 'string' && fc.tools[0].name === 'get_weather', r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', max_output_tokens: 4, previous_response_id: fc.id,
    input: [{ type: 'function_call_output', call_id: fc.output[0].call_id, output: '18 C' }], tools });
  check('responses: function_call_output after previous_response_id: a text answer', r.status === 200 && json(r).output[0].type === 'message', r.text);
  r = await post('/v1/responses', { model: 'ai/smollm2', input: 'weather in Paris?', tools, tool_choice: 'required', stream: true });
  const te = events(r.text);
  const items = te.filter((e) => e.event === 'response.output_item.done').map((e) => e.data.item);
  check("responses: a streamed function call is split into one item per argument fragment (DMR finds a call by id, which llama-server sends only first)",
    items.length > 1 && items[0].name === 'get_weather' && items.slice(1).every((i) => i.name === undefined) &&
    typeof JSON.parse(items.map((i) => i.arguments || '').join('')).city === 'string' && te[te.length - 1].event === 'response.completed', items);

  // one hour in DMR; --responses-ttl here (an instance of its own)
  if (urlArg) return;
  const saved = BASE;
  const srv = await startServer(['--responses-ttl', '1']);
  BASE = srv.url;
  try {
    const t = json(await post('/v1/responses', { model: 'ai/smollm2', input: 'x', max_output_tokens: 1 }));
    r = await get(`/v1/responses/${t.id}`);
    const kept = r.status === 200;
    r = await until(() => get(`/v1/responses/${t.id}`), (x) => x.status === 404, 4000);
    check('responses: a stored response expires after its TTL (--responses-ttl 1)', kept && r.status === 404, r.status);
  } finally { await stopServer(srv); BASE = saved; }
}

// DMR's runner state: /engines/ps, X-Preload-Only, _configure keep_alive
async function configureTests() {
  let r = await post('/engines/_configure', { model: 'ai/smollm2', keep_alive: '10m' });
  check('_configure: 202', r.status === 202, r.status);
  let p = await until(ps, (v) => v.some((x) => x.model_name === 'ai/smollm2' && x.keep_alive === '10m0s' && x.last_used !== ZERO));
  check('/engines/ps: keep_alive as a Go duration after _configure (background preload)', p.some((x) => x.keep_alive === '10m0s'), p);
  r = await get('/engines/_configure');
  check('GET /engines/_configure: Go field names', json(r).length === 1 && json(r)[0].Model === 'ai/smollm2:latest' && json(r)[0].Config.keep_alive === '10m0s', r.text);
  // in use: a slow stream holds the runner
  const slow = post('/engines/v1/completions', { model: 'ai/smollm2', prompt: 'x', max_tokens: 400, ignore_eos: true, stream: true });
  p = await until(ps, (v) => v.some((x) => x.in_use));
  check('/engines/ps: in_use true and last_used the zero time while a request runs',
    p.some((x) => x.in_use === true && x.last_used === ZERO && x.mode === 'completion'), p);
  r = await post('/engines/_configure', { model: 'ai/smollm2', keep_alive: '1s' });
  check('_configure on a runner in use: 409 runner already active', r.status === 409 && r.text === 'runner already active\n', r.text);
  await slow;
  r = await post('/engines/_configure', { model: 'ai/smollm2', keep_alive: '1s' });
  check('_configure on an idle runner: 202 (the runner is reloaded with the new keep_alive)', r.status === 202, r.text);
  p = await until(ps, (v) => v.some((x) => x.keep_alive === '1s'));
  check('/engines/ps: keep_alive 1s', p.some((x) => x.keep_alive === '1s'), p);
  p = await until(ps, (v) => !v.some((x) => x.mode === 'completion'), 5000);
  check('keep_alive 1s: the runner is unloaded after 1 s idle', !p.some((x) => x.mode === 'completion'), p);
  await post('/engines/unload', { models: ['ai/smollm2'] }); // drops the config too
  r = await get('/engines/_configure');
  check('unload drops the model config', r.text === '[]\n', r.text);
  r = await get('/engines/status');
  check('/engines/status: backend -> status string', json(r) && /^Running: llama\.cpp /.test(json(r)['llama.cpp']) && json(r).vllm === 'Not Installed', r.text);
}

// instances of their own: load delay (loading entry, abandoned load),
// idle timeout, old DMR's 503, --list store, a small context
async function instanceTests() {
  const saved = BASE;
  let srv = await startServer(['--load-delay-ms', '1500', '--idle-timeout', '1']);
  BASE = srv.url;
  try {
    // a load abandoned by its client
    const cut = post('/engines/v1/chat/completions', { model: 'smollm2', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }, {}, { abortAfterMs: 300 });
    let p = await until(ps, (v) => v.length === 1);
    check('/engines/ps during a load: loading entry (raw model name, zero last_used, no in_use)',
      p.length === 1 && p[0].loading === true && p[0].model_name === 'smollm2' && p[0].mode === 'completion' && p[0].last_used === ZERO &&
      p[0].in_use === undefined && p[0].backend_name === 'llama.cpp', p);
    await cut;
    p = await until(ps, (v) => v.length === 0, 3000);
    check('a load whose client went away is abandoned (DMR cancels the readiness wait)', p.length === 0, p);
    // preload-only: loads, answers an empty 200 with no content type
    const t0 = Date.now();
    let r = await post('/v1/chat/completions', { model: 'ai/smollm2', messages: [] }, { 'X-Preload-Only': 'true' });
    check('X-Preload-Only: waits for the load, then 200, Content-Length 0, no Content-Type',
      r.status === 200 && r.text === '' && r.headers['content-length'] === '0' && !r.headers['content-type'] && Date.now() - t0 >= 1400, [r.status, r.headers]);
    p = await ps();
    check('after a preload the runner is idle (last_used set)', p.length === 1 && !p[0].in_use && p[0].last_used !== ZERO && !p[0].loading, p);
    p = await until(ps, (v) => v.length === 0, 4000);
    check('--idle-timeout 1: unloaded after 1 s idle', p.length === 0, p);
    // two modes are two runners
    await Promise.all([post('/engines/v1/embeddings', { model: 'ai/smollm2', input: 'x' }, { 'X-Preload-Only': 'true' }),
      post('/engines/v1/chat/completions', { model: 'ai/smollm2' }, { 'X-Preload-Only': 'true' })]);
    p = await ps();
    check('completion and embedding are separate runners', p.length === 2 && p.map((x) => x.mode).sort().join() === 'completion,embedding', p);
  } finally { await stopServer(srv); }

  srv = await startServer(['--loading-503', '--load-delay-ms', '1000']);
  BASE = srv.url;
  try {
    let r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
    check('--loading-503 (DMR <= v1.0.10): 503 Loading model while the engine loads', r.status === 503 &&
      r.text === '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}', r.text);
    const p = await ps();
    check('--loading-503: the runner counts as loaded (no loading flag)', p.length === 1 && !p[0].loading, p);
    r = await until(() => post('/engines/v1/chat/completions', { model: 'ai/smollm2', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] }),
      (x) => x.status === 200, 5000);
    check('--loading-503: 200 once loaded', r.status === 200, r.text);
  } finally { await stopServer(srv); }

  srv = await startServer(['--ctx-size', '256', '--context-window', '0', '--models', 'ai/smollm2,ai/tinyllama']);
  BASE = srv.url;
  try {
    let r = await get('/engines/v1/models');
    check('default --list store: every model listed before any load', json(r).data.length === 2 && !('context_window' in json(r).data[0].dmr), r.text);
    r = await get('/models');
    check('GET /models: native list', json(r).length === 2 && /^sha256:[0-9a-f]{64}$/.test(json(r)[0].id) && Array.isArray(json(r)[0].tags), r.text);
    r = await post('/engines/v1/chat/completions', { model: 'ai/smollm2', messages: [{ role: 'user', content: 'word '.repeat(300) }] });
    check('prompt over the context: 400 exceed_context_size_error', r.status === 400 && json(r).error.type === 'exceed_context_size_error' &&
      json(r).error.n_ctx === 256 && /^request \(\d+ tokens\) exceeds the available context size \(256 tokens\), try increasing it$/.test(json(r).error.message), r.text);
  } finally { await stopServer(srv); BASE = saved; }
}

async function stopServer(srv) {
  const exited = new Promise((r) => srv.child.once('exit', (code) => r(code)));
  srv.child.kill('SIGTERM');
  return exited;
}

async function bench() {
  // tokens/s as the server measures it (timings), and as a streaming client sees it
  const N = 5;
  let tok = 0;
  let ms = 0;
  for (let i = 0; i < N; i++) {
    const j = json(await post('/engines/v1/completions', { model: 'smollm2', prompt: 'Once upon a time', max_tokens: 256, ignore_eos: true, seed: 100 + i }));
    tok += j.timings.predicted_n; ms += j.timings.predicted_ms;
  }
  console.log(`bench: generation ${tok} tokens in ${ms.toFixed(0)} ms = ${(1000 * tok / ms).toFixed(0)} tokens/s (server timings, 1 request at a time)`);
  const t0 = Date.now();
  let first = null;
  let count = 0;
  await post('/engines/v1/chat/completions', Object.assign({}, CHAT, { stream: true, max_tokens: 256, ignore_eos: true, seed: 7 }), {}, {
    onChunk: (c) => { const n = (c.toString().match(/"content":"/g) || []).length; if (n && first === null) first = Date.now(); count += n; },
  });
  const dt = Date.now() - first;
  console.log(`bench: streaming client saw ${count} tokens, first after ${first - t0} ms, then ${(1000 * count / Math.max(1, dt)).toFixed(0)} tokens/s`);
  const P = 4;
  const t1 = Date.now();
  const rs = await Promise.all(Array.from({ length: P }, (_, i) => post('/engines/v1/completions', { model: 'smollm2', prompt: 'Hello', max_tokens: 256, ignore_eos: true, seed: 200 + i })));
  const total = rs.reduce((a, r) => a + json(r).usage.completion_tokens, 0);
  console.log(`bench: ${P} parallel requests: ${total} tokens in ${Date.now() - t1} ms = ${(1000 * total / (Date.now() - t1)).toFixed(0)} tokens/s aggregate`);
}

function startServer(extra = []) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /dmr-standin listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1], ms: Date.now() - t0 });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function main() {
  let server = null;
  if (urlArg) BASE = urlArg;
  else {
    server = await startServer(['--list', 'loaded']);
    BASE = server.url;
    console.log(`started ${BASE} in ${server.ms} ms`);
  }
  try {
    await tests();
    if (!urlArg) await instanceTests();
    if (BENCH) await bench();
  } finally {
    if (server) {
      const exited = new Promise((r) => server.child.once('exit', (code, sig) => r({ code, sig })));
      server.child.kill('SIGTERM');
      const { code } = await exited;
      check('SIGTERM: clean exit', code === 0, code);
    }
  }
  console.log(`${passes} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
