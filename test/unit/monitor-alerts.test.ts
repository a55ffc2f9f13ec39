/**
 * Alert rules: they trigger, hold and clear on the right sequences of values, with hysteresis and a
 * minimum duration, and ask for one notification per incident with a cooldown. Time is passed in,
 * so each sequence is exact.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AlertEvaluator, alertRules, ruleValue, type AlertSettings } from '../../server/src/monitor/alerts';
import type { MonitorValues } from '../../server/src/monitor/engineSample';

const base: AlertSettings = {
  latencyP95Ms: 200,
  gpuUtilisationPercent: 90,
  memoryPercent: 90,
  errorRatePercent: 1,
  forMs: 3000,
  hysteresisPercent: 10,
  cooldownMs: 60_000,
};

type Step = [t: number, latencyMs: number | null];

/** Runs latency values through one evaluator; returns the changes as "t:fired"/"t:resolved" and the last phase. */
function run(steps: Step[], settings: Partial<AlertSettings> = {}, ev = new AlertEvaluator({ ...base, ...settings })) {
  const changes: string[] = [];
  for (const [t, v] of steps) {
    for (const c of ev.evaluate(t, 'engine', 'Local engine', { requestP95WindowMs: v })) changes.push(`${t}:${c.change}`);
  }
  const active = ev.snapshot().active.find((a) => a.rule === 'latency');
  return { changes, phase: active?.phase ?? 'ok', ev };
}

const seq = (start: number, values: Array<number | null>): Step[] => values.map((v, i) => [(start + i) * 1000, v]);

const table: Array<{ name: string; steps: Step[]; changes: string[]; phase: string; settings?: Partial<AlertSettings> }> = [
  { name: 'below the threshold: nothing', steps: seq(0, [100, 150, 199, 200]), changes: [], phase: 'ok' },
  { name: 'above, but not yet for forMs: pending', steps: seq(0, [250, 260, 270]), changes: [], phase: 'pending' },
  { name: 'above for forMs: fires once', steps: seq(0, [250, 260, 270, 280, 300, 290]), changes: ['3000:fired'], phase: 'firing' },
  { name: 'a spike shorter than forMs does not fire', steps: seq(0, [250, 260, 150, 250, 260, 100]), changes: [], phase: 'ok' },
  {
    name: 'hysteresis: between clearAt (180) and the threshold it keeps firing',
    steps: seq(0, [250, 250, 250, 250, 190, 185, 190, 181, 199, 190]),
    changes: ['3000:fired'],
    phase: 'firing',
  },
  {
    name: 'at or below clearAt for forMs: resolves once',
    steps: seq(0, [250, 250, 250, 250, 170, 170, 170, 170, 170]),
    changes: ['3000:fired', '7000:resolved'],
    phase: 'ok',
  },
  {
    name: 'a dip below clearAt shorter than forMs does not clear',
    steps: seq(0, [250, 250, 250, 250, 170, 170, 250, 250, 250]),
    changes: ['3000:fired'],
    phase: 'firing',
  },
  {
    name: 'flapping around the threshold fires once and never resolves while it flaps',
    steps: seq(0, [250, 250, 250, 250, 195, 205, 195, 205, 195, 205, 195]),
    changes: ['3000:fired'],
    phase: 'firing',
  },
  {
    name: 'no data (no requests in the window) counts as recovered',
    steps: seq(0, [250, 250, 250, 250, null, null, null, null]),
    changes: ['3000:fired', '7000:resolved'],
    phase: 'ok',
  },
  { name: 'no data never fires', steps: seq(0, [null, null, null, null, null]), changes: [], phase: 'ok' },
  {
    name: 'forMs 0: fires and clears at once',
    steps: seq(0, [250, 150, 250]),
    changes: ['0:fired', '1000:resolved', '2000:fired'],
    phase: 'firing',
    settings: { forMs: 0 },
  },
  {
    name: 'a second incident after a resolved one fires again',
    steps: seq(0, [250, 250, 250, 250, 100, 100, 100, 100, 300, 300, 300, 300]),
    changes: ['3000:fired', '7000:resolved', '11000:fired'],
    phase: 'firing',
  },
];

for (const c of table) {
  test(`alert sequence: ${c.name}`, () => {
    const r = run(c.steps, c.settings);
    assert.deepEqual(r.changes, c.changes);
    assert.equal(r.phase, c.phase);
  });
}

test('a rule switched off (threshold 0) resolves its incident at once and stays quiet', () => {
  const { ev } = run(seq(0, [250, 250, 250, 250]));
  ev.configure({ ...base, latencyP95Ms: 0 });
  const changes = ev.evaluate(5000, 'engine', 'Local engine', { requestP95WindowMs: 900 });
  assert.deepEqual(
    changes.map((c) => c.change),
    ['resolved'],
  );
  assert.deepEqual(ev.evaluate(6000, 'engine', 'Local engine', { requestP95WindowMs: 900 }), []);
  assert.equal(ev.statusAlert(), undefined);
});

