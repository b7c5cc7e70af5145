#!/usr/bin/env node
// make bench-routing: Olla's routing policy against the inference-aware one,
// side by side in one run, on DMR stand-ins (tools/dmr-standin: real
// llama.cpp inference, per-slot prompt cache, /engines/ps, lazy loads).
//
// Policies (the same nginx config otherwise, olla_load_balancer
// least-connections in both):
//   olla              olla_resident_first off; olla_affinity off;
//                     olla_prewarm off;  (what Olla does)
//   inference-aware   the defaults (resident first, conversation affinity
//                     with bounded loads, pre-warming)
//
// Workloads (each policy on fresh stand-ins and a fresh nginx):
//   a  cold vs resident: the model is resident on one stand-in (loaded
//      there with X-Preload-Only before nginx starts) and cold on the
//      others, whose loads take --load-delay-ms; short chat requests:
//      sequential, then in pairs, then sequential again.  Counts the
//      stand-ins' loads and the requests that waited for one.
//   b  concurrent Claude-Code-shaped conversations (Anthropic Messages,
//      streamed, passthrough to DMR): a long shared system prompt and tool
//      list, distinct tasks, TURNS turns each (tool results appended),
//      CONVS conversations at once; the model is resident everywhere.
//      Time to first token, prompt tokens evaluated vs read from the
//      stand-ins' prompt cache.
//   c  as b, with a different system prompt and tool list per
//      conversation: no two conversations compete for one llama.cpp slot.
//
// Writes BR_OUT/report.md (printed too) and BR_OUT/results.json (every
// request); `drive.mjs --report results.json` prints the report again.  Knobs (environment, defaults in brackets):
//   BR_STANDINS [3]  BR_LOAD_DELAY_MS [4000]  BR_CONVS [6]  BR_TURNS [7]
//   BR_MAX_TOKENS [24]  BR_CTX [32768]  BR_SEED [1]  BR_THINK_MS [1000-3000]
//   BR_STAGGER_MS [3000]  BR_WORKLOADS [a,b,c]  BR_POLICIES [olla,inference-aware]
//   BR_ROUNDS_A [1]  BR_ROUNDS_B [1] (rounds of b and c, policies alternating)
//   BR_SYSTEM_BYTES [8000]  BR_TOOL_BYTES [6000]  BR_TASK_BYTES [4000]
//   BR_RESULT_BYTES [4000,600,1500,400,2500,800,1200] (per turn, cycled)
//   BR_OUT [build/bench-routing]  NGINX_BIN, OLLA_MODULE (as t/e2e)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

import { ROOT, startNginx, startStandin, waitEndpoints, sleep, NGINX_BIN, MODULE_SO }
  from '../../t/e2e/lib/harness.mjs';
import * as W from './workload.mjs';

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const num = (k, d) => Number(env(k, d));

const CFG = {
  standins: num('BR_STANDINS', 3),
  loadDelayMs: num('BR_LOAD_DELAY_MS', 4000),
  convs: num('BR_CONVS', 6),
  turns: num('BR_TURNS', 7),
  maxTokens: num('BR_MAX_TOKENS', 24),
  ctx: num('BR_CTX', 32768),
  seed: num('BR_SEED', 1),
  think: env('BR_THINK_MS', '1000-3000').split('-').map(Number),
  staggerMs: num('BR_STAGGER_MS', 3000),
  workloads: env('BR_WORKLOADS', 'a,b,c').split(',').filter(Boolean),
  roundsA: num('BR_ROUNDS_A', 1),
  roundsB: num('BR_ROUNDS_B', 1),
  policies: env('BR_POLICIES', 'olla,inference-aware').split(',').filter(Boolean),
  systemBytes: num('BR_SYSTEM_BYTES', 8000),
  toolBytes: num('BR_TOOL_BYTES', 6000),
  taskBytes: num('BR_TASK_BYTES', 4000),
  resultBytes: env('BR_RESULT_BYTES', '4000,600,1500,400,2500,800,1200').split(',').map(Number),
  out: path.resolve(ROOT, env('BR_OUT', 'build/bench-routing')),
};

const MODEL = 'ai/smollm2';

const POLICIES = {
  olla: ['olla_load_balancer least-connections;', 'olla_resident_first off;',
    'olla_affinity off;', 'olla_prewarm off;'],
  'inference-aware': ['olla_load_balancer least-connections;'],
};

