// Speculative decoding through the real engine. Random-weight models say nothing about speed-ups,
// but they do prove exactness: greedy output with speculation (draft model, n-gram lookup, both) must
// be token-for-token identical to greedy output without it, and stochastic speculative sampling must
// keep the target's distribution (a two-sample chi-square test over many samples).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { SpeculativeParams, SubmitMessage } from '../../protocol/engine';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

// These tests check what drafting does (exactness, acceptance, the distribution), so drafting must
// happen whenever a draft exists: without the gate that pauses it where it costs more per token than
// plain decoding (on this CPU it does: speculator.h, SpeculationGate), whose decisions depend on time.
const exact = ['--speculation-gate', 'off'];

let withDraft: RunningEngine;
let selfDraft: RunningEngine;
let target: string;

before(async () => {
  const m = await ensureTestModels();
  target = m.target;
  withDraft = await startEngine({ model: m.target, args: ['--draft-model', m.draft, '--ctx', '4096', '--parallel', '4', ...exact] });
  // The target drafting for itself: every greedy draft token must be accepted.
  selfDraft = await startEngine({ model: m.target, args: ['--draft-model', m.target, '--ctx', '4096', '--parallel', '4', ...exact] });
});
after(async () => {
  await withDraft?.stop();
  await selfDraft?.stop();
});

const prompts = [
  { prefix: 'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\ndef fib2(n):\n    ', suffix: '\n' },
  { prefix: 'a = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, ', suffix: ']\n' },
  { prefix: 'for (let i = 0; i < n; i++) {\n  total += values[i];\n}\nfor (let j = 0; j < n; j++) {\n  ', suffix: '\n}\n' },
];
let n = 0;
function submit(p: { prefix: string; suffix: string }, speculative: SpeculativeParams, extra: Partial<SubmitMessage> = {}): SubmitMessage {
  return { type: 'submit', id: `s${++n}`, fim: p, speculative, limits: { max_tokens: 128, ignore_eos: true }, ...extra };
}

// Each arm runs in a fresh engine: llama.cpp's attention sums over KV cells in cell order, so a
// different cache history (holes left by earlier requests) changes the last bits of the logits, and a
// random-weight model's near-ties can then flip. Same start state -> the comparison is exact.
async function freshRun(p: { prefix: string; suffix: string }, spec: SpeculativeParams, draft: string) {
  const e = await startEngine({ model: target, args: ['--draft-model', draft, '--ctx', '1024', '--parallel', '1', ...exact] });
  const s = await EngineSocket.open(e.url);
  try {
    return await s.request(submit(p, spec));
  } finally {
    await s.close();
    await e.stop();
  }
}

test('greedy: draft model, n-gram and both give exactly the output of plain decoding', async () => {
  const { draft } = await ensureTestModels();
  let drafted = 0;
  let ngramDrafted = 0;
  let ngramAccepted = 0;
  for (const p of prompts) {
    const plain = await freshRun(p, { draft: false, ngram: false }, draft);
    assert.equal(plain.done!.stats.drafted_tokens, 0);
    for (const spec of [
      { draft: true, ngram: false },
      { draft: false, ngram: true },
      { draft: true, ngram: true },
    ]) {
      const r = await freshRun(p, spec, draft);
      assert.equal(r.done!.text, plain.done!.text, `${JSON.stringify(spec)} on ${JSON.stringify(p.prefix.slice(0, 30))}`);
      assert.equal(r.done!.stats.generated_tokens, plain.done!.stats.generated_tokens);
      assert.equal(r.tokens.join(''), r.done!.text);
      assert.ok(r.done!.stats.accepted_tokens <= r.done!.stats.drafted_tokens);
      drafted += r.done!.stats.drafted_tokens;
      if (spec.ngram && !spec.draft) {
        ngramDrafted += r.done!.stats.drafted_tokens;
        ngramAccepted += r.done!.stats.accepted_tokens;
      }
    }
  }
  assert.ok(drafted > 0, 'speculation never drafted anything: the test would prove nothing');
  assert.ok(ngramDrafted > 0, 'n-gram lookup never drafted');
  assert.ok(ngramAccepted > 0, 'n-gram drafts were never accepted: the accept path is untested');
});

test('greedy: a model drafting for itself has its drafts accepted, and the same output', async () => {
  for (const p of prompts) {
    const plain = await freshRun(p, { draft: false, ngram: false }, target);
    const r = await freshRun(p, { draft: true, ngram: false }, target);
    assert.equal(r.done!.text, plain.done!.text);
    const st = r.done!.stats;
    assert.ok(st.drafted_tokens > 0);
    // Drafts cut short by the end of the request are never verified; all the others must pass.
    assert.ok(st.accepted_tokens >= st.drafted_tokens - 16, JSON.stringify(st));
    assert.ok(st.accepted_tokens >= st.generated_tokens / 2, JSON.stringify(st));
  }
});

