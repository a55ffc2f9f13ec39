/**
 * The rollout controller: runs the step of the current phase on a Platform, turns its outcome into
 * an event for the pure state machine (machine.ts), and persists each new state with the deployment
 * before acting on it. Used by the sidecar (VS Code commands) and by `pronto-deploy` (CI), the same way.
 *
 * - One rollout at a time: the controller holds the platform's lock (a Lease on Kubernetes, a lock
 *   file locally) and renews it; a second controller is refused with the holder's name. A holder
 *   that is gone (its process died, its lease ran out) is taken over, and the rollout resumes.
 * - Promote and abort from anyone: `requestManual` hands them to the controller that holds the lock
 *   (through the platform), or, when none is alive, takes the lock and carries them out itself.
 * - Cancel (the `signal`) means abort: the rollout goes back to the stable colour.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import type { DeployConfig } from '../config/schema';
import { type Colour, configRevision, otherColour } from '../manifests/render';
import { describeHolder } from '../platform/local/files';
import type { DeploymentRecord, LockHolder, ManualRequest, Platform } from '../platform/types';
import { AnalysisLoad, analysisGates, smokeTest } from './analysis';
import { evaluateGates } from './gates';
import {
  type GateResult,
  isTerminal,
  type MachineTimings,
  mergeGates,
  type RolloutEvent,
  type RolloutState,
  resume,
  scaleDownDue,
  startRollout,
  transition,
} from './machine';
import { type MetricsSource, metricsSourceFor } from './metrics';

export interface RolloutUpdate {
  state: RolloutState;
  /** What is happening right now, for a progress line. */
  message: string;
}

export interface ControllerOptions {
  platform: Platform;
  /** "pronto-deploy rollout", "VS Code". */
  tool: string;
  log?: (line: string) => void;
  onUpdate?: (update: RolloutUpdate) => void;
  /** Replaces the metrics source chosen from the config (tests). */
  metrics?: MetricsSource;
  /** How often manual requests and readiness are polled. */
  pollMs?: number;
  /** Seconds without renewal after which the lock is stale. */
  lockTtlSeconds?: number;
}

export class RolloutRefused extends Error {}

export function timingsOf(config: DeployConfig): MachineTimings {
  return {
    ready: config.timeouts.ready,
    smoke: config.timeouts.smoke,
    window: config.gates.window,
    postWindow: config.postPromotion.window,
    promotion: config.timeouts.promotion,
    scaleDownDelay: config.scaleDownDelay,
    rollout: config.timeouts.rollout,
  };
}

export function newHolder(tool: string, ttlSeconds = 30): LockHolder {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (containers): keep "unknown".
  }
  const now = Date.now();
  return { id: randomUUID(), user, host: os.hostname(), pid: process.pid, tool, acquiredAt: now, renewedAt: now, ttlSeconds };
}

export const who = (h: LockHolder) => `${h.user}@${h.host} (${h.tool})`;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface RolloutStatus {
  record: DeploymentRecord;
  lock?: LockHolder;
  /** The lock holder is alive (a rollout is being driven right now). */
  lockLive: boolean;
  /** A rollout is in progress but nobody drives it: `rollout` (or any deploy command) resumes it. */
  interrupted: boolean;
  summary: string;
}

export async function rolloutStatus(platform: Platform): Promise<RolloutStatus> {
  const record = await platform.readRecord();
  const lock = await platform.readLock();
  const lockLive = lock !== undefined && !platform.isStale(lock, Date.now());
  const r = record.rollout;
  const inProgress = r !== undefined && !isTerminal(r.phase);
  const interrupted = inProgress && !lockLive;
  const lines = [`${platform.describe()}`, `active: ${record.active ?? 'none (nothing deployed yet)'}`];
  if (r) {
    lines.push(
      `rollout ${r.id} (${r.revision} → ${r.candidate}${r.stable ? `, stable ${r.stable}` : ''}): ${r.phase}${r.reason ? ` — ${r.reason}` : ''}`,
    );
    for (const g of r.gates)
      lines.push(`  ${g.passed ? 'pass' : 'FAIL'}  ${g.name} (${g.source}): ${g.measured || '—'} (needs ${g.threshold})`);
  }
  if (lockLive && lock) lines.push(`driven by ${describeHolder(lock)}`);
  if (interrupted) lines.push('interrupted: nobody drives it; `pronto-deploy rollout` (or Pronto: Deploy Engine…) resumes it');
  return { record, lock, lockLive, interrupted, summary: lines.join('\n') };
}

