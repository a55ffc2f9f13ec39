// fim.budget through the real engine on a real GGUF: token budgets for the prefix (its last tokens,
// cut at a line start), the suffix (its first tokens) and the extra chunks (nearest first), bad
// budgets rejected naming the field, and keystrokes under a prefix budget still reuse the KV cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FimInput, SubmitMessage } from '../../protocol/engine';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

const nospec = { draft: false, ngram: false };
// DeepSeek-Coder's FIM tokens (the test model's vocabulary), in the engine's SPM order.
const SUF = '<｜fim▁hole｜>';
const PRE = '<｜fim▁begin｜>';
const MID = '<｜fim▁end｜>';

const lines = Array.from({ length: 60 }, (_, i) => `total_${i} = compute_value(items[${i}], weight=${i * 3})\n`);
const prefix = lines.slice(0, 45).join('') + 'result = ';
const suffix = lines.slice(45).join('');

let model: string;
let engine: RunningEngine;
before(async () => {
  model = (await ensureTestModels()).target;
  // No chunk reuse: reused_tokens is then exactly the common prefix with the previous prompt, which
  // lets the tests below check which tokens a budget kept.
  engine = await startEngine({ model, args: ['--ctx', '4096', '--parallel', '1', '--cache-reuse', '0'] });
});
after(async () => {
  await engine?.stop();
});

let n = 0;
const id = () => `b${++n}`;
function fim(f: FimInput, extra: Partial<SubmitMessage> = {}): SubmitMessage {
  return { type: 'submit', id: id(), fim: f, limits: { max_tokens: 4 }, speculative: nospec, ...extra };
}
async function tokenize(url: string, content: string, special = false): Promise<number[]> {
  const res = await fetch(`${url}/tokenize`, {
    method: 'POST',
    body: JSON.stringify({ content, add_special: special, parse_special: special }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { tokens: number[] }).tokens;
}
async function stats(s: EngineSocket, msg: SubmitMessage) {
  const r = await s.request(msg);
  assert.ok(r.done, JSON.stringify(r.error));
  return r.done.stats;
}

test('prefix budget: the prompt keeps the last whole lines before the cursor that fit the budget', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const full = await stats(s, fim({ prefix, suffix }));
    const prefixTokens = (await tokenize(engine.url, prefix)).length;
    const budget = 256;
    assert.ok(prefixTokens > 2 * budget, `prefix only ${prefixTokens} tokens`);
    const cut = await stats(s, fim({ prefix, suffix, budget: { prefix_tokens: budget } }));
    const kept = prefixTokens - (full.prompt_tokens - cut.prompt_tokens);
    // At most the budget, at most an eighth less (the cut moves forward to a line start).
    assert.ok(kept <= budget && kept >= budget - budget / 8, `kept ${kept} prefix tokens for a budget of ${budget}`);
    // Which tokens: the largest run of whole last lines that fits. The same prompt written out by
    // hand must then be token-identical: all but its last token come from the KV cache.
    const before = prefix.split(/(?<=\n)/);
    let k = 0;
    while (k < before.length && (await tokenize(engine.url, before.slice(before.length - k - 1).join(''))).length <= budget) k++;
    const keptText = before.slice(before.length - k).join('');
    assert.ok(keptText.endsWith('result = ') && keptText.startsWith('total_'), JSON.stringify(keptText.slice(0, 40)));
    const raw = await stats(s, {
      type: 'submit',
      id: id(),
      prompt: `${SUF}${suffix}${PRE}${keptText}${MID}`,
      limits: { max_tokens: 4 },
      speculative: nospec,
    });
    assert.equal(raw.prompt_tokens, cut.prompt_tokens);
    assert.equal(raw.evaluated_tokens, 1, `the hand-built prompt differs from the budgeted one: ${JSON.stringify(raw)}`);
  } finally {
    await s.close();
  }
});

test('suffix budget: the prompt keeps the first suffix tokens after the cursor', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const full = await stats(s, fim({ prefix, suffix }));
    const suffixTokens = (await tokenize(engine.url, suffix)).length;
    const budget = 40;
    assert.ok(suffixTokens > 3 * budget, `suffix only ${suffixTokens} tokens`);
    const cut = await stats(s, fim({ prefix, suffix, budget: { suffix_tokens: budget } }));
    assert.equal(full.prompt_tokens - cut.prompt_tokens, suffixTokens - budget);
    // The first suffix line, written out by hand, is the start of the kept suffix: the prompt
    // BOS <SUF> line45 ... shares those tokens with the budgeted prompt in the KV cache.
    const firstLine = lines[45]!;
    const lineTokens = (await tokenize(engine.url, firstLine)).length;
    assert.ok(lineTokens < budget);
    const probe = await stats(s, {
      type: 'submit',
      id: id(),
      prompt: `${SUF}${firstLine}${PRE}x${MID}`,
      limits: { max_tokens: 4 },
      speculative: nospec,
    });
    assert.ok(
      probe.reused_tokens >= 2 + lineTokens - 1,
      `the budgeted suffix does not start with the first suffix line: ${JSON.stringify(probe)}`,
    );
    // And the budgeted suffix ends where the budget says: a suffix budget of 0 drops it all.
    const none = await stats(s, fim({ prefix, suffix, budget: { suffix_tokens: 0 } }));
    assert.equal(full.prompt_tokens - none.prompt_tokens, suffixTokens);
  } finally {
    await s.close();
  }
});

