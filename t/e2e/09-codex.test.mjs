// OpenAI's Codex CLI (`codex exec`, @openai/codex pinned in package.json)
// through the gateway's OpenAI route, as a custom model provider with
// wire_api = "responses": /olla/proxy/v1/responses in front of an
// openai-compatible stand-in, so the module translates the Responses API to
// chat completions and back (JSON and event streams, function calls).
//
// Codex's request is ~41 KB (about 17,000 tokens for the stand-in): its
// instructions as developer messages, nine tools (functions, a namespace,
// web_search), include: ["reasoning.encrypted_content"], store: false.  The
// prompt names its exec_command tool, so the stand-in calls it; Codex runs
// the (nonsense) command in its read-only sandbox and sends the output back
// as a function_call_output; the answer to that is text.
//
// Not against DMR itself: DMR's Responses layer refuses Codex's request
// (400 "include is not supported by Docker Model Runner Responses
// compatibility layer"; its web_search and namespace tools too).
//
// Skipped when the codex binary does not run here.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startNginx, startStandin } from './lib/harness.mjs';
import { assertCleanLog } from './lib/checks.mjs';
import { startTrapProxy } from './lib/claude-code.mjs';

const MODEL = 'ai/smollm2';
const here = path.dirname(fileURLToPath(import.meta.url));
const WRAPPER = path.join(here, 'node_modules', '@openai', 'codex', 'bin', 'codex.js');

function findCodex() {
  if (!fs.existsSync(WRAPPER)) return { reason: `${WRAPPER} missing (npm ci in t/e2e installs @openai/codex)` };
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-codex-v-'));
  try {
    const r = spawnSync(process.execPath, [WRAPPER, '--version'], {
      encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: home },
    });
    const m = /codex-cli (\d+\.\d+\.\d+)/.exec(r.stdout || '');
    if (r.status === 0 && m) return { version: m[1] };
    return { reason: `codex --version: ${r.error ? r.error.message : `exit ${r.status} ${(r.stderr || '').trim().slice(0, 300)}`}` };
  } finally { fs.rmSync(home, { recursive: true, force: true }); }
}

const codex = findCodex();

// codex exec --json; resolves to { code, ms, events, stderr, timedOut }
function runCodex({ baseURL, cwd, home, proxy, prompt, timeoutMs = 85000 }) {
  const provider = `{name="olla",base_url="${baseURL}",env_key="OLLA_API_KEY",wire_api="responses"}`;
  const args = [WRAPPER, 'exec', '--skip-git-repo-check', '--ephemeral', '--json', '-C', cwd, '-m', MODEL,
    '-c', 'model_provider="olla"', '-c', `model_providers.olla=${provider}`,
    // no analytics (ab.chatgpt.com), no update check (api.github.com), no
    // plugin sync (github.com, chatgpt.com)
    '-c', 'analytics.enabled=false', '-c', 'check_for_update_on_startup=false', '--disable', 'plugins',
    prompt];
  const env = {
    PATH: process.env.PATH, HOME: home, CODEX_HOME: home, OLLA_API_KEY: 'not-needed',
    HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: '127.0.0.1,localhost',
  };
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    const killOnExit = () => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
    process.once('exit', killOnExit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      const events = out.split('\n').filter((l) => l.trim()).map((l) => { try { return JSON.parse(l); } catch { return { type: 'unparsed', line: l }; } });
      resolve({ code: code ?? signal, ms: Date.now() - t0, events, stderr: err, timedOut });
    });
  });
}

describe('Codex (codex exec) through /olla/proxy/v1, Responses API translated for an openai-compatible backend',
  { skip: codex.reason ?? false }, () => {
    let oai;
    let ngx;
    let trap;
    let home;
    let cwd;

    before(async () => {
      oai = await startStandin({ list: 'store', args: ['--answer-tokens', '16'] });
      ngx = await startNginx({ endpoints: [{ url: oai.url, name: 'oai-1', type: 'openai-compatible' }] });
      trap = await startTrapProxy();
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-codex-home-'));
      cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'olla-codex-work-'));
    });

    after(async () => {
      await trap?.close();
      await ngx?.stop();
      await oai?.stop();
      if (!process.env.E2E_KEEP) {
        for (const d of [home, cwd]) if (d) fs.rmSync(d, { recursive: true, force: true });
      }
    });

    test(`codex ${codex.version ?? ''} exec: a command run through a function call, then an answer`, async (t) => {
      const from = oai.requests.length;
      const run = await runCodex({
        baseURL: `${ngx.base}/olla/proxy/v1`, cwd, home, proxy: trap.url, prompt: 'Use exec command to list the files',
      });
      const why = () => `exit ${run.code} after ${run.ms} ms${run.timedOut ? ' (killed: timeout)' : ''}\n`
        + `events: ${JSON.stringify(run.events).slice(0, 3000)}\nstderr: ${run.stderr.slice(-1500)}\n`
        + `access log:\n${ngx.accessLog().map((l) => l.line).join('\n')}`;
      t.diagnostic(`codex exec took ${run.ms} ms`);
      assert.equal(run.timedOut, false, why());
      assert.equal(run.code, 0, why());

      const types = run.events.map((e) => e.type);
      assert.ok(!types.includes('turn.failed') && !types.includes('error'), why());
      assert.equal(types.at(-1), 'turn.completed', why());
      const items = run.events.filter((e) => e.type === 'item.completed').map((e) => e.item);
      const cmd = items.find((i) => i.type === 'command_execution');
      assert.ok(cmd, `Codex ran the command the function call asked for: ${why()}`);
      assert.equal(typeof cmd.command, 'string');
      assert.ok(cmd.exit_code !== null && cmd.exit_code !== undefined, `the command ended: ${JSON.stringify(cmd)}`);
      const answer = items.filter((i) => i.type === 'agent_message').at(-1);
      assert.ok(answer && answer.text.trim().length > 0, `an answer: ${why()}`);
      const usage = run.events.at(-1).usage;
      assert.ok(usage.input_tokens > 5000, `Codex's whole prompt went through: ${JSON.stringify(usage)}`);
      assert.ok(usage.output_tokens > 0, JSON.stringify(usage));
      t.diagnostic(`usage ${JSON.stringify(usage)}`);

      // two Responses requests, both answered 200 by the gateway through
      // the openai-compatible endpoint
      const lines = await ngx.waitAccess((l) => l.method === 'POST' && l.uri.startsWith('/olla/proxy/'), 2);
      assert.deepEqual(lines.map((l) => `${l.method} ${l.uri} ${l.status} ${l.ep} ${l.type} ${l.ups_status}`),
        Array(2).fill('POST /olla/proxy/v1/responses 200 oai-1 openai-compatible 200'), why());
      t.diagnostic(`modes: ${lines.map((l) => l.mode).join(', ')}`);
      // ... translated: the backend saw chat completions, answered in full
      await oai.waitRequests((r) => r.method === 'POST', 2, from);
      assert.deepEqual(oai.requests.slice(from).filter((r) => r.method === 'POST').map((r) => `${r.method} ${r.url} ${r.status}`),
        Array(2).fill('POST /v1/chat/completions 200'));
      // nothing but the gateway
      assert.deepEqual(trap.seen, [], 'no network request besides the gateway');
    });

    test('error.log is clean', () => assertCleanLog(ngx));
  });
