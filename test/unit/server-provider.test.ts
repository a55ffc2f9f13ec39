/** The completion request flow against an in-process engine double through a real EngineClient. */
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import type { SubmitMessage } from '../../protocol/engine';
import { CompletionProvider, type CompletionInput } from '../../server/src/completion/provider';
import { ContextRing } from '../../server/src/context/ring';
import { EngineClient } from '../../server/src/engine/client';
import { parseSettings, type Settings } from '../../server/src/settings';
import { CompletionStats } from '../../server/src/stats';
import { startFakeEngine, type FakeEngine } from '../support/lsp';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function setup(settingsIn: object = {}) {
  const engine = await startFakeEngine();
  const client = new EngineClient({ baseUrl: engine.url });
  await client.connect();
  cleanups.push(
    () => client.close(),
    () => engine.close(),
  );
  const settings: Settings = parseSettings({ completion: { debounceMs: 0, prefetch: false }, ...settingsIn }).settings;
  const stats = new CompletionStats();
  const ring = new ContextRing(settings['context.ringChunks'], settings['context.ringChunkLines']);
  const provider = new CompletionProvider({ getClient: () => client, getSettings: () => settings, ring, stats });
  return { engine, client, provider, stats, ring, settings };
}

/** Cursor mini-language: `║` marks the cursor. */
function doc(text: string, uri = 'file:///work/a.ts'): CompletionInput {
  const offset = text.indexOf('║');
  return { uri, text: text.replace('║', ''), offset };
}

const submits = (e: FakeEngine) => e.received.filter((m): m is SubmitMessage => m.type === 'submit');

test('a completion arrives post-processed, with the FIM window and single-line limits', async () => {
  const { engine, provider, stats } = await setup();
  const r = await provider.provide(doc('/*fake:a, b);*/\ncall(║);\nnext();'));
  assert.deepEqual(r.items, ['a, b']);
  assert.equal(r.outcome, 'shown');
  const s = submits(engine)[0]!;
  assert.equal(s.fim?.prefix, '/*fake:a, b);*/\ncall(');
  assert.equal(s.fim?.suffix, ');\nnext();');
  assert.equal(s.fim?.filename, 'a.ts');
  assert.equal(s.limits?.stop_at_eol, true);
  assert.equal(stats.snapshot().shown, 1);
});

test('every FIM request carries the token budgets; the character pre-cut follows the prefix budget', async () => {
  const { engine, provider } = await setup({ context: { prefixTokens: 5, suffixTokens: 7, extraTokens: 9 } });
  // 5 tokens × 6 characters = 30 characters at most, cut at a line start.
  const far = Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n');
  await provider.provide(doc(`${far}\n/*fake:x*/\ncall(║);`));
  const s = submits(engine)[0]!;
  assert.deepEqual(s.fim?.budget, { prefix_tokens: 5, suffix_tokens: 7, extra_tokens: 9 });
  assert.ok(s.fim!.prefix.length <= 30, JSON.stringify(s.fim?.prefix));
  assert.ok(s.fim!.prefix.endsWith('call('), JSON.stringify(s.fim?.prefix));
  assert.ok(!s.fim!.prefix.includes('line0'));
});

test('multi-line context asks for a block', async () => {
  const { engine, provider } = await setup();
  const r = await provider.provide(doc('/*fake:\\n  return 1;\\n}\\nmore();*/\nfunction f() {║'));
  assert.deepEqual(r.items, ['\n  return 1;\n}']);
  assert.equal(submits(engine)[0]!.limits?.stop_at_block_end, true);
});

test('a newer request aborts the older one all the way to the engine', async () => {
  const { engine, provider, stats } = await setup();
  const first = provider.provide(doc('/*fake-slow*/ a║'));
  const firstSubmit = await engine.waitFor((m) => m.type === 'submit');
  const second = provider.provide(doc('/*fake:x*/ b║'));
  const r1 = await first;
  assert.equal(r1.outcome, 'cancelled');
  const cancel = await engine.waitFor((m) => m.type === 'cancel');
  assert.equal(cancel.id, firstSubmit.id);
  assert.deepEqual((await second).items, ['x']);
  assert.equal(stats.snapshot().cancelled, 1);
});

test('the editor cancelling the request (LSP token) cancels it at the engine', async () => {
  const { engine, provider } = await setup();
  const ac = new AbortController();
  const p = provider.provide(doc('/*fake-slow*/ a║'), ac.signal);
  const s = await engine.waitFor((m) => m.type === 'submit');
  ac.abort();
  assert.equal((await p).outcome, 'cancelled');
  assert.equal((await engine.waitFor((m) => m.type === 'cancel')).id, s.id);
});

test('a request aborted during the debounce never reaches the engine', async () => {
  const { engine, provider } = await setup({ completion: { debounceMs: 500, prefetch: false } });
  const ac = new AbortController();
  const p = provider.provide(doc('/*fake:x*/ a║'), ac.signal);
  ac.abort();
  assert.equal((await p).outcome, 'cancelled');
  assert.equal(submits(engine).length, 0);
});

