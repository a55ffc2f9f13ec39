/**
 * The context module (server/src/context/): window edges, budgets, line caps, exclusions, extra
 * chunks, the token estimate. Table-driven; `║` marks the cursor.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  completionContext,
  cursorContext,
  fimBudget,
  PREFIX_BLOCK_LINES,
  SEND_MARGIN,
  selectExtra,
  windowBudget,
  type WindowBudget,
} from '../../server/src/context/completionContext';
import { findDefinitions, identifiersNearCursor, StickyDefinitions } from '../../server/src/context/definitions';
import { ContextRing, lineSetSimilarity } from '../../server/src/context/ring';
import { CALIBRATION_SAMPLE, DEFAULT_CHARS_PER_TOKEN, TokenEstimator } from '../../server/src/context/tokens';
import {
  capChunk,
  capLines,
  keepHead,
  keepTail,
  lineOf,
  longestLine,
  MAX_CHUNK_CHARS,
  MAX_LINE_CHARS,
} from '../../server/src/context/window';
import { parseSettings } from '../../server/src/settings';

const at = (marked: string, uri = 'file:///work/a.ts') => ({ uri, text: marked.replace('║', ''), offset: marked.indexOf('║') });

test('keepTail: whole lines from the end within the budget; the cursor line keeps its tail', () => {
  const cases: { text: string; max: number; maxLine?: number; want: string; lines: number }[] = [
    { text: 'a\nbb\nccc', max: 100, want: 'a\nbb\nccc', lines: 3 },
    { text: 'a\nbb\nccc', max: 6, want: 'bb\nccc', lines: 2 },
    { text: 'a\nbb\nccc', max: 5, want: 'ccc', lines: 1 }, // "bb\nccc" is 6
    { text: 'a\nbb\nccc', max: 2, want: 'cc', lines: 1 }, // the cursor line alone is too long: its tail
    { text: 'a\nbb\nccc', max: 0, want: '', lines: 1 },
    { text: '', max: 10, want: '', lines: 1 },
    { text: 'x\n', max: 10, want: 'x\n', lines: 2 }, // cursor at the start of a line
    { text: '\n\n', max: 10, want: '\n\n', lines: 3 },
    // Far lines keep their head, the cursor line its tail, each at most maxLine characters.
    { text: `${'h'.repeat(5)}${'t'.repeat(5)}\nabcdefgh`, max: 100, maxLine: 4, want: 'hhhh\nefgh', lines: 2 },
  ];
  for (const c of cases) {
    const r = keepTail(c.text, c.max, c.maxLine);
    assert.deepEqual(r, { text: c.want, lines: c.lines }, JSON.stringify(c));
    assert.ok(r.text.length <= Math.max(0, c.max), `within the budget: ${JSON.stringify(c)}`);
  }
});

test('keepHead: the cursor line, then whole lines within the budget, ending at a line break', () => {
  const cases: { text: string; max: number; maxLine?: number; want: string; lines: number }[] = [
    { text: 'a);\nline2\nline3\n', max: 100, want: 'a);\nline2\nline3\n', lines: 4 },
    { text: 'a);\nline2\nline3\n', max: 8, want: 'a);\n', lines: 1 },
    { text: 'a);\nline2\nline3\n', max: 9, want: 'a);\nline2', lines: 2 }, // no room for the line break after line2
    { text: 'a);\nline2\nline3\n', max: 10, want: 'a);\nline2\n', lines: 2 },
    { text: 'short', max: 100, want: 'short', lines: 1 },
    { text: 'abcdef\nx', max: 3, want: 'abc', lines: 1 },
    { text: '', max: 0, want: '', lines: 1 },
    { text: `abcdefgh\n${'z'.repeat(10)}`, max: 100, maxLine: 4, want: 'abcd\nzzzz', lines: 2 },
  ];
  for (const c of cases) {
    const r = keepHead(c.text, c.max, c.maxLine);
    assert.deepEqual(r, { text: c.want, lines: c.lines }, JSON.stringify(c));
    assert.ok(r.text.length <= Math.max(0, c.max), `within the budget: ${JSON.stringify(c)}`);
  }
});

test('cursorContext: windows, the cursor line, the lines the window spans, single/multi-line', () => {
  // Send margin 1: the text sent is what the budget holds (the margin has its own test below).
  const budget = (prefixChars: number, suffixChars: number): WindowBudget => ({
    prefixChars,
    suffixChars,
    maxLineChars: MAX_LINE_CHARS,
    suffixMargin: 1,
  });
  const cases: {
    doc: string;
    budget: WindowBudget;
    want: {
      prefix: string;
      suffix: string;
      linePrefix: string;
      lineSuffix: string;
      cursorLine: number;
      firstLine: number;
      lastLine: number;
      multiline: boolean;
    };
  }[] = [
    {
      doc: 'one\ntwo ║three\nfour',
      budget: budget(1000, 1000),
      want: {
        prefix: 'one\ntwo ',
        suffix: 'three\nfour',
        linePrefix: 'two ',
        lineSuffix: 'three',
        cursorLine: 1,
        firstLine: 0,
        lastLine: 2,
        multiline: false,
      },
    },
    {
      doc: 'l0\nl1\nl2\nl3 ║x\nl4\nl5',
      budget: budget(6, 5),
      want: {
        prefix: 'l2\nl3 ',
        suffix: 'x\nl4\n',
        linePrefix: 'l3 ',
        lineSuffix: 'x',
        cursorLine: 3,
        firstLine: 2,
        lastLine: 4,
        multiline: false,
      },
    },
    {
      doc: '║',
      budget: budget(10, 10),
      want: { prefix: '', suffix: '', linePrefix: '', lineSuffix: '', cursorLine: 0, firstLine: 0, lastLine: 0, multiline: true },
    },
    {
      doc: 'function f() {║\n}',
      budget: budget(0, 0),
      want: { prefix: '', suffix: '', linePrefix: '', lineSuffix: '', cursorLine: 0, firstLine: 0, lastLine: 0, multiline: true },
    },
    {
      doc: 'function f() {║\n}\n',
      budget: budget(100, 100),
      want: {
        prefix: 'function f() {',
        suffix: '\n}\n',
        linePrefix: 'function f() {',
        lineSuffix: '',
        cursorLine: 0,
        firstLine: 0,
        lastLine: 2,
        multiline: true,
      },
    },
  ];
  for (const c of cases) {
    const got = cursorContext(at(c.doc), c.budget, 'auto');
    const { uri: _u, filename, ...rest } = got;
    assert.equal(filename, 'a.ts');
    assert.deepEqual(rest, c.want, c.doc);
  }
});

test('cursorContext: the suffix sends more than its budget holds (the engine’s cut decides); the prefix its budget, from a block start', () => {
  const doc = 'l0\nl1\nl2\nl3\nl4 ║x\nl5\nl6\nl7';
  const c = cursorContext(at(doc), { prefixChars: 6, suffixChars: 5, maxLineChars: MAX_LINE_CHARS, suffixMargin: 2 }, 'auto');
  assert.equal(c.prefix, 'l3\nl4 ', 'lines 3-4 fit 6 characters (the next block start is past the cursor: cut by lines)');
  assert.equal(c.suffix, 'x\nl5\nl6\nl7', '2 × 5 characters sent');
  assert.deepEqual([c.firstLine, c.lastLine], [3, 5], 'the prefix sent; the suffix lines within 5 characters');
  assert.equal(SEND_MARGIN > 1, true);
});

test('cursorContext: the prefix starts on a block of PREFIX_BLOCK_LINES lines, or where a pinned window starts', () => {
  const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i).padStart(2, '0')}`); // 7 characters + newline
  const doc = `${lines.join('\n')}\ncall(║)`;
  const budget: WindowBudget = { prefixChars: 8 * 20, suffixChars: 10, maxLineChars: MAX_LINE_CHARS };
  const c = cursorContext(at(doc), budget, 'auto');
  // 20 lines fit (lines 21-39 and the cursor line 40); the block start at or after line 21 is 32.
  assert.equal(c.firstLine, 2 * PREFIX_BLOCK_LINES);
  assert.ok(c.prefix.startsWith('line 32\n') && c.prefix.endsWith('call('));
  // Pinned (a prefetch after a suggestion shown with the window above): the same start, even past the budget.
  const typedOn = doc.replace('║', `${'value + '.repeat(12)}other║`);
  const pinned = cursorContext(at(typedOn), budget, 'auto', { startLine: c.firstLine });
  assert.equal(pinned.firstLine, c.firstLine);
  assert.ok(pinned.prefix.startsWith(c.prefix), 'the prefetch’s prefix extends the request’s');
  assert.notEqual(cursorContext(at(typedOn), budget, 'auto').firstLine, c.firstLine, 'unpinned, the window would start elsewhere');
  // A pin reaching far past the budget (stale), or past the cursor, is ignored.
  const big = `${Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n')}\ncall(║)`;
  assert.equal(cursorContext(at(big), budget, 'auto', { startLine: 0 }).firstLine, cursorContext(at(big), budget, 'auto').firstLine);
  assert.equal(cursorContext(at(doc), budget, 'auto', { startLine: 99 }).firstLine, c.firstLine);
});

test('cursorContext: a 60,000-character line never reaches the engine as such', () => {
  const long = 'r'.repeat(60_000);
  for (const doc of [
    `const a = 1;\n${long}\nconst b = ║2;\n`,
    `const a = "${long.slice(0, 30_000)}║${long.slice(30_000)}";\n`,
    `${long}║`,
  ]) {
    const c = cursorContext(at(doc), { prefixChars: 200_000, suffixChars: 50_000, maxLineChars: MAX_LINE_CHARS }, 'auto');
    assert.ok(longestLine(c.prefix) <= MAX_LINE_CHARS, `prefix line ${longestLine(c.prefix)}`);
    assert.ok(longestLine(c.suffix) <= MAX_LINE_CHARS, `suffix line ${longestLine(c.suffix)}`);
  }
  // Inside the long line: the characters nearest the cursor are kept on both sides.
  const inside = cursorContext(
    at(`x = "${'a'.repeat(5000)}BEFORE║AFTER${'b'.repeat(5000)}"`),
    { prefixChars: 1e6, suffixChars: 1e6, maxLineChars: 100 },
    'auto',
  );
  assert.ok(inside.linePrefix.endsWith('BEFORE') && inside.linePrefix.length === 100);
  assert.ok(inside.lineSuffix.startsWith('AFTER') && inside.lineSuffix.length === 100);
});

test('windowBudget: token budget × characters per token, bounded by the character settings', () => {
  const tokens = { chars: (t: number) => t * 3 };
  const cases: { settings: object; want: [number, number] }[] = [
    { settings: {}, want: [1024 * 3, 256 * 3] },
    { settings: { context: { prefixChars: 100, suffixChars: 50 } }, want: [100, 50] },
    { settings: { context: { prefixTokens: 0, suffixTokens: 0 } }, want: [0, 0] },
  ];
  for (const c of cases) {
    const b = windowBudget(parseSettings(c.settings).settings, tokens);
    assert.deepEqual([b.prefixChars, b.suffixChars], c.want, JSON.stringify(c.settings));
  }
  assert.deepEqual(fimBudget({ 'context.prefixTokens': 10, 'context.suffixTokens': 20, 'context.extraTokens': 30 }), {
    prefix_tokens: 10,
    suffix_tokens: 20,
    extra_tokens: 30,
  });
});

test('selectExtra: definitions the ring holds are dropped; the nearest chunks are kept within the budget; chunks are capped', () => {
  const ring = [
    { filename: 'old.ts', text: 'o'.repeat(40) },
    { filename: 'util.ts', text: 'export function helper() {}\nexport const x = 1;' },
  ];
  const defs = [
    { filename: 'util.ts', text: 'export function helper() {}' }, // already in the ring
    { filename: 'geo.ts', text: 'interface Point {}' },
  ];
  assert.deepEqual(
    selectExtra(ring, defs, 10_000).map((c) => c.filename),
    ['old.ts', 'util.ts', 'geo.ts'],
  );
  // 50 characters: only the nearest (last) chunks that fit, in order.
  assert.deepEqual(
    selectExtra(ring, defs, 80).map((c) => c.filename),
    ['util.ts', 'geo.ts'],
  );
  assert.deepEqual(selectExtra(ring, defs, 0), []);
  const huge = selectExtra([{ filename: 'min.js', text: `${'m'.repeat(50_000)}\n${'n\n'.repeat(10_000)}` }], [], 1e9);
  assert.ok(huge[0]!.text.length <= MAX_CHUNK_CHARS && longestLine(huge[0]!.text) <= MAX_LINE_CHARS);
});

test('completionContext: ring chunks overlapping the window are left out; definitions and budgets go into the FIM input', () => {
  const file = Array.from({ length: 100 }, (_, i) => `line ${i} of the file`).join('\n');
  const ring = new ContextRing(4, 10);
  ring.addAround('file:///work/a.ts', 'a.ts', file, 5); // inside the window below
  ring.addAround('file:///work/a.ts', 'a.ts', file, 80); // far away
  ring.addAround('file:///work/b.ts', 'b.ts', 'other file', 0);
  const settings = parseSettings({ context: { prefixTokens: 100, suffixTokens: 20 } }).settings;
  const estimator = new TokenEstimator();
  const asked: string[][] = [];
  const text = `${file.split('\n').slice(0, 10).join('\n')}\nconst p: Point = ║\n${file.split('\n').slice(10).join('\n')}`;
  const c = completionContext(at(text), settings, {
    tokens: estimator,
    ring,
    definitions: (_uri, names) => {
      asked.push(names);
      return [{ filename: 'geo.ts', text: 'interface Point { x: number }' }];
    },
  });
  assert.equal(c.firstLine, 0);
  assert.ok(c.lastLine >= 11 && c.lastLine < 40, String(c.lastLine));
  assert.deepEqual(
    c.extra.map((e) => e.filename),
    ['a.ts', 'b.ts', 'geo.ts'],
  );
  assert.match(c.extra[0]!.text, /line 80 of/);
  assert.equal(asked.length, 1);
  assert.equal(asked[0]![0], 'Point', 'the identifier nearest the cursor first');
  assert.deepEqual(c.fim.budget, { prefix_tokens: 100, suffix_tokens: 20, extra_tokens: 1024 });
  assert.equal(c.fim.prefix.length, c.prefix.length);
  assert.ok(c.prefix.length <= estimator.chars(100));
  assert.equal(c.fim.filename, 'a.ts');
});

test('TokenEstimator: the default until calibrated, then the engine tokenizer’s figure, once per model', async () => {
  const logs: string[] = [];
  const t = new TokenEstimator((l) => logs.push(l));
  assert.equal(t.charsPerToken, DEFAULT_CHARS_PER_TOKEN);
  assert.equal(t.calibrated, false);
  let asked = 0;
  const fourPerToken = async (text: string) => {
    asked++;
    return Math.ceil(text.length / 4);
  };
  await t.useModel('model-a', fourPerToken);
  assert.ok(Math.abs(t.charsPerToken - 4) < 0.01, String(t.charsPerToken));
  assert.equal(t.chars(100), Math.floor(100 * t.charsPerToken));
  assert.equal(t.tokens(400), Math.ceil(400 / t.charsPerToken));
  await t.useModel('model-b', async (text) => Math.ceil(text.length / 2));
  assert.ok(Math.abs(t.charsPerToken - 2) < 0.01);
  await t.useModel('model-a', fourPerToken); // known: no second calibration
  assert.equal(asked, 1);
  assert.ok(Math.abs(t.charsPerToken - 4) < 0.01);
  // A failed or implausible calibration keeps the default, and says so.
  await t.useModel('broken', async () => {
    throw new Error('HTTP 500');
  });
  assert.equal(t.charsPerToken, DEFAULT_CHARS_PER_TOKEN);
  await t.useModel('nonsense', async () => 1);
  assert.equal(t.charsPerToken, DEFAULT_CHARS_PER_TOKEN);
  assert.ok(logs.some((l) => /calibration failed.*HTTP 500/.test(l)));
  assert.ok(CALIBRATION_SAMPLE.length > 1500);
});

test('capLines, capChunk, lineOf, longestLine', () => {
  assert.equal(capLines('abcdef\nxy\n123456', 3), 'abc\nxy\n123');
  assert.equal(capLines('short', 3000), 'short');
  assert.equal(capChunk('a\nb\nc\nd', 4), 'a\nb');
  assert.equal(capChunk('a\nb\n', 10), 'a\nb\n');
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((o) => lineOf('ab\ncd\n', o)),
    [0, 0, 0, 1, 1, 1],
  );
  assert.equal(lineOf('ab\ncd\n', 6), 2);
  assert.equal(longestLine('a\nabc\n\nab'), 3);
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

test('typing keeps the prompt stable: extra context and suffix fixed within a word, the prefix append-only between 16-line block moves of its start', () => {
  // A file of 200 lines, then 40 lines typed key by key at line 200 (as the bench does), with a
  // ring chunk of another file and definitions found in another open document.
  const head = Array.from({ length: 200 }, (_, i) => `  let value${i} = compute(${i}, value${Math.max(0, i - 1)});`).join('\n');
  const tail = Array.from({ length: 50 }, (_, i) => `  check(result${i});`).join('\n');
  const typed = Array.from(
    { length: 40 },
    (_, i) => ['  const side = makeSquare(width);', '  const total = areaOf(side) + perimeterOf(side);', '  log(total);'][i % 3],
  ).join('\n');
  const shapes = {
    uri: 'file:///work/shapes.ts',
    filename: 'shapes.ts',
    text: 'export function makeSquare(w: number) {\n  return { w, h: w };\n}\nexport const areaOf = (s: Shape) => s.w * s.h;\nexport function perimeterOf(s: Shape) {\n  return 2 * (s.w + s.h);\n}\n',
  };
  const ring = new ContextRing(4, 12);
  ring.addAround('file:///work/util.ts', 'util.ts', 'export function log(x: unknown) {\n  console.log(x);\n}', 0);
  const settings = parseSettings({ context: { prefixTokens: 200, suffixTokens: 60 } }).settings;
  const sticky = new StickyDefinitions(); // as the completion feature wraps its definitions
  const sources = {
    tokens: new TokenEstimator(),
    ring,
    definitions: (uri: string, names: string[]) => sticky.update(uri, findDefinitions(names, [shapes], uri)),
  };
  let prev: { start: number; prefix: string; stable: string; wordKey: boolean } | undefined;
  const starts = new Set<number>();
  let startMoves = 0;
  let stableChanges = 0;
  for (let k = 0; k <= typed.length; k++) {
    const text = `${head}\n${typed.slice(0, k)}\n${tail}`;
    const offset = head.length + 1 + k;
    const c = completionContext({ uri: 'file:///work/a.ts', text, offset }, settings, sources);
    const start = c.cursorLine - (c.fim.prefix.split('\n').length - 1); // the document line the prefix starts at
    const stable = JSON.stringify([c.fim.extra ?? [], c.fim.suffix]); // what the engine places before the prefix
    const wordKey = k > 0 && /\w/.test(typed[k - 1]!) && k > 1 && /\w/.test(typed[k - 2]!);
    starts.add(start);
    if (prev) {
      if (start !== prev.start) {
        startMoves++;
        assert.equal(start % PREFIX_BLOCK_LINES, 0, `key ${k}: the prefix starts at a block boundary (line ${start})`);
      } else {
        assert.ok(c.fim.prefix.startsWith(prev.prefix), `key ${k}: the prefix only grew at the cursor`);
      }
      if (stable !== prev.stable) {
        stableChanges++;
        assert.ok(!wordKey, `key ${k} (${JSON.stringify(typed.slice(k - 3, k))}): extra/suffix changed in the middle of a word`);
      }
    }
    prev = { start, prefix: c.fim.prefix, stable, wordKey };
  }
  // 40 typed lines: the start moves about once per 16 lines (by one line every ~35 characters if cut by characters alone).
  assert.ok(startMoves >= 1 && startMoves <= 4, `prefix start moved ${startMoves} times over 40 lines`);
  // The extra context changes only when a definition is found for the first time (three here: makeSquare,
  // areaOf, perimeterOf), not each time a name enters or leaves the lines near the cursor (65 times).
  assert.equal(stableChanges, 3, `extra/suffix changed ${stableChanges} times over ${typed.length} keys`);
  assert.ok(starts.size === startMoves + 1);
});

test('StickyDefinitions: found definitions stay in the order found, newest last, until capacity; edited text replaces in place', () => {
  const d = (file: string, text: string) => ({ filename: file, text });
  const s = new StickyDefinitions(3);
  const u = 'file:///a.ts';
  const steps: { found: { filename: string; text: string }[]; want: string[] }[] = [
    { found: [d('s.ts', 'function a() {\n}')], want: ['function a() {\n}'] },
    { found: [d('s.ts', 'function b() {\n}'), d('s.ts', 'function a() {\n}')], want: ['function a() {\n}', 'function b() {\n}'] },
    { found: [], want: ['function a() {\n}', 'function b() {\n}'] }, // the names scrolled away: kept
    { found: [d('s.ts', 'function a() {\n  return 1;\n}')], want: ['function a() {\n  return 1;\n}', 'function b() {\n}'] },
    {
      found: [d('t.ts', 'function c() {}'), d('t.ts', 'function d() {}')],
      want: ['function b() {\n}', 'function c() {}', 'function d() {}'],
    },
  ];
  for (const [i, step] of steps.entries()) {
    assert.deepEqual(
      s.update(u, step.found).map((c) => c.text),
      step.want,
      `step ${i}`,
    );
  }
  assert.deepEqual(s.update('file:///b.ts', []), [], 'per document');
  s.forget(u);
  assert.deepEqual(s.update(u, []), []);
});
