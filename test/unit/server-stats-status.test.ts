import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompletionRecord, StatusParams } from '../../protocol/lsp';
import { StatusReporter } from '../../server/src/status';
import { CompletionStats, percentile } from '../../server/src/stats';

const rec = (latencyMs: number, outcome: CompletionRecord['outcome'], fromCache = false): CompletionRecord => ({
  at: 0,
  uri: 'file:///a',
  latencyMs,
  fromCache,
  promptTokens: 10,
  reusedTokens: 5,
  evaluatedTokens: 5,
  generatedTokens: 3,
  draftedTokens: 0,
  acceptedTokens: 0,
  outcome,
});

test('percentile (nearest rank)', () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([10], 95), 10);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
});

test('CompletionStats counts outcomes; latency percentiles only over answered requests', () => {
  const s = new CompletionStats();
  s.record(rec(100, 'shown'));
  s.record(rec(300, 'empty'));
  s.record(rec(5, 'shown', true));
  s.record(rec(9999, 'cancelled'));
  s.record(rec(50, 'error'));
  s.recordAccepted();
  s.recordDecode(20, 1000);
  const snap = s.snapshot();
  assert.deepEqual(
    {
      requests: snap.requests,
      cacheHits: snap.cacheHits,
      shown: snap.shown,
      accepted: snap.accepted,
      cancelled: snap.cancelled,
      errors: snap.errors,
    },
    { requests: 5, cacheHits: 1, shown: 2, accepted: 1, cancelled: 1, errors: 1 },
  );
  assert.equal(snap.latencyP50Ms, 100);
  assert.equal(snap.latencyP95Ms, 300);
  assert.equal(snap.recent.length, 5);
  assert.equal(s.tokensPerSecond, 20);
  assert.equal(s.lastLatencyMs, 5);
});

test('CompletionStats keeps a bounded list of recent records', () => {
  const s = new CompletionStats(3);
  for (let i = 0; i < 10; i++) s.record(rec(i, 'shown'));
  assert.equal(s.snapshot().requests, 10);
  assert.deepEqual(
    s.snapshot().recent.map((r) => r.latencyMs),
    [7, 8, 9],
  );
});

test('StatusReporter: busy while requests run, figures, enabled flag, no duplicate pushes', () => {
  const sent: StatusParams[] = [];
  const r = new StatusReporter((s) => sent.push(s));
  r.setEngine({ state: 'ready', message: 'Ready.', model: 'm.gguf', backend: 'CPU', demoModel: false });
  r.setEngine({ state: 'ready', message: 'Ready.', model: 'm.gguf', backend: 'CPU', demoModel: false });
  assert.equal(sent.length, 1);
  r.requestStarted();
  assert.equal(sent.at(-1)!.state, 'busy');
  r.requestEnded({ lastLatencyMs: 42, tokensPerSecond: 12.5 });
  assert.deepEqual(sent.at(-1), {
    state: 'ready',
    message: 'Ready.',
    enabled: true,
    model: 'm.gguf',
    backend: 'CPU',
    demoModel: false,
    tokensPerSecond: 12.5,
    lastLatencyMs: 42,
  });
  r.setEnabled(false);
  assert.equal(sent.at(-1)!.enabled, false);
  assert.match(sent.at(-1)!.message, /switched off/);
  r.setNote('Setting "pronto.x" is bad.');
  assert.match(sent.at(-1)!.message, /pronto\.x/);
  const count = sent.length;
  r.resend();
  assert.equal(sent.length, count + 1);
  // Busy is only shown over a ready engine.
  r.setEngine({ state: 'degraded', message: 'Restarting.' });
  r.requestStarted();
  assert.equal(sent.at(-1)!.state, 'degraded');
});

test('CompletionStats numbers its records (log lines carry #id) and tells listeners of records and accepts', () => {
  const s = new CompletionStats();
  const heard: string[] = [];
  const stopRecords = s.onRecord((r) => heard.push(`record #${r.id} ${r.outcome}`));
  s.onAccept((p) => heard.push(`accept ${p.kind}`));
  assert.equal(s.record(rec(1, 'shown')), 1);
  assert.equal(s.record({ ...rec(2, 'error'), message: 'the engine is not ready' }), 2);
  s.recordAccepted({ uri: 'file:///a', text: 'x', kind: 'word' });
  stopRecords();
  s.record(rec(3, 'empty'));
  assert.deepEqual(heard, ['record #1 shown', 'record #2 error', 'accept word']);
  assert.deepEqual(
    s.snapshot().recent.map((r) => [r.id, r.message]),
    [
      [1, undefined],
      [2, 'the engine is not ready'],
      [3, undefined],
    ],
  );
});

test('StatusReporter carries the worst monitor alert, and drops it when it clears', () => {
  const sent: StatusParams[] = [];
  const r = new StatusReporter((s) => sent.push(s));
  r.setEngine({ state: 'ready', message: 'Ready.' });
  r.setAlert({ severity: 'warning', count: 1, summary: 'Request latency p95 300 ms above 200 ms on Local engine' });
  assert.deepEqual(sent.at(-1)?.alert, {
    severity: 'warning',
    count: 1,
    summary: 'Request latency p95 300 ms above 200 ms on Local engine',
  });
  r.setAlert(undefined);
  assert.equal(sent.at(-1)?.alert, undefined);
  assert.equal('alert' in sent.at(-1)!, false);
});
