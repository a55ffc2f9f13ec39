import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AdaptiveDebounce, debounceDelay, delay } from '../../server/src/completion/debounce';

test('debounceDelay: no typing history or slow typing waits the base delay', () => {
  assert.equal(debounceDelay(75, undefined), 75);
  assert.equal(debounceDelay(75, 400), 75);
});

test('debounceDelay: fast typing waits 1.5x the typing interval, within [base, 4x base]', () => {
  assert.equal(debounceDelay(75, 100), 150);
  assert.equal(debounceDelay(75, 20), 75);
  assert.equal(debounceDelay(75, 299), 300);
});

test('AdaptiveDebounce learns the typing interval and ignores pauses', () => {
  const d = new AdaptiveDebounce(50);
  assert.equal(d.next(0), 50);
  for (let t = 100; t <= 1000; t += 100) d.next(t);
  assert.ok(Math.abs(d.typingIntervalMs! - 100) < 1e-9);
  assert.equal(d.next(1100), 150);
  // A long pause is not typing: the interval stays.
  d.next(10000);
  assert.ok(Math.abs(d.typingIntervalMs! - 100) < 1e-9);
});

test('delay resolves false as soon as the signal aborts', async () => {
  const c = new AbortController();
  const started = Date.now();
  const p = delay(10000, c.signal);
  c.abort();
  assert.equal(await p, false);
  assert.ok(Date.now() - started < 1000);
  assert.equal(await delay(1, new AbortController().signal), true);
});