/** Two-sample chi-square over the outcomes; cells with fewer than 10 samples are pooled. */
function chiSquare(a: Map<string, number>, b: Map<string, number>): { chi2: number; df: number } {
  const keys = new Set([...a.keys(), ...b.keys()]);
  let chi2 = 0;
  let df = -1;
  let poolA = 0;
  let poolB = 0;
  for (const k of keys) {
    const x = a.get(k) ?? 0;
    const y = b.get(k) ?? 0;
    if (x + y < 10) {
      poolA += x;
      poolB += y;
      continue;
    }
    chi2 += (x - y) ** 2 / (x + y);
    df++;
  }
  if (poolA + poolB > 0) {
    chi2 += (poolA - poolB) ** 2 / (poolA + poolB);
    df++;
  }
  return { chi2, df };
}

/** Upper critical value of chi-square at p = 0.001 (Wilson-Hilferty). */
function critical(df: number): number {
  const z = 3.09;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

test('stochastic speculative sampling keeps the target distribution (chi-square, 600 samples per arm)', async () => {
  const N = 600;
  const p = { prefix: 'x = [1, 2, 3, 1, 2, 3, 1, 2, ', suffix: ']\n' };
  // 3 tokens: the first comes from the prompt, the next two through draft + verification.
  const sampling = { temperature: 1.0, top_k: 3 };
  const limits = { max_tokens: 3, ignore_eos: true };
  const run = async (engine: RunningEngine, speculative: SpeculativeParams, seedBase: number) => {
    const sockets = await Promise.all([0, 1, 2, 3].map(() => EngineSocket.open(engine.url)));
    try {
      const counts = new Map<string, number>();
      let drafted = 0;
      let accepted = 0;
      for (let i = 0; i < N; i += sockets.length) {
        const batch = await Promise.all(
          sockets.map((s, k) => s.request(submit(p, speculative, { sampling: { ...sampling, seed: seedBase + i + k }, limits }))),
        );
        for (const r of batch) {
          assert.ok(r.done, JSON.stringify(r.error));
          counts.set(r.done.text, (counts.get(r.done.text) ?? 0) + 1);
          drafted += r.done.stats.drafted_tokens;
          accepted += r.done.stats.accepted_tokens;
        }
      }
      return { counts, drafted, accepted };
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  };
  const plain = await run(selfDraft, { draft: false, ngram: false }, 1000);
  assert.equal(plain.drafted, 0);
  assert.ok(plain.counts.size > 3, 'the distribution is too narrow to test anything');
  const arms = {
    // q = the target's own sampled distribution: nearly every draft accepted.
    'self-draft (sampled q)': await run(selfDraft, { draft: true, ngram: false }, 50_000),
    // q = a different model's sampled distribution: mostly rejections, residual sampling.
    'other draft model (sampled q)': await run(withDraft, { draft: true, ngram: false }, 100_000),
  };
  // (The one-hot q of n-gram drafts is not in this test: with 3 sampled tokens from a random model the
  // n-gram lookup never finds a match to draft from.)
  let anyAccepted = false;
  let anyRejected = false;
  for (const [name, arm] of Object.entries(arms)) {
    assert.ok(arm.drafted > 0, `${name}: nothing drafted`);
    anyAccepted ||= arm.accepted > 0;
    anyRejected ||= arm.accepted < arm.drafted;
    const { chi2, df } = chiSquare(plain.counts, arm.counts);
    assert.ok(df >= 2, `${name}: df ${df}`);
    assert.ok(
      chi2 < critical(df),
      `${name}: chi2 ${chi2.toFixed(1)} >= ${critical(df).toFixed(1)} (df ${df}): speculative sampling changed the distribution`,
    );
  }
  // Both branches of the rejection sampler ran.
  assert.ok(anyAccepted && anyRejected, JSON.stringify(Object.values(arms).map((a) => [a.drafted, a.accepted])));
  assert.ok(
    arms['self-draft (sampled q)'].accepted > arms['self-draft (sampled q)'].drafted / 2,
    'a model drafting for itself must mostly be accepted',
  );
});

test('the chi-square check itself detects a changed distribution (guards the statistical test)', () => {
  const a = new Map([
    ['x', 200],
    ['y', 120],
    ['z', 80],
  ]);
  const b = new Map([
    ['x', 300],
    ['y', 60],
    ['z', 40],
  ]);
  const { chi2, df } = chiSquare(a, b);
  assert.ok(chi2 > critical(df));
  const same = chiSquare(
    a,
    new Map([
      ['x', 195],
      ['y', 125],
      ['z', 80],
    ]),
  );
  assert.ok(same.chi2 < critical(same.df));
  assert.ok(target.endsWith('.gguf'));
});
