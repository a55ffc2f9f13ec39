// WebSocket /v1/stream through the real engine on a real GGUF: FIM, KV reuse, keystrokes, limits,
// cancellation, concurrency, disconnects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { healthSchema, type SubmitMessage } from '../../protocol/engine';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

const nospec = { draft: false, ngram: false };
const prefix = 'import os\n\ndef read_config(path):\n    with open(path) as f:\n        data = f.read()\n    return ';
const suffix = '\n\n\ndef main():\n    cfg = read_config("app.toml")\n    print(cfg)\n';
let engine: RunningEngine;
let model: string;

before(async () => {
  model = (await ensureTestModels()).target;
  engine = await startEngine({ model, args: ['--ctx', '2048', '--parallel', '4'] });
});
after(async () => {
  await engine?.stop();
});

let n = 0;
const id = () => `r${++n}`;
function fim(p: string, s: string, extra: Partial<SubmitMessage> = {}): SubmitMessage {
  return { type: 'submit', id: id(), fim: { prefix: p, suffix: s }, limits: { max_tokens: 8 }, speculative: nospec, ...extra };
}

test('FIM completion streams tokens whose concatenation is the final text, with consistent stats', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const r = await s.request(fim(prefix, suffix, { limits: { max_tokens: 8, ignore_eos: true } }));
    assert.ok(r.done, JSON.stringify(r.error));
    assert.equal(r.tokens.join(''), r.done.text);
    assert.equal(r.done.finish_reason, 'length');
    const st = r.done.stats;
    assert.equal(st.generated_tokens, 8);
    assert.equal(st.prompt_tokens, st.reused_tokens + st.evaluated_tokens);
    assert.ok(st.prompt_tokens > 30);
    assert.ok(st.t_total_ms >= st.t_first_token_ms && st.t_first_token_ms >= st.t_queue_ms);
  } finally {
    await s.close();
  }
});

test('the FIM prompt uses the SPM layout: suffix first, the prefix last (checked through /tokenize)', async () => {
  // The raw prompt <SUF>suffix<PRE>prefix<MID> must produce the same tokens, so the same greedy output.
  const s = await EngineSocket.open(engine.url);
  try {
    const viaFim = await s.request(fim(prefix, suffix));
    const raw = `<｜fim▁hole｜>${suffix}<｜fim▁begin｜>${prefix}<｜fim▁end｜>`;
    const viaRaw = await s.request({ type: 'submit', id: id(), prompt: raw, limits: { max_tokens: 8 }, speculative: nospec });
    assert.equal(viaRaw.done?.stats.prompt_tokens, viaFim.done?.stats.prompt_tokens);
    assert.equal(viaRaw.done?.text, viaFim.done?.text);
    const psm = `<｜fim▁begin｜>${prefix}<｜fim▁hole｜>${suffix}<｜fim▁end｜>`;
    const tok = async (content: string) =>
      (
        (await (
          await fetch(`${engine.url}/tokenize`, {
            method: 'POST',
            body: JSON.stringify({ content, add_special: true, parse_special: true }),
          })
        ).json()) as { tokens: number[] }
      ).tokens;
    const spmTokens = await tok(raw);
    assert.equal(spmTokens.at(-1), 32017); // <｜fim▁end｜> (middle) last
    assert.equal(spmTokens[1], 32015); // <｜fim▁hole｜> (suffix marker) first
    assert.notDeepEqual(spmTokens, await tok(psm));
  } finally {
    await s.close();
  }
});

