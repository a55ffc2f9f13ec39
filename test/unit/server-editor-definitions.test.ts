/**
 * EditorDefinitions (server/src/context/definitions.ts) with a fake client: background requests,
 * the (document, name) cache with versions, the timeout and back-off, bad answers, and the merge
 * with the pattern-search fallback.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { ResolveDefinitionsParams, ResolveDefinitionsResult } from '../../protocol/lsp';
import {
  combineDefinitions,
  EditorDefinitions,
  identifierPositionsNearCursor,
  identifiersNearCursor,
  MAX_DEFINITION_CHARS,
} from '../../server/src/context/definitions';

const uri = 'file:///w/main.ts';
const text = 'import { area } from "./shapes";\nconst shape = makeSquare(2);\nconst total = area(shape) + perimeter(';
const offset = text.length;

/** A fake client: records requests, answers from `table` (name → definition text), or as told. */
function fakeClient(table: Record<string, string>, behaviour: 'answer' | 'hang' | 'garbage' | 'reject' = 'answer') {
  const asked: ResolveDefinitionsParams[] = [];
  const aborted: boolean[] = [];
  let answered = 0;
  const request = (p: ResolveDefinitionsParams, signal: AbortSignal): Promise<ResolveDefinitionsResult> => {
    asked.push(p);
    if (behaviour === 'hang') {
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => {
          aborted.push(true);
          reject(new Error('cancelled'));
        }),
      );
    }
    if (behaviour === 'reject') return Promise.reject(new Error('no definition provider'));
    if (behaviour === 'garbage') return Promise.resolve({ nope: 1 } as unknown as ResolveDefinitionsResult);
    answered++;
    return Promise.resolve({
      definitions: p.positions
        .filter((x) => table[x.name] !== undefined)
        .map((x) => ({ name: x.name, uri: 'file:///w/shapes.ts', text: table[x.name]!, line: 10 })),
    });
  };
  return { request, asked, aborted, answered: () => answered };
}

describe('identifierPositionsNearCursor', () => {
  test('the word being typed (touching the cursor) is not looked up; once the user moved past it, it is', () => {
    const cases: { before: string; want: string[] }[] = [
      { before: 'const total = makeSq', want: ['total'] },
      { before: 'const total = makeSquare', want: ['total'] },
      { before: 'const total = makeSquare(', want: ['makeSquare', 'total'] },
      { before: 'const total = makeSquare ', want: ['makeSquare', 'total'] },
      { before: 'const x2 = value123', want: [] }, // x2 is too short; value123 is being typed
      { before: 'const width = 123', want: ['width'] }, // a number is not a word being typed
      { before: `const longName = ${'a'.repeat(60_000)}`, want: ['longName'] }, // linear, not one rescan per start
    ];
    for (const c of cases) {
      assert.deepEqual(identifiersNearCursor(c.before), c.want, c.before.slice(0, 40));
      assert.deepEqual(
        identifierPositionsNearCursor(c.before, c.before.length).map((p) => p.name),
        c.want,
        c.before.slice(0, 40),
      );
    }
  });

  test('gives the nearest occurrence of each identifier with its line and character, same names as identifiersNearCursor', () => {
    const ps = identifierPositionsNearCursor(text, offset);
    assert.deepEqual(
      ps.map((p) => p.name),
      identifiersNearCursor(text),
    );
    const perimeter = ps.find((p) => p.name === 'perimeter')!;
    assert.deepEqual(perimeter, { name: 'perimeter', line: 2, character: text.split('\n')[2]!.indexOf('perimeter') });
    const area = ps.find((p) => p.name === 'area')!;
    assert.equal(area.line, 2, 'the occurrence nearest the cursor, not the import');
  });
});

