/** Chat context assembly and message building (pure parts; token counts from a fake counter). */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { assembleContext, contextBlock, fenceFor, fitTokens } from '../../server/src/chat/context';
import { chatMessages, userMessage } from '../../server/src/chat/prompt';

/** One token per 4 characters, like a real tokenizer on code, roughly. */
const count = async (text: string) => Math.ceil(text.length / 4);
const noDocs = { openDocument: () => undefined };

describe('chat context', () => {
  test('fitTokens cuts at a line end and caps a minified line like the completion window does', async () => {
    const lines = 'aaaa\nbbbb\ncccc\n'.repeat(20);
    const fit = (await fitTokens(lines, 300, 40, async (t) => t.length))!;
    assert.equal(fit.text, 'aaaa\nbbbb\ncccc\n'.repeat(2).concat('aaaa\nbbbb\n'), 'whole lines, 40 of 40 tokens');
    const minified = `${'x'.repeat(60_000)}\nnext\n`;
    const capped = (await fitTokens(minified, 15_002, 2_000, count))!;
    assert.equal(capped.text, `${'x'.repeat(1_000)}\nnext\n`, 'the 60,000-character line is capped at 1,000');
  });
  test('fitTokens keeps the longest start within the budget, or nothing when there is no room', async () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const fit = (await fitTokens(text, await count(text), 50, count))!;
    assert.ok(fit.tokens <= 50 && fit.tokens > 40, String(fit.tokens));
    assert.ok(text.startsWith(fit.text));
    assert.equal(await fitTokens(text, await count(text), 10, count), undefined);
  });
  test('priority: selection, current file, then the rest; the report keeps the given order', async () => {
    const big = 'x'.repeat(800);
    const r = await assembleContext(
      [
        { kind: 'file', uri: 'file:///a.ts', text: big },
        { kind: 'file', uri: 'file:///cur.ts', text: big, current: true },
        { kind: 'selection', uri: 'file:///cur.ts', text: 'sel', range: { startLine: 0, endLine: 0 } },
      ],
      230, // 29 tokens left after the two: less than the 32 an item is cut to at least
      count,
      noDocs,
    );
    assert.deepEqual(
      r.report.items.map((i) => [i.label, i.cut]),
      [
        ['a.ts', 'dropped'],
        ['cur.ts', 'none'],
        ['cur.ts:1-1', 'none'],
      ],
    );
    assert.equal(r.report.sentTokens, 201);
  });
  test('a file that cannot be read is reported, not thrown', async () => {
    const r = await assembleContext([{ kind: 'file', uri: 'file:///no/such/file.ts' }], 100, count, noDocs);
    assert.equal(r.report.items[0]!.cut, 'dropped');
    assert.match(r.report.items[0]!.note!, /cannot read: ENOENT/);
    const sel = await assembleContext([{ kind: 'selection', uri: 'file:///x.ts' }], 100, count, noDocs);
    assert.match(sel.report.items[0]!.note!, /needs its text/);
  });
  test('fences grow past backtick runs in the code', () => {
    assert.equal(fenceFor('plain'), '```');
    assert.equal(fenceFor('a ``` b'), '````');
  });
});

describe('chat messages', () => {
  const item = (over: object) => ({
    kind: 'file' as const,
    uri: 'file:///m.py',
    text: 'x = 1\n',
    sent: 'x = 1\n',
    languageId: 'python',
    label: 'm.py',
    ...over,
  });
  test('without a command: the context block, then the message', () => {
    const msg = userMessage('why?', undefined, [item({ current: true })]);
    assert.equal(msg, 'File m.py:\n```python\nx = 1\n```\n\nwhy?');
  });
  test('a slash template takes the selection; attached items it does not place come before it', () => {
    const sel = item({ kind: 'selection', text: 'y = 2', sent: 'y = 2', label: 'm.py:3-3' });
    const other = item({ uri: 'file:///o.py', label: 'o.py', text: 'z', sent: 'z' });
    const msg = userMessage('in short', 'Explain {selection} ({language}) {input}', [sel, other]);
    assert.equal(msg, 'File o.py:\n```python\nz\n```\n\nExplain y = 2 (python) in short');
  });
  test('{selection} falls back to the current file; {extra_context} places the others', () => {
    const cur = item({ current: true });
    const other = item({ uri: 'file:///o.py', label: 'o.py', text: 'z', sent: 'z' });
    assert.equal(userMessage('', '{selection}|{extra_context}', [cur, other]), 'x = 1|File o.py:\n```python\nz\n```');
  });
  test('messages: system only when not empty', () => {
    assert.deepEqual(
      chatMessages('', [{ role: 'assistant', content: 'a' }], 'u').map((m) => m.role),
      ['assistant', 'user'],
    );
    assert.equal(chatMessages('sys', [], 'u')[0]!.role, 'system');
  });
  test('contextBlock is empty without items', () => assert.equal(contextBlock([]), ''));
});