test('extra budget: whole chunks, nearest the file first', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    // Three chunks of clearly different sizes; the last one is nearest the file being completed.
    const chunks = [
      { filename: 'far.py', text: Array.from({ length: 12 }, (_, i) => `FAR_${i} = ${i}\n`).join('') },
      { filename: 'mid.py', text: Array.from({ length: 6 }, (_, i) => `MID_${i} = ${i}\n`).join('') },
      { filename: 'near.py', text: Array.from({ length: 3 }, (_, i) => `NEAR_${i} = ${i}\n`).join('') },
    ];
    // The engine's rendering for a vocabulary without <file_sep>: "// name\n" + text + "\n".
    const sizes = await Promise.all(chunks.map(async (c) => (await tokenize(engine.url, `// ${c.filename}\n${c.text}\n`)).length));
    const [far, mid, near] = sizes as [number, number, number];
    const all = await stats(s, fim({ prefix: 'x = ', suffix: '\n', extra: chunks }));
    const none = await stats(s, fim({ prefix: 'x = ', suffix: '\n', extra: chunks, budget: { extra_tokens: 0 } }));
    assert.equal(all.prompt_tokens - none.prompt_tokens, far + mid + near);
    const two = await stats(s, fim({ prefix: 'x = ', suffix: '\n', extra: chunks, budget: { extra_tokens: mid + near } }));
    assert.equal(all.prompt_tokens - two.prompt_tokens, far, 'the farthest chunk is dropped');
    const one = await stats(s, fim({ prefix: 'x = ', suffix: '\n', extra: chunks, budget: { extra_tokens: mid + near - 1 } }));
    assert.equal(all.prompt_tokens - one.prompt_tokens, far + mid, 'only the nearest chunk fits');
  } finally {
    await s.close();
  }
});

test('bad budget values get an error naming the field', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    const cases: [string, unknown, RegExp][] = [
      ['negative', { prefix_tokens: -1 }, /fim\.budget\.prefix_tokens must be between 0 and 1048576, got -1/],
      ['fraction', { suffix_tokens: 1.5 }, /fim\.budget\.suffix_tokens must be an integer/],
      ['string', { extra_tokens: '10' }, /fim\.budget\.extra_tokens must be an integer/],
      ['huge', { prefix_tokens: 1e12 }, /fim\.budget\.prefix_tokens must be between 0 and 1048576/],
      ['unknown field', { prefix: 10 }, /fim\.budget\.prefix is not a known field/],
      ['not an object', 512, /fim\.budget must be an object/],
    ];
    for (const [name, budget, pattern] of cases) {
      const r = await s.request(fim({ prefix: 'a', suffix: 'b', budget } as unknown as FimInput));
      assert.ok(r.error, `${name}: expected an error, got ${JSON.stringify(r.done)}`);
      assert.equal(r.error.error.code, 'bad_request', name);
      assert.match(r.error.error.message, pattern, name);
    }
    // The socket still serves good requests afterwards.
    assert.ok((await s.request(fim({ prefix: 'a', suffix: 'b', budget: { prefix_tokens: 0, suffix_tokens: 0, extra_tokens: 0 } }))).done);
  } finally {
    await s.close();
  }
});

test('keystrokes under a prefix budget evaluate about the typed tokens, also when the cut moves on', async (t) => {
  // Default chunk reuse (--cache-reuse 32): when the cut moves to the next line start, the cached
  // prefix is shifted back rather than evaluated again.
  const e = await startEngine({ model, args: ['--ctx', '4096', '--parallel', '1'] });
  const s = await EngineSocket.open(e.url);
  try {
    const budget = { prefix_tokens: 200, suffix_tokens: 64 };
    let p = prefix;
    const first = await stats(s, fim({ prefix: p, suffix, budget }));
    let moves = 0;
    let maxEvaluated = 0;
    let last = first.prompt_tokens;
    const typing = ['1', '2', '3', '\n', 'next', '_', 'value', ' = ', 'total_', '3', ' + ', '1', '\n'];
    for (let round = 0; round < 4; round++) {
      for (const typed of typing) {
        p += typed;
        const st = await stats(s, fim({ prefix: p, suffix, budget }));
        const typedTokens = (await tokenize(e.url, typed)).length;
        // typed tokens + <MID> + at most 2 tokens the tokenizer merges differently at the cursor
        assert.ok(st.evaluated_tokens <= typedTokens + 3, `typed ${JSON.stringify(typed)}: ${JSON.stringify(st)}`);
        assert.ok(st.prompt_tokens <= first.prompt_tokens + 200 / 8 + typedTokens);
        if (st.prompt_tokens < last) moves++;
        maxEvaluated = Math.max(maxEvaluated, st.evaluated_tokens);
        last = st.prompt_tokens;
      }
    }
    t.diagnostic(`${typing.length * 4} keystrokes, the cut moved ${moves} times, at most ${maxEvaluated} tokens evaluated per keystroke`);
    // The typing added far more tokens than the slack: the cut must have moved, several times.
    assert.ok(moves >= 2, `the prefix cut moved ${moves} times`);
  } finally {
    await s.close();
    await e.stop();
  }
});