export class RolloutController {
  private readonly log: (line: string) => void;
  private readonly pollMs: number;
  private holder: LockHolder;
  private state: RolloutState | undefined;
  private config!: DeployConfig;
  private timings!: MachineTimings;
  private metrics!: MetricsSource;
  private message = '';

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? (() => undefined);
    this.pollMs = opts.pollMs ?? 250;
    this.holder = newHolder(opts.tool, opts.lockTtlSeconds);
  }

  private get platform(): Platform {
    return this.opts.platform;
  }

  /**
   * Rolls `config` out, or resumes the interrupted rollout (whose own config then applies), until
   * it ends. Resolves with the final state; rejects with RolloutRefused when another controller
   * holds the lock. `first` is applied before anything else (a promote/abort taken over from a dead holder).
   */
  async run(config: DeployConfig, signal?: AbortSignal, first?: ManualRequest): Promise<RolloutState> {
    const lock = await this.platform.acquireLock(this.holder);
    if (!lock.ok) {
      const record = await this.platform.readRecord();
      const phase = record.rollout && !isTerminal(record.rollout.phase) ? `, phase ${record.rollout.phase}` : '';
      throw new RolloutRefused(
        `Another rollout is in progress, held by ${describeHolder(lock.holder)}${phase}. Wait for it to finish, or promote or abort it (pronto-deploy promote|abort, or Pronto: Promote / Roll Back).`,
      );
    }
    const renew = setInterval(
      () =>
        void this.platform.renewLock(this.holder).catch((err: Error) => {
          this.log(`lock renewal failed: ${err.message}`);
        }),
      (this.holder.ttlSeconds * 1000) / 3,
    );
    try {
      return await this.drive(config, signal, first);
    } finally {
      clearInterval(renew);
      await this.platform.releaseLock(this.holder).catch(() => undefined);
    }
  }

  private async drive(config: DeployConfig, signal: AbortSignal | undefined, first?: ManualRequest): Promise<RolloutState> {
    const record = await this.platform.readRecord();
    const now = Date.now();
    const existing = record.rollout;
    if (existing && !isTerminal(existing.phase)) {
      this.config = record.rolloutConfig ?? config;
      this.timings = timingsOf(this.config);
      this.log(`resuming the interrupted rollout ${existing.id} (${existing.phase})`);
      const plan = resume(existing, now, this.timings);
      this.state = existing;
      if (plan.kind === 'continue') this.state = plan.state;
      this.holder.rolloutId = existing.id;
      await this.persist();
      if (plan.kind === 'event') await this.apply(plan.event);
    } else {
      if (first) throw new RolloutRefused('No rollout is in progress: there is nothing to promote or abort.');
      this.config = config;
      this.timings = timingsOf(config);
      const stable = record.active;
      const candidate: Colour = stable ? otherColour(stable) : 'blue';
      this.state = startRollout({
        id: `r-${new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomUUID().slice(0, 4)}`,
        revision: configRevision(config),
        stable,
        candidate,
        autoPromote: config.autoPromote,
        by: who(this.holder),
        now,
        timings: this.timings,
      });
      this.holder.rolloutId = this.state.id;
      await this.persist();
      this.log(`rollout ${this.state.id}: ${configRevision(config)} → ${candidate}${stable ? ` (stable ${stable})` : ' (first deploy)'}`);
    }
    this.metrics = this.opts.metrics ?? metricsSourceFor(this.platform, this.config.metrics.prometheus);
    if (first) await this.apply({ type: first.type, by: first.by } as RolloutEvent);

    let cancelled = false;
    while (!isTerminal(this.state!.phase)) {
      if (signal?.aborted && !cancelled && this.state!.phase !== 'rollingBack') {
        cancelled = true;
        await this.apply({ type: 'abort', by: `${who(this.holder)}, cancelled` });
        continue;
      }
      const s = this.state!;
      if (s.phase !== 'rollingBack' && Date.now() > s.rolloutDeadline) {
        await this.apply({ type: 'timeout' });
        continue;
      }
      const step = new AbortController();
      let manual: RolloutEvent | undefined;
      const onOuter = () => step.abort(new Error('cancelled'));
      signal?.addEventListener('abort', onOuter, { once: true });
      const poller = setInterval(() => {
        void this.platform.readRequest().then(async (req) => {
          if (!req || manual) return;
          await this.platform.clearRequest();
          const ev = { type: req.type, by: req.by } as RolloutEvent;
          const check = transition(this.state!, ev, Date.now(), this.timings);
          if (!check.ok) {
            this.log(`${req.type} by ${req.by} refused: ${check.message}`);
            this.update(`${req.type} refused: ${check.message}`);
            return;
          }
          manual = ev;
          step.abort(new Error(req.type));
        });
      }, this.pollMs);
      let event: RolloutEvent | undefined;
      try {
        event = await this.step(s, step.signal);
      } catch (err) {
        if (!step.signal.aborted) event = { type: 'error', message: (err as Error).message };
      } finally {
        clearInterval(poller);
        signal?.removeEventListener('abort', onOuter);
      }
      if (manual) event = manual;
      if (!event) continue; // cancelled by the outer signal: the loop turns it into an abort
      if (event.type === 'error' && s.phase === 'rollingBack') {
        // Rolling back must finish: retry (each step is idempotent) unless the caller gave up.
        this.log(`rolling back failed, retrying: ${event.message}`);
        this.update(`rolling back failed, retrying: ${event.message}`);
        await sleep(2000, signal).catch(() => undefined);
        if (signal?.aborted && cancelled) throw new Error(`rolling back failed: ${event.message}; run the rollout again to finish it`);
        continue;
      }
      await this.apply(event);
    }
    this.log(`rollout ${this.state!.id}: ${this.state!.phase}${this.state!.reason ? ` (${this.state!.reason})` : ''}`);
    return this.state!;
  }

  private async apply(event: RolloutEvent): Promise<void> {
    const r = transition(this.state!, event, Date.now(), this.timings);
    if (!r.ok) {
      this.log(`ignored ${event.type}: ${r.message}`);
      return;
    }
    this.state = r.state;
    await this.persist();
    const last = r.state.history[r.state.history.length - 1];
    this.log(`${r.state.phase}: ${last?.note ?? ''}`);
    this.update(last?.note ?? r.state.phase);
  }

  private async persist(): Promise<void> {
    const record = await this.platform.readRecord();
    record.rollout = this.state;
    record.rolloutConfig = this.config;
    await this.platform.writeRecord(record);
  }

  private update(message: string): void {
    this.message = message;
    if (this.state) this.opts.onUpdate?.({ state: this.state, message });
  }

  /** Live gate values during a window (persisted, so `status` and the rollout view see them). */
  private async interim(gates: GateResult[], message: string): Promise<void> {
    this.state = { ...this.state!, gates: mergeGates(this.state!.gates, gates) };
    await this.persist();
    this.update(message);
  }

  /** Polls the colour's readiness until it is ready, cannot become ready, or `deadline` passes. */
  private async waitReady(
    colour: Colour,
    signal: AbortSignal,
    deadline = Date.now() + this.timings.ready * 1000,
  ): Promise<'ready' | 'timeout' | { fatal: string }> {
    for (;;) {
      const r = await this.platform.readiness(colour);
      if (r.ready) return 'ready';
      if (r.fatal) return { fatal: r.fatal };
      if (Date.now() > deadline) return 'timeout';
      if (r.message !== this.message) this.update(`waiting for ${colour}: ${r.message}`);
      await sleep(this.pollMs * 2, signal);
    }
  }

  private async step(s: RolloutState, signal: AbortSignal): Promise<RolloutEvent> {
    const p = this.platform;
    switch (s.phase) {
      case 'deploying': {
        let replicas = this.config.replicas;
        // Keep capacity: when an autoscaler grew the stable colour, the candidate starts as large.
        if (s.stable && this.config.autoscaling.enabled) replicas = Math.max(replicas, await p.replicas(s.stable));
        this.update(`deploying ${s.candidate} (${replicas} replica(s))`);
        await p.deploy(s.candidate, this.config, replicas, signal);
        return { type: 'applied' };
      }
      case 'waitingReady': {
        const r = await this.waitReady(s.candidate, signal, s.deadline);
        return r === 'ready' ? { type: 'ready' } : r === 'timeout' ? { type: 'timeout' } : { type: 'error', message: r.fatal };
      }
      case 'smokeTesting': {
        this.update('smoke test: a completion and a streaming chat through the preview service');
        const gates = await smokeTest(p, AbortSignal.any([signal, AbortSignal.timeout(this.timings.smoke * 1000)]));
        return gates.every((g) => g.passed) ? { type: 'smokePassed', gates } : { type: 'smokeFailed', gates };
      }
      case 'analysing':
      case 'watching': {
        const analysing = s.phase === 'analysing';
        const windowS = analysing ? this.timings.window : this.timings.postWindow;
        if (windowS === 0) return { type: 'watchPassed', gates: [] };
        const service = analysing ? 'preview' : 'active';
        const stage = analysing ? 'analysis' : 'watch';
        const source = this.metrics.label(s.candidate);
        const handle = await this.metrics.begin(s.candidate);
        const load = new AnalysisLoad(p, service, this.config.gates.analysisRate);
        const end = s.phaseStartedAt + windowS * 1000;
        try {
          while (Date.now() < end) {
            const pending = evaluateGates({ requests: 0, failures: 0, p95Seconds: null }, this.config.gates, source, stage).map((g) => ({
              ...g,
              measured: 'measured at the end of the window',
              passed: true,
            }));
            const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
            await this.interim(
              [...pending, ...analysisGates(load.outcomes, this.config.gates, service)],
              `${analysing ? 'analysis' : 'post-promotion watch'}: ${load.outcomes.length} request(s) so far, ${left} s left`,
            );
            await sleep(Math.min(1000, Math.max(0, end - Date.now())), signal);
          }
        } finally {
          await load.stop();
        }
        const measured = await handle.finish();
        const gates = [
          ...evaluateGates(measured, this.config.gates, source, stage),
          ...analysisGates(load.outcomes, this.config.gates, service),
        ];
        const passed = gates.every((g) => g.passed);
        if (analysing) return passed ? { type: 'gatesPassed', gates } : { type: 'gatesFailed', gates };
        return passed ? { type: 'watchPassed', gates } : { type: 'watchFailed', gates };
      }
      case 'awaitingPromotion':
        this.update('gates passed: waiting for Pronto: Promote (or pronto-deploy promote)');
        while (!s.deadline || Date.now() < s.deadline) await sleep(this.pollMs * 2, signal);
        return { type: 'timeout' };
      case 'switching':
        this.update(`switching active to ${s.candidate}`);
        await p.switchActive(s.candidate);
        return { type: 'switched' };
      case 'scalingDown': {
        const due = scaleDownDue(s, this.timings);
        if (Date.now() < due) {
          this.update(`${s.stable ?? 'the old colour'} stays up until ${new Date(due).toLocaleTimeString()} (scale-down delay)`);
          await sleep(due - Date.now(), signal);
        }
        if (s.stable) {
          this.update(`scaling ${s.stable} down`);
          await p.scale(s.stable, 0, signal);
        }
        return { type: 'scaledDown' };
      }
      case 'rollingBack': {
        const record = await p.readRecord();
        if (s.stable && record.active !== s.stable) {
          // The stable colour must serve again before the candidate goes. An abort during the
          // scale-down can find it partly or wholly stopped: bring it back first.
          const wanted = Math.max(1, record.colours[s.stable]?.replicas ?? 0, record.colours[s.stable]?.config.replicas ?? 1);
          if ((await p.replicas(s.stable)) < wanted) {
            this.update(`${s.stable} was scaled down: starting it again (${wanted} replica(s))`);
            await p.scale(s.stable, wanted);
            const ready = await this.waitReady(s.stable, signal);
            if (ready !== 'ready')
              throw new Error(`${s.stable} did not become ready again (${ready === 'timeout' ? 'timeout' : ready.fatal})`);
          }
          this.update(`switching active back to ${s.stable}`);
          await p.switchActive(s.stable);
        }
        this.update(`scaling ${s.candidate} down`);
        await p.scale(s.candidate, 0);
        if (!s.stable) {
          const r = await p.readRecord();
          if (r.active === s.candidate) await p.writeRecord({ ...r, active: undefined });
        }
        return { type: 'rolledBack' };
      }
      default:
        throw new Error(`no step for ${s.phase}`);
    }
  }
}

