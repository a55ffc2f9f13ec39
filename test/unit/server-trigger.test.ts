/**
 * Where ghost text is offered (server/src/completion/trigger.ts): Copilot's middle-of-the-line rule.
 * `║` marks the cursor; only the text after it on its line matters.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { offersSuggestionBefore } from '../../server/src/completion/trigger';

test('offered at the end of a line and before closers only; not in the middle of a word or before other text', () => {
  const cases: [string, boolean][] = [
    ['const x = ║', true],
    ['const x = ║   ', true], // trailing whitespace
    ['foo(ba║)', true],
    ['foo(ba║))', true],
    ['call(a, ║);', true],
    ['const s = "na║";', true],
    ["const s = 'na║'", true],
    ['const t = `na║`', true],
    ['xs = [1, 2║];', true],
    ['if (ok║) {', true],
    ['type A = Array<str║>', true],
    ['f(x║),', true],
    ['f(x║) :', true],
    ['con║st x = 1;', false], // in the middle of a word
    ['const ║x = 1;', false], // before other text
    ['a║ = b', false],
    ['foo(║a)', false],
    ['f(x║);;', false], // two trailing punctuation marks
    ['f(x║) ab', false],
    ['║return', false],
    ['\t║', true],
  ];
  for (const [marked, want] of cases) {
    const suffix = marked.slice(marked.indexOf('║') + 1);
    assert.equal(offersSuggestionBefore(suffix), want, marked);
  }
});

// The regex form (`^\s*[)>}\]"'`]*\s*[:{;,]?\s*$`) backtracks cubically on this input and would not
// finish; the timeout only guards against such a hang.
test('a 60,000-character line is judged by one scan (no regex backtracking)', { timeout: 60_000 }, () => {
  assert.equal(offersSuggestionBefore(`${' '.repeat(60_000)}x`), false);
  assert.equal(offersSuggestionBefore(`${')'.repeat(30_000)}${' '.repeat(30_000)};`), true);
});
