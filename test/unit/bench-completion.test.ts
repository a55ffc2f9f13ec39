// Tests of the completion benchmark's parts: the session builder, the llama.vscode client emulation
// (against a real HTTP server standing in for llama-server's /infill), and the metrics parser.
//   node --import tsx --test bench/completion/completion.test.ts

import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { CompletionRecord } from '../../protocol/lsp';
import { answeredWithoutEngine, defaultAcceptOptions, runAccepts, type AcceptClient } from '../../bench/completion/accepts';
import { LlamaVscodeClient, llamaVscodeDefaults } from '../../bench/completion/llamaVscodeClient';
import { parseProntoMetrics } from '../../bench/completion/lspClient';
import { replay, type CompletionClient } from '../../bench/completion/replay';
import { buildSession, defaultSessionOptions, type Session } from '../../bench/completion/session';

const file = ['// header', 'function f(a, b) {', '  const sum = a + b;', '  return sum * 2;', '}', '', 'module.exports = f;', ''].join(
  '\n',
);

test('buildSession types the region back key by key', () => {
  const s = buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 30, fromLine: 1 });
  assert.equal(s.startLine, 1);
  assert.equal(s.keystrokes.length, 30);
  let typed = '';
  for (const k of s.keystrokes) {
    typed += k.text;
    // The document is always the file with the rest of the region missing, the cursor after `typed`.
    assert.equal(k.doc.slice(0, k.offset), '// header\n' + typed);
    assert.ok(file.startsWith(k.doc.slice(0, k.offset)), `prefix diverged at ${JSON.stringify(k.text)}`);
    assert.equal(k.doc.split('\n')[k.line]!.length >= k.character, true);
    assert.equal(k.doc.slice(0, k.offset).split('\n').length - 1, k.line);
  }
  // Enter inserts the newline with the next line's indentation.
  assert.ok(s.keystrokes.some((k) => k.text === '\n  '));
  // The last typed line ends in a pause, and so does the last keystroke.
  const lineEnd = s.keystrokes.findIndex((k) => k.text === '{');
  assert.equal(s.keystrokes[lineEnd]!.pause, true);
  assert.equal(s.keystrokes.at(-1)!.pause, true);
  for (const k of s.keystrokes) {
    const [lo, hi] = k.pause ? defaultSessionOptions.pauseMs : defaultSessionOptions.keyGapMs;
    assert.ok(k.gapMs >= lo && k.gapMs <= hi, `gap ${k.gapMs} outside ${lo}..${hi}`);
  }
  // The text after the region is kept; the partly typed line lost its untyped rest.
  assert.equal(s.initialDoc, '// header\n\n  return sum * 2;\n}\n\nmodule.exports = f;\n');
  assert.equal(s.keystrokes.at(-1)!.doc, '// header\nfunction f(a, b) {\n  const sum =\n  return sum * 2;\n}\n\nmodule.exports = f;\n');
});

test('buildSession is deterministic per seed and rejects impossible requests', () => {
  const a = buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 30, fromLine: 1, seed: 3 });
  const b = buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 30, fromLine: 1, seed: 3 });
  const c = buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 30, fromLine: 1, seed: 4 });
  assert.deepEqual(
    a.keystrokes.map((k) => k.gapMs),
    b.keystrokes.map((k) => k.gapMs),
  );
  assert.notDeepEqual(
    a.keystrokes.map((k) => k.gapMs),
    c.keystrokes.map((k) => k.gapMs),
  );
  assert.throws(
    () => buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 500, fromLine: 1 }),
    /only \d+ characters to type/,
  );
  assert.throws(() => buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 0 }), /positive integer/);
  assert.throws(
    () => buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 5, fromLine: 100 }),
    /no line with 8\+ characters/,
  );
});

interface FakeInfill {
  url: string;
  bodies: Array<Record<string, unknown>>;
  /** Holds answers until release() when set. */
  hold: boolean;
  release(): void;
  close(): Promise<void>;
}

async function startFakeInfill(answer: (body: Record<string, unknown>) => string): Promise<FakeInfill> {
  const held: Array<() => void> = [];
  const state: FakeInfill = {
    url: '',
    bodies: [],
    hold: false,
    release: () => {
      for (const f of held.splice(0)) f();
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      state.bodies.push(body);
      const send = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ content: body.n_predict === 0 ? '' : answer(body), timings: { prompt_n: 7, predicted_n: 3 } }));
      };
      if (state.hold) held.push(send);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

function session(): Session {
  return buildSession('f.js', '/tmp/f.js', file, { ...defaultSessionOptions, keystrokes: 30, fromLine: 1 });
}