const log = (...a) => process.stderr.write(`bench-routing: ${a.join(' ')}\n`);
const load1 = () => os.loadavg()[0];

// CPU time (s) used by the whole machine and by this process's tree (the
// driver, its stand-ins, nginx and its workers), from /proc: what other
// processes used during a phase is the difference.
const CLK = 100; // USER_HZ
function cpuSnapshot() {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]) / CLK; // user nice system irq softirq steal
    const procs = new Map();
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / CLK });
      } catch { /* gone */ }
    }
    const mine = new Set([process.pid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, p] of procs) if (!mine.has(pid) && mine.has(p.ppid)) { mine.add(pid); grew = true; }
    }
    let own = 0;
    for (const pid of mine) own += procs.get(pid)?.cpu ?? 0;
    return { t: performance.now(), busy, own, pids: mine };
  } catch {
    return null;
  }
}
// cores busy on average between two snapshots: [total, ours, others]
function cpuBetween(a, b) {
  if (!a || !b) return null;
  const dt = (b.t - a.t) / 1000;
  // our processes that existed at both ends (nginx workers, stand-ins)
  const total = (b.busy - a.busy) / dt;
  const own = (b.own - a.own) / dt;
  return { total, own, other: Math.max(0, total - own) };
}

// ------------------------------------------------------------------ stats

function quantile(xs, q) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  // nearest rank
  const i = Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1));
  return a[i];
}
const sum = (xs) => xs.reduce((s, x) => s + (Number.isFinite(x) ? x : 0), 0);
const ms = (x) => (Number.isFinite(x) ? (x >= 10000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`) : '-');
const sec = (x) => (Number.isFinite(x) ? `${(x / 1000).toFixed(1)} s` : '-');

// ------------------------------------------------------------- the setup

async function preload(s) {
  const t0 = performance.now();
  const r = await fetch(`${s.url}/engines/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-Preload-Only': 'true' },
    body: JSON.stringify({ model: MODEL }),
  });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`preload on ${s.url}: HTTP ${r.status}`);
  return performance.now() - t0;
}

const isModel = (m) => /^ai\/smollm2(:latest)?$/i.test(m.model ?? '');
const residentOn = (e) => (e.residency?.models ?? []).some((m) => isModel(m) && m.state === 'resident');

async function setup(policy, preloadIdx) {
  const args = ['--load-delay-ms', String(CFG.loadDelayMs), '--ctx-size', String(CFG.ctx)];
  const ss = await Promise.all([...Array(CFG.standins).keys()].map(() => startStandin({ list: 'store', args })));
  const names = ss.map((_, i) => `dmr-${i + 1}`);
  // loaded before nginx starts: the gateway learns it from /engines/ps
  const preloadMs = await Promise.all(preloadIdx.map((i) => preload(ss[i])));
  const ngx = await startNginx({
    endpoints: ss.map((s, i) => ({ url: s.url, name: names[i] })),
    checkInterval: '2s',
    checkTimeout: '1s',
    upstreamExtra: POLICIES[policy],
    // as conf.examples/: Claude Code's bodies stay in memory
    locationExtra: ['client_body_buffer_size 10m;', 'client_max_body_size 10m;',
      'add_header X-Olla-Route-Reason $olla_route_reason always;'],
  });
  await waitEndpoints(ngx, (eps) => names.every((n) => {
    const e = eps.find((x) => x.name === n);
    return e && e.status === 'healthy' && e.residency?.checked
      && residentOn(e) === preloadIdx.includes(names.indexOf(n));
  }), { timeoutMs: 30000, what: `all healthy, the model resident on ${preloadIdx.map((i) => names[i])} only` });
  const loadsBefore = ss.map((s) => s.loads.length);
  return { ss, ngx, names, loadsBefore, preloadMs };
}

async function teardown({ ss, ngx }) {
  await ngx.stop();
  await Promise.all(ss.map((s) => s.stop()));
}

