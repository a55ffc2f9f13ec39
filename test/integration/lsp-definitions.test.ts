/**
 * Editor-resolved definitions through the real LSP server (server/src/main.ts --stdio) and a real
 * JSON-RPC connection: this test plays the editor, answering the server's
 * `pronto/resolveDefinitions`, and checks the definitions reach the engine's FIM request (the
 * stand-in engine from test/support/lsp.ts records every submit, over a real WebSocket). Also: a
 * client that does not advertise the capability is never asked (pattern search instead), and a
 * client that never answers does not delay completions.
 */
import { strict as assert } from 'node:assert';
import { after, describe, test } from 'node:test';
import type { SubmitMessage } from '../../protocol/engine';
import type { ResolveDefinitionsParams, ResolveDefinitionsResult } from '../../protocol/lsp';
import { startFakeEngine, startLspServer, type FakeEngine, type LspHarness } from '../support/lsp';

const uri = 'file:///work/src/main.ts';
const shapesUri = 'file:///work/src/shapes.ts';
const AREA = 'export function area(s: Shape): number {\n  return s.width * s.height; // from the editor\n}';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(
  capabilities: object | undefined,
): Promise<{ h: LspHarness; engine: FakeEngine; serverLog: (pred: (l: string) => boolean) => Promise<string> }> {
  const engine = await startFakeEngine();
  cleanups.push(() => engine.close());
  const h = startLspServer();
  cleanups.push(() => h.stop());
  // Log lines from the server, with waiters (replaces the harness's own collector, so keep filling h.logs).
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  h.connection.onNotification('window/logMessage', (p: { message: string }) => {
    h.logs.push(p.message);
    for (const w of [...waiters])
      if (w.pred(p.message)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p.message);
      }
  });
  const serverLog = (pred: (l: string) => boolean) => {
    const found = h.logs.find(pred);
    return found ? Promise.resolve(found) : new Promise<string>((resolve) => waiters.push({ pred, resolve }));
  };
  await h.initialize({
    pronto: { engine: { url: engine.url }, completion: { debounceMs: 0, prefetch: false } },
    ...(capabilities ? { capabilities } : {}),
  });
  await h.waitForStatus((s) => s.state === 'ready');
  return { h, engine, serverLog };
}

const submits = (engine: FakeEngine) => engine.received.filter((m): m is SubmitMessage => m.type === 'submit');

describe('pronto/resolveDefinitions through a real LSP connection', { timeout: 60_000 }, () => {
  test('the server asks the client in the background, caches the answer, and sends it to the engine on the next keystroke', async () => {
    const asked: ResolveDefinitionsParams[] = [];
    let firstAsk!: () => void;
    const askedOnce = new Promise<void>((r) => (firstAsk = r));
    const { h, engine, serverLog } = await setup({ resolveDefinitions: true });
    h.connection.onRequest('pronto/resolveDefinitions', (p: ResolveDefinitionsParams): ResolveDefinitionsResult => {
      asked.push(p);
      firstAsk();
      return {
        definitions: p.positions.filter((x) => x.name === 'area').map((x) => ({ name: x.name, uri: shapesUri, text: AREA, line: 3 })),
      };
    });
    const text1 = '/*fake:1);*/\nimport { area } from "./shapes";\nconst total = area(square';
    await h.open(uri, text1);
    const r1 = await h.inline(uri, 2, 'const total = area(square'.length);
    assert.deepEqual(
      r1.items.map((i) => i.insertText),
      ['1);'],
    );
    await askedOnce;
    const params = asked[0]!;
    assert.equal(params.uri, uri);
    assert.deepEqual(
      params.positions.find((p) => p.name === 'area'),
      { name: 'area', line: 2, character: 'const total = '.length },
      'the nearest occurrence of area, with its position',
    );
    assert.ok(!params.positions.some((p) => p.name === 'square'), 'the word being typed (touching the cursor) is not looked up');
    assert.ok(
      params.excludeLines && params.excludeLines.start <= 0 && params.excludeLines.end >= 2,
      `window lines: ${JSON.stringify(params.excludeLines)}`,
    );
    // The real signal that the server has the answer: its log line about the cached definitions.
    await serverLog((l) => l.startsWith(`definitions from the editor for ${uri}`) && l.includes('area,'));

    // Next keystroke: the definition is served from the cache, and nobody is asked again for it.
    const text2 = text1 + 'A';
    await h.change(uri, 2, text2);
    const r2 = await h.inline(uri, 2, 'const total = area(squareA'.length);
    assert.deepEqual(
      r2.items.map((i) => i.insertText),
      ['1);'],
    );
    const last = submits(engine).at(-1)!;
    const extra = last.fim?.extra ?? [];
    assert.ok(
      extra.some((c) => c.text === AREA && c.filename === 'shapes.ts'),
      `the editor's definition is in the FIM request's extra chunks: ${JSON.stringify(extra)}`,
    );
    assert.ok(
      !asked.slice(1).some((a) => a.positions.some((p) => p.name === 'area')),
      `area was not asked for again: ${JSON.stringify(asked.map((a) => a.positions.map((p) => p.name)))}`,
    );
    // The first request went out before the answer: it carried no editor definition.
    assert.ok(!(submits(engine)[0]!.fim?.extra ?? []).some((c) => c.text === AREA));
  });

  test('a client without the capability is never asked; the pattern search over open documents still supplies definitions', async () => {
    const { h, engine } = await setup(undefined);
    let asked = 0;
    h.connection.onRequest('pronto/resolveDefinitions', () => {
      asked++;
      return { definitions: [] };
    });
    await h.open(shapesUri, 'export function perimeter(s: Shape): number {\n  return 2 * (s.width + s.height);\n}\n');
    const text = '/*fake:s);*/\nconst p = perimeter(';
    await h.open(uri, text);
    await h.inline(uri, 1, 'const p = perimeter('.length);
    const extra = submits(engine).at(-1)!.fim?.extra ?? [];
    assert.ok(
      extra.some((c) => c.text.startsWith('export function perimeter(s: Shape)')),
      JSON.stringify(extra),
    );
    assert.equal(asked, 0);
  });

  test('a client that never answers does not delay completions', async () => {
    const { h } = await setup({ resolveDefinitions: true });
    let askedResolve!: () => void;
    const asked = new Promise<void>((r) => (askedResolve = r));
    let answered = false;
    // Never answers (until the end of the test).
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    cleanups.push(async () => release());
    h.connection.onRequest('pronto/resolveDefinitions', async () => {
      askedResolve();
      await hold;
      answered = true;
      return { definitions: [] };
    });
    await h.open(uri, '/*fake:done*/\nconst x = someFunction(');
    const r = await h.inline(uri, 1, 'const x = someFunction('.length);
    assert.deepEqual(
      r.items.map((i) => i.insertText),
      ['done'],
    );
    await asked;
    assert.equal(answered, false, 'the completion came back while the definitions request was still open');
  });
});
