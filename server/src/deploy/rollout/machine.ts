/**
 * The blue-green rollout as a pure state machine (Argo Rollouts' blue-green strategy, Flagger's
 * gates). The controller (controller.ts) runs the step that belongs to the current phase, turns its
 * outcome into an event, and asks `transition` for the next state; it persists every state before
 * acting on it, so after a restart `resume` says how to continue. No I/O, no clock: `now` is passed in.
 *
 *   deploying ─applied→ waitingReady ─ready→ smokeTesting ─smokePassed→ analysing ─gatesPassed→
 *     (autoPromote: switching | else awaitingPromotion ─promote→ switching) ─switched→ watching
 *     ─watchPassed→ scalingDown ─scaledDown→ succeeded
 *   any failed gate, timeout or error before `scaledDown` → rollingBack ─rolledBack→ rolledBack
 *   abort (a person) → rollingBack ─rolledBack→ aborted
 *   promote (a person): skips what is left of the checks (once the candidate is ready), or the
 *   post-promotion watch, or the scale-down delay.
 *
 * Every step is idempotent (apply, switch, scale to N), so re-running the step of the phase a
 * restarted controller finds is safe; `resume` only decides whether the phase's deadline passed and
 * whether a measurement window must start again (its in-memory samples were lost).
 */
import type { DeployGate, DeployPhase } from '../../../../protocol/deploy';
import type { Colour } from '../manifests/render';

/** The phases (protocol/deploy.ts: the extension and the rollout view read the same names). */
export type Phase = DeployPhase;

export const PHASES: readonly Phase[] = [
  'deploying',
  'waitingReady',
  'smokeTesting',
  'analysing',
  'awaitingPromotion',
  'switching',
  'watching',
  'scalingDown',
  'rollingBack',
  'succeeded',
  'rolledBack',
  'aborted',
];
export const TERMINAL: ReadonlySet<Phase> = new Set(['succeeded', 'rolledBack', 'aborted']);
export const isTerminal = (p: Phase) => TERMINAL.has(p);

export type GateStage = DeployGate['stage'];

/** Gates of every stage measured so far: a new measurement replaces the one of its own stage. */
export function mergeGates(previous: GateResult[], next: GateResult[]): GateResult[] {
  const stages = new Set(next.map((g) => g.stage));
  return [...previous.filter((g) => !stages.has(g.stage)), ...next];
}

/**
 * One gate's verdict (protocol/deploy.ts DeployGate: stage, name, source, threshold and measured
 * value as a person reads them, passed), plus the raw numbers for machines.
 */
export interface GateResult extends DeployGate {
  value?: number;
  limit?: number;
}

export interface RolloutState {
  id: string;
  /** Config revision being rolled out. */
  revision: string;
  phase: Phase;
  /** The colour that served before this rollout; undefined on the first deploy. */
  stable?: Colour;
  candidate: Colour;
  /** Whether `active` points at the candidate right now. */
  switched: boolean;
  /** A person asked to promote before the candidate was ready: promote as soon as it is. */
  promoteWhenReady: boolean;
  autoPromote: boolean;
  startedAt: number;
  phaseStartedAt: number;
  /** When the current phase times out (ms since the epoch); undefined: no deadline. */
  deadline?: number;
  /** Deadline of the whole rollout. */
  rolloutDeadline: number;
  /** Gate results of each stage measured so far (smoke, analysis, watch). */
  gates: GateResult[];
  /** Why the rollout went to rollingBack (a failed gate with its value, a timeout, an abort). */
  reason?: string;
  /** Who started it (`user@host (tool)`). */
  by: string;
  history: Array<{ at: number; phase: Phase; note: string }>;
}

/** Durations the machine needs (seconds), from the deploy config. */
export interface MachineTimings {
  ready: number;
  smoke: number;
  window: number;
  postWindow: number;
  promotion: number;
  scaleDownDelay: number;
  rollout: number;
}

export type RolloutEvent =
  | { type: 'applied' }
  | { type: 'ready' }
  | { type: 'smokePassed'; gates: GateResult[] }
  | { type: 'smokeFailed'; gates: GateResult[] }
  | { type: 'gatesPassed'; gates: GateResult[] }
  | { type: 'gatesFailed'; gates: GateResult[] }
  | { type: 'switched' }
  | { type: 'watchPassed'; gates: GateResult[] }
  | { type: 'watchFailed'; gates: GateResult[] }
  | { type: 'scaledDown' }
  | { type: 'rolledBack' }
  | { type: 'timeout' }
  | { type: 'error'; message: string }
  | { type: 'promote'; by: string }
  | { type: 'abort'; by: string };

export type TransitionResult = { ok: true; state: RolloutState } | { ok: false; message: string };

/** How long a window phase may run past its window before it counts as stuck. */
const WINDOW_GRACE_S = 60;