// Facts after a phase: loads per stand-in since the setup, the gateway's
// decisions and pre-warms, the stand-ins' /engines/ps.
async function facts(env_) {
  const { ss, ngx, names, loadsBefore } = env_;
  const status = (await ngx.endpoints()).endpoints;
  const ps = await Promise.all(ss.map(async (s) => (await fetch(`${s.url}/engines/ps`)).json()));
  return names.map((n, i) => {
    const e = status.find((x) => x.name === n);
    return {
      name: n,
      loads: ss[i].loads.slice(loadsBefore[i]).filter((l) => l.mode === 'completion').length,
      loadMs: ss[i].loads.slice(loadsBefore[i]).map((l) => l.ms),
      preloads: e.preloads,
      decisions: e.decisions,
      requests: e.requests,
      ps: ps[i].filter((p) => p.mode === 'completion').map((p) => p.model_name + (p.loading ? ' (loading)' : '')),
    };
  });
}

// -------------------------------------------------------------- streaming

// Reads an SSE body; calls onData(json) for each data: line; returns when
// the stream ends.
async function readSSE(body, onData) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of ev.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const d = line.slice(5).trim();
        if (d === '[DONE]') continue;
        try { onData(JSON.parse(d)); } catch { /* not JSON */ }
      }
    }
  }
}

// One streamed OpenAI chat completion through the gateway.
async function chatStream(ngx, body, rid) {
  const t0 = performance.now();
  const rec = { rid, status: 0, ttft: NaN, total: NaN, endpoint: null, reason: null, prompt_n: NaN, cache_n: NaN };
  try {
    const r = await fetch(`${ngx.openaiBase}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Request-ID': rid },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    rec.status = r.status;
    rec.endpoint = r.headers.get('x-olla-endpoint');
    rec.reason = r.headers.get('x-olla-route-reason');
    if (r.status !== 200) { rec.error = (await r.text()).slice(0, 300); return rec; }
    await readSSE(r.body, (j) => {
      const d = j.choices?.[0]?.delta;
      if (Number.isNaN(rec.ttft) && d && typeof d.content === 'string' && d.content.length) {
        rec.ttft = performance.now() - t0;
      }
      if (j.timings) { rec.prompt_n = j.timings.prompt_n; rec.cache_n = j.timings.cache_n; }
    });
  } catch (e) {
    rec.error = String(e);
  }
  rec.total = performance.now() - t0;
  return rec;
}

// One streamed Anthropic Messages request through the gateway (DMR
// passthrough): first content delta, usage, the answer's text.
async function messagesStream(ngx, body, rid) {
  const t0 = performance.now();
  const rec = { rid, status: 0, ttft: NaN, total: NaN, endpoint: null, reason: null, prompt_n: NaN, cache_n: NaN, text: '' };
  try {
    const r = await fetch(`${ngx.anthropicBase}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'X-Request-ID': rid },
      body: JSON.stringify(body),
    });
    rec.status = r.status;
    rec.endpoint = r.headers.get('x-olla-endpoint');
    rec.reason = r.headers.get('x-olla-route-reason');
    if (r.status !== 200) { rec.error = (await r.text()).slice(0, 300); return rec; }
    await readSSE(r.body, (j) => {
      if (j.type === 'message_start') {
        const u = j.message?.usage ?? {};
        rec.prompt_n = u.input_tokens;
        rec.cache_n = u.cache_read_input_tokens ?? 0;
      } else if (j.type === 'content_block_delta') {
        if (Number.isNaN(rec.ttft)) rec.ttft = performance.now() - t0;
        if (j.delta?.type === 'text_delta') rec.text += j.delta.text;
      }
    });
  } catch (e) {
    rec.error = String(e);
  }
  rec.total = performance.now() - t0;
  return rec;
}

// -------------------------------------------------------------- workloads