test('llama.vscode emulation: request shape, cache with typing-through, future suggestion', async () => {
  const fake = await startFakeInfill((b) => (b.prompt === 'function f(a, b) {' ? '\n  return 1;' : 'on g() {}'));
  const s = session();
  const client = new LlamaVscodeClient(fake.url, s, { ...llamaVscodeDefaults, n_predict: 16 });
  try {
    const k4 = s.keystrokes[3]!; // "func"
    client.change(k4);
    const first = await client.provide(k4, new CancellationTokenSource().token);
    assert.deepEqual(first, { items: ['on g() {}'], fromCache: false });
    const req = fake.bodies[0]!;
    assert.equal(req.prompt, 'func');
    assert.equal(req.input_prefix, '// header\n');
    assert.equal(req.n_predict, 16);
    assert.deepEqual(req.samplers, ['top_k', 'top_p', 'infill']);
    assert.equal(req.top_k, 40);
    assert.equal(req.cache_prompt, true);
    assert.equal(req.t_max_predict_ms, 1000);
    assert.ok(String(req.input_suffix).startsWith('\n'));
    await client.idle();
    // The future suggestion was requested for "func" + "on g() {}".
    assert.equal(fake.bodies.length, 2);
    assert.equal(fake.bodies[1]!.prompt, 'funcon g() {}');
    // Typing "t" is not what was suggested ("o"): a new request. Typing along a cached suggestion is served from cache.
    const k5 = s.keystrokes[4]!; // "funct"
    client.change(k5);
    const sent = fake.bodies.length;
    const fifth = await client.provide(k5, new CancellationTokenSource().token);
    assert.equal(fifth?.fromCache, false);
    assert.equal(fake.bodies.length, sent + 1);
    await client.idle();
    // Cached for "funct" -> "on g() {}"; typing "funct" + "o" matches its first character.
    const typedThrough = {
      ...k5,
      doc: k5.doc.slice(0, k5.offset) + 'o' + k5.doc.slice(k5.offset),
      offset: k5.offset + 1,
      character: k5.character + 1,
    };
    client.change(typedThrough);
    const before = fake.bodies.length;
    const hit = await client.provide(typedThrough, new CancellationTokenSource().token);
    assert.deepEqual(hit, { items: ['n g() {}'], fromCache: true });
    assert.equal(fake.bodies.filter((b, i) => i >= before && b.n_predict !== 0 && b.prompt === 'functo').length, 0);
    assert.equal(client.servedFromCache, 1);
    assert.ok(client.requests.every((r) => r.promptN === 7));
  } finally {
    client.dispose();
    await fake.close();
  }
});

test('llama.vscode emulation: calls wait for the one in progress and are dropped when cancelled', async () => {
  const fake = await startFakeInfill(() => 'xyz');
  fake.hold = true;
  const s = session();
  const client = new LlamaVscodeClient(fake.url, s, { ...llamaVscodeDefaults, n_predict: 16 });
  try {
    const a = s.keystrokes[3]!;
    const b = s.keystrokes[4]!;
    client.change(a);
    const pa = client.provide(a, new CancellationTokenSource().token);
    while (fake.bodies.length === 0) await new Promise((r) => setImmediate(r));
    client.change(b);
    const tb = new CancellationTokenSource();
    const pb = client.provide(b, tb.token);
    tb.cancel();
    fake.hold = false;
    fake.release();
    assert.deepEqual(await pa, { items: ['xyz'], fromCache: false });
    assert.equal(await pb, null);
    await client.idle();
    // Only a's completion and its future suggestion reached the server; b never sent anything.
    assert.deepEqual(
      fake.bodies.map((x) => x.prompt),
      ['func', 'funcxyz'],
    );
  } finally {
    client.dispose();
    await fake.close();
  }
});

test("parseProntoMetrics reads the engine's counters and names a missing one", () => {
  const text = [
    '# TYPE pronto_requests_total counter',
    'pronto_requests_total 12',
    'pronto_prompt_tokens_evaluated_total 3400',
    'pronto_prompt_tokens_reused_total 99',
    'pronto_generated_tokens_total 160',
    'pronto_cancellations_total 4',
    'pronto_drafted_tokens_total 0',
  ].join('\n');
  assert.deepEqual(parseProntoMetrics(text), { requests: 12, evaluated: 3400, reused: 99, generated: 160, cancellations: 4 });
  assert.throws(() => parseProntoMetrics('pronto_requests_total 1'), /pronto_prompt_tokens_evaluated_total/);
});

