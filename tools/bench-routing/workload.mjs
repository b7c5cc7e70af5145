// Claude-Code-shaped Anthropic Messages requests for make bench-routing.
//
// Everything is generated from a seed, so two runs (and the two policies of
// one run) send byte-for-byte the same conversations.  The shape follows
// what Claude Code sends on every turn of a session:
//
//   system   [billing-header text (its cch= stamp changes every request),
//             the long system prompt (with cache_control)]
//   tools    a list of tools with JSON schemas (identical every request)
//   messages user: a system-reminder block (the project's instructions, the
//                  same in every conversation) + the user's task (distinct)
//            then per turn: assistant [text, tool_use], user [tool_result]
//            (the tool result is a file's content, distinct per turn);
//            cache_control sits on the last block of the newest message
//            and moves every turn, as Claude Code does.
//
// The text is code- and prose-like: identifiers, punctuation, JSON and
// English words, so the stand-in's tokenizer sees roughly what it sees in
// a real session (1 to 2.5 bytes a token).

// --------------------------------------------------------------- randomness

export function rng(seed) {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('the a to of and in is it that for on with as be this are by an or from at '
  + 'file tool user request answer code function return value line test read write run '
  + 'change error output input build path name type list model endpoint server client '
  + 'state time first last next each when then only if not must should can will may '
  + 'use call make keep check find open close start stop load data body header stream '
  + 'project module config option default new old small large fast slow clear short '
  + 'always never before after inside outside between under over every some other same').split(' ');

const IDENTS = ('ctx req res buf len cfg opts node item entry result count index offset '
  + 'handler parser reader writer config status model endpoint session cache token '
  + 'prompt message stream chunk header body timeout retry limit queue worker').split(' ');

function pick(r, a) { return a[Math.floor(r() * a.length)]; }

function sentence(r) {
  const n = 6 + Math.floor(r() * 12);
  const w = [];
  for (let i = 0; i < n; i++) w.push(pick(r, WORDS));
  const s = w.join(' ');
  return s[0].toUpperCase() + s.slice(1) + '.';
}

export function prose(r, bytes) {
  let out = '';
  while (out.length < bytes) {
    out += sentence(r) + (r() < 0.2 ? '\n\n' : ' ');
  }
  return out.slice(0, bytes);
}

function codeLine(r, depth) {
  const pad = '  '.repeat(depth);
  const a = pick(r, IDENTS);
  const b = pick(r, IDENTS);
  switch (Math.floor(r() * 6)) {
    case 0: return `${pad}const ${a}${Math.floor(r() * 9)} = ${b}.${pick(r, IDENTS)}(${pick(r, IDENTS)}, ${Math.floor(r() * 1000)});`;
    case 1: return `${pad}if (${a} === null || ${a}.${b} > ${Math.floor(r() * 64)}) {`;
    case 2: return `${pad}// ${sentence(r)}`;
    case 3: return `${pad}return ${a}.${b};`;
    case 4: return `${pad}${a}.${b} = await ${pick(r, IDENTS)}(${a}, { ${pick(r, IDENTS)}: true });`;
    default: return `${pad}}`;
  }
}

export function code(r, bytes, path) {
  const lines = [];
  let n = 0;
  let depth = 1;
  let i = 1;
  while (n < bytes) {
    const l = `${String(i).padStart(6)}\u2192${codeLine(r, depth)}`;
    if (l.endsWith('{')) depth = Math.min(depth + 1, 4);
    else if (l.endsWith('}')) depth = Math.max(depth - 1, 1);
    lines.push(l);
    n += l.length + 1;
    i++;
  }
  return `File: ${path}\n${lines.join('\n')}`.slice(0, bytes);
}

// --------------------------------------------------------------- the shape

const TOOL_NAMES = ['Task', 'Bash', 'Glob', 'Grep', 'LS', 'ExitPlanMode', 'Read', 'Edit', 'MultiEdit',
  'Write', 'NotebookEdit', 'WebFetch', 'TodoWrite', 'WebSearch', 'BashOutput', 'KillShell'];

// The system prompt and the tool list: identical for every conversation.
export function sharedPrefix({ seed = 1, systemBytes = 12000, toolBytes = 9000 } = {}) {
  const r = rng(seed);
  const system = 'You are Claude Code, an interactive command line tool that helps users with software '
    + 'engineering tasks. Use the instructions below and the tools available to you to assist the user.\n\n'
    + prose(r, systemBytes);
  const per = Math.floor(toolBytes / TOOL_NAMES.length);
  const tools = TOOL_NAMES.map((name) => ({
    name,
    description: prose(r, Math.max(200, per - 300)),
    input_schema: {
      type: 'object',
      properties: {
        [name === 'Bash' ? 'command' : 'file_path']: { type: 'string', description: sentence(r) },
        [pick(r, IDENTS)]: { type: 'integer', description: sentence(r) },
        [pick(r, IDENTS) + '_mode']: { type: 'string', enum: ['fast', 'full', 'none'], description: sentence(r) },
      },
      required: [name === 'Bash' ? 'command' : 'file_path'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  }));
  const reminder = '<system-reminder>\nAs you answer the user\'s questions, you can use the following context:\n'
    + '# claudeMd\nContents of /home/user/project/CLAUDE.md (project instructions, checked into the codebase):\n\n'
    + prose(r, 1500) + '\n</system-reminder>';
  return { system, tools, reminder };
}

// One conversation: its first user message (a request, and the content of
// a file it mentions) and the tool results of its later turns (all
// distinct per conversation).
// resultBytes: the size of each turn's tool result, a number or a list
// (cycled, starting at a different place in each conversation).
export function conversation(i, { seed = 1, taskBytes = 1500, resultBytes = 2500, turns = 7 } = {}) {
  const r = rng(seed * 1000 + i + 17);
  const sizes = [].concat(resultBytes);
  // the user's request and a file it mentions with @ (its content inline)
  const ask = Math.min(600, taskBytes);
  const task = `Task ${i}: ` + prose(r, ask)
    + (taskBytes > ask ? `\n\n${code(r, taskBytes - ask, `/home/user/project/src/task_${i}.js`)}` : '');
  const results = [];
  for (let t = 1; t < turns; t++) {
    const path = `/home/user/project/src/${pick(r, IDENTS)}_${i}_${t}.js`;
    results.push({ path, content: code(r, sizes[(i + t - 1) % sizes.length], path) });
  }
  return { task, results };
}

let stampCounter = 0;

// The billing header Claude Code puts first in "system": its cch= stamp is
// different in every request.
export function billingHeader() {
  stampCounter++;
  const cch = ((stampCounter * 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, 5);
  return `x-anthropic-billing-header: cc_version=2.0.14.abc; cc_entrypoint=cli; cch=${cch};`;
}

// The body of turn t (0-based) of a conversation, given the assistant's
// earlier answers (texts).
export function messagesBody({ model, shared, conv, answers, t, maxTokens }) {
  const messages = [{
    role: 'user',
    content: [
      { type: 'text', text: shared.reminder },
      { type: 'text', text: conv.task },
    ],
  }];
  for (let k = 0; k < t; k++) {
    const res = conv.results[k];
    messages.push({
      role: 'assistant',
      content: [
        { type: 'text', text: answers[k] || 'Let me look at the file.' },
        { type: 'tool_use', id: `toolu_${k}_${conv.task.length}`, name: 'Read', input: { file_path: res.path } },
      ],
    });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: `toolu_${k}_${conv.task.length}`, content: res.content }],
    });
  }
  // cache_control on the newest message's last block (it moves each turn)
  const last = messages[messages.length - 1].content;
  last[last.length - 1] = { ...last[last.length - 1], cache_control: { type: 'ephemeral' } };
  return {
    model,
    max_tokens: maxTokens,
    stream: true,
    system: [
      { type: 'text', text: billingHeader() },
      { type: 'text', text: shared.system, cache_control: { type: 'ephemeral' } },
    ],
    tools: shared.tools,
    messages,
    metadata: { user_id: 'user_bench_account__session_0000' },
  };
}
