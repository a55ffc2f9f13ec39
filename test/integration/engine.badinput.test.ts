// Bad input through the real engine: every malformed request gets an error naming the problem, and
// the engine keeps serving afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { parseServerMessage } from '../../protocol/engine';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

let engine: RunningEngine;
before(async () => {
  engine = await startEngine({ model: (await ensureTestModels()).target, args: ['--ctx', '256', '--parallel', '2'] });
});
after(async () => {
  await engine?.stop();
});

const cases: Array<[string, unknown, RegExp, string?]> = [
  ['not an object', [1, 2], /must be a JSON object/],
  ['missing type', { id: 'a' }, /message\.type must be "submit" or "cancel"/],
  ['unknown type', { type: 'launch', id: 'a' }, /unknown message type "launch"/],
  ['missing id', { type: 'submit', prompt: 'x' }, /submit\.id is required/],
  ['id of wrong type', { type: 'submit', id: 7, prompt: 'x' }, /submit\.id must be a string/],
  ['no input', { type: 'submit', id: 'a' }, /exactly one of fim, prompt, messages/],
  ['two inputs', { type: 'submit', id: 'a', prompt: 'x', fim: { prefix: 'a', suffix: 'b' } }, /exactly one of fim, prompt, messages/],
  ['prompt of wrong type', { type: 'submit', id: 'a', prompt: 42 }, /submit\.prompt must be a string/],
  ['fim of wrong type', { type: 'submit', id: 'a', fim: 'abc' }, /submit\.fim must be an object/],
  ['fim.prefix of wrong type', { type: 'submit', id: 'a', fim: { prefix: 1, suffix: '' } }, /fim\.prefix must be a string/],
  ['fim.extra of wrong type', { type: 'submit', id: 'a', fim: { prefix: '', suffix: '', extra: 'x' } }, /fim\.extra must be an array/],
  [
    'extra chunk without text',
    { type: 'submit', id: 'a', fim: { prefix: '', suffix: '', extra: [{ filename: 'a' }] } },
    /fim\.extra\[\]\.text is required/,
  ],
  ['bad role', { type: 'submit', id: 'a', messages: [{ role: 'robot', content: 'hi' }] }, /role must be system, user or assistant/],
  ['empty messages', { type: 'submit', id: 'a', messages: [] }, /messages must be a non-empty array/],
  [
    'negative temperature',
    { type: 'submit', id: 'a', prompt: 'x', sampling: { temperature: -1 } },
    /sampling\.temperature must be between 0 and 10/,
  ],
  [
    'temperature as string',
    { type: 'submit', id: 'a', prompt: 'x', sampling: { temperature: 'hot' } },
    /sampling\.temperature must be a number/,
  ],
  ['top_p above 1', { type: 'submit', id: 'a', prompt: 'x', sampling: { top_p: 2 } }, /sampling\.top_p must be between 0 and 1/],
  ['fractional top_k', { type: 'submit', id: 'a', prompt: 'x', sampling: { top_k: 2.5 } }, /sampling\.top_k must be an integer/],
  ['negative seed', { type: 'submit', id: 'a', prompt: 'x', sampling: { seed: -3 } }, /sampling\.seed must be between/],
  [
    'absurd max_tokens',
    { type: 'submit', id: 'a', prompt: 'x', limits: { max_tokens: 1e12 } },
    /limits\.max_tokens must be between 1 and 4096/,
  ],
  ['zero max_tokens', { type: 'submit', id: 'a', prompt: 'x', limits: { max_tokens: 0 } }, /limits\.max_tokens must be between 1 and 4096/],
  [
    'stop of wrong type',
    { type: 'submit', id: 'a', prompt: 'x', limits: { stop: [1] } },
    /limits\.stop must be a string or an array of strings/,
  ],
  ['too many stops', { type: 'submit', id: 'a', prompt: 'x', limits: { stop: Array(17).fill('x') } }, /more than 16 strings/],
  ['ignore_eos as string', { type: 'submit', id: 'a', prompt: 'x', limits: { ignore_eos: 'yes' } }, /limits\.ignore_eos must be a boolean/],
  [
    'speculative of wrong type',
    { type: 'submit', id: 'a', prompt: 'x', speculative: { draft: 1 } },
    /speculative\.draft must be a boolean/,
  ],
  [
    'prompt longer than the context',
    { type: 'submit', id: 'a', prompt: 'word '.repeat(400) },
    /prompt is \d+ tokens, the context holds 256/,
    'prompt_too_long',
  ],
];

