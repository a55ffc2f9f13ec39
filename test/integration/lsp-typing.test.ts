/**
 * Typing through the real thing: a JSON-RPC client ↔ the LSP server (spawned) ↔ the real
 * pronto-engine on a generated GGUF.
 * - The engine's KV cache stays useful: the prompt is over a thousand tokens, so a keystroke that
 *   shifted the window, reordered the extra chunks or changed the suffix would show up as hundreds of
 *   evaluated tokens. Counted with the engine's own figures (each request's `evaluated` in
 *   `pronto/stats`, and `/metrics`), never time.
 * - Where suggestions are offered (server/src/completion/trigger.ts): not in the middle of a word.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { StatsResult } from '../../protocol/lsp';
import { engineMetric, type LspHarness } from '../support/lsp';
import { startLspOnTestModel } from '../support/realLsp';

const HEAD = Array.from({ length: 300 }, (_, i) => `  const value${i} = compute(${i}, value${Math.max(0, i - 1)}, "item ${i}");`).join(
  '\n',
);
const TAIL = Array.from({ length: 30 }, (_, i) => `  check(result${i});`).join('\n');
/** Typed key by key after HEAD: three lines that use names defined in another open file. */
const TYPED = '  const side = makeSquare(width);\n  const total = areaOf(side) + perimeterOf(side);\n  log(total);';
const SHAPES = [
  'export function makeSquare(w) {',
  '  return { w, h: w };',
  '}',
  'export const areaOf = (s) => s.w * s.h;',
  'export function perimeterOf(s) {',
  '  return 2 * (s.w + s.h);',
  '}',
].join('\n');

describe('typing with the real engine', { timeout: 600_000 }, () => {
  let h: LspHarness;
  before(async () => {
    h = await startLspOnTestModel({ debounceMs: 0, maxTokens: 8, timeBudgetMs: 30000 });
  });
  after(async () => {
    await h?.stop();
  });

  test(`${TYPED.length} keys typed over three lines: no keystroke re-evaluates the window`, async () => {
    await h.open('file:///work/shapes.js', SHAPES, 'javascript');
    const uri = 'file:///work/main.js';
    const docAt = (k: number) => `${HEAD}\n${TYPED.slice(0, k)}\n${TAIL}`;
    await h.open(uri, docAt(0), 'javascript');
    const cursorAt = (k: number) => {
      const before = `${HEAD}\n${TYPED.slice(0, k)}`;
      return { line: before.split('\n').length - 1, character: before.length - (before.lastIndexOf('\n') + 1) };
    };
    // The cold prompt first (not counted).
    await h.inline(uri, cursorAt(0).line, cursorAt(0).character);
    const cold = ((await h.connection.sendRequest('pronto/stats')) as StatsResult).recent.at(-1)!;
    assert.ok(cold.promptTokens >= 1000, `the prompt is long enough for a re-evaluation to show: ${cold.promptTokens} tokens`);
    const m0 = await engineMetric(h, 'pronto_prompt_tokens_evaluated_total');
    const perKey: number[] = [];
    for (let k = 1; k <= TYPED.length; k++) {
      await h.change(uri, k + 1, docAt(k));
      const { line, character } = cursorAt(k);
      await h.inline(uri, line, character);
      const rec = ((await h.connection.sendRequest('pronto/stats')) as StatsResult).recent.at(-1)!;
      assert.ok(rec.outcome !== 'error', `key ${k}: ${rec.message}\n${h.logs.slice(-20).join('\n')}`);
      perKey.push(rec.evaluatedTokens);
    }
    // Prefetches (after shown suggestions) are in the engine's total too; wait until it is idle.
    for (const deadline = Date.now() + 60_000; (await engineMetric(h, 'pronto_busy_sequences')) > 0 && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 50));
    const total = (await engineMetric(h, 'pronto_prompt_tokens_evaluated_total')) - m0;
    const worst = Math.max(...perKey);
    const detail = `per key: ${perKey.join(' ')}; engine total ${total}`;
    // A key costs what was typed (a token or two) plus <MID>; a first-found definition inserts its
    // chunk once (~40 tokens); a prefetch evaluates the suggestion it extends. A window that shifted
    // under the cache (or a prefetch whose window started elsewhere, cancelled half-way) would cost the
    // ~1,000-token prefix: before the fix, 13 keys of these 97 evaluated over 1,000 tokens, 15,276 in all.
    assert.ok(worst <= 96, `worst keystroke evaluated ${worst} tokens (${detail})`);
    assert.ok(total <= 16 * TYPED.length, `engine evaluated ${total} tokens over ${TYPED.length} keys, prefetches included (${detail})`);
  });

  test('in the middle of a word or before other text: no suggestion and no engine request; before closers, and when asked explicitly: answered', async () => {
    const uri = 'file:///work/where.js';
    // line 0: "const total = computeTotal(items);"   line 1: "call(arg);"
    await h.open(uri, 'const total = computeTotal(items);\ncall(arg);\n', 'javascript');
    const stats = async () => (await h.connection.sendRequest('pronto/stats')) as StatsResult;
    const count = async () => ({ engine: await engineMetric(h, 'pronto_requests_total'), records: (await stats()).requests });
    const before = await count();
    for (const [line, character, where] of [
      [0, 3, 'con║st'],
      [0, 17, 'comp║uteTotal'],
      [0, 6, 'const ║total'],
      [1, 5, 'call(║arg)'],
    ] as const) {
      const r = await h.inline(uri, line, character);
      assert.deepEqual(r.items, [], where);
    }
    assert.deepEqual(await count(), before, 'no engine request and nothing counted for the four positions');
    // Before closers only (`call(arg║);`): asked.
    await h.inline(uri, 1, 8);
    const afterCloser = await count();
    assert.equal(afterCloser.records, before.records + 1, 'a request before ");" is answered and counted');
    // Explicit (Alt+\): answered even in the middle of a word.
    await h.connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri },
      position: { line: 0, character: 3 },
      context: { triggerKind: 1 },
    });
    assert.equal((await count()).records, afterCloser.records + 1, 'an explicit request is answered');
  });
});