test('KV reuse: identical output with and without reuse, far fewer tokens evaluated', async () => {
  // A fresh engine so the first request is cold.
  const e = await startEngine({ model, args: ['--ctx', '2048', '--parallel', '2'] });
  const s = await EngineSocket.open(e.url);
  try {
    const cold = await s.request(fim(prefix, suffix));
    const warm = await s.request(fim(prefix, suffix));
    assert.equal(cold.done?.stats.reused_tokens, 0);
    assert.equal(cold.done?.stats.evaluated_tokens, cold.done?.stats.prompt_tokens);
    assert.equal(warm.done?.text, cold.done?.text);
    assert.equal(warm.done?.stats.evaluated_tokens, 1); // the last token is re-read for its logits
    assert.equal(warm.done?.stats.reused_tokens, (warm.done?.stats.prompt_tokens ?? 0) - 1);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('a keystroke appended at the cursor evaluates only about the typed tokens', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    await s.request(fim(prefix, suffix));
    let p = prefix;
    for (const typed of ['d', 'a', 't', 'a', '.', 's', 'p', 'l', 'it', '("\\n")']) {
      p += typed;
      const r = await s.request(fim(p, suffix));
      const st = r.done!.stats;
      const typedTokens = (
        (await (await fetch(`${engine.url}/tokenize`, { method: 'POST', body: JSON.stringify({ content: typed }) })).json()) as {
          tokens: number[];
        }
      ).tokens.length;
      // typed tokens + <MID> + at most 2 tokens the tokenizer merges differently at the cursor
      assert.ok(
        st.evaluated_tokens <= typedTokens + 3,
        `typed ${JSON.stringify(typed)}: evaluated ${st.evaluated_tokens} of ${st.prompt_tokens}`,
      );
      assert.ok(st.reused_tokens >= st.prompt_tokens - typedTokens - 3);
    }
  } finally {
    await s.close();
  }
});

test('reuse works across sequences: the best match is copied from whichever sequence holds it', async () => {
  const e = await startEngine({ model, args: ['--ctx', '4096', '--parallel', '3'] });
  const s = await EngineSocket.open(e.url);
  try {
    const fileA = 'class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        ';
    const fileB = 'function sum(xs) {\n  let total = 0;\n  for (const x of xs) {\n    total += ';
    await s.request(fim(fileA, '\n'));
    await s.request(fim(fileB, '\n}\n'));
    const ref = await s.request(fim(fileA + 'self', '\n'));
    // Back in file A after file B: A's prefix is still resident and reused.
    assert.ok(ref.done!.stats.evaluated_tokens <= 4, JSON.stringify(ref.done!.stats));
    // Two concurrent requests on file A: one gets the resident sequence, the other a copy of its prefix.
    const [x, y] = await Promise.all([s.request(fim(fileA + 'self.', '\n')), s.request(fim(fileA + 'self.it', '\n'))]);
    assert.ok(x.done!.stats.evaluated_tokens <= 5, JSON.stringify(x.done!.stats));
    assert.ok(y.done!.stats.evaluated_tokens <= 6, JSON.stringify(y.done!.stats));
  } finally {
    await s.close();
    await e.stop();
  }
});

test('chunk reuse with position shift: deleting or inserting mid-prompt, moving the cursor down or up re-evaluates little', async () => {
  const file = Array.from({ length: 40 }, (_, i) => `    total_${i} = compute_value(items[${i}], weight=${i * 3})\n`);
  const run = async (cacheReuse: number) => {
    const e = await startEngine({ model, args: ['--ctx', '4096', '--parallel', '1', '--cache-reuse', String(cacheReuse)] });
    const s = await EngineSocket.open(e.url);
    try {
      const before = file.slice(0, 30).join('');
      const after = file.slice(30).join('');
      const cold = (await s.request(fim(before, after))).done!.stats;
      // Delete line 5 of the prefix: everything after it moves back.
      const deleted = (await s.request(fim(before.replace(file[5]!, ''), after))).done!.stats;
      // Cursor moves down one line: the suffix's first line joins the end of the prefix.
      const base = await s.request(fim(before, after));
      const moved = (await s.request(fim(before + file[30]!, file.slice(31).join('')))).done!.stats;
      assert.ok(base.done);
      // Cursor moves up one line: the prefix's last line joins the start of the suffix (an insertion).
      await s.request(fim(before, after));
      const up = (await s.request(fim(file.slice(0, 29).join(''), file.slice(29).join('')))).done!.stats;
      // A line inserted in the extra context (another file the user edited) before the current file.
      const other = Array.from({ length: 15 }, (_, i) => `export const limit_${i} = ${i * 7};\n`);
      const withExtra = (lines: string[]) =>
        fim(before, after, { fim: { prefix: before, suffix: after, extra: [{ filename: 'b.ts', text: lines.join('') }] } });
      await s.request(withExtra(other));
      const edited = [...other.slice(0, 5), 'export const inserted = 1;\n', ...other.slice(5)];
      const extraInsert = (await s.request(withExtra(edited))).done!.stats;
      return { cold, deleted, moved, up, extraInsert };
    } finally {
      await s.close();
      await e.stop();
    }
  };
  const on = await run(16);
  const off = await run(0);
  assert.ok(on.cold.prompt_tokens > 400, `prompt only ${on.cold.prompt_tokens} tokens`);
  // Without chunk reuse, a deletion near the start re-evaluates most of the prompt; with it, only a few tokens.
  assert.ok(off.deleted.evaluated_tokens > on.cold.prompt_tokens / 2, JSON.stringify(off.deleted));
  assert.ok(on.deleted.evaluated_tokens <= 8, JSON.stringify(on.deleted));
  assert.ok(off.moved.evaluated_tokens > on.cold.prompt_tokens / 2, JSON.stringify(off.moved));
  const lineTokens = on.cold.prompt_tokens / 40;
  assert.ok(on.moved.evaluated_tokens <= lineTokens + 8, JSON.stringify(on.moved));
  // Insertions mid-prompt: the cursor moves up (a line joins the start of the suffix), a line is added
  // to an extra chunk. Only the inserted tokens (+ the cursor's <MID>) are evaluated.
  assert.ok(off.up.evaluated_tokens > on.cold.prompt_tokens / 2, JSON.stringify(off.up));
  assert.ok(on.up.evaluated_tokens <= lineTokens + 8, JSON.stringify(on.up));
  assert.ok(off.extraInsert.evaluated_tokens > on.cold.prompt_tokens / 2, JSON.stringify(off.extraInsert));
  assert.ok(on.extraInsert.evaluated_tokens <= 20, JSON.stringify(on.extraInsert));
});

test('LRU eviction under memory pressure keeps serving requests', async () => {
  const e = await startEngine({ model, args: ['--ctx', '512', '--parallel', '3', '--batch', '128'] });
  const s = await EngineSocket.open(e.url);
  try {
    const long = (k: number) =>
      `# file ${k}\n` + Array.from({ length: 12 }, (_, i) => `value_${k}_${i} = compute(${i}, "${k}")\n`).join('');
    for (let k = 0; k < 6; k++) {
      const r = await s.request(fim(long(k), '\n', { limits: { max_tokens: 4 } }));
      assert.ok(r.done, `request ${k}: ${JSON.stringify(r.error)}`);
    }
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_kv_evictions_total [1-9]/, 'the test never filled the KV cache');
  } finally {
    await s.close();
    await e.stop();
  }
});