describe('EditorDefinitions', () => {
  test('prepare asks in the background; lookup serves the cached answer for later keystrokes without asking again', async () => {
    const client = fakeClient({ area: 'export function area(s: Shape): number {\n  return s.w * s.h;\n}' });
    const defs = new EditorDefinitions({ request: client.request });
    const names = identifiersNearCursor(text);
    assert.deepEqual(defs.lookup(uri, names).chunks, [], 'nothing before the client answered');
    defs.prepare({ uri, version: 1, text, offset });
    assert.equal(client.asked.length, 1);
    assert.deepEqual(
      client.asked[0]!.positions.map((p) => p.name),
      names,
    );
    await defs.idle();
    const hit = defs.lookup(uri, names);
    assert.deepEqual(hit.chunks, [{ filename: 'shapes.ts', text: 'export function area(s: Shape): number {\n  return s.w * s.h;\n}' }]);
    assert.ok(hit.known.has('area') && hit.known.has('perimeter'), 'names answered without a definition are known too');
    // Next keystroke, new version: within refreshMs, cached entries are reused as they are.
    defs.prepare({ uri, version: 2, text: text + 'x', offset: offset + 1 });
    await defs.idle();
    assert.equal(client.asked.length, 1, 'no second request for the same names');
  });

  test('entries from an older version are refreshed once older than refreshMs; new names are asked for', async () => {
    let now = 1000;
    const client = fakeClient({ area: 'function area() {}' });
    const defs = new EditorDefinitions({ request: client.request, refreshMs: 5000, now: () => now });
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    now += 6000;
    defs.prepare({ uri, version: 1, text, offset });
    assert.equal(client.asked.length, 1, 'same version: still fresh');
    defs.prepare({ uri, version: 2, text, offset });
    await defs.idle();
    assert.equal(client.asked.length, 2, 'newer version and old entries: refreshed');
    const t2 = text + ' widthOf(';
    defs.prepare({ uri, version: 2, text: t2, offset: t2.length });
    await defs.idle();
    assert.deepEqual(
      client.asked[2]!.positions.map((p) => p.name),
      ['widthOf'],
      'only the name not cached yet',
    );
  });

  test('one request at a time: a newer cursor while one runs is queued, replacing an older queued one', async () => {
    const client = fakeClient({});
    const defs = new EditorDefinitions({ request: client.request });
    defs.prepare({ uri, version: 1, text: 'alphaOne(', offset: 9 });
    defs.prepare({ uri, version: 2, text: 'betaTwo(', offset: 8 });
    defs.prepare({ uri, version: 3, text: 'gammaThree(', offset: 11 });
    await defs.idle();
    assert.deepEqual(
      client.asked.map((a) => a.positions.map((p) => p.name)),
      [['alphaOne'], ['gammaThree']],
    );
  });

  test('a client that does not answer in time is cut off (its request cancelled) and left alone for backoffMs', async () => {
    let now = 0;
    const client = fakeClient({}, 'hang');
    const lines: string[] = [];
    const defs = new EditorDefinitions({
      request: client.request,
      timeoutMs: 30,
      backoffMs: 10_000,
      now: () => now,
      log: (l) => lines.push(l),
    });
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    assert.deepEqual(client.aborted, [true], 'the request was cancelled');
    assert.match(lines.join('\n'), /no answer within 30 ms/);
    defs.prepare({ uri, version: 2, text, offset });
    assert.equal(client.asked.length, 1, 'not asked again during the back-off');
    now += 10_001;
    defs.prepare({ uri, version: 3, text, offset });
    assert.equal(client.asked.length, 2, 'asked again after it');
    defs.dispose();
    await defs.idle();
  });

  test('an answer without a definitions array is rejected with a clear log line, and nothing is cached', async () => {
    const client = fakeClient({}, 'garbage');
    const lines: string[] = [];
    const defs = new EditorDefinitions({ request: client.request, log: (l) => lines.push(l) });
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    assert.match(lines.join('\n'), /without a definitions array/);
    assert.equal(defs.lookup(uri, identifiersNearCursor(text)).known.size, 0);
  });

  test('a failing client request is logged, not thrown', async () => {
    const client = fakeClient({}, 'reject');
    const lines: string[] = [];
    const defs = new EditorDefinitions({ request: client.request, log: (l) => lines.push(l) });
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    assert.match(lines.join('\n'), /no definition provider/);
  });

  test('names the client reports as unresolved (not looked up in time) are not cached, so they are asked again', async () => {
    const asked: string[][] = [];
    const request = async (p: ResolveDefinitionsParams): Promise<ResolveDefinitionsResult> => {
      asked.push(p.positions.map((x) => x.name));
      return asked.length === 1
        ? { definitions: [], unresolved: ['area'] }
        : { definitions: [{ name: 'area', uri: 'file:///w/shapes.ts', text: 'function area() {}' }] };
    };
    const lines: string[] = [];
    const defs = new EditorDefinitions({ request, log: (l) => lines.push(l) });
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    const names = identifiersNearCursor(text);
    assert.ok(!defs.lookup(uri, names).known.has('area'));
    assert.ok(defs.lookup(uri, names).known.has('perimeter'));
    assert.match(lines.join('\n'), /area \(not in time\)/);
    defs.prepare({ uri, version: 1, text, offset });
    await defs.idle();
    assert.deepEqual(asked[1], ['area']);
    assert.deepEqual(defs.lookup(uri, names).chunks, [{ filename: 'shapes.ts', text: 'function area() {}' }]);
  });

  test('snippets are capped, definitions inside the excluded window of the same file are dropped, forget() empties a document', async () => {
    const long = 'x'.repeat(MAX_DEFINITION_CHARS + 500);
    const request = async (p: ResolveDefinitionsParams): Promise<ResolveDefinitionsResult> => ({
      definitions: [
        { name: 'area', uri: 'file:///w/shapes.ts', text: long },
        { name: 'shape', uri, text: 'const shape = makeSquare(2);', line: 1 },
        { name: 'makeSquare', uri, text: 'function makeSquare() {}', line: 40 },
      ].filter((d) => p.positions.some((q) => q.name === d.name)),
    });
    const defs = new EditorDefinitions({ request });
    defs.prepare({ uri, version: 1, text, offset, excludeLines: { start: 0, end: 5 } });
    await defs.idle();
    const { chunks } = defs.lookup(uri, ['area', 'shape', 'makeSquare']);
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0]!.text.length, MAX_DEFINITION_CHARS);
    assert.equal(chunks[1]!.text, 'function makeSquare() {}');
    defs.forget(uri);
    assert.equal(defs.lookup(uri, ['area']).known.size, 0);
  });
});

