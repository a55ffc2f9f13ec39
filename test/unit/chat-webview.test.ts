/**
 * The chat page's pure parts: markdown rendering that keeps model HTML inert (run in jsdom with
 * the same DOMPurify the page bundles), the conversation reducer, the messages the extension
 * accepts from the page, the stored history schema, and where an applied code block goes.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import createDOMPurify from 'dompurify';
import { JSDOM } from 'jsdom';
import { proposedText } from '../../extension/src/chat/proposedText';
import type { ChatResult } from '../../protocol/chat';
import { parseChatPageMessage, storedHistorySchema } from '../../protocol/chatView';
import { parseTemplatesPageMessage } from '../../protocol/templatesView';
import { type ChatState, currentConversation, emptyChat, historyFor, reduce } from '../../media/lib/conversation';
import { hardenTaskInputs, renderMarkdown } from '../../media/lib/markdown';

const { window } = new JSDOM('<!DOCTYPE html><body></body>');
const purify = createDOMPurify(window as unknown as Parameters<typeof createDOMPurify>[0]);

/** Renders into a jsdom element the way the page does. */
function render(markdown: string): HTMLElement {
  const div = window.document.createElement('div');
  div.innerHTML = renderMarkdown(markdown, purify);
  hardenTaskInputs(div);
  return div;
}

function assertInert(root: HTMLElement): void {
  assert.equal(
    root.querySelectorAll('script, iframe, object, embed, style, form, img, svg, math, base, link, meta').length,
    0,
    root.innerHTML,
  );
  for (const el of root.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      assert.ok(!/^on/i.test(attr.name), `event handler ${attr.name} on <${el.tagName}>`);
      assert.ok(!/^\s*(javascript|data|vbscript):/i.test(attr.value), `${attr.name}="${attr.value}"`);
    }
  }
}