// a: the model resident on dmr-1 only; 8 sequential requests, 6 in pairs,
// 6 sequential again.
async function workloadA(policy) {
  const env_ = await setup(policy, [0]);
  const r = W.rng(CFG.seed);
  const system = 'You are a helpful assistant. ' + W.prose(r, 1000);
  const body = (i) => ({
    model: MODEL, max_tokens: 16, temperature: 0,
    messages: [{ role: 'system', content: system }, { role: 'user', content: `Question ${i}: ${W.prose(r, 200)}` }],
  });
  const recs = [];
  const cpu0 = cpuSnapshot();
  const t0 = performance.now();
  const loadStart = load1();
  let i = 0;
  const one = async (stage) => {
    const k = i++;
    const rec = await chatStream(env_.ngx, body(k), `a-${policy}-${k}`);
    rec.stage = stage;
    recs.push(rec);
  };
  for (let k = 0; k < 8; k++) await one('sequential');
  for (let k = 0; k < 3; k++) await Promise.all([one('pairs'), one('pairs')]);
  for (let k = 0; k < 6; k++) await one('sequential, after');
  const wall = performance.now() - t0;
  // pre-warm loads end after the requests: wait for the stand-ins to be
  // done loading (nothing "loading" in /engines/ps)
  const deadline = Date.now() + CFG.loadDelayMs * 3 + 10000;
  for (;;) {
    const ps = await Promise.all(env_.ss.map(async (s) => (await fetch(`${s.url}/engines/ps`)).json()));
    if (ps.every((p) => p.every((e) => !e.loading)) || Date.now() > deadline) break;
    await sleep(200);
  }
  const cpu = cpuBetween(cpu0, cpuSnapshot());
  const f = await facts(env_);
  const res = { workload: 'a', policy, wall, recs, facts: f, load: [loadStart, load1()], cpu, preloadMs: env_.preloadMs };
  await teardown(env_);
  return res;
}