test('raising the threshold above the value clears the alert after forMs; lowering it fires again', () => {
  const ev = new AlertEvaluator(base);
  const at = (t: number) => ev.evaluate(t, 'engine', 'Local engine', { requestP95WindowMs: 50 }).map((c) => `${t}:${c.change}`);
  ev.configure({ ...base, latencyP95Ms: 10 });
  const out = [0, 1000, 2000, 3000].flatMap(at);
  ev.configure({ ...base, latencyP95Ms: 1000 });
  out.push(...[4000, 5000, 6000, 7000].flatMap(at));
  assert.deepEqual(out, ['3000:fired', '7000:resolved']);
});

test('one notification per incident, none again within the cooldown, again after it', () => {
  const ev = new AlertEvaluator({ ...base, forMs: 0, cooldownMs: 10_000 });
  const notes: string[] = [];
  const step = (t: number, v: number) => {
    for (const c of ev.evaluate(t, 'engine', 'Local engine', { requestP95WindowMs: v })) notes.push(`${t}:${c.change}:${c.notify}`);
  };
  step(0, 300); // incident 1, notified
  step(1000, 300); // same incident: no new event
  step(2000, 100); // resolved
  step(3000, 300); // incident 2 inside the cooldown: not notified
  step(4000, 100);
  step(12_000, 300); // incident 3 after the cooldown: notified
  assert.deepEqual(notes, ['0:fired:true', '2000:resolved:false', '3000:fired:false', '4000:resolved:false', '12000:fired:true']);
  // History: newest first, each with its times.
  const history = ev.snapshot().history;
  assert.deepEqual(
    history.map((h) => [h.id, h.firedAt, h.resolvedAt]),
    [
      [3, 12_000, undefined],
      [2, 3000, 4000],
      [1, 0, 2000],
    ],
  );
});

test('incidents remember their peak and name the source', () => {
  const ev = new AlertEvaluator({ ...base, forMs: 0 });
  ev.evaluate(0, 'green', 'Green v2', { requestP95WindowMs: 300 });
  ev.evaluate(1000, 'green', 'Green v2', { requestP95WindowMs: 700 });
  ev.evaluate(2000, 'green', 'Green v2', { requestP95WindowMs: 400 });
  const [incident] = ev.snapshot().history;
  assert.equal(incident?.peak, 700);
  assert.equal(incident?.source, 'green');
  assert.match(incident?.message ?? '', /^Request latency p95 300 ms above 200 ms on Green v2$/);
});

test('sources are independent, and a removed source resolves its incidents', () => {
  const ev = new AlertEvaluator({ ...base, forMs: 0 });
  ev.evaluate(0, 'blue', 'Blue', { requestP95WindowMs: 300 });
  ev.evaluate(0, 'green', 'Green', { requestP95WindowMs: 100 });
  assert.deepEqual(
    ev.snapshot().active.map((a) => [a.source, a.phase]),
    [['blue', 'firing']],
  );
  const changes = ev.dropSource('blue', 1000);
  assert.deepEqual(
    changes.map((c) => [c.incident.source, c.change]),
    [['blue', 'resolved']],
  );
  assert.deepEqual(ev.snapshot().active, []);
});

test('the status shows the worst alert: critical over warning, with the count', () => {
  const ev = new AlertEvaluator({ ...base, forMs: 0 });
  ev.evaluate(0, 'engine', 'Local engine', { requestP95WindowMs: 300 });
  assert.equal(ev.statusAlert()?.severity, 'warning');
  ev.evaluate(1000, 'engine', 'Local engine', { requestP95WindowMs: 300, gpuUtilisationPercent: 97 });
  const s = ev.statusAlert();
  assert.equal(s?.severity, 'critical');
  assert.equal(s?.count, 2);
  assert.match(s?.summary ?? '', /GPU utilisation 97% above 90%/);
});

test('memory: the GPU memory when the engine has a GPU, else RAM; unavailable figures never fire', () => {
  const memory = alertRules(base).find((r) => r.id === 'memory')!;
  const v = (values: MonitorValues) => ruleValue(memory, values);
  assert.equal(v({ gpuMemoryPercent: 95, ramPercent: 20 }), 95);
  assert.equal(v({ gpuMemoryPercent: null, ramPercent: 93 }), 93);
  assert.equal(v({}), null);
  const ev = new AlertEvaluator({ ...base, forMs: 0 });
  assert.deepEqual(ev.evaluate(0, 'engine', 'Local engine', { gpuUtilisationPercent: null, gpuMemoryPercent: null }), []);
});

test('hysteresis and thresholds are reported for drawing', () => {
  const rules = alertRules({ ...base, hysteresisPercent: 25, errorRatePercent: 2 });
  const latency = rules.find((r) => r.id === 'latency')!;
  assert.equal(latency.clearAt, 150);
  assert.deepEqual(latency.metrics, ['requestP95WindowMs']);
  assert.equal(rules.find((r) => r.id === 'errorRate')?.clearAt, 1.5);
  assert.equal(rules.find((r) => r.id === 'gpuUtilisation')?.severity, 'critical');
});
