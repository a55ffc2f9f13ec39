/** The completion cache: raw model text plus where the user was; typing-through; filters on what is returned. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { CompletionCache, typedThroughRaw } from '../../server/src/completion/cache';
import { filterAnswers } from '../../server/src/completion/provider';
import { cursorContext } from '../../server/src/context/completionContext';
import { MAX_LINE_CHARS } from '../../server/src/context/window';

const uri = 'file:///a.ts';
const entry = (prefix: string, suffix: string, raw: string[], source: 'request' | 'prefetch' = 'request') => ({
  uri,
  prefix,
  suffix,
  raw,
  source,
});

test('exact hit returns the stored raw texts and where they came from', () => {
  const c = new CompletionCache();
  c.set(entry('const x = ', ';\n', ['foo(1)'], 'prefetch'));
  assert.deepEqual(c.get(uri, 'const x = ', ';\n'), { raw: ['foo(1)'], typedThrough: 0, source: 'prefetch' });
  assert.ok(c.has(uri, 'const x = ', ';\n'));
  assert.ok(!c.has(uri, 'const x = f', ';\n'));
});

test('typing-through: typing the start of a suggestion returns the rest of its raw text', () => {
  const c = new CompletionCache();
  c.set(entry('const x = ', ';\n', ['foo(1)', 'bar()']));
  assert.deepEqual(c.get(uri, 'const x = fo', ';\n'), { raw: ['o(1)'], typedThrough: 2, source: 'request' });
  assert.deepEqual(c.get(uri, 'const x = b', ';\n'), { raw: ['ar()'], typedThrough: 1, source: 'request' });
});

test('typing something else, a different suffix or another file misses', () => {
  const c = new CompletionCache();
  c.set(entry('const x = ', ';\n', ['foo(1)']));
  assert.equal(c.get(uri, 'const x = g', ';\n'), undefined);
  assert.equal(c.get(uri, 'const x = fo', ');\n'), undefined);
  assert.equal(c.get('file:///b.ts', 'const x = ', ';\n'), undefined);
  // Typing the whole suggestion leaves nothing to show.
  assert.equal(c.get(uri, 'const x = foo(1)', ';\n'), undefined);
});

test('typing-through works when the prefix window has slid', () => {
  const c = new CompletionCache();
  const long = `${'x'.repeat(5000)}\nlet value = `;
  c.set(entry(long, '', ['compute(42)']));
  assert.deepEqual(c.get(uri, `${long}comp`, ''), { raw: ['ute(42)'], typedThrough: 4, source: 'request' });
});

test('least recently used entries are evicted first', () => {
  const c = new CompletionCache(2);
  c.set(entry('a', '', ['1']));
  c.set(entry('b', '', ['2']));
  assert.ok(c.get(uri, 'a', '')); // a is now the most recent
  c.set(entry('c', '', ['3']));
  assert.equal(c.size, 2);
  assert.ok(c.get(uri, 'a', ''));
  assert.equal(c.get(uri, 'b', ''), undefined);
  assert.ok(c.get(uri, 'c', ''));
});

test('empty answers are not cached', () => {
  const c = new CompletionCache();
  c.set(entry('a', '', ['']));
  assert.equal(c.size, 0);
});

test('typedThroughRaw: what the user typed over a post-processed suggestion, located in the raw text', () => {
  const cases: { raw: string; typed: string; want: number | undefined; why: string }[] = [
    { raw: 'foo(1)', typed: 'fo', want: 2, why: 'plain prefix' },
    { raw: 'foo(1)', typed: 'fx', want: undefined, why: 'departs' },
    { raw: '    return x', typed: 'ret', want: 7, why: 'leading indentation the filter removed (cursor after the indentation)' },
    { raw: 'a  \nb', typed: 'a\n', want: 4, why: 'trailing spaces the filter trimmed' },
    { raw: 'if x:\n        y = 1', typed: 'if x:\n\t\ty', want: 15, why: 'indentation typed as tabs for spaces' },
    { raw: 'if x:\n    y = 1', typed: 'if x:\n  ', want: 10, why: 'typed part of the indentation: the raw indentation counts as typed' },
    { raw: 'ab', typed: 'ab', want: 2, why: 'all typed' },
    { raw: 'a\nb', typed: 'ab', want: undefined, why: 'a line break is not skipped' },
  ];
  for (const c of cases) assert.equal(typedThroughRaw(c.raw, c.typed), c.want, c.why);
});

test('a typing-through hit is post-processed for where the user is now: a filter cuts what it must', () => {
  // Inside `{}` after an opener, a multi-line suggestion is wanted; the model answered three lines.
  const before = 'const config = {';
  const after = '}\n';
  const raw = '\n  a: 1,\n  b: 2,\n  c: 3,';
  const c = new CompletionCache();
  c.set(entry(before, after, [raw]));
  const budget = { prefixChars: 10_000, suffixChars: 10_000, maxLineChars: MAX_LINE_CHARS };
  const shownFirst = filterAnswers(
    c.get(uri, before, after)!.raw,
    cursorContext({ uri, text: before + after, offset: before.length }, budget, 'auto'),
  );
  assert.deepEqual(shownFirst, ['\n  a: 1,\n  b: 2,\n  c: 3,']);
  // The user typed the first line: the cursor is now after `a: 1,` (not an opener), before `}`:
  // a fresh answer here would be single-line, so the rest is cut to its next line.
  const typed = '\n  a: 1,';
  const hit = c.get(uri, before + typed, after)!;
  assert.deepEqual(hit.raw, ['\n  b: 2,\n  c: 3,'], 'the cache returns the raw rest');
  const now = cursorContext({ uri, text: before + typed + after, offset: (before + typed).length }, budget, 'auto');
  assert.equal(now.multiline, false);
  assert.deepEqual(filterAnswers(hit.raw, now), ['\n  b: 2,']);
});
