#!/usr/bin/env node
// make-gguf.js: write a tiny llama-architecture GGUF v3 model with random
// weights, for the DMR stand-in.  No dependencies beyond node.
//
//   node make-gguf.js [--out models/tiny-llama.gguf] [--seed 20250101] [--force]
//
// The model is real as far as llama.cpp is concerned (llama arch, SPM
// tokenizer with byte fallback, F32 tensors with the usual names and
// shapes); its weights are random, so its text is nonsense.  The weights are
// shaped so that the nonsense is made of whole English words, and so that it
// ends by itself now and then (an end-of-sequence bias), instead of always
// running until max_tokens:
//   - embedding dimension 0 is a constant "bias" channel: every token
//     embedding has BIAS_CHANNEL there and no layer writes into it, so after
//     the final RMS norm it is a nearly constant positive number;
//   - output rows use it as a per-token bias: word and punctuation tokens get
//     0, EOS gets a moderate bias, every other token (bytes, word prefixes,
//     control tokens) a large negative one, so they are (practically) never
//     sampled.  The tokenizer still uses them for input text.
// The output is deterministic for a given seed (same bytes every time).

'use strict';

const fs = require('fs');
const path = require('path');

const GENERATOR_VERSION = 1;

// ------------------------------------------------------------------ config

const HP = {
  n_embd: 64,
  n_layer: 2,
  n_head: 4,
  n_head_kv: 4,
  n_ff: 192,
  context_length: 131072,
  rope_freq_base: 10000.0,
  norm_eps: 1e-5,
};

const BIAS_CHANNEL = 3.0;     // value of embedding dim 0 for every token
const EOS_BIAS = 1.0;         // output-row weight of EOS on the bias channel
const BAD_BIAS = -12.0;       // output-row weight of never-generated tokens
const OUT_STD = 0.30;         // std of the other output weights (logit spread)

// Words of the vocabulary (the model "speaks" these).  Lower case.
const WORDS = (`
the of and to in is it you that he was for on are with as his they be at one
have this from or had by word but what some we can out other were all there
when up use your how said an each she which do their time if will way about
many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take
get place made live where after back little only round man year came show
every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too
same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother
world near build self earth father head stand own page should country found
answer school grow study still learn plant cover food sun four between state
keep eye never last let thought city tree cross farm hard start might story saw
far sea draw left late run while press close night real life few north open
seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second
book carry took science eat room friend began idea fish mountain stop once base
hear horse cut sure watch color face wood main enough plain girl usual young
ready above ever red list though feel talk bird soon body dog family direct
pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew
pass since top whole king space heard best hour better true during hundred five
remember step early hold west ground interest reach fast verb sing listen six
table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern
pull cold notice voice unit power town fine certain fly fall lead cry dark
machine note wait plan figure star box noun field rest correct able pound done
beauty drive stood contain front teach week final gave green oh quick develop
ocean warm free minute strong special mind behind clear tail produce fact
street inch multiply nothing course stay wheel full force blue object decide
surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among
container model runner engine token stream gateway docker server request
`).trim().split(/\s+/);

const PUNCT = [',', '.', '!', '?', ':', ';'];

// ------------------------------------------------------------------ rng

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalSource(seed) {
  const u = mulberry32(seed);
  let spare = null;
  return function () {
    if (spare !== null) { const s = spare; spare = null; return s; }
    let a, b;
    do { a = u(); } while (a <= 1e-12);
    b = u();
    const r = Math.sqrt(-2 * Math.log(a));
    spare = r * Math.sin(2 * Math.PI * b);
    return r * Math.cos(2 * Math.PI * b);
  };
}

// ------------------------------------------------------------------ vocab

// llama.cpp token types
const TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6;
const SP = '\u2581'; // SentencePiece space marker

function buildVocab() {
  const tokens = [];
  const scores = [];
  const types = [];
  const role = [];          // 'word' | 'eos' | 'other'
  const index = new Map();

  function add(text, type, score, r) {
    if (index.has(text)) {
      const i = index.get(text);
      if (r === 'word') role[i] = 'word';
      return i;
    }
    const i = tokens.length;
    tokens.push(text); types.push(type); scores.push(score); role.push(r);
    index.set(text, i);
    return i;
  }

  add('<unk>', TT_UNKNOWN, 0, 'other');
  add('<s>', TT_CONTROL, 0, 'other');
  add('</s>', TT_CONTROL, 0, 'eos');
  add('<|im_start|>', TT_CONTROL, 0, 'other');
  add('<|im_end|>', TT_CONTROL, 0, 'other');
  for (let b = 0; b < 256; b++) {
    add('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>',
        TT_BYTE, 0, 'other');
  }
  add(SP, TT_NORMAL, -1, 'other');
  for (let c = 0x21; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    add(ch, TT_NORMAL, -1, PUNCT.includes(ch) ? 'word' : 'other');
    add(SP + ch, TT_NORMAL, -0.5, 'other');
  }
  // Every prefix of "▁word" is a token, so SentencePiece's pairwise merges
  // can reach the whole word; longer pieces score higher (merge first).
  const seen = new Set();
  for (const w of WORDS) {
    if (seen.has(w)) continue;
    seen.add(w);
    const piece = SP + w;
    for (let n = 2; n <= piece.length; n++) {
      const p = piece.slice(0, n);
      add(p, TT_NORMAL, n, n === piece.length ? 'word' : 'other');
    }
  }
  return { tokens, scores, types, role };
}