export function phaseDeadline(phase: Phase, now: number, t: MachineTimings): number | undefined {
  const s = (seconds: number) => now + seconds * 1000;
  switch (phase) {
    case 'waitingReady':
      return s(t.ready);
    case 'smokeTesting':
      return s(t.smoke);
    case 'analysing':
      return s(t.window + WINDOW_GRACE_S);
    case 'awaitingPromotion':
      return s(t.promotion);
    case 'watching':
      return s(t.postWindow + WINDOW_GRACE_S);
    default:
      return undefined;
  }
}

export function startRollout(args: {
  id: string;
  revision: string;
  stable?: Colour;
  candidate: Colour;
  autoPromote: boolean;
  by: string;
  now: number;
  timings: MachineTimings;
}): RolloutState {
  return {
    id: args.id,
    revision: args.revision,
    phase: 'deploying',
    stable: args.stable,
    candidate: args.candidate,
    switched: false,
    promoteWhenReady: false,
    autoPromote: args.autoPromote,
    startedAt: args.now,
    phaseStartedAt: args.now,
    deadline: undefined,
    rolloutDeadline: args.now + args.timings.rollout * 1000,
    gates: [],
    by: args.by,
    history: [{ at: args.now, phase: 'deploying', note: `rollout of ${args.revision} to ${args.candidate} started by ${args.by}` }],
  };
}

function enter(
  state: RolloutState,
  phase: Phase,
  now: number,
  t: MachineTimings,
  note: string,
  patch: Partial<RolloutState> = {},
): RolloutState {
  return {
    ...state,
    ...patch,
    phase,
    phaseStartedAt: now,
    deadline: phaseDeadline(phase, now, t),
    history: [...state.history, { at: now, phase, note }],
  };
}

/** The first failing gate, as one sentence: `gate "success rate" (green /metrics) failed: measured 50.0%, needs ≥ 99%`. */
export function describeFailure(gates: GateResult[]): string {
  const failed = gates.find((g) => !g.passed);
  if (!failed) return 'a gate failed';
  const measured = failed.measured || 'nothing measured';
  return `gate "${failed.name}" (${failed.source}) failed: measured ${measured}, needs ${failed.threshold}`;
}

function rollBack(state: RolloutState, now: number, t: MachineTimings, reason: string): RolloutState {
  return enter(state, 'rollingBack', now, t, reason, { reason });
}

/** Phases in which a person may still abort (the old colour still runs until it is scaled down). */
const ABORTABLE: ReadonlySet<Phase> = new Set([
  'deploying',
  'waitingReady',
  'smokeTesting',
  'analysing',
  'awaitingPromotion',
  'switching',
  'watching',
  'scalingDown',
]);