describe('combineDefinitions', () => {
  const docs = [
    {
      uri: 'file:///w/shapes.ts',
      filename: 'shapes.ts',
      text: 'export function area(s) {\n  return 1;\n}\nexport function perimeter(s) {\n  return 2;\n}\n',
    },
  ];
  test('without editor answers, the pattern search finds the definitions', () => {
    const out = combineDefinitions(['perimeter', 'area'], undefined, docs, uri);
    assert.deepEqual(
      out.map((c) => c.text.split('\n')[0]),
      ['export function perimeter(s) {', 'export function area(s) {'],
    );
  });
  test('editor answers come first; names the editor answered are not searched again; the rest fall back', () => {
    const editor = { chunks: [{ filename: 'geometry.ts', text: 'function area(s: Shape) { /* real */ }' }], known: new Set(['area']) };
    const out = combineDefinitions(['perimeter', 'area'], editor, docs, uri);
    assert.deepEqual(
      out.map((c) => c.text.split('\n')[0]),
      ['function area(s: Shape) { /* real */ }', 'export function perimeter(s) {'],
    );
  });
  test('a name the editor knows has no definition is not guessed by the pattern search', () => {
    const out = combineDefinitions(['perimeter'], { chunks: [], known: new Set(['perimeter']) }, docs, uri);
    assert.deepEqual(out, []);
  });
});