// ------------------------------------------------------------------ gguf

const GGUF_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6,
  BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
};
const GGML_TYPE_F32 = 0;
const ALIGN = 32;

class Writer {
  constructor() { this.chunks = []; this.length = 0; }
  push(buf) { this.chunks.push(buf); this.length += buf.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v | 0); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  bool(v) { this.push(Buffer.from([v ? 1 : 0])); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  pad(align) {
    const r = this.length % align;
    if (r) this.push(Buffer.alloc(align - r));
  }
  buffer() { return Buffer.concat(this.chunks, this.length); }
}

function writeKV(w, key, type, value, elemType) {
  w.str(key);
  w.u32(type);
  writeValue(w, type, value, elemType);
}

function writeValue(w, type, value, elemType) {
  switch (type) {
    case GGUF_TYPE.UINT32: w.u32(value); break;
    case GGUF_TYPE.INT32: w.i32(value); break;
    case GGUF_TYPE.FLOAT32: w.f32(value); break;
    case GGUF_TYPE.BOOL: w.bool(value); break;
    case GGUF_TYPE.STRING: w.str(value); break;
    case GGUF_TYPE.ARRAY:
      w.u32(elemType);
      w.u64(value.length);
      for (const v of value) writeValue(w, elemType, v);
      break;
    default: throw new Error('unsupported gguf type ' + type);
  }
}

const CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + " +
  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

function buildModel(seed) {
  const vocab = buildVocab();
  const V = vocab.tokens.length;
  const { n_embd: E, n_layer: L, n_head: H, n_head_kv: HKV, n_ff: F } = HP;
  const headDim = E / H;
  const randn = normalSource(seed);

  const tensors = [];
  function tensor(name, dims, fill) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    fill(data);
    tensors.push({ name, dims, data });
  }
  const gaussian = (std) => (d) => { for (let i = 0; i < d.length; i++) d[i] = randn() * std; };
  const ones = (d) => d.fill(1);
  // rows of length rowLen; row 0 (output channel 0 = the bias channel) zero
  const gaussianNoRow0 = (std, rowLen) => (d) => {
    for (let i = 0; i < d.length; i++) d[i] = i < rowLen ? 0 : randn() * std;
  };

  // token embeddings: [E, V], row t = embedding of token t
  tensor('token_embd.weight', [E, V], (d) => {
    for (let t = 0; t < V; t++) {
      d[t * E] = BIAS_CHANNEL;
      for (let i = 1; i < E; i++) d[t * E + i] = randn();
    }
  });
  for (let l = 0; l < L; l++) {
    const p = `blk.${l}.`;
    tensor(p + 'attn_norm.weight', [E], ones);
    tensor(p + 'attn_q.weight', [E, headDim * H], gaussian(1.5 / Math.sqrt(E)));
    tensor(p + 'attn_k.weight', [E, headDim * HKV], gaussian(1.5 / Math.sqrt(E)));
    tensor(p + 'attn_v.weight', [E, headDim * HKV], gaussian(1 / Math.sqrt(E)));
    tensor(p + 'attn_output.weight', [headDim * H, E],
           gaussianNoRow0(0.5 / Math.sqrt(E), headDim * H));
    tensor(p + 'ffn_norm.weight', [E], ones);
    tensor(p + 'ffn_gate.weight', [E, F], gaussian(1 / Math.sqrt(E)));
    tensor(p + 'ffn_up.weight', [E, F], gaussian(1 / Math.sqrt(E)));
    tensor(p + 'ffn_down.weight', [F, E], gaussianNoRow0(0.5 / Math.sqrt(F), F));
  }
  tensor('output_norm.weight', [E], ones);
  // output: [E, V], row t = logit weights of token t; column 0 = bias
  tensor('output.weight', [E, V], (d) => {
    for (let t = 0; t < V; t++) {
      const r = vocab.role[t];
      d[t * E] = r === 'word' ? 0 : r === 'eos' ? EOS_BIAS : BAD_BIAS;
      for (let i = 1; i < E; i++) d[t * E + i] = r === 'other' ? 0 : randn() * OUT_STD;
    }
  });

