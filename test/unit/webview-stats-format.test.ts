/**
 * media/lib/statsFormat.ts: how the monitor page turns the request records, acceptance counts and
 * `pronto/status` into text (pure functions; the page itself is checked in test/e2e/).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompletionRecord, StatsResult, StatusParams } from '../../protocol/lsp';
import {
  acceptanceRate,
  acceptanceRows,
  counters,
  fileName,
  formatMs,
  recentRow,
  recentRows,
  serverLine,
  withShare,
} from '../../media/lib/statsFormat';
import type { AcceptanceSummary } from '../../protocol/monitorData';

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

const acceptance = (over: Partial<AcceptanceSummary['total']> = {}): AcceptanceSummary => {
  const total = { shown: 10, acceptedFull: 3, acceptedPartial: 2, dismissed: 4, pending: 1, ...over };
  return { total, byLanguage: { python: total } };
};

test('counters: requests from the records, acceptance from the analytics (partial accepts apart)', () => {
  const got = counters(stats(), acceptance());
  assert.deepEqual(
    got.map((c) => [c.id, c.value]),
    [
      ['requests', '8'],
      ['cacheHits', '2 (25%)'],
      ['shown', '10'],
      ['accepted', '3 (33%)'],
      ['acceptedPartial', '2 (22%)'],
      ['dismissed', '4 (44%)'],
      ['acceptanceRate', '33%'],
      ['cancelled', '3'],
      ['errors', '0'],
      ['latencyP50', '80 ms'],
      ['latencyP95', '241 ms'],
    ],
  );
  const empty = counters(
    stats({ requests: 0, cacheHits: 0, shown: 0, accepted: 0, cancelled: 0, latencyP50Ms: null, latencyP95Ms: null }),
    acceptance({ shown: 0, acceptedFull: 0, acceptedPartial: 0, dismissed: 0, pending: 0 }),
  );
  assert.equal(empty.find((c) => c.id === 'latencyP50')?.value, 'n/a');
  assert.equal(empty.find((c) => c.id === 'accepted')?.value, '0');
  assert.equal(empty.find((c) => c.id === 'acceptanceRate')?.value, 'n/a');
});

test('acceptance: the rate counts full accepts over suggestions that ended; rows per language and a total', () => {
  assert.equal(acceptanceRate({ shown: 5, acceptedFull: 1, acceptedPartial: 1, dismissed: 2, pending: 1 }), 25);
  assert.equal(acceptanceRate({ shown: 1, acceptedFull: 0, acceptedPartial: 0, dismissed: 0, pending: 1 }), null);
  const a: AcceptanceSummary = {
    total: { shown: 6, acceptedFull: 2, acceptedPartial: 1, dismissed: 2, pending: 1 },
    byLanguage: {
      python: { shown: 4, acceptedFull: 2, acceptedPartial: 0, dismissed: 2, pending: 0 },
      typescript: { shown: 2, acceptedFull: 0, acceptedPartial: 1, dismissed: 0, pending: 1 },
    },
  };
  assert.deepEqual(acceptanceRows(a), [
    ['python', '4', '2', '0', '2', '0', '50%'],
    ['typescript', '2', '0', '1', '0', '1', '0%'],
    ['all', '6', '2', '1', '2', '1', '40%'],
  ]);
  assert.equal(acceptanceRows(acceptance()).length, 1, 'one language: no total row');
});

test('fileName decodes the last segment of a URI', () => {
  assert.equal(fileName('file:///work/src/my%20file.ts'), 'my file.ts');
  assert.equal(fileName('untitled:Untitled-1'), 'untitled:Untitled-1');
  assert.equal(fileName('file:///a/b.ts?x=1#L3'), 'b.ts');
  assert.equal(fileName('file:///a/bad%E0.ts'), 'bad%E0.ts');
});

test('a recent row has the cells of the table header, tokens and drafts included', () => {
  const row = recentRow(rec(Date.UTC(2026, 0, 1, 12, 0, 0), { id: 12, draftedTokens: 6, acceptedTokens: 4, fromCache: true }));
  assert.equal(row.length, 8);
  assert.match(row[0]!, /^\d\d:\d\d:\d\d$/);
  assert.deepEqual(row.slice(1), ['#12', 'my file.ts', 'shown (cache)', '124 ms', '30 / 10', '7', '6 / 4']);
  assert.equal(recentRow(rec(0))[7], '–', 'no drafting: a dash, not 0 / 0');
  assert.equal(recentRow(rec(0, { outcome: 'cancelled' }))[3], 'cancelled');
  // An error row says why, and its #id is the one in the log line.
  assert.deepEqual(recentRow(rec(0, { id: 7, outcome: 'error', message: 'the engine is not ready' })).slice(1, 4), [
    '#7',
    'my file.ts',
    'error: the engine is not ready',
  ]);
});

test('recent rows are newest first and limited; runs of cancelled requests fold into one row', () => {
  const s = stats({ recent: [rec(1, { latencyMs: 1 }), rec(3, { latencyMs: 3 }), rec(2, { latencyMs: 2 })] });
  const latency = (rows: ReturnType<typeof recentRows>) => rows.map((r) => (r.kind === 'record' ? r.cells[4] : r.text));
  assert.deepEqual(latency(recentRows(s)), ['3 ms', '2 ms', '1 ms']);
  assert.deepEqual(latency(recentRows(s, { limit: 2 })), ['3 ms', '2 ms']);
  assert.equal(s.recent[0]!.latencyMs, 1, 'the input is not reordered');
  // 112 of 130 cancelled while typing: they do not push the answers off the table.
  const typing = stats({
    recent: [
      rec(1, { latencyMs: 1 }),
      ...Array.from({ length: 5 }, (_, i) => rec(2 + i, { outcome: 'cancelled' })),
      rec(10, { latencyMs: 10 }),
      rec(11, { outcome: 'cancelled' }),
    ],
  });
  assert.deepEqual(latency(recentRows(typing)), [
    '1 request cancelled (superseded by a later keystroke)',
    '10 ms',
    '5 requests cancelled (superseded by later keystrokes)',
    '1 ms',
  ]);
  assert.equal(recentRows(typing, { showCancelled: true }).length, 8);
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
