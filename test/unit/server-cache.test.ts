import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { CompletionCache } from '../../server/src/completion/cache';

const uri = 'file:///a.ts';

test('exact hit returns the stored suggestions', () => {
  const c = new CompletionCache();
  c.set({ uri, prefix: 'const x = ', suffix: ';\n', items: ['foo(1)'] });
  assert.deepEqual(c.get(uri, 'const x = ', ';\n'), { items: ['foo(1)'], typedThrough: 0 });
});

test('typing-through: typing the start of the suggestion returns the rest', () => {
  const c = new CompletionCache();
  c.set({ uri, prefix: 'const x = ', suffix: ';\n', items: ['foo(1)', 'bar()'] });
  assert.deepEqual(c.get(uri, 'const x = fo', ';\n'), { items: ['o(1)'], typedThrough: 2 });
  assert.deepEqual(c.get(uri, 'const x = b', ';\n'), { items: ['ar()'], typedThrough: 1 });
});

test('typing something else, a different suffix or another file misses', () => {
  const c = new CompletionCache();
  c.set({ uri, prefix: 'const x = ', suffix: ';\n', items: ['foo(1)'] });
  assert.equal(c.get(uri, 'const x = g', ';\n'), undefined);
  assert.equal(c.get(uri, 'const x = fo', ');\n'), undefined);
  assert.equal(c.get('file:///b.ts', 'const x = ', ';\n'), undefined);
  // Typing the whole suggestion leaves nothing to show.
  assert.equal(c.get(uri, 'const x = foo(1)', ';\n'), undefined);
});

test('typing-through works when the prefix window has slid', () => {
  const c = new CompletionCache();
  const long = 'x'.repeat(5000) + '\nlet value = ';
  c.set({ uri, prefix: long, suffix: '', items: ['compute(42)'] });
  assert.deepEqual(c.get(uri, `${long}comp`, ''), { items: ['ute(42)'], typedThrough: 4 });
});

test('least recently used entries are evicted first', () => {
  const c = new CompletionCache(2);
  c.set({ uri, prefix: 'a', suffix: '', items: ['1'] });
  c.set({ uri, prefix: 'b', suffix: '', items: ['2'] });
  assert.ok(c.get(uri, 'a', '')); // a is now the most recent
  c.set({ uri, prefix: 'c', suffix: '', items: ['3'] });
  assert.equal(c.size, 2);
  assert.ok(c.get(uri, 'a', ''));
  assert.equal(c.get(uri, 'b', ''), undefined);
  assert.ok(c.get(uri, 'c', ''));
});

test('empty suggestions are not cached', () => {
  const c = new CompletionCache();
  c.set({ uri, prefix: 'a', suffix: '', items: [''] });
  assert.equal(c.size, 0);
});