test('every malformed WebSocket message gets an error event naming the problem', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    for (const [name, body, pattern, code] of cases) {
      const msg = await s.rawExpectOrphan(JSON.stringify(body));
      assert.equal(msg.type, 'error', name);
      if (msg.type !== 'error') continue;
      assert.equal(msg.error.code, code ?? 'bad_request', name);
      assert.match(msg.error.message, pattern, name);
      const bodyId = (body as { id?: unknown }).id;
      if (typeof bodyId === 'string') assert.equal(msg.id, bodyId, `${name}: error carries the request id`);
    }
    const malformed = await s.rawExpectOrphan('{"type": "submit", "id": ');
    assert.equal(malformed.type === 'error' && malformed.error.code, 'bad_request');
    assert.match(malformed.type === 'error' ? malformed.error.message : '', /malformed JSON/);
    // Still healthy and serving on the same socket.
    const ok = await s.request({ type: 'submit', id: 'after', prompt: 'def f():', limits: { max_tokens: 2 } });
    assert.ok(ok.done);
  } finally {
    await s.close();
  }
});

test('invalid UTF-8 and binary frames are refused with a message', async () => {
  const ws = new WebSocket(engine.url.replace('http', 'ws') + '/v1/stream');
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const next = () => new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
  try {
    let reply = next();
    ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: true });
    const bin = parseServerMessage(await reply);
    assert.equal(bin.type, 'error');
    assert.match(bin.type === 'error' ? bin.error.message : '', /binary frames are not supported/);
    // Invalid UTF-8 in an HTTP body.
    const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', body: Buffer.from('{"prompt": "\xff\xfe abc"}', 'latin1') });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /not valid UTF-8/);
    reply = next();
    ws.send(JSON.stringify({ type: 'submit', id: 'z', prompt: 'x', limits: { max_tokens: 1 } }));
    assert.notEqual(parseServerMessage(await reply).type, 'error');
  } finally {
    ws.close();
  }
});

test('a duplicate in-flight id is refused, the first request is unaffected', async () => {
  const ws = new WebSocket(engine.url.replace('http', 'ws') + '/v1/stream');
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  try {
    const seen: ReturnType<typeof parseServerMessage>[] = [];
    const finished = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        const m = parseServerMessage(d.toString());
        seen.push(m);
        if (m.type === 'done') resolve();
      }),
    );
    ws.send(JSON.stringify({ type: 'submit', id: 'dup', prompt: 'x', limits: { max_tokens: 200, ignore_eos: true } }));
    ws.send(JSON.stringify({ type: 'submit', id: 'dup', prompt: 'y' }));
    await finished;
    const errors = seen.filter((m) => m.type === 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.type === 'error' ? errors[0]!.error.message : '', /a request with id "dup" is already in flight/);
    const done = seen.find((m) => m.type === 'done');
    assert.equal(done?.type === 'done' && done.stats.generated_tokens, 200);
  } finally {
    ws.close();
  }
});

