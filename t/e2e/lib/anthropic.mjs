// Helpers for the Anthropic SDK tests.

import assert from 'node:assert/strict';

// Checks a sequence of raw stream events against the Messages API grammar:
//   message_start ping* (content_block_start[i] (delta[i]|ping)* content_block_stop[i])*
//   message_delta message_stop, with block indexes 0, 1, 2, ... and pings anywhere
//   after message_start.  Returns the block types in order.
export function assertAnthropicEventOrder(events) {
  const types = events.map((e) => e.type);
  const seq = types.join(' ');
  assert.equal(types[0], 'message_start', `starts with message_start: ${seq}`);
  assert.equal(types.at(-1), 'message_stop', `ends with message_stop: ${seq}`);
  assert.equal(types.at(-2), 'message_delta', `message_delta before message_stop: ${seq}`);
  assert.equal(types.filter((t) => t === 'message_start').length, 1, `one message_start: ${seq}`);
  assert.equal(types.filter((t) => t === 'message_delta').length, 1, `one message_delta: ${seq}`);
  assert.ok(!types.includes('error'), `no error event: ${seq}`);
  const blocks = [];
  let open = null;
  for (const e of events.slice(1, -2)) {
    switch (e.type) {
      case 'ping': break;
      case 'content_block_start':
        assert.equal(open, null, `block ${e.index} starts while ${open} is open: ${seq}`);
        assert.equal(e.index, blocks.length, `block indexes in order: ${seq}`);
        open = e.index;
        blocks.push(e.content_block.type);
        break;
      case 'content_block_delta':
        assert.equal(e.index, open, `delta for the open block: ${seq}`);
        break;
      case 'content_block_stop':
        assert.equal(e.index, open, `stop for the open block: ${seq}`);
        open = null;
        break;
      default:
        assert.fail(`unexpected event ${e.type} inside the message: ${seq}`);
    }
  }
  assert.equal(open, null, `every block stopped: ${seq}`);
  return blocks;
}

export const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Get the current weather in a given location',
  input_schema: {
    type: 'object',
    properties: {
      location: { type: 'string', description: 'The city, e.g. Paris' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['location'],
  },
};

export function assertWeatherToolUse(message) {
  assert.equal(message.stop_reason, 'tool_use', `stop_reason: ${JSON.stringify(message)}`);
  const uses = message.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1, `one tool_use block: ${JSON.stringify(message.content)}`);
  const tu = uses[0];
  assert.equal(tu.name, 'get_weather');
  assert.match(tu.id, /^\S+$/, 'tool_use id');
  assert.equal(typeof tu.input, 'object', `input parsed to an object: ${JSON.stringify(tu.input)}`);
  assert.ok(tu.input !== null && !Array.isArray(tu.input));
  assert.equal(typeof tu.input.location, 'string', `input.location: ${JSON.stringify(tu.input)}`);
  assert.ok(tu.input.location.length > 0);
  if ('unit' in tu.input) assert.ok(['celsius', 'fahrenheit'].includes(tu.input.unit), `unit ${tu.input.unit}`);
  return tu;
}

// A fetch for the SDK clients that keeps a copy of every response body, so
// a test can look at the raw SSE (the Anthropic SDK drops `ping` events).
// recorder.last() resolves to { url, status, text } of the latest response.
export function recordingFetch() {
  const bodies = [];
  const f = async (url, init) => {
    const res = await fetch(url, init);
    if (!res.body) { bodies.push(Promise.resolve({ url: String(url), status: res.status, text: '' })); return res; }
    const [a, b] = res.body.tee();
    bodies.push(new Response(b).text().then((text) => ({ url: String(url), status: res.status, text })));
    return new Response(a, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  f.last = () => bodies.at(-1);
  return f;
}

// The event types of a raw SSE body, in order ("event:" lines, checked
// against the data's "type").
export function sseEventTypes(text) {
  const types = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const ev = /^event: *(.*)$/m.exec(block)?.[1];
    const data = /^data: *(.*)$/m.exec(block)?.[1];
    if (!ev && !data) continue;
    if (data) {
      const t = JSON.parse(data).type;
      assert.equal(t, ev, `event: line and data type agree in ${JSON.stringify(block)}`);
    }
    types.push(ev);
  }
  return types;
}