// b, c: CONVS concurrent conversations of TURNS turns, the model resident
// on every stand-in.  b: one system prompt and tool list for all (Claude
// Code's); c: a different one for each conversation (of the same size).
async function workloadConv(policy, w) {
  const env_ = await setup(policy, [...Array(CFG.standins).keys()]);
  const sharedOf = (c) => W.sharedPrefix({
    seed: w === 'b' ? CFG.seed : CFG.seed * 1000 + c + 1, systemBytes: CFG.systemBytes, toolBytes: CFG.toolBytes,
  });
  if (w === 'b') {
    // The stand-ins have served Claude Code before: one request each with
    // the shared prefix (and another task), sent to them directly, leaves
    // it in one slot of every stand-in.
    const warm = W.conversation(10000, { seed: CFG.seed, taskBytes: CFG.taskBytes, turns: 1 });
    await Promise.all(env_.ss.map(async (s) => {
      const body = W.messagesBody({ model: MODEL, shared: sharedOf(0), conv: warm, answers: [], t: 0, maxTokens: 1 });
      const r = await fetch(`${s.url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ ...body, stream: false }),
      });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`warm-up on ${s.url}: HTTP ${r.status}`);
    }));
  }
  const recs = [];
  const loadStart = load1();
  const cpu0 = cpuSnapshot();
  const t0 = performance.now();
  const thinkR = W.rng(CFG.seed + 99);
  const thinks = [...Array(CFG.convs * CFG.turns)].map(() => CFG.think[0]
    + Math.floor(thinkR() * ((CFG.think[1] ?? CFG.think[0]) - CFG.think[0])));
  await Promise.all([...Array(CFG.convs).keys()].map(async (c) => {
    await sleep(c * CFG.staggerMs);
    const shared = sharedOf(c);
    const conv = W.conversation(c, {
      seed: CFG.seed, taskBytes: CFG.taskBytes, turns: CFG.turns, resultBytes: CFG.resultBytes,
    });
    const answers = [];
    for (let t = 0; t < CFG.turns; t++) {
      const body = W.messagesBody({ model: MODEL, shared, conv, answers, t, maxTokens: CFG.maxTokens });
      const rec = await messagesStream(env_.ngx, body, `${w}-${policy}-${c}-${t}`);
      rec.conv = c;
      rec.turn = t;
      rec.bytes = JSON.stringify(body).length;
      recs.push(rec);
      answers.push(rec.text.trim() || 'Let me look at the file.');
      delete rec.text;
      if (t + 1 < CFG.turns) await sleep(thinks[c * CFG.turns + t]);
    }
  }));
  const wall = performance.now() - t0;
  const cpu = cpuBetween(cpu0, cpuSnapshot());
  const f = await facts(env_);
  const res = { workload: w, policy, wall, recs, facts: f, load: [loadStart, load1()], cpu };
  await teardown(env_);
  return res;
}

// ---------------------------------------------------------------- report

function summarize(res) {
  const ok = res.recs.filter((r) => r.status === 200 && !r.error);
  const later = ok.filter((r) => r.turn === undefined || r.turn > 0);
  const s = {
    requests: res.recs.length,
    errors: res.recs.length - ok.length,
    ttftP50: quantile(ok.map((r) => r.ttft), 0.5),
    ttftP95: quantile(ok.map((r) => r.ttft), 0.95),
    ttftMax: quantile(ok.map((r) => r.ttft), 1),
    ttftLaterP50: quantile(later.map((r) => r.ttft), 0.5),
    totalP50: quantile(ok.map((r) => r.total), 0.5),
    wall: res.wall,
    promptN: sum(ok.map((r) => r.prompt_n)),
    cacheN: sum(ok.map((r) => r.cache_n)),
    loads: sum(res.facts.map((f) => f.loads)),
    prewarms: sum(res.facts.map((f) => f.preloads)),
    waited: ok.filter((r) => r.ttft >= CFG.loadDelayMs * 0.75).length,
    perEndpoint: Object.fromEntries(res.facts.map((f) => [f.name, ok.filter((r) => r.endpoint === f.name).length])),
    reasons: {},
    moved: 0,
  };
  for (const r of ok) s.reasons[r.reason ?? '?'] = (s.reasons[r.reason ?? '?'] ?? 0) + 1;
  if (res.workload !== 'a') {
    const byConv = new Map();
    for (const r of ok) {
      if (!byConv.has(r.conv)) byConv.set(r.conv, []);
      byConv.get(r.conv).push(r);
    }
    s.own = 0;
    s.laterTurns = 0;
    s.hitTtft = [];
    s.missTtft = [];
    for (const rs of byConv.values()) {
      rs.sort((x, y) => x.turn - y.turn);
      for (let k = 1; k < rs.length; k++) {
        if (rs[k].turn !== rs[k - 1].turn + 1) continue;
        s.laterTurns++;
        if (rs[k].endpoint !== rs[k - 1].endpoint) s.moved++;
        // the conversation's whole previous prompt came from the cache
        if (rs[k].cache_n >= 0.95 * (rs[k - 1].prompt_n + rs[k - 1].cache_n)) {
          s.own++;
          s.hitTtft.push(rs[k].ttft);
        } else {
          s.missTtft.push(rs[k].ttft);
        }
      }
    }
    s.convEndpoints = [...byConv.entries()]
      .sort((x, y) => String(x[0]).localeCompare(String(y[0]), 'en', { numeric: true }))
      .map(([c, rs]) => `${String(c).includes(':') ? `r${String(c).replace(':', 'c')}` : `c${c}`}:${rs.map((r) => r.endpoint?.replace('dmr-', '') ?? '?').join('')}`).join(' ');
  }
  return s;
}

const fmtReasons = (o) => Object.entries(o).sort().map(([k, v]) => `${k} ${v}`).join(', ');
const fmtSpread = (o) => Object.entries(o).map(([k, v]) => `${k.replace('dmr-', '#')}: ${v}`).join(', ');

function machine() {
  let cpu = '';
  try {
    cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? '';
  } catch { /* not Linux */ }
  const nginxV = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' }).stderr ?? '';
  return {
    cores: os.cpus().length, cpu, memGiB: (os.totalmem() / 2 ** 30).toFixed(0),
    node: process.version, nginx: nginxV.trim().replace(/^nginx version: /, ''), kernel: os.release(),
  };
}

// The rounds of one workload and policy as one result: requests pooled
// (conversations renamed per round), loads summed, wall time averaged.
function pooled(results, w, p) {
  const rs = results.filter((x) => x.workload === w && x.policy === p);
  if (rs.length === 0) return undefined;
  if (rs.length === 1) return rs[0];
  return {
    workload: w,
    policy: p,
    rounds: rs,
    wall: rs.reduce((t, x) => t + x.wall, 0) / rs.length,
    recs: rs.flatMap((x) => x.recs.map((r) => (r.conv === undefined ? r : { ...r, conv: `${x.round}:${r.conv}` }))),
    facts: rs.flatMap((x) => x.facts),
    load: rs[0].load,
  };
}

function convSection(L, results, w) {
  const get = (p) => pooled(results, w, p);
  const ia = 'inference-aware';
  const sh = W.sharedPrefix({ seed: CFG.seed, systemBytes: CFG.systemBytes, toolBytes: CFG.toolBytes });
  const sharedBytes = JSON.stringify({ system: sh.system, tools: sh.tools, reminder: sh.reminder }).length;
  const bs = (get(CFG.policies[0])?.recs ?? []).filter((x) => x.bytes);
  const first = quantile(bs.filter((x) => x.turn === 0).map((x) => x.bytes), 0.5);
  const last = quantile(bs.filter((x) => x.turn === CFG.turns - 1).map((x) => x.bytes), 0.5);
  if (w === 'b') {
    L.push('## (b) concurrent Claude-Code-shaped conversations');
    L.push('');
    L.push(`${CFG.convs} conversations at once (started ${CFG.staggerMs} ms apart), ${CFG.turns} turns each, Anthropic Messages `
      + `streamed through /olla/anthropic (DMR passthrough), max_tokens ${CFG.maxTokens}, ${CFG.think.join('-')} ms between turns `
      + `(the tool "runs").  Shared by all: system prompt + ${sh.tools.length} tools + the CLAUDE.md reminder, ${(sharedBytes / 1024).toFixed(0)} KB; `
      + `per conversation a distinct task (a request and an @-mentioned file, ${(CFG.taskBytes / 1024).toFixed(1)} KB), then per turn an assistant `
      + `tool_use and a tool_result (${CFG.resultBytes.join(', ')} bytes, cycled). `
      + `Bodies grow from ${(first / 1024).toFixed(0)} KB (turn 1) to ${(last / 1024).toFixed(0)} KB (turn ${CFG.turns}); `
      + 'billing-header cch= stamp new in every request, cache_control moving to the newest message.  The model is resident on every stand-in, '
      + 'and each has the shared prefix in one slot (a warm-up request sent to it directly).');
  } else {
    L.push('## (c) the same conversations, a different system prompt and tool list each');
    L.push('');
    L.push('As (b), but every conversation has its own system prompt, tools and reminder (same sizes, different text), and no warm-up: '
      + 'a llama.cpp slot then holds one conversation and nothing else matches it, so a conversation\'s prefix survives on the '
      + 'endpoint it was served by (as it would with llama-server\'s host-RAM prompt cache, which the stand-in does not model) - '
      + 'and a turn sent elsewhere re-evaluates the whole prompt.');
  }
  L.push('');
  L.push('| policy | TTFT p50 | TTFT p95 | TTFT p50, turns 2+ | request p50 | wall | prompt tokens evaluated | read from cache | cached share | turns 2+ that changed endpoint | turns 2+ that reused their history | cold loads | route reasons |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const p of CFG.policies) {
    const r = get(p);
    if (!r) continue;
    const s = summarize(r);
    L.push(`| ${p} | ${ms(s.ttftP50)} | ${ms(s.ttftP95)} | ${ms(s.ttftLaterP50)} | ${ms(s.totalP50)} | ${sec(s.wall)} | `
      + `${s.promptN.toLocaleString('en')} | ${s.cacheN.toLocaleString('en')} | ${((100 * s.cacheN) / (s.cacheN + s.promptN)).toFixed(0)} % | `
      + `${s.moved} of ${s.laterTurns} | ${s.own} of ${s.laterTurns} | ${s.loads} | ${fmtReasons(s.reasons)} |`);
  }
  L.push('');
  if (CFG.roundsB > 1) {
    L.push('Each round on its own (TTFT p50 / p95, prompt tokens evaluated, wall):');
    L.push('');
    for (const r of results.filter((x) => x.workload === w)) {
      const s = summarize(r);
      L.push(`- round ${r.round}, ${r.policy}: ${ms(s.ttftP50)} / ${ms(s.ttftP95)}, ${s.promptN.toLocaleString('en')}, ${sec(s.wall)}`);
    }
    L.push('');
  }
  for (const p of CFG.policies) {
    const r = get(p);
    if (!r) continue;
    const s = summarize(r);
    L.push(`- ${p}: endpoints per turn ${s.convEndpoints}; requests per endpoint ${fmtSpread(s.perEndpoint)}${s.errors ? `; **${s.errors} errors**` : ''}`);
  }
  L.push('');
  L.push('Turns 2+ by whether the stand-in had the conversation\'s whole previous prompt cached (TTFT p50, count):');
  L.push('');
  for (const p of CFG.policies) {
    const r = get(p);
    if (!r) continue;
    const s = summarize(r);
    L.push(`- ${p}: history reused ${ms(quantile(s.hitTtft, 0.5))} (${s.hitTtft.length}), `
      + `re-evaluated ${ms(quantile(s.missTtft, 0.5))} (${s.missTtft.length})`);
  }
  L.push('');
  const o = get('olla');
  const a = get(ia);
  if (o && a) {
    const so = summarize(o);
    const sa = summarize(a);
    L.push('Per turn, TTFT p50 (olla / inference-aware):');
    L.push('');
    L.push(`| turn | ${[...Array(CFG.turns).keys()].map((t) => t + 1).join(' | ')} |`);
    L.push(`|---|${[...Array(CFG.turns).keys()].map(() => '---').join('|')}|`);
    const row = (res) => [...Array(CFG.turns).keys()].map((t) => ms(quantile(res.recs.filter((x) => x.turn === t && x.status === 200).map((x) => x.ttft), 0.5)));
    L.push(`| olla | ${row(o).join(' | ')} |`);
    L.push(`| ${ia} | ${row(a).join(' | ')} |`);
    L.push('');
    L.push(`Median TTFT ratio olla / inference-aware: **${(so.ttftP50 / sa.ttftP50).toFixed(2)}x** (all turns), `
      + `${(so.ttftLaterP50 / sa.ttftLaterP50).toFixed(2)}x (turns 2+); p95 ${(so.ttftP95 / sa.ttftP95).toFixed(2)}x; `
      + `prompt tokens evaluated ${(so.promptN / sa.promptN).toFixed(2)}x; wall ${(so.wall / sa.wall).toFixed(2)}x.`);
    L.push('');
  }
}

function report(results, started, m) {
  const L = [];
  const get = (w, p) => pooled(results, w, p);
  L.push('# Routing benchmark: resident models and conversation affinity');
  L.push('');
  L.push(`${new Date(started).toISOString()}; ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB; node ${m.node}; nginx ${m.nginx}; `
    + `module ${path.relative(ROOT, MODULE_SO)}.`);
  L.push('Phases in the order they ran, with the 1-minute load average at their start and the cores busy during them '
    + '(all processes / the benchmark\'s own: driver, stand-ins, nginx / other processes on the machine):');
  L.push('');
  for (const r of results) {
    const c = r.cpu;
    L.push(`- ${r.workload}/${r.policy}${r.round ? ` round ${r.round}` : ''}: load ${r.load[0].toFixed(2)}; `
      + (c ? `cores busy ${c.total.toFixed(2)} / ${c.own.toFixed(2)} / ${c.other.toFixed(2)}` : 'cores busy: unknown'));
  }
  L.push('');
  L.push(`${CFG.standins} DMR stand-ins (tools/dmr-standin, real llama.cpp, 4 slots each with their own prompt cache, `
    + `--ctx-size ${CFG.ctx}, cold load --load-delay-ms ${CFG.loadDelayMs}), fresh for every phase; nginx with 2 workers, `
    + 'check_interval=2s.  Policies: **olla** = `olla_load_balancer least-connections; olla_resident_first off; '
    + 'olla_affinity off; olla_prewarm off;` (Olla\'s routing); **inference-aware** = the defaults.');
  L.push('');
  const ia = 'inference-aware';
  if (CFG.workloads.includes('a')) {
    L.push('## (a) cold vs resident');
    L.push('');
    L.push(`The model is resident on dmr-1 (X-Preload-Only before nginx starts) and cold on the other ${CFG.standins - 1}; `
      + 'every endpoint lists it (DMR lists its whole store).  20 streamed chat requests with distinct openings: 8 one at a time, '
      + '6 in pairs, 6 one at a time.');
    L.push('');
    L.push('| policy | TTFT p50 | TTFT p95 | TTFT max | wall | cold loads (stand-ins) | of them pre-warms | requests that waited for a load | requests per endpoint | route reasons |');
    L.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const p of CFG.policies) {
      const r = get('a', p);
      if (!r) continue;
      const s = summarize(r);
      L.push(`| ${p} | ${ms(s.ttftP50)} | ${ms(s.ttftP95)} | ${ms(s.ttftMax)} | ${sec(s.wall)} | ${s.loads} | ${s.prewarms} | ${s.waited} | ${fmtSpread(s.perEndpoint)} | ${fmtReasons(s.reasons)} |`);
    }
    L.push('');
    for (const p of CFG.policies) {
      const r = get('a', p);
      if (!r) continue;
      L.push(`- ${p}: ${r.recs.map((x) => `${x.endpoint?.replace('dmr-', '#') ?? x.status}${x.ttft >= CFG.loadDelayMs * 0.75 ? `(${(x.ttft / 1000).toFixed(1)}s)` : ''}`).join(' ')}`
        + `; /engines/ps after: ${r.facts.map((f) => `${f.name} [${f.ps.join(', ')}]`).join(', ')}`);
    }
    L.push('');
  }
  for (const w of ['b', 'c'].filter((x) => CFG.workloads.includes(x))) convSection(L, results, w);
  L.push('## Targets');
  L.push('');
  for (const w of ['b', 'c']) {
    const bo = get(w, 'olla');
    const ba = get(w, ia);
    if (bo && ba) {
      const ratio = summarize(bo).ttftP50 / summarize(ba).ttftP50;
      L.push(`- (${w}) median TTFT at least 3x lower than least-connections: ${ratio >= 3 ? '**met**' : '**missed**'} (${ratio.toFixed(2)}x).`);
    }
  }
  const aa = get('a', ia);
  if (aa) {
    const s = summarize(aa);
    const cold = aa.recs.filter((x) => x.reason === 'cold' || x.reason === 'loading').length;
    L.push(`- (a) no avoidable cold load: ${s.loads === 0 && s.waited === 0 ? '**met**' : '**missed**'} `
      + `(inference-aware: ${s.loads} load(s) on the cold stand-ins, ${s.prewarms} of them pre-warms started by the gateway; `
      + `${s.waited} request(s) waited for a load; ${cold} routed with reason cold/loading).`);
  }
  L.push('');
  return L.join('\n');
}

// ------------------------------------------------------------------ main

// drive.mjs --report FILE: the report of an earlier run's results.json
function rereport(file) {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  Object.assign(CFG, j.config);
  const started = Date.parse(j.started ?? '') || Date.now();
  process.stdout.write(report(j.results, started, j.machine) + (j.tail ?? ''));
}

async function main() {
  if (process.argv[2] === '--report') {
    rereport(process.argv[3]);
    return;
  }
  fs.mkdirSync(CFG.out, { recursive: true });
  const started = Date.now();
  const m = machine();
  log(`${m.cores} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; workloads ${CFG.workloads}, policies ${CFG.policies}`);
  const results = [];
  for (const p of CFG.policies) if (!POLICIES[p]) throw new Error(`unknown policy ${p}`);
  for (const w of CFG.workloads) {
    const rounds = w === 'a' ? CFG.roundsA : CFG.roundsB;
    for (let round = 1; round <= rounds; round++) {
      // alternate the order (A B, B A, ...) across rounds and workloads:
      // drifts in the machine's load hit both policies alike
      const order = (round + CFG.workloads.indexOf(w)) % 2 ? [...CFG.policies].reverse() : CFG.policies;
      for (const p of order) {
        log(`workload ${w}, round ${round}, policy ${p}: starting (load ${load1().toFixed(2)})`);
        const t = performance.now();
        const res = w === 'a' ? await workloadA(p) : await workloadConv(p, w);
        res.round = round;
        const s = summarize(res);
        log(`workload ${w}, round ${round}, policy ${p}: ${s.requests} requests, ${s.errors} errors, TTFT p50 ${ms(s.ttftP50)} `
          + `p95 ${ms(s.ttftP95)}, wall ${sec(s.wall)}, loads ${s.loads} (${s.prewarms} pre-warms), evaluated ${s.promptN} `
          + `cached ${s.cacheN}, cores busy ${res.cpu ? `${res.cpu.total.toFixed(2)} (others ${res.cpu.other.toFixed(2)})` : '?'} `
          + `(phase ${sec(performance.now() - t)})`);
        results.push(res);
      }
    }
  }
  const tail = `\nRun time ${sec(Date.now() - started)}; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}.\n`;
  const md = report(results, started, m) + tail;
  fs.writeFileSync(path.join(CFG.out, 'report.md'), md);
  fs.writeFileSync(path.join(CFG.out, 'results.json'),
    JSON.stringify({ config: CFG, machine: m, started: new Date(started).toISOString(), tail, results }, null, 1));
  process.stdout.write(md);
  const errors = results.reduce((n, r) => n + summarize(r).errors, 0);
  if (errors) {
    log(`${errors} request(s) failed; see ${path.join(CFG.out, 'results.json')}`);
    process.exit(1);
  }
}

main().then(() => process.exit(0), (e) => { log(e.stack || String(e)); process.exit(1); });