test('limits: max_tokens, stop strings, stop_at_eol, ignore_eos, time budget', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const base = await s.request(fim(prefix, suffix, { limits: { max_tokens: 24, ignore_eos: true } }));
    const text = base.done!.text;
    assert.equal(base.done!.stats.generated_tokens, 24);
    // A stop string taken from the greedy output: output ends right before it.
    const cut = text.slice(4, 7);
    assert.ok(cut.length > 0);
    const stopped = await s.request(fim(prefix, suffix, { limits: { max_tokens: 24, ignore_eos: true, stop: [cut] } }));
    assert.equal(stopped.done!.finish_reason, 'stop');
    assert.equal(stopped.done!.text, text.slice(0, text.indexOf(cut)));
    assert.equal(stopped.tokens.join(''), stopped.done!.text);
    // stop_at_eol: never more than one line with text.
    const eol = await s.request(fim(prefix, suffix, { limits: { max_tokens: 64, ignore_eos: true, stop_at_eol: true } }));
    const lines = eol.done!.text.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length <= 1, JSON.stringify(eol.done!.text));
    assert.equal(eol.tokens.join(''), eol.done!.text);
    // Time budget: generation ends with "time" long before 4096 tokens.
    const timed = await s.request(fim(prefix, suffix, { limits: { max_tokens: 4096, ignore_eos: true, time_budget_ms: 150 } }));
    assert.equal(timed.done!.finish_reason, 'time');
    assert.ok(timed.done!.stats.generated_tokens < 4096);
  } finally {
    await s.close();
  }
});

