/** The definition snippet the extension sends back (extension/src/snippet.ts). */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { capChars, MAX_SNIPPET_CHARS, MAX_SNIPPET_LINES, snippetLines } from '../../extension/src/snippet';

const ts = ['const a = 1;', 'export function area(s: Shape): number {', '  const w = s.w;', '', '  return w * s.h;', '}', 'const b = 2;'];

test('a one-line target range grows to its indented block, closing bracket included', () => {
  assert.deepEqual(snippetLines(ts, 1, 1), { start: 1, end: 5 });
});

test('a multi-line target range (LocationLink.targetRange) is used as it is', () => {
  assert.deepEqual(snippetLines(ts, 1, 2), { start: 1, end: 2 });
});

test('a one-line declaration stays one line; a Python block ends before the next statement', () => {
  assert.deepEqual(snippetLines(ts, 0, 0), { start: 0, end: 0 });
  const py = ['def area(s):', '    w = s.w', '    return w * s.h', '', 'def other():', '    pass'];
  assert.deepEqual(snippetLines(py, 0, 0), { start: 0, end: 2 });
});

test('snippets are capped in lines and characters; out-of-range lines are clamped', () => {
  const long = ['class Big {', ...Array.from({ length: 100 }, (_, i) => `  f${i}() {}`), '}'];
  assert.deepEqual(snippetLines(long, 0, 0), { start: 0, end: MAX_SNIPPET_LINES - 1 });
  assert.deepEqual(snippetLines(long, 0, 500), { start: 0, end: MAX_SNIPPET_LINES - 1 });
  assert.deepEqual(snippetLines(ts, 99, 99), { start: ts.length - 1, end: ts.length - 1 });
  const text = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
  const capped = capChars(text);
  assert.ok(capped.length <= MAX_SNIPPET_CHARS);
  assert.ok(text.startsWith(capped) && text[capped.length] === '\n', 'cut at a line end');
  assert.equal(capChars('short'), 'short');
});