test('cache: repeat and typing-through are served without an engine call', async () => {
  const { engine, provider, stats } = await setup();
  const text = '/*fake:hello world*/\nconst s = ║';
  assert.deepEqual((await provider.provide(doc(text))).items, ['hello world']);
  const again = await provider.provide(doc(text));
  assert.deepEqual(again, { items: ['hello world'], fromCache: true, outcome: 'shown' });
  const typed = await provider.provide(doc(text.replace('║', 'hel║')));
  assert.deepEqual(typed.items, ['lo world']);
  assert.equal(typed.fromCache, true);
  assert.equal(submits(engine).length, 1);
  assert.equal(stats.snapshot().cacheHits, 2);
});

test('prefetch computes the next suggestion, so accepting the shown one hits the cache', async () => {
  const { engine, provider } = await setup({ completion: { debounceMs: 0, prefetch: true } });
  const r = await provider.provide(doc('/*fake:step();*/\nrun();\n║'));
  assert.deepEqual(r.items, ['step();']);
  await provider.prefetching;
  assert.equal(submits(engine).length, 2);
  assert.equal(submits(engine)[1]!.fim?.prefix, '/*fake:step();*/\nrun();\nstep();');
  const next = await provider.provide(doc('/*fake:step();*/\nrun();\nstep();║'));
  assert.equal(next.fromCache, true);
  assert.deepEqual(next.items, ['step();']);
});

test('alternatives: one greedy request and sampled ones, duplicates merged', async () => {
  const { engine, provider } = await setup({ completion: { debounceMs: 0, prefetch: false, alternatives: 3 } });
  const r = await provider.provide(doc('/*fake:same*/ x = ║'));
  assert.deepEqual(r.items, ['same']);
  const s = submits(engine);
  assert.equal(s.length, 3);
  assert.equal(s[0]!.sampling, undefined);
  assert.ok((s[1]!.sampling?.temperature ?? 0) > 0 && s[2]!.sampling?.seed !== s[1]!.sampling?.seed);
});

test('extra context: chunks from other files go into the request', async () => {
  const { engine, provider, ring } = await setup();
  ring.addAround('file:///work/util.ts', 'util.ts', 'export function helper() {}\n', 0);
  await provider.provide(doc('/*fake:x*/ a║'));
  assert.deepEqual(submits(engine)[0]!.fim?.extra, [{ filename: 'util.ts', text: 'export function helper() {}\n' }]);
});

test('no engine: an error outcome, not a throw', async () => {
  const settings = parseSettings({ completion: { debounceMs: 0 } }).settings;
  const stats = new CompletionStats();
  const logged: string[] = [];
  const p = new CompletionProvider({
    getClient: () => undefined,
    getSettings: () => settings,
    ring: new ContextRing(0, 10),
    stats,
    log: (l) => logged.push(l),
  });
  const r = await p.provide(doc('x║'));
  assert.equal(r.outcome, 'error');
  assert.equal(stats.snapshot().errors, 1);
  // The error row in the monitor is traceable: its record carries the message and the log line its #id.
  const [record] = stats.snapshot().recent;
  assert.equal(record?.message, 'the engine is not ready');
  assert.deepEqual(logged, [`completion #${record?.id} failed: the engine is not ready`]);
});

test('definitions of symbols near the cursor from other open documents go into the request', async () => {
  const engine = await startFakeEngine();
  const client = new EngineClient({ baseUrl: engine.url });
  await client.connect();
  cleanups.push(
    () => client.close(),
    () => engine.close(),
  );
  const settings = parseSettings({ completion: { debounceMs: 0, prefetch: false } }).settings;
  const docs = [{ uri: 'file:///work/geo.ts', filename: 'geo.ts', text: 'export interface Point {\n  x: number;\n  y: number;\n}\n' }];
  const provider = new CompletionProvider({
    getClient: () => client,
    getSettings: () => settings,
    ring: new ContextRing(0, 10),
    getDocuments: () => docs,
    stats: new CompletionStats(),
  });
  await provider.provide(doc('/*fake:x*/\nconst origin: Point = ║'));
  const extra = submits(engine)[0]!.fim?.extra ?? [];
  assert.deepEqual(
    extra.map((c) => c.filename),
    ['geo.ts'],
  );
  assert.match(extra[0]!.text, /^export interface Point \{/);
});

test('an explicit request (triggerKind Invoked) skips the debounce', async () => {
  const { provider } = await setup({ completion: { debounceMs: 2000, prefetch: false } });
  const started = Date.now();
  const r = await provider.provide({ ...doc('/*fake:now*/ x = ║'), explicit: true });
  assert.deepEqual(r.items, ['now']);
  assert.ok(Date.now() - started < 1500, 'answered before the 2 s debounce would have ended');
});
