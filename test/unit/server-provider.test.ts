/** The completion request flow against an in-process engine double through a real EngineClient. */
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import type { SubmitMessage } from '../../protocol/engine';
import { CompletionProvider, type CompletionInput } from '../../server/src/completion/provider';
import { findDefinitions } from '../../server/src/context/definitions';
import { ContextRing } from '../../server/src/context/ring';
import { TokenEstimator } from '../../server/src/context/tokens';
import { EngineClient } from '../../server/src/engine/client';
import { MAX_LINE_CHARS } from '../../server/src/context/window';
import { parseSettings, type Settings } from '../../server/src/settings';
import { CompletionStats } from '../../server/src/stats';
import { startFakeEngine, type FakeEngine } from '../support/lsp';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function setup(settingsIn: object = {}, engineOptions: { tokenMs?: number } = {}) {
  const engine = await startFakeEngine(engineOptions);
  const client = new EngineClient({ baseUrl: engine.url });
  await client.connect();
  cleanups.push(
    () => client.close(),
    () => engine.close(),
  );
  const settings: Settings = parseSettings({ completion: { debounceMs: 0, prefetch: false }, ...settingsIn }).settings;
  const stats = new CompletionStats();
  const ring = new ContextRing(settings['context.ringChunks'], settings['context.ringChunkLines']);
  const tokens = new TokenEstimator();
  const provider = new CompletionProvider({ getClient: () => client, getSettings: () => settings, context: { tokens, ring }, stats });
  return { engine, client, provider, stats, ring, settings, tokens };
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

test('every FIM request carries the token budgets; the characters sent follow the prefix budget × characters per token', async () => {
  const { engine, provider, tokens } = await setup({ context: { prefixTokens: 5, suffixTokens: 7, extraTokens: 9 } });
  const far = Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n');
  await provider.provide(doc(`${far}\n/*fake:x*/\ncall(║);`));
  const s = submits(engine)[0]!;
  assert.deepEqual(s.fim?.budget, { prefix_tokens: 5, suffix_tokens: 7, extra_tokens: 9 });
  assert.ok(s.fim!.prefix.length <= tokens.chars(5), JSON.stringify(s.fim?.prefix));
  assert.ok(s.fim!.prefix.endsWith('call('), JSON.stringify(s.fim?.prefix));
  assert.ok(!s.fim!.prefix.includes('line0'));
});

test('a 60,000-character line is cut before it reaches the engine', async () => {
  const { engine, provider } = await setup();
  const long = 'A'.repeat(60_000);
  await provider.provide(doc(`/*fake:x*/\nconst data = "${long}";\nconst next = ║;\nconst more = "${long}";\n`));
  const fim = submits(engine)[0]!.fim!;
  for (const part of [fim.prefix, fim.suffix]) {
    assert.ok(Math.max(...part.split('\n').map((l) => l.length)) <= MAX_LINE_CHARS, `a line of ${part.length} characters was sent`);
  }
  assert.ok(fim.prefix.includes('const data = "AAAA'), 'the head of the long line is kept');
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
  assert.equal(stats.snapshot().engineRequests, 1);
});

test('a typing-through hit is post-processed for the current position (a filter cuts what a fresh answer would not show)', async () => {
  const { engine, provider } = await setup();
  // Multi-line inside `{}`: the engine's answer has three lines.
  const text = '/*fake:\\n  a: 1,\\n  b: 2,\\n  c: 3,*/\nconst config = {║}\n';
  assert.deepEqual((await provider.provide(doc(text))).items, ['\n  a: 1,\n  b: 2,\n  c: 3,']);
  // Typed through the first line: now after `a: 1,`, a fresh answer would be single-line.
  const typed = await provider.provide(doc(text.replace('║', '\n  a: 1,║')));
  assert.equal(typed.fromCache, true);
  assert.deepEqual(typed.items, ['\n  b: 2,']);
  assert.equal(submits(engine).length, 1);
});

test('prefetch computes the next suggestion, so accepting the shown one is answered from it', async () => {
  const { engine, provider, stats } = await setup({ completion: { debounceMs: 0, prefetch: true } });
  const r = await provider.provide(doc('/*fake:step();*/\nrun();\n║'));
  assert.deepEqual(r.items, ['step();']);
  await provider.prefetching;
  assert.equal(submits(engine).length, 2);
  assert.equal(submits(engine)[1]!.fim?.prefix, '/*fake:step();*/\nrun();\nstep();');
  const next = await provider.provide(doc('/*fake:step();*/\nrun();\nstep();║'));
  assert.equal(next.fromCache, true);
  assert.equal(next.fromPrefetch, true);
  assert.deepEqual(next.items, ['step();']);
  const s = stats.snapshot();
  assert.equal(s.prefetch.answered, 1);
  assert.ok(s.recent.at(-1)!.fromPrefetch);
});

test('a request for the position a prefetch is computing joins it: no second engine request, the prefetch is not aborted', async () => {
  const { engine, provider, stats } = await setup({ completion: { debounceMs: 0, prefetch: true } }, { tokenMs: 40 });
  const r = await provider.provide(doc('/*fake:go();*/\nrun();\n║'));
  assert.deepEqual(r.items, ['go();']);
  assert.ok(provider.prefetcher.running, 'the prefetch is running');
  const next = await provider.provide(doc('/*fake:go();*/\nrun();\ngo();║'));
  assert.deepEqual(next.items, ['go();']);
  assert.equal(next.fromPrefetch, true);
  assert.equal(next.fromCache, false);
  assert.equal(engine.cancelled.size, 0, 'nothing was cancelled');
  const s = stats.snapshot();
  assert.equal(s.prefetch.joined, 1);
  assert.equal(s.prefetch.answered, 1);
  // The first request, the prefetch for the accepted position, and the prefetch after it.
  await provider.prefetching;
  assert.equal(submits(engine).filter((m) => m.fim?.prefix.endsWith('run();\ngo();')).length, 1, 'one engine request for that position');
});

test('typing through a shown suggestion never restarts its prefetch', async () => {
  const { engine, provider, stats } = await setup({ completion: { debounceMs: 0, prefetch: true } }, { tokenMs: 40 });
  const text = '/*fake:hello world*/\nconst s = ║';
  await provider.provide(doc(text));
  for (const typed of ['h', 'he', 'hel', 'hell']) {
    const r = await provider.provide(doc(text.replace('║', `${typed}║`)));
    assert.equal(r.fromCache, true);
  }
  await provider.prefetching;
  assert.equal(stats.snapshot().prefetch.started, 1);
  assert.equal(stats.snapshot().prefetch.aborted, 0);
  assert.equal(submits(engine).length, 2, 'the request and one prefetch');
  assert.equal(engine.cancelled.size, 0);
});

test('a request elsewhere aborts the prefetch at the engine', async () => {
  const { engine, provider, stats } = await setup({ completion: { debounceMs: 0, prefetch: true } }, { tokenMs: 40 });
  await provider.provide(doc('/*fake:go();*/\nrun();\n║'));
  const prefetchSubmit = await engine.waitFor((m) => m.type === 'submit' && (m.fim?.prefix.endsWith('go();') ?? false));
  await provider.provide(doc('/*fake:go();*/\nrun();\nx║'));
  const cancel = await engine.waitFor((m) => m.type === 'cancel');
  assert.equal(cancel.id, prefetchSubmit.id);
  assert.equal(stats.snapshot().prefetch.aborted, 1);
});

test('an accept of another alternative moves the prefetch to where that one ends', async () => {
  const { engine, provider } = await setup({ completion: { debounceMs: 0, prefetch: true, alternatives: 2 } });
  // The fake engine answers the same text to the greedy and the sampled request: one item.
  const text = '/*fake:abc*/\nx = ║';
  const r = await provider.provide(doc(text));
  assert.deepEqual(r.items, ['abc']);
  await provider.prefetching;
  const before = submits(engine).length;
  // A word accept of the shown item: the anticipated end is unchanged, nothing new is started.
  provider.noteAccepted({ uri: 'file:///work/a.ts', text: 'ab', kind: 'word' }, doc(text.replace('║', 'ab║')).text);
  assert.equal(submits(engine).length, before);
  // An accept that does not match what the document holds (stale) is ignored.
  provider.noteAccepted({ uri: 'file:///work/a.ts', text: 'abc', kind: 'full' }, 'something else');
  await provider.prefetching;
  assert.equal(submits(engine).length, before);
  // A full accept of a text that was not the first item: prefetch for its end.
  provider.noteAccepted({ uri: 'file:///work/a.ts', text: 'abd', kind: 'full' }, doc(text.replace('║', 'abd║')).text);
  await provider.prefetching;
  const last = submits(engine).at(-1)!;
  assert.ok(last.fim?.prefix.endsWith('x = abd'), JSON.stringify(last.fim?.prefix));
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
  const p = new CompletionProvider({
    getClient: () => undefined,
    getSettings: () => settings,
    context: { tokens: new TokenEstimator() },
    stats,
  });
  const r = await p.provide(doc('x║'));
  assert.equal(r.outcome, 'error');
  assert.equal(stats.snapshot().errors, 1);
});

test('definitions of symbols near the cursor go into the request', async () => {
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
    context: { tokens: new TokenEstimator(), definitions: (uri, names) => findDefinitions(names, docs, uri) },
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

test('an answer with nothing generated is not cached: asking again at the same place asks the engine (it continues the prompt)', async () => {
  const { engine, provider } = await setup();
  const at = doc('/*fake:*/\ncall(║);');
  assert.equal((await provider.provide(at)).outcome, 'empty');
  const again = await provider.provide(at);
  assert.equal(again.fromCache, false);
  assert.equal(submits(engine).length, 2);
  // An answer with text is cached as before.
  const shown = doc('/*fake:x*/\ncall(║);');
  await provider.provide(shown);
  assert.equal((await provider.provide(shown)).fromCache, true);
  assert.equal(submits(engine).length, 3);
});