test('bad HTTP requests get 4xx JSON errors naming the problem', async () => {
  const post = async (path: string, body: string) => {
    const res = await fetch(`${engine.url}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
  };
  const checks: Array<[string, string, number, RegExp]> = [
    ['/v1/completions', '{nope', 400, /malformed JSON/],
    ['/v1/completions', '{}', 400, /completions\.prompt must be a string/],
    ['/v1/completions', '{"prompt": "x", "max_tokens": -5}', 400, /completions\.max_tokens must be between 1 and 4096/],
    ['/v1/completions', '{"prompt": "x", "suffix": 3}', 400, /completions\.suffix must be a string/],
    ['/v1/completions', '{"prompt": "x", "stream": "yes"}', 400, /completions\.stream must be a boolean/],
    ['/v1/completions', JSON.stringify({ prompt: 'word '.repeat(400) }), 400, /prompt is \d+ tokens, the context holds 256/],
    ['/v1/chat/completions', '{"messages": "hi"}', 400, /messages must be a non-empty array/],
    ['/tokenize', '{"content": 5}', 400, /tokenize\.content must be a string/],
  ];
  for (const [path, body, status, pattern] of checks) {
    const r = await post(path, body);
    assert.equal(r.status, status, `${path} ${body.slice(0, 40)}`);
    assert.match(r.body.error.message, pattern);
  }
  const metrics = await (await fetch(`${engine.url}/metrics`)).text();
  assert.match(metrics, /pronto_errors_total\{kind="bad_request"\} [1-9]/);
  assert.match(metrics, /pronto_errors_total\{kind="prompt_too_long"\} [1-9]/);
});

test('numbers beyond a double (1e400), also nested, are 400 naming the field, on HTTP and the WebSocket', async () => {
  const checks: Array<[string, string, RegExp]> = [
    ['/v1/completions', '{"prompt": "x", "max_tokens": 1e400}', /^max_tokens is a number out of range/],
    ['/v1/completions', '{"prompt": "x", "temperature": -1e999}', /^temperature is a number out of range/],
    [
      '/v1/chat/completions',
      '{"messages": [{"role": "user", "content": "hi", "extra": [1, {"w": 1e400}]}]}',
      /^messages\[0\]\.extra\[1\]\.w is a number/,
    ],
    ['/tokenize', '{"content": "x", "n": 2e308}', /^n is a number out of range/],
  ];
  for (const [route, body, pattern] of checks) {
    const res = await fetch(`${engine.url}${route}`, { method: 'POST', body });
    assert.equal(res.status, 400, body);
    const json = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(json.error.code, 'bad_request');
    assert.match(json.error.message, pattern);
  }
  const s = await EngineSocket.open(engine.url);
  try {
    const msg = await s.rawExpectOrphan('{"type": "submit", "id": "big", "prompt": "x", "limits": {"max_tokens": 1e400}}');
    assert.equal(msg.type, 'error');
    assert.equal(msg.type === 'error' && msg.error.code, 'bad_request');
    assert.match(msg.type === 'error' ? msg.error.message : '', /^limits\.max_tokens is a number out of range/);
    const ok = await s.request({ type: 'submit', id: 'after-big', prompt: 'x', limits: { max_tokens: 1 } });
    assert.ok(ok.done);
  } finally {
    await s.close();
  }
});

interface Completion {
  choices: Array<{ text: string; finish_reason: string }>;
  usage: { completion_tokens: number };
}
async function complete(body: Record<string, unknown>): Promise<Completion> {
  const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', body: JSON.stringify(body) });
  const json = (await res.json()) as Completion;
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

test('n_predict keeps time_budget_ms', async () => {
  // time_budget_ms 1 with ignore_eos ends long before 200 tokens (each decode takes longer than that
  // on any machine); without the budget nothing but the count could stop it.
  const timed = await complete({ prompt: 'x', n_predict: 200, time_budget_ms: 1, ignore_eos: true });
  assert.ok(timed.usage.completion_tokens < 200, `time budget ignored: ${timed.usage.completion_tokens} tokens`);
  // ignore_eos and stop_at_eol cannot be provoked reliably from a random model (its end-of-generation
  // and newline tokens are rare); native/tests/protocol_json_test.cpp checks that n_predict keeps them.
});

test('a temperature below the greedy threshold (1e-40) samples greedily', async () => {
  const greedy = await complete({ prompt: 'def f(x):', max_tokens: 16, ignore_eos: true, temperature: 0 });
  const tiny = await complete({ prompt: 'def f(x):', max_tokens: 16, ignore_eos: true, temperature: 1e-40 });
  assert.equal(tiny.choices[0]!.text, greedy.choices[0]!.text);
  const s = await EngineSocket.open(engine.url);
  try {
    const ws = await s.request({
      type: 'submit',
      id: 't',
      prompt: 'def f(x):',
      sampling: { temperature: 1e-40 },
      limits: { max_tokens: 16, ignore_eos: true },
    });
    assert.equal(ws.done?.text, greedy.choices[0]!.text);
  } finally {
    await s.close();
  }
});

test('HTTP text fields have the same 4 MiB cap as the WebSocket', async () => {
  const big = 'a'.repeat((4 << 20) + 1);
  const checks: Array<[string, unknown, RegExp]> = [
    ['/tokenize', { content: big }, /^tokenize\.content is too long \(4194305 bytes, limit 4194304\)/],
    ['/v1/completions', { prompt: big }, /^completions\.prompt is too long/],
    ['/v1/completions', { prompt: 'x', suffix: big }, /^completions\.suffix is too long/],
    ['/v1/chat/completions', { messages: [{ role: 'user', content: big }] }, /^messages\[\]\.content is too long/],
  ];
  for (const [route, body, pattern] of checks) {
    const res = await fetch(`${engine.url}${route}`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(res.status, 400, route);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, pattern);
  }
});
