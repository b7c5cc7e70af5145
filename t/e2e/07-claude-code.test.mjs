// Claude Code itself (`claude -p`, @anthropic-ai/claude-code pinned in
// package.json) against nginx + ngx_olla_dmr_module, headless, with no
// Anthropic login and no network besides the gateway: (a) in front of a DMR
// stand-in (the Messages API passed through), (b) in front of an
// openai-compatible stand-in (translated to chat completions).
//
// Claude Code sends its whole default request: a ~30,000-token prompt
// (system prompt, 12 tools, its environment as a mid-conversation system
// message), thinking, context_management, output_config, ?beta=true.  The
// prompt "Use the Read tool on notes.txt" makes the stand-in call Read (the
// stand-in decides tool calls: the last user message names the tool); Claude
// Code runs it (the file does not exist: an error result) and sends the
// tool_result back; the answer to that is text.  Two API calls, both
// streamed.  The second reuses the first's prefix from the stand-in's prompt
// cache, so it costs about a second; the first, about 20 to 50 s of prompt
// processing on a 2-core machine.  The stand-in ends its answers after 24
// tokens (--answer-tokens): Claude Code asks for 32,000.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startNginx, startStandin } from './lib/harness.mjs';
import { assertCleanLog } from './lib/checks.mjs';
import { assertAnthropicEventOrder } from './lib/anthropic.mjs';
import {
  apiStreams, claudeEnv, findClaude, gatewayContextWindow, runClaude, startTrapProxy,
} from './lib/claude-code.mjs';

const MODEL = 'ai/smollm2';
const CTX = 65536; // the stand-in's --ctx-size (and the context_window it lists)
const claude = findClaude();

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// One Claude Code run through the gateway, and everything checked about it.
async function claudeCodeRun(t, { ngx, standin, endpoint, backendType, mode, backendPath }) {
  const trap = await startTrapProxy();
  const home = tmpdir('olla-cc-home-');
  const cwd = tmpdir('olla-cc-work-');
  try {
    // The context window, as the gateway serves it, is what Claude Code
    // has to be told (CLAUDE_CODE_MAX_CONTEXT_TOKENS).
    const { window, from } = await gatewayContextWindow(ngx, MODEL);
    assert.equal(window, CTX, `the gateway serves the model's context window (${from})`);

    const from0 = standin.requests.length;
    const run = await runClaude({
      bin: claude.bin,
      cwd,
      prompt: 'Use the Read tool on notes.txt',
      args: ['--max-turns', '3'],
      env: claudeEnv({ baseURL: ngx.anthropicBase, model: MODEL, contextWindow: window, home, proxy: trap.url }),
    });
    const why = () => `exit ${run.code ?? run.signal} after ${run.ms} ms${run.timedOut ? ' (killed: timeout)' : ''}\n`
      + `stderr: ${run.stderr.slice(-2000)}\nresult: ${JSON.stringify(run.result)?.slice(0, 2000)}\n`
      + `access log:\n${ngx.accessLog().map((l) => l.line).join('\n')}`;
    t.diagnostic(`claude -p took ${run.ms} ms (${mode})`);

    // It ran to the end and answered.
    assert.equal(run.timedOut, false, why());
    assert.equal(run.code, 0, why());
    const res = run.result;
    assert.ok(res, `a result event: ${why()}`);
    assert.equal(res.subtype, 'success', why());
    assert.equal(res.is_error, false, why());
    assert.equal(typeof res.result, 'string');
    assert.ok(res.result.trim().length > 0, `a non-empty answer: ${why()}`);
    assert.equal(res.num_turns, 2, `tool call, then the answer: ${why()}`);

    // It knew the context window: no "doesn't recognize the model" warning.
    assert.equal(res.modelUsage?.[MODEL]?.contextWindow, CTX, `contextWindow: ${JSON.stringify(res.modelUsage)}`);
    assert.doesNotMatch(run.stderr, /doesn't recognize the model|isn't recognized/, 'no unknown-window warning');

    // The tool round trip: a Read tool_use, its tool_result sent back.
    const assistant = run.events.filter((e) => e.type === 'assistant' && !e.parent_tool_use_id);
    const uses = assistant.flatMap((e) => e.message.content).filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1, `one tool_use: ${JSON.stringify(assistant)}`);
    assert.equal(uses[0].name, 'Read');
    assert.equal(typeof uses[0].input.file_path, 'string', JSON.stringify(uses[0].input));
    const results = run.events.filter((e) => e.type === 'user').flatMap((e) => e.message.content)
      .filter((b) => b.type === 'tool_result');
    assert.deepEqual(results.map((b) => b.tool_use_id), [uses[0].id], 'the tool_result went back');

    // Both answers were well-formed Messages API event streams, as Claude
    // Code received them: the first ends in tool_use, the second in text.
    const streams = apiStreams(run.events);
    assert.equal(streams.length, 2, `two streamed API answers: ${streams.map((s) => s.map((e) => e.type).join(',')).join(' | ')}`);
    assert.deepEqual(assertAnthropicEventOrder(streams[0]), ['tool_use']);
    assert.equal(streams[0].at(-2).delta.stop_reason, 'tool_use');
    assert.deepEqual(assertAnthropicEventOrder(streams[1]), ['text']);
    assert.equal(streams[1].at(-2).delta.stop_reason, 'end_turn');
    for (const s of streams) {
      assert.ok(s[0].message.usage.input_tokens > 0, 'message_start usage');
      assert.ok(s.at(-2).usage.output_tokens > 0, 'message_delta usage');
    }
    // the whole default prompt went through: tens of thousands of tokens
    const prompt1 = streams[0][0].message.usage;
    const inTokens1 = prompt1.input_tokens + (prompt1.cache_read_input_tokens ?? 0);
    t.diagnostic(`first request: ${inTokens1} prompt tokens; result usage ${JSON.stringify(res.usage)}`);
    assert.ok(inTokens1 > 10000, `Claude Code's full prompt: ${inTokens1} tokens`);

    // The gateway: every Anthropic request answered 200, by the endpoint,
    // in the expected mode.
    const lines = await ngx.waitAccess((l) => l.method === 'POST' && l.uri.startsWith('/olla/anthropic/'), 2);
    assert.deepEqual(lines.map((l) => `${l.method} ${l.uri} ${l.status} ${l.ep} ${l.type} ${l.mode} ${l.ups_status}`),
      Array(2).fill(`POST /olla/anthropic/v1/messages?beta=true 200 ${endpoint} ${backendType} ${mode} 200`), why());

    // The backend answered both requests completely (it logs a request when
    // its answer has ended), and nothing else reached it.  (The client's
    // query string, Claude Code's ?beta=true, is passed on as nginx does;
    // DMR and llama-server ignore it.)
    const seen = await standin.waitRequests((r) => r.method === 'POST', 2, from0);
    assert.deepEqual(standin.requests.slice(from0).filter((r) => r.method !== 'GET')
      .map((r) => `${r.method} ${r.url.replace(/\?beta=true$/, '')} ${r.status}`),
    Array(2).fill(`POST ${backendPath} 200`), JSON.stringify(seen));

    // Nothing but the gateway: no connection through the proxy.
    assert.deepEqual(trap.seen, [], 'no network request besides the gateway');
    return { run, streams };
  } finally {
    await trap.close();
    if (!process.env.E2E_KEEP) {
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }
}