test('replay: superseded states are dropped, pauses wait for their answer, failures are reported', async () => {
  const s = buildSession('f.js', '/tmp/f.js', file, {
    ...defaultSessionOptions,
    keystrokes: 20,
    fromLine: 1,
    keyGapMs: [15, 15],
    pauseMs: [300, 300],
  });
  const changes: number[] = [];
  let calls = 0;
  const slow: CompletionClient = {
    change: (_k, i) => void changes.push(i),
    provide: async (k) => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return { items: [`after ${k.offset}`], fromCache: false };
    },
  };
  const records = await replay(s, slow, { debounceMs: 60, waitCapMs: 5000 });
  assert.deepEqual(changes, [...Array(20).keys()]);
  // Timers are real: on a loaded machine one may fire late, so allow one stray among ~16 keys.
  const stray = (xs: boolean[]): number => xs.filter(Boolean).length;
  for (const r of records.filter((x) => x.pause)) {
    assert.equal(r.shown, true, `pause ${r.index} got no suggestion`);
    assert.ok(r.latencyMs! >= 150 && r.latencyMs! < 2000, `latency ${r.latencyMs}`);
  }
  // The next key came 15 ms later, inside the 60 ms debounce: never asked, never answered.
  const typed = records.filter((x) => !x.pause);
  assert.ok(typed.length >= 12);
  assert.ok(stray(typed.map((r) => r.called)) <= 1, 'keys superseded during the debounce reached the provider');
  assert.ok(typed.every((r) => !r.called || !r.answered));
  assert.ok(calls <= records.filter((r) => r.pause).length + 1, 'only the pauses outlive the debounce');

  // With a debounce shorter than the gap every state is asked for, but answers (60 ms) to states
  // that a newer key (15 ms) replaced are dropped, as VS Code drops them.
  const eager = await replay(s, slow, { debounceMs: 1, waitCapMs: 5000 });
  const eagerTyped = eager.filter((x) => !x.pause);
  assert.ok(stray(eagerTyped.map((r) => !r.called)) <= 1, 'with a 1 ms debounce every state is asked for');
  assert.ok(
    eagerTyped.every((r) => !r.answered && r.latencyMs === undefined),
    'an answer for a replaced state was kept',
  );
  assert.ok(eager.filter((x) => x.pause).every((x) => x.shown));

  // A pause waits at most waitCapMs for a provider that never answers, then counts as timed out.
  const never: CompletionClient = {
    change: () => undefined,
    provide: (_k, token) => new Promise((r) => token.onCancellationRequested(() => r(null))),
  };
  const short = buildSession('f.js', '/tmp/f.js', file, {
    ...defaultSessionOptions,
    keystrokes: 3,
    fromLine: 1,
    keyGapMs: [5, 5],
    pauseMs: [20, 20],
  });
  const timed = await replay(short, never, { debounceMs: 1, waitCapMs: 50 });
  assert.equal(timed.at(-1)!.timedOut, true);

  const failing: CompletionClient = {
    change: () => undefined,
    provide: async () => {
      throw new Error('server gone');
    },
  };
  await assert.rejects(replay(short, failing, { debounceMs: 1, waitCapMs: 50 }), /keystroke \d+: the provider failed: server gone/);
});

test('accept phase: Tab on each suggestion, the next request judged by the server’s own record; types on when nothing shows', async () => {
  const log: string[] = [];
  let asks = 0;
  const records: CompletionRecord[] = [];
  const record = (promptTokens: number, outcome: CompletionRecord['outcome']): CompletionRecord => ({
    at: 0,
    uri: 'file:///x.js',
    latencyMs: 1,
    fromCache: promptTokens === 0,
    promptTokens,
    reusedTokens: 0,
    evaluatedTokens: promptTokens,
    generatedTokens: 0,
    draftedTokens: 0,
    acceptedTokens: 0,
    outcome,
  });
  const client: AcceptClient = {
    async ask() {
      asks++;
      // 1st ask (after typing): nothing; then suggestions; every other one from the engine.
      if (asks === 1) {
        records.push(record(10, 'empty'));
        return { items: [] };
      }
      records.push(record(asks % 2 === 0 ? 0 : 12, 'shown'));
      return { items: [`s${asks}`] };
    },
    type: (t) => void log.push(`type ${JSON.stringify(t)}`),
    accept: (t) => void log.push(`accept ${t}`),
    lastRecord: async () => records.at(-1),
  };
  const out = await runAccepts(client, { ...defaultAcceptOptions, accepts: 3, reactionMs: [0, 0], debounceMs: 0 });
  assert.deepEqual(log, ['type " "', 'type "v"', 'accept s2', 'accept s3', 'accept s4']);
  assert.deepEqual(
    out.map((a) => [a.text, a.fromPrefetch]),
    [
      ['s2', false],
      ['s3', true],
      ['s4', false],
    ],
  );
  assert.equal(answeredWithoutEngine(record(0, 'cancelled')), false, 'a cancelled request answered nothing');
  // A model that never suggests anything: the phase ends after maxTries, with no accepts.
  const silent: AcceptClient = {
    ask: async () => ({ items: [] }),
    type: () => undefined,
    accept: () => undefined,
    lastRecord: async () => undefined,
  };
  assert.deepEqual(await runAccepts(silent, { ...defaultAcceptOptions, maxTries: 3, debounceMs: 0 }), []);
});
