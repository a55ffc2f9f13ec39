import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  mergeGates,
  PHASES,
  resume,
  scaleDownDue,
  startRollout,
  transition,
  type GateResult,
  type MachineTimings,
  type Phase,
  type RolloutEvent,
  type RolloutState,
} from '../../server/src/deploy/rollout/machine';

const T: MachineTimings = { ready: 600, smoke: 60, window: 60, postWindow: 30, promotion: 3600, scaleDownDelay: 30, rollout: 7200 };
const NOW = 1_000_000;
const pass: GateResult[] = [
  { stage: 'analysis', name: 'success rate', source: 'green /metrics', threshold: '≥ 99.0%', measured: '100.0%', passed: true },
];
const fail: GateResult[] = [
  {
    stage: 'analysis',
    name: 'success rate',
    source: 'green /metrics',
    threshold: '≥ 99.0%',
    measured: '50.0% (5 of 10 failed)',
    passed: false,
  },
];

function inPhase(phase: Phase, patch: Partial<RolloutState> = {}): RolloutState {
  const s = startRollout({
    id: 'r1',
    revision: 'rev2',
    stable: 'blue',
    candidate: 'green',
    autoPromote: true,
    by: 'ann@host (test)',
    now: NOW,
    timings: T,
  });
  return { ...s, phase, ...patch };
}

const EVENTS: RolloutEvent[] = [
  { type: 'applied' },
  { type: 'ready' },
  { type: 'smokePassed', gates: pass },
  { type: 'smokeFailed', gates: fail },
  { type: 'gatesPassed', gates: pass },
  { type: 'gatesFailed', gates: fail },
  { type: 'switched' },
  { type: 'watchPassed', gates: pass },
  { type: 'watchFailed', gates: fail },
  { type: 'scaledDown' },
  { type: 'rolledBack' },
  { type: 'timeout' },
  { type: 'error', message: 'apply failed: 403' },
  { type: 'promote', by: 'bob' },
  { type: 'abort', by: 'bob' },
];

/** Every allowed transition: `phase event` → next phase (and what else must hold). Anything absent is refused. */
const ALLOWED: Record<string, [Phase, (s: RolloutState) => void]> = {};
const allow = (phase: Phase, event: string, next: Phase, check: (s: RolloutState) => void = () => undefined) => {
  ALLOWED[`${phase} ${event}`] = [next, check];
};
const reason = (re: RegExp) => (s: RolloutState) => assert.match(s.reason ?? '', re);
for (const p of [
  'deploying',
  'waitingReady',
  'smokeTesting',
  'analysing',
  'awaitingPromotion',
  'switching',
  'watching',
  'scalingDown',
] as Phase[]) {
  allow(p, 'abort', 'rollingBack', reason(/^aborted by bob$/));
  allow(p, 'error', 'rollingBack', reason(/apply failed: 403/));
  allow(p, 'timeout', 'rollingBack', reason(/^timeout: /));
}
allow('deploying', 'applied', 'waitingReady', (s) => assert.equal(s.deadline, NOW + 5 + T.ready * 1000));
allow('deploying', 'promote', 'deploying', (s) => assert.equal(s.promoteWhenReady, true));
allow('waitingReady', 'ready', 'smokeTesting', (s) => assert.equal(s.deadline, NOW + 5 + T.smoke * 1000));
allow('waitingReady', 'promote', 'waitingReady', (s) => assert.equal(s.promoteWhenReady, true));
allow('smokeTesting', 'smokePassed', 'analysing');
allow(
  'smokeTesting',
  'smokeFailed',
  'rollingBack',
  reason(/gate "success rate" \(green \/metrics\) failed: measured 50\.0% \(5 of 10 failed\), needs ≥ 99\.0%/),
);
allow('smokeTesting', 'promote', 'switching');
allow('analysing', 'gatesPassed', 'switching', (s) => assert.deepEqual(s.gates, pass));
allow('analysing', 'gatesFailed', 'rollingBack', (s) => {
  assert.deepEqual(s.gates, fail);
  assert.match(s.reason!, /measured 50\.0%/);
});
allow('analysing', 'promote', 'switching');
allow('awaitingPromotion', 'promote', 'switching');
allow('switching', 'switched', 'watching', (s) => assert.equal(s.switched, true));
allow('watching', 'watchPassed', 'scalingDown');
allow('watching', 'watchFailed', 'rollingBack', reason(/^after promotion: gate "success rate"/));
allow('watching', 'promote', 'scalingDown');
allow('scalingDown', 'scaledDown', 'succeeded');
allow('scalingDown', 'promote', 'scalingDown', (s) => assert.ok(scaleDownDue(s, T) <= NOW + 5, 'delay skipped'));
allow('rollingBack', 'rolledBack', 'rolledBack', (s) => assert.equal(s.switched, false));