export function transition(state: RolloutState, event: RolloutEvent, now: number, t: MachineTimings): TransitionResult {
  const ok = (s: RolloutState): TransitionResult => ({ ok: true, state: s });
  const refuse = (message: string): TransitionResult => ({ ok: false, message });
  const p = state.phase;
  if (isTerminal(p)) return refuse(`the rollout ${state.id} has ended (${p}); start a new one`);

  // Manual commands and failures that apply in many phases.
  if (event.type === 'abort') {
    if (!ABORTABLE.has(p)) return refuse(`cannot abort while ${p}: the rollout is already rolling back`);
    return ok(rollBack(state, now, t, `aborted by ${event.by}`));
  }
  if (event.type === 'promote') {
    switch (p) {
      case 'deploying':
      case 'waitingReady':
        return ok({
          ...state,
          promoteWhenReady: true,
          history: [
            ...state.history,
            { at: now, phase: p, note: `promote requested by ${event.by}: switching as soon as ${state.candidate} is ready` },
          ],
        });
      case 'smokeTesting':
      case 'analysing':
      case 'awaitingPromotion':
        return ok(enter(state, 'switching', now, t, `promoted by ${event.by} (remaining checks skipped)`));
      case 'switching':
        return refuse('the switch to the new colour is already under way');
      case 'watching':
        return ok(enter(state, 'scalingDown', now, t, `promoted by ${event.by} (post-promotion watch skipped)`));
      case 'scalingDown':
        // Skip the delay: scale down now.
        return ok({
          ...state,
          phaseStartedAt: now - t.scaleDownDelay * 1000,
          history: [...state.history, { at: now, phase: p, note: `scale-down delay skipped by ${event.by}` }],
        });
      default:
        return refuse(`cannot promote while ${p}`);
    }
  }
  if (event.type === 'error') {
    if (p === 'rollingBack') return refuse(`rolling back failed: ${event.message} (it is retried)`);
    return ok(rollBack(state, now, t, `error while ${p}: ${event.message}`));
  }
  if (event.type === 'timeout') {
    if (p === 'rollingBack') return refuse('rolling back has no deadline');
    const what: Partial<Record<Phase, string>> = {
      waitingReady: `${state.candidate} did not become ready within ${t.ready} s`,
      smokeTesting: `the smoke test did not finish within ${t.smoke} s`,
      analysing: 'the analysis did not finish in time',
      awaitingPromotion: `nobody promoted within ${t.promotion} s`,
      watching: 'the post-promotion watch did not finish in time',
    };
    return ok(rollBack(state, now, t, `timeout: ${what[p] ?? `the rollout did not finish within ${t.rollout} s`}`));
  }

  const expect = (phase: Phase) => (p === phase ? undefined : refuse(`event ${event.type} does not apply while ${p}`));
  switch (event.type) {
    case 'applied':
      return expect('deploying') ?? ok(enter(state, 'waitingReady', now, t, `${state.candidate} applied`));
    case 'ready':
      if (p !== 'waitingReady') return refuse(`event ready does not apply while ${p}`);
      return state.promoteWhenReady
        ? ok(enter(state, 'switching', now, t, `${state.candidate} ready; promoted by request (checks skipped)`))
        : ok(enter(state, 'smokeTesting', now, t, `${state.candidate} ready`));
    case 'smokePassed':
      return (
        expect('smokeTesting') ??
        ok(enter(state, 'analysing', now, t, 'smoke test passed', { gates: mergeGates(state.gates, event.gates) }))
      );
    case 'smokeFailed':
      return (
        expect('smokeTesting') ??
        ok(rollBack({ ...state, gates: mergeGates(state.gates, event.gates) }, now, t, describeFailure(event.gates)))
      );
    case 'gatesPassed':
      if (p !== 'analysing') return refuse(`event gatesPassed does not apply while ${p}`);
      return state.autoPromote
        ? ok(enter(state, 'switching', now, t, 'gates passed', { gates: mergeGates(state.gates, event.gates) }))
        : ok(
            enter(state, 'awaitingPromotion', now, t, 'gates passed; waiting for a person to promote', {
              gates: mergeGates(state.gates, event.gates),
            }),
          );
    case 'gatesFailed':
      return (
        expect('analysing') ?? ok(rollBack({ ...state, gates: mergeGates(state.gates, event.gates) }, now, t, describeFailure(event.gates)))
      );
    case 'switched':
      return expect('switching') ?? ok(enter(state, 'watching', now, t, `active → ${state.candidate}`, { switched: true }));
    case 'watchPassed':
      return (
        expect('watching') ??
        ok(enter(state, 'scalingDown', now, t, 'post-promotion watch passed', { gates: mergeGates(state.gates, event.gates) }))
      );
    case 'watchFailed':
      return (
        expect('watching') ??
        ok(rollBack({ ...state, gates: mergeGates(state.gates, event.gates) }, now, t, `after promotion: ${describeFailure(event.gates)}`))
      );
    case 'scaledDown':
      return (
        expect('scalingDown') ?? ok(enter(state, 'succeeded', now, t, state.stable ? `${state.stable} scaled down` : 'first deploy done'))
      );
    case 'rolledBack': {
      if (p !== 'rollingBack') return refuse(`event rolledBack does not apply while ${p}`);
      const aborted = state.reason?.startsWith('aborted by ') === true;
      return ok(
        enter(state, aborted ? 'aborted' : 'rolledBack', now, t, state.stable ? `back on ${state.stable}` : `${state.candidate} removed`, {
          switched: false,
        }),
      );
    }
  }
}

/** When the scale-down of the old colour is due (ms since the epoch). */
export function scaleDownDue(state: RolloutState, t: MachineTimings): number {
  return state.phaseStartedAt + t.scaleDownDelay * 1000;
}

export type ResumePlan =
  | { kind: 'done' }
  /** Run the phase's step again (idempotent). `restartWindow`: the measurement starts over. */
  | { kind: 'continue'; state: RolloutState; restartWindow: boolean }
  /** The deadline passed while no controller ran. */
  | { kind: 'event'; event: RolloutEvent };

/**
 * What a restarted controller does with the state it finds. Window phases restart their window
 * (samples lived in memory), keeping the phase's deadline moved by one window, so a controller
 * restarting in a loop still ends at the rollout deadline.
 */
export function resume(state: RolloutState, now: number, t: MachineTimings): ResumePlan {
  if (isTerminal(state.phase)) return { kind: 'done' };
  if (state.phase !== 'rollingBack' && now > state.rolloutDeadline) return { kind: 'event', event: { type: 'timeout' } };
  if (state.deadline !== undefined && now > state.deadline && state.phase !== 'analysing' && state.phase !== 'watching') {
    return { kind: 'event', event: { type: 'timeout' } };
  }
  const note = { at: now, phase: state.phase, note: 'controller restarted; resuming' };
  if (state.phase === 'analysing' || state.phase === 'watching') {
    const window = state.phase === 'analysing' ? t.window : t.postWindow;
    return {
      kind: 'continue',
      restartWindow: true,
      state: {
        ...state,
        phaseStartedAt: now,
        deadline: now + (window + WINDOW_GRACE_S) * 1000,
        history: [...state.history, { ...note, note: 'controller restarted; the measurement window starts over' }],
      },
    };
  }
  return { kind: 'continue', restartWindow: false, state: { ...state, history: [...state.history, note] } };
}
