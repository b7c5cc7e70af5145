// Claude Code (the `claude` CLI of @anthropic-ai/claude-code, pinned in
// package.json) run headless against the gateway, and what the tests need
// around it: the binary, the environment that makes it work with no
// Anthropic login and no network besides the gateway, a proxy that records
// any other connection it tries, and its stream-json output parsed.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODULES = path.resolve(here, '..', 'node_modules', '@anthropic-ai');

// The native binary: the platform package's own copy first (it does not
// depend on the wrapper's postinstall having run), then the wrapper's
// bin/claude.exe (a placeholder when the postinstall did not run).
// -> { bin, version } or { reason } when none runs here.
export function findClaude() {
  const arch = os.arch();
  const plat = process.platform;
  const keys = plat === 'linux' ? [`linux-${arch}`, `linux-${arch}-musl`] : [`${plat}-${arch}`];
  const candidates = [
    ...keys.map((k) => path.join(MODULES, `claude-code-${k}`, plat === 'win32' ? 'claude.exe' : 'claude')),
    path.join(MODULES, 'claude-code', 'bin', 'claude.exe'),
  ];
  const tried = [];
  for (const bin of candidates) {
    if (!fs.existsSync(bin)) { tried.push(`${bin}: missing`); continue; }
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH, HOME: os.tmpdir() } });
    const m = /^(\d+\.\d+\.\d+) \(Claude Code\)/m.exec(r.stdout || '');
    if (r.status === 0 && m) return { bin, version: m[1] };
    tried.push(`${bin}: ${r.error ? r.error.message : `exit ${r.status} ${(r.stderr || r.stdout || '').trim().slice(0, 200)}`}`);
  }
  return { reason: `no runnable claude binary (npm ci in t/e2e installs @anthropic-ai/claude-code): ${tried.join('; ')}` };
}

// The environment for `claude` against the gateway (what `make run` prints,
// plus what a test needs).  model: the DMR model; contextWindow: its context
// window, told to Claude Code (it does not know a local model's window and
// would otherwise assume 1,000,000 tokens and warn).
export function claudeEnv({ baseURL, model, contextWindow, home, proxy }) {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: baseURL,
    // a Bearer token: no /login, and no "use this API key?" question
    // (ANTHROPIC_API_KEY asks it in interactive sessions)
    ANTHROPIC_AUTH_TOKEN: 'not-needed',
    ANTHROPIC_MODEL: model,
    // the aliases (and the subagents that use them, Explore runs on haiku)
    ANTHROPIC_DEFAULT_OPUS_MODEL: model,
    ANTHROPIC_DEFAULT_SONNET_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    CLAUDE_CODE_SUBAGENT_MODEL: model,
    // no telemetry, error reporting, update check, model catalog, bootstrap
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    // a failed request fails the run at once (the default retries for minutes)
    CLAUDE_CODE_MAX_RETRIES: '0',
  };
  if (contextWindow) env.CLAUDE_CODE_MAX_CONTEXT_TOKENS = String(contextWindow);
  if (proxy) {
    // anything not for the gateway goes to the recording proxy
    env.HTTPS_PROXY = proxy;
    env.HTTP_PROXY = proxy;
    env.NO_PROXY = '127.0.0.1,localhost';
  }
  return env;
}

// An HTTP proxy that refuses everything and records what was asked of it
// (CONNECT host:port, or a proxied request line).
export async function startTrapProxy() {
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(403);
    res.end();
  });
  srv.on('connect', (req, sock) => {
    sock.on('error', () => {});
    seen.push(`CONNECT ${req.url}`);
    sock.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  srv.on('clientError', (e, sock) => sock.destroy());
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    seen,
    close: () => new Promise((resolve) => { srv.closeAllConnections?.(); srv.close(() => resolve()); }),
  };
}

// Runs `claude -p PROMPT` with stream-json output; resolves to
// { code, signal, ms, events, stderr, result, timedOut }.
export function runClaude({ bin, env, cwd, prompt, args = [], timeoutMs = 85000 }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(bin, ['-p', prompt, '--output-format', 'stream-json', '--verbose',
      '--include-partial-messages', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      const events = [];
      for (const line of out.split('\n')) {
        if (!line.trim()) continue;
        try { events.push(JSON.parse(line)); } catch { events.push({ type: 'unparsed', line }); }
      }
      resolve({
        code, signal, timedOut, ms: Date.now() - t0, events, stderr: err,
        result: events.filter((e) => e.type === 'result').at(-1),
      });
    });
  });
}

// The raw Messages API stream events Claude Code received, one array per
// API response (message_start ... message_stop).
export function apiStreams(events) {
  const streams = [];
  let cur = null;
  for (const e of events) {
    if (e.type !== 'stream_event' || !e.event || e.parent_tool_use_id) continue;
    if (e.event.type === 'message_start') { cur = []; streams.push(cur); }
    if (cur) cur.push(e.event);
    if (e.event.type === 'message_stop') cur = null;
  }
  return streams;
}

// The context window of a model as the gateway serves it: Anthropic's
// max_input_tokens on /olla/anthropic/v1/models when it is there, else the
// model record of /internal/status/models (DMR's dmr.context_window, or
// context_window, llama-server's meta.n_ctx_train, vLLM's max_model_len).
export async function gatewayContextWindow(ngx, model) {
  const same = (id) => id === model || id === `${model}:latest` || `${id}:latest` === model;
  try {
    const r = await fetch(`${ngx.anthropicBase}/v1/models`);
    if (r.ok) {
      const m = (await r.json()).data?.find((d) => same(d.id));
      if (Number.isInteger(m?.max_input_tokens)) return { window: m.max_input_tokens, from: '/olla/anthropic/v1/models max_input_tokens' };
    }
  } catch { /* fall through */ }
  // the gateway learns the model list with its first health check: wait
  const deadline = Date.now() + 10000;
  for (;;) {
    const r = await fetch(`${ngx.base}/internal/status/models`);
    const rec = (await r.json()).models?.find((x) => same(x.model?.id));
    const m = rec?.model || {};
    const w = m.dmr?.context_window ?? m.context_window ?? m.meta?.n_ctx_train ?? m.max_model_len;
    if (w !== undefined || Date.now() > deadline) return { window: w, from: '/internal/status/models' };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