for (const phase of PHASES) {
  for (const event of EVENTS) {
    const key = `${phase} ${event.type}`;
    const expected = ALLOWED[key];
    test(`transition: ${key} → ${expected ? expected[0] : 'refused'}`, () => {
      const before = inPhase(phase, phase === 'rollingBack' ? { reason: 'gate failed' } : {});
      const r = transition(before, event, NOW + 5, T);
      if (!expected) {
        assert.equal(r.ok, false, `expected ${key} to be refused`);
        if (!r.ok) assert.ok(r.message.length > 10, 'a refusal says why');
        return;
      }
      assert.ok(r.ok, `expected ${key} to be allowed: ${!r.ok && r.message}`);
      assert.equal(r.state.phase, expected[0]);
      expected[1](r.state);
      if (r.state.phase !== phase) {
        assert.equal(r.state.phaseStartedAt, NOW + 5, 'entering a phase stamps its start');
        assert.equal(r.state.history.at(-1)!.phase, expected[0], 'history records the phase');
      }
      assert.equal(before.phase, phase, 'the input state is not mutated');
    });
  }
}

test('each stage keeps its gates: the watch adds to the analysis, a new analysis replaces the old one', () => {
  const smoke: GateResult[] = [
    { stage: 'smoke', name: 'smoke: completion', source: 'preview', threshold: 'HTTP 200', measured: '200', passed: true },
  ];
  const watch: GateResult[] = [{ ...pass[0]!, stage: 'watch' }];
  let s = inPhase('smokeTesting');
  for (const [e, expected] of [
    [{ type: 'smokePassed', gates: smoke }, ['smoke', 'analysis'].slice(0, 1)],
    [{ type: 'gatesPassed', gates: pass }, ['smoke', 'analysis']],
    [{ type: 'switched' }, ['smoke', 'analysis']],
    [{ type: 'watchPassed', gates: watch }, ['smoke', 'analysis', 'watch']],
  ] as Array<[RolloutEvent, string[]]>) {
    const r = transition(s, e, NOW, T);
    assert.ok(r.ok);
    s = r.state;
    assert.deepEqual(
      s.gates.map((g) => g.stage),
      expected,
    );
  }
  assert.deepEqual(mergeGates(pass, fail), fail, 'a new measurement of a stage replaces the old one');
});

test('gatesPassed without autoPromote waits for a person, who can then promote', () => {
  const r = transition(inPhase('analysing', { autoPromote: false }), { type: 'gatesPassed', gates: pass }, NOW, T);
  assert.ok(r.ok);
  assert.equal(r.state.phase, 'awaitingPromotion');
  assert.equal(r.state.deadline, NOW + T.promotion * 1000);
});

test('promote before ready: ready then skips the checks and switches', () => {
  let s = inPhase('waitingReady');
  const p = transition(s, { type: 'promote', by: 'bob' }, NOW, T);
  assert.ok(p.ok);
  s = p.state;
  const r = transition(s, { type: 'ready' }, NOW + 1, T);
  assert.ok(r.ok);
  assert.equal(r.state.phase, 'switching');
});