describe('markdown of model answers', () => {
  const attacks: [string, string][] = [
    ['a script tag', 'Here:\n\n<script>alert(1)</script>\n\ndone'],
    ['an inline script', 'text <script>alert(1)</script> more'],
    ['img onerror', '<img src=x onerror="alert(1)">'],
    ['markdown image with javascript', '![x](javascript:alert(1))'],
    ['a javascript: link', '[click me](javascript:alert(1))'],
    ['an encoded javascript: link', '[click](jav&#x61;script:alert(1))'],
    ['a data: link', '[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
    ['an autolink', '<javascript:alert(1)>'],
    ['raw HTML with a handler', '<div onclick="alert(1)">hi</div>'],
    ['an svg', '<svg><script>alert(1)</script></svg>'],
    ['an iframe', '<iframe src="https://example.com"></iframe>'],
    ['a style', '<style>body{display:none}</style>'],
    ['a form', '<form action="https://x"><input name=a></form>'],
    ['a fence language with quotes', '```js" onmouseover="alert(1)\nlet x = 1;\n```'],
  ];
  for (const [name, md] of attacks) {
    test(`${name} renders inert`, () => assertInert(render(md)));
  }
  test('raw HTML from the model is shown as text', () => {
    const root = render('<script>alert(1)</script>');
    assert.match(root.textContent ?? '', /<script>alert\(1\)<\/script>/);
  });
  test('a javascript: link keeps its text and loses its target', () => {
    const a = render('[click me](javascript:alert(1))').querySelector('a');
    assert.ok(!a?.getAttribute('href'), a?.outerHTML);
  });
  test('http links stay, with rel=noopener', () => {
    const a = render('[docs](https://example.com/x)').querySelector('a')!;
    assert.equal(a.getAttribute('href'), 'https://example.com/x');
    assert.equal(a.getAttribute('rel'), 'noopener noreferrer');
  });
  test('code blocks are highlighted, keep their text, and carry their language', () => {
    const root = render('```python\ndef f(x):\n    return x < 2 and "<b>"\n```');
    const pre = root.querySelector('pre.code-block')!;
    assert.equal(pre.getAttribute('data-language'), 'python');
    assert.ok(pre.querySelector('.hljs-keyword'), pre.innerHTML);
    assert.equal(pre.textContent, 'def f(x):\n    return x < 2 and "<b>"');
    const plain = render('```\n<b>not bold</b>\n```').querySelector('pre')!;
    assert.equal(plain.textContent, '<b>not bold</b>');
    assert.equal(plain.querySelector('b'), null);
  });
  test('tables, lists and emphasis render', () => {
    const root = render('| a | b |\n|---|---|\n| 1 | 2 |\n\n- **x**\n- _y_');
    assert.ok(root.querySelector('table td'));
    assert.equal(root.querySelectorAll('li').length, 2);
    assert.ok(root.querySelector('strong') && root.querySelector('em'));
  });
});

const done = (over: Partial<ChatResult> = {}): ChatResult => ({
  text: 'answer',
  finishReason: 'stop',
  userMessage: 'sent: question',
  context: { items: [], sentTokens: 0, budgetTokens: 100, droppedTurns: 0 },
  stats: { promptTokens: 10, reusedTokens: 0, evaluatedTokens: 10, generatedTokens: 2, timeToFirstTokenMs: 5, totalMs: 9 },
  ...over,
});

describe('the conversation reducer', () => {
  const user = (text: string) => ({ role: 'user' as const, text, context: [] });
  test('send, stream, finish: the user turn gets what was sent, the answer the server text', () => {
    let s: ChatState = emptyChat;
    s = reduce(s, { type: 'userSent', id: 'c1', now: 1, turn: user('question') });
    assert.equal(s.currentId, 'c1');
    assert.equal(currentConversation(s)!.title, 'question');
    s = reduce(s, { type: 'answerDelta', id: 'c1', text: 'ans' });
    s = reduce(s, { type: 'answerDelta', id: 'c1', text: 'w' });
    assert.equal(currentConversation(s)!.turns[1]!.text, 'answ');
    s = reduce(s, { type: 'answerDone', id: 'c1', now: 2, result: done() });
    const c = currentConversation(s)!;
    assert.deepEqual(
      c.turns.map((t) => [t.role, t.text]),
      [
        ['user', 'question'],
        ['assistant', 'answer'],
      ],
    );
    assert.equal(c.turns[0]!.role === 'user' && c.turns[0]!.sent, 'sent: question');
    assert.deepEqual(historyFor(c), [
      { role: 'user', content: 'sent: question' },
      { role: 'assistant', content: 'answer' },
    ]);
  });
  test('a stopped answer keeps its text; a failed exchange is left out of the history', () => {
    let s = reduce(emptyChat, { type: 'userSent', id: 'c', now: 1, turn: user('q1') });
    s = reduce(s, { type: 'answerDelta', id: 'c', text: 'partial' });
    s = reduce(s, { type: 'answerDone', id: 'c', now: 2, result: done({ text: '', finishReason: 'cancelled', stats: undefined }) });
    const stopped = currentConversation(s)!.turns[1]!;
    assert.equal(stopped.role === 'assistant' && stopped.status, 'stopped');
    assert.equal(currentConversation(s)!.turns[1]!.text, 'partial');
    s = reduce(s, { type: 'userSent', id: 'c', now: 3, turn: user('q2') });
    s = reduce(s, {
      type: 'answerDone',
      id: 'c',
      now: 4,
      result: done({ text: '', finishReason: 'error', error: { code: 'no_chat_template', message: 'no template' } }),
    });
    const h = historyFor(currentConversation(s));
    assert.deepEqual(
      h.map((t) => t.content),
      ['sent: question', 'partial'],
    );
  });
  test('new, select, delete', () => {
    let s = reduce(emptyChat, { type: 'userSent', id: 'a', now: 1, turn: user('x') });
    s = reduce(s, { type: 'newConversation', id: 'b', now: 2 });
    assert.equal(s.currentId, 'b');
    assert.equal(reduce(s, { type: 'newConversation', id: 'c', now: 3 }), s, 'an empty conversation is reused');
    s = reduce(s, { type: 'selectConversation', id: 'a' });
    assert.equal(s.currentId, 'a');
    s = reduce(s, { type: 'deleteConversation', id: 'a' });
    assert.equal(s.currentId, 'b');
    assert.equal(reduce(s, { type: 'selectConversation', id: 'nope' }), s);
    assert.equal(reduce(s, { type: 'answerDelta', id: 'b', text: 'x' }), s, 'no answer in progress: nothing changes');
  });
});

describe('messages from the pages (zod)', () => {
  test('valid chat messages pass', () => {
    assert.ok(parseChatPageMessage({ type: 'send', text: 'hi', command: 'explain', chips: ['file:x'] }).ok);
    assert.ok(parseChatPageMessage({ type: 'codeAction', action: 'apply', code: 'x', language: 'ts' }).ok);
  });
  const bad: unknown[] = [
    null,
    'ready',
    { type: 'runCommand', command: 'workbench.action.terminal.new' },
    { type: 'send', text: 'x', chips: [], extra: true },
    { type: 'send', text: 'x', command: 'Bad Command', chips: [] },
    { type: 'codeAction', action: 'exec', code: 'x', language: '' },
    { type: 'codeAction', action: 'copy', code: 'x'.repeat((1 << 20) + 1), language: '' },
    { type: 'selectConversation', id: Number.POSITIVE_INFINITY },
  ];
  for (const raw of bad) {
    test(`rejects ${JSON.stringify(raw)?.slice(0, 60)}`, () => {
      const r = parseChatPageMessage(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.error.length < 1000);
    });
  }
  test('templates page: drafts are bounded, scopes closed', () => {
    assert.ok(parseTemplatesPageMessage({ type: 'preview', seq: 1, template: { id: 'x', kind: 'fim' } }).ok);
    assert.equal(parseTemplatesPageMessage({ type: 'reset', scope: 'default' }).ok, false);
    assert.equal(parseTemplatesPageMessage({ type: 'save', scope: 'user', template: { t: 'x'.repeat(100_001) } }).ok, false);
  });
});

describe('the stored history', () => {
  test('an answer that was streaming when VS Code closed comes back stopped', () => {
    const r = storedHistorySchema.parse({
      version: 1,
      currentId: 'a',
      conversations: [{ id: 'a', title: 't', createdAt: 1, updatedAt: 1, turns: [{ role: 'assistant', text: 'x', status: 'streaming' }] }],
    });
    assert.equal(r.conversations[0]!.turns[0]!.role === 'assistant' && r.conversations[0]!.turns[0]!.status, 'stopped');
  });
  test('damaged files are rejected', () => {
    assert.equal(storedHistorySchema.safeParse({ version: 1, conversations: [{ id: '' }] }).success, false);
    assert.equal(storedHistorySchema.safeParse({ version: 2, conversations: [] }).success, false);
  });
});

describe('applying a code block', () => {
  const file = 'import x\n\ndef a():\n    return 1\n\ndef b():\n    return 2\n';
  test('replaces the selection', () => {
    const start = file.indexOf('def b');
    const r = proposedText(file, { start, end: file.length }, 'def b():\n    return 3\n');
    assert.equal(r.mode, 'selection');
    assert.equal(r.text, 'import x\n\ndef a():\n    return 1\n\ndef b():\n    return 3\n');
  });
  test('a block that starts like the file replaces it', () => {
    const r = proposedText(file, { start: 0, end: 0 }, 'import x\n\ndef a():\n    return 10');
    assert.equal(r.mode, 'file');
    assert.equal(r.text, 'import x\n\ndef a():\n    return 10\n');
  });
  test('otherwise the block is inserted at the cursor', () => {
    const r = proposedText(file, { start: 9, end: 9 }, 'import y\n');
    assert.equal(r.mode, 'insert');
    assert.equal(r.text, 'import x\nimport y\n\ndef a():\n    return 1\n\ndef b():\n    return 2\n');
  });
});