/**
 * Promote or abort the rollout in progress, whoever drives it. With a live holder, the request is
 * left for it and this waits (up to `waitMs`) until the state shows it was taken; without one, this
 * process takes the lock and drives the rollout to its end (`run` with the request applied first).
 */
export async function requestManual(
  platform: Platform,
  type: 'promote' | 'abort',
  opts: Omit<ControllerOptions, 'platform'> & { config: DeployConfig; waitMs?: number; signal?: AbortSignal },
): Promise<{ state: RolloutState | undefined; message: string }> {
  const record = await platform.readRecord();
  const r = record.rollout;
  if (!r || isTerminal(r.phase))
    throw new RolloutRefused(`No rollout is in progress${r ? ` (the last one ${r.phase})` : ''}: there is nothing to ${type}.`);
  const by = who(newHolder(opts.tool));
  const check = transition(r, { type, by } as RolloutEvent, Date.now(), timingsOf(record.rolloutConfig ?? opts.config));
  if (!check.ok) throw new RolloutRefused(`Cannot ${type}: ${check.message}`);
  const lock = await platform.readLock();
  if (lock && !platform.isStale(lock, Date.now())) {
    await platform.writeRequest({ type, by, at: Date.now() });
    const deadline = Date.now() + (opts.waitMs ?? 15_000);
    while (Date.now() < deadline) {
      await sleep(200);
      const pending = await platform.readRequest();
      if (!pending) {
        const now = (await platform.readRecord()).rollout;
        return { state: now, message: `${type} handed to ${describeHolder(lock)}; the rollout is now ${now?.phase}` };
      }
    }
    return { state: r, message: `${type} left for ${describeHolder(lock)}, which has not picked it up yet` };
  }
  const controller = new RolloutController({ ...opts, platform });
  const final = await controller.run(opts.config, opts.signal, { type, by, at: Date.now() });
  return { state: final, message: `${type} carried out (nobody else was driving the rollout); it ended ${final.phase}` };
}