describe('Claude Code (claude -p) through /olla/anthropic', { skip: claude.reason ?? false }, () => {
  describe('passthrough to a DMR stand-in', () => {
    let dmr;
    let ngx;

    before(async () => {
      dmr = await startStandin({ list: 'store', args: ['--answer-tokens', '24', '--ctx-size', String(CTX)] });
      ngx = await startNginx({ endpoints: [{ url: dmr.url, name: 'dmr-1' }] });
    });

    after(async () => {
      await ngx?.stop();
      await dmr?.stop();
    });

    test(`claude ${claude.version ?? ''} -p: tool call and answer, passed through`, async (t) => {
      const { run, streams } = await claudeCodeRun(t, {
        ngx, standin: dmr, endpoint: 'dmr-1', backendType: 'docker-model-runner', mode: 'passthrough',
        backendPath: '/anthropic/v1/messages',
      });
      // llama-server's usage: the second request reused the first's prefix
      // (the per-request cch= stamp in the billing header does not break it)
      const u2 = streams[1][0].message.usage;
      assert.ok(u2.cache_read_input_tokens > 10000, `prefix cache on the second call: ${JSON.stringify(u2)}`);
      assert.ok(run.result.usage.cache_read_input_tokens > 10000, JSON.stringify(run.result.usage));
    });

    test('error.log is clean', () => assertCleanLog(ngx));
  });

  describe('translation for an openai-compatible stand-in', () => {
    let oai;
    let ngx;

    before(async () => {
      oai = await startStandin({ list: 'store', args: ['--answer-tokens', '24', '--ctx-size', String(CTX)] });
      ngx = await startNginx({ endpoints: [{ url: oai.url, name: 'oai-1', type: 'openai-compatible' }] });
    });

    after(async () => {
      await ngx?.stop();
      await oai?.stop();
    });

    test(`claude ${claude.version ?? ''} -p: tool call and answer, translated to chat completions`, async (t) => {
      await claudeCodeRun(t, {
        ngx, standin: oai, endpoint: 'oai-1', backendType: 'openai-compatible', mode: 'translation',
        backendPath: '/v1/chat/completions',
      });
    });

    test('error.log is clean', () => assertCleanLog(ngx));
  });
});
