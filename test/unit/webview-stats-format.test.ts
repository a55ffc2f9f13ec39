/**
 * media/lib/statsFormat.ts: how the statistics page turns `pronto/stats` and `pronto/status` into
 * text (pure functions; the page itself is checked in test/e2e/ui.test.ts).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompletionRecord, StatsResult, StatusParams } from '../../protocol/lsp';
import { counters, fileName, formatMs, recentRow, recentRows, serverLine, withShare } from '../../media/lib/statsFormat';

const rec = (at: number, over: Partial<CompletionRecord> = {}): CompletionRecord => ({
  at,
  uri: 'file:///work/src/my%20file.ts',
  latencyMs: 123.6,
  fromCache: false,
  promptTokens: 40,
  reusedTokens: 30,
  evaluatedTokens: 10,
  generatedTokens: 7,
  draftedTokens: 0,
  acceptedTokens: 0,
  outcome: 'shown',
  ...over,
});

const stats = (over: Partial<StatsResult> = {}): StatsResult => ({
  requests: 8,
  cacheHits: 2,
  shown: 4,
  accepted: 1,
  cancelled: 3,
  errors: 0,
  latencyP50Ms: 80.4,
  latencyP95Ms: 240.5,
  prefetch: { started: 0, aborted: 0, joined: 0, answered: 0 },
  engineRequests: 0,
  recent: [],
  ...over,
});

test('formatMs and withShare', () => {
  const cases: Array<[number | null | undefined, string]> = [
    [null, 'n/a'],
    [undefined, 'n/a'],
    [Number.NaN, 'n/a'],
    [0, '0 ms'],
    [12.5, '13 ms'],
    [999.4, '999 ms'],
  ];
  for (const [v, want] of cases) assert.equal(formatMs(v), want, String(v));
  assert.equal(withShare(3, 0), '3');
  assert.equal(withShare(1, 4), '1 (25%)');
  assert.equal(withShare(2, 3), '2 (67%)');
});

test('counters show every figure of the stats, in order, with shares', () => {
  const got = counters(stats());
  assert.deepEqual(
    got.map((c) => [c.id, c.value]),
    [
      ['requests', '8'],
      ['cacheHits', '2 (25%)'],
      ['shown', '4 (50%)'],
      ['accepted', '1 (25%)'],
      ['cancelled', '3'],
      ['errors', '0'],
      ['latencyP50', '80 ms'],
      ['latencyP95', '241 ms'],
    ],
  );
  const empty = counters(stats({ requests: 0, cacheHits: 0, shown: 0, accepted: 0, cancelled: 0, latencyP50Ms: null, latencyP95Ms: null }));
  assert.equal(empty.find((c) => c.id === 'latencyP50')?.value, 'n/a');
  assert.equal(empty.find((c) => c.id === 'accepted')?.value, '0');
});

test('fileName decodes the last segment of a URI', () => {
  assert.equal(fileName('file:///work/src/my%20file.ts'), 'my file.ts');
  assert.equal(fileName('untitled:Untitled-1'), 'untitled:Untitled-1');
  assert.equal(fileName('file:///a/b.ts?x=1#L3'), 'b.ts');
  assert.equal(fileName('file:///a/bad%E0.ts'), 'bad%E0.ts');
});

test('a recent row has the cells of the table header, tokens and drafts included', () => {
  const row = recentRow(rec(Date.UTC(2026, 0, 1, 12, 0, 0), { draftedTokens: 6, acceptedTokens: 4, fromCache: true }));
  assert.equal(row.length, 7);
  assert.match(row[0]!, /^\d\d:\d\d:\d\d$/);
  assert.deepEqual(row.slice(1), ['my file.ts', 'shown (cache)', '124 ms', '30 / 10', '7', '6 / 4']);
  assert.equal(recentRow(rec(0))[6], '–', 'no drafting: a dash, not 0 / 0');
  assert.equal(recentRow(rec(0, { outcome: 'cancelled' }))[2], 'cancelled');
});

test('recent rows are newest first and limited', () => {
  const s = stats({ recent: [rec(1, { latencyMs: 1 }), rec(3, { latencyMs: 3 }), rec(2, { latencyMs: 2 })] });
  assert.deepEqual(
    recentRows(s).map((r) => r[3]),
    ['3 ms', '2 ms', '1 ms'],
  );
  assert.deepEqual(
    recentRows(s, 2).map((r) => r[3]),
    ['3 ms', '2 ms'],
  );
  assert.equal(s.recent[0]!.latencyMs, 1, 'the input is not reordered');
});

test('the server line says clearly when the server is down, else the engine state', () => {
  assert.equal(serverLine(undefined).down, false);
  const down = serverLine({ type: 'status', server: 'down', status: null });
  assert.equal(down.down, true);
  assert.match(down.text, /not running/);
  const status: StatusParams = {
    state: 'ready',
    message: 'Ready.',
    model: 'tiny.gguf',
    backend: 'CPU',
    tokensPerSecond: 41.7,
    enabled: true,
    demoModel: true,
  };
  const up = serverLine({ type: 'status', server: 'running', status });
  assert.equal(up.down, false);
  assert.equal(up.text, 'Engine: ready · tiny.gguf (demo model) · CPU · 42 tok/s — Ready.');
  const err = serverLine({
    type: 'status',
    server: 'running',
    status: { ...status, state: 'error', enabled: false, message: 'Engine crashed.' },
  });
  assert.equal(err.down, true);
  assert.match(err.text, /^Engine: error .*completions disabled — Engine crashed\.$/);
  assert.match(serverLine({ type: 'status', server: 'running', status: null }).text, /waiting for its first status/);
});