test('an abort rolls back to the aborted phase, a failure to rolledBack', () => {
  const aborted = transition(inPhase('rollingBack', { reason: 'aborted by bob' }), { type: 'rolledBack' }, NOW, T);
  assert.ok(aborted.ok);
  assert.equal(aborted.state.phase, 'aborted');
  const failed = transition(inPhase('rollingBack', { reason: 'gate "p95 latency" failed' }), { type: 'rolledBack' }, NOW, T);
  assert.ok(failed.ok);
  assert.equal(failed.state.phase, 'rolledBack');
});

test('a whole happy rollout, event by event', () => {
  let s = startRollout({ id: 'r', revision: 'v', stable: 'blue', candidate: 'green', autoPromote: true, by: 'x', now: 0, timings: T });
  const steps: Array<[RolloutEvent, Phase]> = [
    [{ type: 'applied' }, 'waitingReady'],
    [{ type: 'ready' }, 'smokeTesting'],
    [{ type: 'smokePassed', gates: pass }, 'analysing'],
    [{ type: 'gatesPassed', gates: pass }, 'switching'],
    [{ type: 'switched' }, 'watching'],
    [{ type: 'watchPassed', gates: pass }, 'scalingDown'],
    [{ type: 'scaledDown' }, 'succeeded'],
  ];
  let now = 0;
  for (const [e, phase] of steps) {
    now += 1000;
    const r = transition(s, e, now, T);
    assert.ok(r.ok, !r.ok ? r.message : '');
    s = r.state;
    assert.equal(s.phase, phase);
  }
  assert.equal(s.history.length, 8);
});

// A restart in every phase: what a controller that finds this state does.
const RESUME: Record<Phase, 'done' | 'continue' | 'window' | 'timeout'> = {
  deploying: 'continue',
  waitingReady: 'continue',
  smokeTesting: 'continue',
  analysing: 'window',
  awaitingPromotion: 'continue',
  switching: 'continue',
  watching: 'window',
  scalingDown: 'continue',
  rollingBack: 'continue',
  succeeded: 'done',
  rolledBack: 'done',
  aborted: 'done',
};
for (const phase of PHASES) {
  test(`restart while ${phase}: ${RESUME[phase]}`, () => {
    const state = inPhase(phase, { phaseStartedAt: NOW, deadline: NOW + 60_000 });
    const plan = resume(state, NOW + 10_000, T);
    const expected = RESUME[phase];
    if (expected === 'done') return assert.equal(plan.kind, 'done');
    assert.equal(plan.kind, 'continue');
    if (plan.kind !== 'continue') return;
    assert.equal(plan.state.phase, phase, 'the same phase continues (its step is idempotent)');
    assert.equal(plan.restartWindow, expected === 'window');
    if (expected === 'window') {
      assert.equal(plan.state.phaseStartedAt, NOW + 10_000, 'the window starts over');
      assert.match(plan.state.history.at(-1)!.note, /window starts over/);
    } else assert.equal(plan.state.phaseStartedAt, NOW, 'the phase keeps its start (scale-down delay, deadlines)');
  });
  if (!['succeeded', 'rolledBack', 'aborted', 'rollingBack'].includes(phase)) {
    test(`restart while ${phase} after the rollout deadline: timeout → roll back`, () => {
      const state = inPhase(phase);
      const plan = resume(state, state.rolloutDeadline + 1, T);
      assert.deepEqual(plan, { kind: 'event', event: { type: 'timeout' } });
      const r = transition(state, plan.kind === 'event' ? plan.event : { type: 'timeout' }, state.rolloutDeadline + 1, T);
      assert.ok(r.ok);
      assert.equal(r.state.phase, 'rollingBack');
    });
  }
}

test('restart while waitingReady past its own deadline times out; rollingBack never does', () => {
  const waiting = inPhase('waitingReady', { deadline: NOW });
  assert.deepEqual(resume(waiting, NOW + 1, T), { kind: 'event', event: { type: 'timeout' } });
  const back = inPhase('rollingBack', { deadline: undefined });
  assert.equal(resume(back, back.rolloutDeadline + 1, T).kind, 'continue');
});
