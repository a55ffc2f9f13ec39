import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ContextRing, lineSetSimilarity } from '../../server/src/context/ring';
import { PRECUT_CHARS_PER_TOKEN, cursorWindow, cutPrefix, cutSuffix, fimBudget, precutChars } from '../../server/src/context/window';

test('cutPrefix keeps whole lines within the budget', () => {
  const text = 'line1\nline2\nline3\nab';
  assert.equal(cutPrefix(text, 100), text);
  assert.equal(cutPrefix(text, 10), 'line3\nab');
  assert.ok(cutPrefix(text, 10).length <= 10);
});

test('cutSuffix keeps whole lines within the budget', () => {
  assert.equal(cutSuffix('a);\nline2\nline3\n', 8), 'a);\n');
  assert.equal(cutSuffix('short', 100), 'short');
});

test('cursorWindow gives the prefix, suffix and the cursor line parts', () => {
  const text = 'one\ntwo three\nfour';
  const w = cursorWindow(text, text.indexOf('three'), 1000, 1000);
  assert.equal(w.prefix, 'one\ntwo ');
  assert.equal(w.suffix, 'three\nfour');
  assert.equal(w.linePrefix, 'two ');
  assert.equal(w.lineSuffix, 'three');
});

test('lineSetSimilarity', () => {
  assert.equal(lineSetSimilarity('a\nb', 'b\na'), 1);
  assert.equal(lineSetSimilarity('a\nb', 'c\nd'), 0);
  assert.equal(lineSetSimilarity('a\nb\nc', 'a\nb\nd'), 0.5);
});

const file = (n: number) => Array.from({ length: n }, (_, i) => `line ${i} of the file`).join('\n');

test('ContextRing evicts near-duplicates and keeps the newest chunks up to its capacity', () => {
  const ring = new ContextRing(2, 10);
  ring.addAround('file:///a.ts', 'a.ts', file(100), 5);
  ring.addAround('file:///a.ts', 'a.ts', file(100), 6); // nearly the same window: replaces
  assert.equal(ring.size, 1);
  ring.addAround('file:///a.ts', 'a.ts', file(100), 50);
  ring.addAround('file:///b.ts', 'b.ts', 'other\nfile\ncontent', 0);
  assert.equal(ring.size, 2);
  const chunks = ring.forRequest('file:///c.ts', 0, 10);
  assert.deepEqual(
    chunks.map((c) => c.filename),
    ['a.ts', 'b.ts'],
  );
  assert.match(chunks[0]!.text, /line 50 of/);
});

test('ContextRing leaves out chunks that overlap the request window of the same file', () => {
  const ring = new ContextRing(4, 10);
  ring.addAround('file:///a.ts', 'a.ts', file(100), 5);
  ring.addAround('file:///a.ts', 'a.ts', file(100), 80);
  assert.equal(ring.forRequest('file:///a.ts', 0, 20).length, 1);
  assert.equal(ring.forRequest('file:///b.ts', 0, 20).length, 2);
});

test('ContextRing with capacity 0 stores nothing', () => {
  const ring = new ContextRing(0, 10);
  ring.addAround('file:///a.ts', 'a.ts', file(10), 0);
  assert.equal(ring.size, 0);
});

import { findDefinitions, identifiersNearCursor } from '../../server/src/context/definitions';

test('identifiersNearCursor: nearest first, no keywords, no short names, no repeats', () => {
  assert.deepEqual(identifiersNearCursor('far away line\n\nconst total = computeTotal(items, tax);\nreturn total.'), [
    'total',
    'tax',
    'items',
    'computeTotal',
  ]);
  assert.deepEqual(identifiersNearCursor('x = 1'), []);
});

test('findDefinitions finds declarations in other documents, one per name', () => {
  const docs = [
    { uri: 'file:///cur.ts', filename: 'cur.ts', text: 'function computeTotal() { /* self */ }' },
    {
      uri: 'file:///util.ts',
      filename: 'util.ts',
      text: 'import x from "y";\n\nexport async function computeTotal(items: Item[], tax: number) {\n  return 1;\n}\n',
    },
    { uri: 'file:///model.py', filename: 'model.py', text: 'class Item:\n    price: float\n' },
    { uri: 'file:///other.ts', filename: 'other.ts', text: 'computeTotal(1, 2); // a use, not a declaration' },
  ];
  const chunks = findDefinitions(['computeTotal', 'Item', 'missing'], docs, 'file:///cur.ts', 3, 2);
  assert.deepEqual(chunks, [
    { filename: 'util.ts', text: 'export async function computeTotal(items: Item[], tax: number) {\n  return 1;' },
    { filename: 'model.py', text: 'class Item:\n    price: float' },
  ]);
});

test('the character pre-cut is derived from the token budget and bounded by the character setting', () => {
  assert.equal(precutChars(1024, 200000), 1024 * PRECUT_CHARS_PER_TOKEN);
  assert.equal(precutChars(1024, 1000), 1000);
  assert.equal(precutChars(0, 1000), 0);
  assert.deepEqual(fimBudget({ 'context.prefixTokens': 10, 'context.suffixTokens': 20, 'context.extraTokens': 30 }), {
    prefix_tokens: 10,
    suffix_tokens: 20,
    extra_tokens: 30,
  });
});
