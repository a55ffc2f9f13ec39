/** Prefetch bookkeeping with fake work: one per anticipated position, never restarted for it, joins. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Prefetcher, reachedFrom, samePosition, type Position } from '../../server/src/completion/prefetch';

const pos = (before: string, after = '\n', uri = 'file:///a.ts'): Position => ({ uri, before, after });

/** Fake work that runs until released or aborted. */
function work() {
  const runs: { position: string; signal: AbortSignal; release: () => void }[] = [];
  const run = (position: Position) => (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      runs.push({ position: position.before, signal, release: resolve });
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  return { runs, run };
}

test('scheduling the position already being computed does nothing; another position replaces it', async () => {
  const events: string[] = [];
  const p = new Prefetcher({ onStart: () => events.push('start'), onAbort: () => events.push('abort') });
  const { runs, run } = work();
  const a = p.schedule(pos('x = abc'), run(pos('x = abc')));
  // Each typing-through keystroke anticipates the same end: the same prefetch, not a restart.
  for (let i = 0; i < 5; i++) assert.equal(p.schedule(pos('x = abc'), run(pos('x = abc'))), a);
  assert.equal(runs.length, 1);
  assert.deepEqual(events, ['start']);
  const b = p.schedule(pos('x = abd'), run(pos('x = abd')));
  assert.notEqual(a, b);
  assert.equal(runs[0]!.signal.aborted, true);
  assert.deepEqual(events, ['start', 'abort', 'start']);
  runs[1]!.release();
  await b.done;
  assert.equal(p.running, undefined, 'a finished prefetch is no longer running');
  // The same position again after it finished: it runs again (the caller checks the cache first).
  p.schedule(pos('x = abd'), run(pos('x = abd')));
  assert.equal(runs.length, 3);
});

test('covering: the exact position, or one reached by typing on from it, within limits', () => {
  const cases: { prefetch: Position; request: Position; want: boolean }[] = [
    { prefetch: pos('ab'), request: pos('ab'), want: true },
    { prefetch: pos('ab'), request: pos('abc'), want: true },
    { prefetch: pos('ab'), request: pos('a'), want: false },
    { prefetch: pos('ab'), request: pos('ax'), want: false },
    { prefetch: pos('ab'), request: pos('abc', 'other'), want: false },
    { prefetch: pos('ab'), request: pos('ab', '\n', 'file:///b.ts'), want: false },
    { prefetch: pos('ab'), request: pos(`ab${'c'.repeat(300)}`), want: false },
  ];
  for (const c of cases) assert.equal(reachedFrom(c.prefetch, c.request), c.want, JSON.stringify(c.request).slice(0, 80));
  assert.ok(samePosition(pos('a'), pos('a')) && !samePosition(pos('a'), pos('a', 'x')));
  const p = new Prefetcher();
  const { run } = work();
  assert.equal(p.covering(pos('ab')), undefined);
  const running = p.schedule(pos('ab'), run(pos('ab')));
  assert.equal(p.covering(pos('abc')), running);
  assert.equal(p.covering(pos('x')), undefined);
});

test('abort ends the running prefetch and is a no-op when none runs; failing work does not reject', async () => {
  const p = new Prefetcher();
  p.abort();
  const { runs, run } = work();
  const r = p.schedule(pos('a'), run(pos('a')));
  p.abort();
  assert.equal(runs[0]!.signal.aborted, true);
  await r.done;
  const failing = p.schedule(pos('b'), async () => {
    throw new Error('engine gone');
  });
  await failing.done;
  assert.equal(p.running, undefined);
});