  const nParams = tensors.reduce((a, t) => a + t.data.length, 0);
  const kv = [
    ['general.architecture', GGUF_TYPE.STRING, 'llama'],
    ['general.type', GGUF_TYPE.STRING, 'model'],
    ['general.name', GGUF_TYPE.STRING, 'dmr-standin tiny llama (random weights)'],
    ['general.description', GGUF_TYPE.STRING,
     `Generated by tools/dmr-standin/make-gguf.js v${GENERATOR_VERSION}, seed ${seed}. ` +
     'Random weights: the text is nonsense, the tokens and timing are real.'],
    ['general.file_type', GGUF_TYPE.UINT32, 0],
    ['general.alignment', GGUF_TYPE.UINT32, ALIGN],
    ['llama.context_length', GGUF_TYPE.UINT32, HP.context_length],
    ['llama.embedding_length', GGUF_TYPE.UINT32, E],
    ['llama.block_count', GGUF_TYPE.UINT32, L],
    ['llama.feed_forward_length', GGUF_TYPE.UINT32, F],
    ['llama.attention.head_count', GGUF_TYPE.UINT32, H],
    ['llama.attention.head_count_kv', GGUF_TYPE.UINT32, HKV],
    ['llama.attention.layer_norm_rms_epsilon', GGUF_TYPE.FLOAT32, HP.norm_eps],
    ['llama.rope.freq_base', GGUF_TYPE.FLOAT32, HP.rope_freq_base],
    ['llama.rope.dimension_count', GGUF_TYPE.UINT32, headDim],
    ['llama.vocab_size', GGUF_TYPE.UINT32, V],
    ['tokenizer.ggml.model', GGUF_TYPE.STRING, 'llama'],
    ['tokenizer.ggml.tokens', GGUF_TYPE.ARRAY, vocab.tokens, GGUF_TYPE.STRING],
    ['tokenizer.ggml.scores', GGUF_TYPE.ARRAY, vocab.scores, GGUF_TYPE.FLOAT32],
    ['tokenizer.ggml.token_type', GGUF_TYPE.ARRAY, vocab.types, GGUF_TYPE.INT32],
    ['tokenizer.ggml.bos_token_id', GGUF_TYPE.UINT32, 1],
    ['tokenizer.ggml.eos_token_id', GGUF_TYPE.UINT32, 2],
    ['tokenizer.ggml.unknown_token_id', GGUF_TYPE.UINT32, 0],
    ['tokenizer.ggml.padding_token_id', GGUF_TYPE.UINT32, 0],
    ['tokenizer.ggml.add_bos_token', GGUF_TYPE.BOOL, true],
    ['tokenizer.ggml.add_eos_token', GGUF_TYPE.BOOL, false],
    ['tokenizer.ggml.add_space_prefix', GGUF_TYPE.BOOL, true],
    ['tokenizer.chat_template', GGUF_TYPE.STRING, CHAT_TEMPLATE],
  ];
  return { kv, tensors, nParams, vocabSize: V };
}

function serialize(model) {
  const w = new Writer();
  w.push(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(model.tensors.length);
  w.u64(model.kv.length);
  for (const [k, t, v, et] of model.kv) writeKV(w, k, t, v, et);
  let offset = 0;
  for (const t of model.tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE_F32);
    w.u64(offset);
    t.offset = offset;
    offset += t.data.byteLength;
    offset = Math.ceil(offset / ALIGN) * ALIGN;
  }
  w.pad(ALIGN);
  const dataStart = w.length;
  for (const t of model.tensors) {
    const want = dataStart + t.offset;
    if (w.length < want) w.push(Buffer.alloc(want - w.length));
    w.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  w.pad(ALIGN);
  return w.buffer();
}

// ------------------------------------------------------------------ main

function main(argv) {
  let out = path.join(__dirname, 'models', 'tiny-llama.gguf');
  let seed = 20250101;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i];
    else if (a === '--seed') seed = Number(argv[++i]) >>> 0;
    else if (a === '--force') force = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node make-gguf.js [--out FILE] [--seed N] [--force]');
      return 0;
    } else { console.error('make-gguf: unknown argument ' + a); return 2; }
  }
  if (!force && fs.existsSync(out)) {
    console.log(`make-gguf: ${out} exists (use --force to rewrite)`);
    return 0;
  }
  const model = buildModel(seed);
  const buf = serialize(model);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = out + '.tmp-' + process.pid;
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, out);
  console.log(`make-gguf: wrote ${out}: ${buf.length} bytes, ` +
              `${model.nParams} parameters, vocab ${model.vocabSize}, ` +
              `${HP.n_layer} layers x ${HP.n_embd} dims, seed ${seed}`);
  return 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));

module.exports = { buildModel, serialize, GENERATOR_VERSION };