test('sampling with a seed is reproducible; different seeds differ', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const sampled = (seed: number) =>
      s.request(
        fim(prefix, suffix, {
          sampling: { temperature: 1.5, top_k: 50, top_p: 0.95, min_p: 0.01, seed },
          limits: { max_tokens: 16, ignore_eos: true },
        }),
      );
    const a = await sampled(7);
    const b = await sampled(7);
    assert.equal(a.done!.text, b.done!.text);
    const others = await Promise.all([8, 9, 10].map(sampled));
    assert.ok(others.some((o) => o.done!.text !== a.done!.text));
  } finally {
    await s.close();
  }
});

test('cancel stops a running request within a step and frees its sequence', async () => {
  const e = await startEngine({ model, args: ['--ctx', '8192', '--parallel', '1'] });
  const s = await EngineSocket.open(e.url);
  try {
    const msg = fim(prefix, suffix, { limits: { max_tokens: 4096, ignore_eos: true } });
    let cancelledAfter = -1;
    let tokensSeen = 0;
    const r = s.request(msg, () => {
      tokensSeen++;
      if (tokensSeen === 3) {
        cancelledAfter = tokensSeen;
        s.send({ type: 'cancel', id: msg.id });
      }
    });
    const res = await r;
    assert.equal(res.done!.finish_reason, 'cancelled');
    assert.ok(cancelledAfter === 3);
    // Bounded in decode steps, not tokens (tokens per step depend on the machine's speed): the
    // request takes part in at most the one decode already running when the cancel arrives.
    const st = res.done!.stats;
    assert.ok(st.steps_after_cancel <= 1, `${st.steps_after_cancel} decode steps after the cancel`);
    assert.ok(st.decode_steps >= 3 && st.generated_tokens < 4096, `stopped early: ${JSON.stringify(st)}`);
    // The only sequence is free again: the next request runs.
    const next = await s.request(fim(prefix, suffix));
    assert.ok(next.done);
    // Cancelling an unknown or finished id is harmless.
    s.send({ type: 'cancel', id: 'no-such-id' });
    assert.ok((await s.request(fim(prefix, suffix))).done);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('several clients at once are all served, with the same greedy output as one at a time', async () => {
  const prompts = [
    'def add(a, b):\n    return ',
    'for i in range(10):\n    ',
    'const x = [1, 2, 3].map(',
    '#include <stdio.h>\nint main() {\n  ',
  ];
  // Reference: one at a time, in a fresh engine (same start state as the concurrent run; see
  // engine.speculative.test.ts on why cache history matters for bit-exact comparisons).
  const ref = await startEngine({ model, args: ['--ctx', '2048', '--parallel', '3'] });
  const expected: string[] = [];
  try {
    const solo = await EngineSocket.open(ref.url);
    for (const p of prompts) expected.push((await solo.request(fim(p, '\n', { limits: { max_tokens: 12, ignore_eos: true } }))).done!.text);
    await solo.close();
  } finally {
    await ref.stop();
  }
  // Fresh engine so nothing is cached; four sockets, all at once, more requests than sequences.
  const e = await startEngine({ model, args: ['--ctx', '2048', '--parallel', '3'] });
  try {
    const sockets = await Promise.all(prompts.map(() => EngineSocket.open(e.url)));
    const results = await Promise.all(
      sockets.map((s, i) => s.request(fim(prompts[i]!, '\n', { limits: { max_tokens: 12, ignore_eos: true } }))),
    );
    assert.deepEqual(
      results.map((r) => r.done?.text),
      expected,
    );
    await Promise.all(sockets.map((s) => s.close()));
  } finally {
    await e.stop();
  }
});

test('a client that disconnects mid-request frees its sequence', async () => {
  const e = await startEngine({ model, args: ['--ctx', '8192', '--parallel', '1'] });
  try {
    const s1 = await EngineSocket.open(e.url);
    const msg = fim(prefix, suffix, { limits: { max_tokens: 4096, ignore_eos: true } });
    let firstToken!: () => void;
    const started = new Promise<void>((r) => (firstToken = r));
    void s1.request(msg, () => firstToken());
    await started;
    const busy = healthSchema.parse(await (await fetch(`${e.url}/health`)).json());
    assert.equal(busy.busy_sequences, 1);
    await s1.close();
    // With one sequence, this only completes if the disconnected request let go of it.
    const s2 = await EngineSocket.open(e.url);
    const r = await s2.request(fim(prefix, suffix));
    assert.ok(r.done);
    await s2.close();
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_cancellations_total 1\b/);
  } finally {
    await e.stop();
  }
});

test('repo-level FIM: extra chunks and the file name go in <file_sep> blocks before <fim_suffix>…<fim_prefix>…<fim_middle>', async () => {
  const { starcoder } = await ensureTestModels();
  const e = await startEngine({ model: starcoder, args: ['--ctx', '1024', '--parallel', '1'] });
  const s = await EngineSocket.open(e.url);
  try {
    assert.equal(e.ready.fim.repo_level, true);
    const extra = [{ filename: 'util.py', text: 'def helper():\n    return 42\n' }];
    const viaFim = await s.request({
      type: 'submit',
      id: 'a',
      fim: { prefix: 'x = helper(', suffix: ')\n', filename: 'main.py', extra },
      limits: { max_tokens: 6, ignore_eos: true },
      speculative: nospec,
    });
    const tokenize = async (content: string) =>
      (
        (await (
          await fetch(`${e.url}/tokenize`, { method: 'POST', body: JSON.stringify({ content, add_special: true, parse_special: true }) })
        ).json()) as { tokens: number[] }
      ).tokens;
    const raw = '<file_sep>util.py\ndef helper():\n    return 42\n\n<file_sep>main.py\n<fim_suffix>)\n<fim_prefix>x = helper(<fim_middle>';
    const rawTokens = await tokenize(raw);
    assert.equal(rawTokens.filter((t) => t === 6).length, 2); // two <file_sep>
    assert.equal(rawTokens.at(-1), 2); // <fim_middle> last
    const viaRaw = await s.request({
      type: 'submit',
      id: 'b',
      prompt: raw,
      limits: { max_tokens: 6, ignore_eos: true },
      speculative: nospec,
    });
    assert.equal(viaFim.done!.stats.prompt_tokens, rawTokens.length);
    assert.equal(viaRaw.done!.text, viaFim.done!.text);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('--fim-order psm builds <PRE>prefix<SUF>suffix<MID> for models trained on PSM only', async () => {
  const e = await startEngine({ model, args: ['--ctx', '1024', '--parallel', '1', '--fim-order', 'psm', '--cache-reuse', '8'] });
  const s = await EngineSocket.open(e.url);
  try {
    assert.equal(e.ready.fim.order, 'psm');
    const viaFim = await s.request(fim(prefix, suffix));
    const raw = `<｜fim▁begin｜>${prefix}<｜fim▁hole｜>${suffix}<｜fim▁end｜>`;
    const viaRaw = await s.request({ type: 'submit', id: id(), prompt: raw, limits: { max_tokens: 8 }, speculative: nospec });
    assert.equal(viaRaw.done!.stats.prompt_tokens, viaFim.done!.stats.prompt_tokens);
    assert.equal(viaRaw.done!.stats.reused_tokens, viaRaw.done!.stats.prompt_tokens - 1); // same tokens as the FIM prompt
    assert.equal(viaRaw.done!.text, viaFim.done!.text);
    // A keystroke now inserts before <SUF>suffix<MID>; chunk reuse moves the suffix forward instead
    // of re-evaluating it (without it, the whole suffix would be evaluated again).
    const typed = await s.request(fim(prefix + 'data', suffix));
    const suffixTokens = (
      (await (await fetch(`${e.url}/tokenize`, { method: 'POST', body: JSON.stringify({ content: suffix }) })).json()) as {
        tokens: number[];
      }
    ).tokens.length;
    assert.ok(suffixTokens >= 10);
    assert.ok(typed.done!.stats.evaluated_tokens <= 6, JSON.stringify(typed.done!.stats));
  } finally {
    await s.close();
    await e.stop();
  }
});
