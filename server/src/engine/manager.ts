/**
 * Owns the engine's lifecycle: start (local child process or remote URL), health-check, restart with
 * exponential backoff after a crash, give up with a clear message after repeated failures, stop.
 * It reports its state through one callback; the server turns it into `pronto/status`.
 *
 * Every start gets a generation number; anything that finishes for an older generation (a slow
 * start after stop(), an exit after restart()) is ignored, so no flags are reset by hand.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { ReadyLine } from '../../../protocol/engine';
import type { ModelProblem } from '../../../protocol/lsp';
import type { Settings } from '../settings';
import { EngineClient } from './client';
import { execaLauncher, findEngineBinary, type BinaryResult, type EngineLauncher, type EngineProcess } from './process';

export type EngineStateName = 'starting' | 'ready' | 'degraded' | 'error' | 'stopped';

export interface EngineState {
  state: EngineStateName;
  message: string;
  model?: string;
  backend?: string;
  demoModel?: boolean;
  /** No model configured: the engine is not started (state `stopped`). */
  needsModel?: boolean;
  /** The model file was refused before the engine started (state `error`). */
  modelProblem?: ModelProblem;
  /** Failed `maxFailures` times in a row; no more automatic restarts (state `error`). */
  gaveUp?: boolean;
}

/**
 * The model (and draft) to start on, or why there is none: `state` is what to report then
 * (server/src/models/selection.ts decides; without it, an existing pronto.model.path is used as is).
 */
export type ModelResolution =
  | { ok: true; path: string; demo: boolean; draftPath?: string; notes?: string[] }
  | { ok: false; message: string; state?: EngineState };

export interface EngineManagerDeps {
  launcher?: EngineLauncher;
  findBinary?: (settingPath: string) => Promise<BinaryResult>;
  /** Picks and checks the model files before each start (server/src/models/selection.ts). */
  resolveModel?: (settings: Settings) => Promise<ModelResolution>;
  onState: (state: EngineState) => void;
  log?: (line: string) => void;
  backoff?: Partial<BackoffOptions>;
  readyTimeoutMs?: number;
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Consecutive failures after which the manager stops retrying. */
  maxFailures: number;
  /** An engine that ran this long before dying resets the failure count. */
  stableMs: number;
}

const defaultBackoff: BackoffOptions = { baseMs: 500, maxMs: 15000, maxFailures: 5, stableMs: 30000 };

export function backoffDelay(failures: number, o: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, failures - 1));
}

/** Without a resolver: pronto.model.path as is, when the file exists (tests with fake engines). */
async function existingModelFile(settings: Settings): Promise<ModelResolution> {
  const file = settings['model.path'];
  if (!file) return { ok: false, message: 'No model configured: set pronto.model.path or pick one from the model catalog.' };
  if (!existsSync(file)) return { ok: false, message: `The model file in pronto.model.path does not exist: ${file}` };
  const draft = settings['model.draftPath'];
  if (draft && !existsSync(draft)) return { ok: false, message: `The draft model file in pronto.model.draftPath does not exist: ${draft}` };
  return { ok: true, path: file, demo: false, ...(draft ? { draftPath: draft } : {}) };
}

export class EngineManager {
  private generation = 0;
  private proc: EngineProcess | undefined;
  private currentClient: EngineClient | undefined;
  private readyLine: ReadyLine | undefined;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private settings: Settings | undefined;
  private lastState: EngineState = { state: 'stopped', message: 'Engine not started.' };
  private readonly backoff: BackoffOptions;
  private readonly launcher: EngineLauncher;
  private readonly findBinary: (settingPath: string) => Promise<BinaryResult>;
  /** Number of engine (re)starts that reached ready; for tests and logs. */
  startsCompleted = 0;

  constructor(private readonly deps: EngineManagerDeps) {
    this.backoff = { ...defaultBackoff, ...deps.backoff };
    this.launcher = deps.launcher ?? execaLauncher;
    this.findBinary = deps.findBinary ?? ((p) => findEngineBinary(p));
  }

  get client(): EngineClient | undefined {
    return this.currentClient?.isOpen ? this.currentClient : undefined;
  }
  get info(): ReadyLine | undefined {
    return this.readyLine;
  }
  get state(): EngineState {
    return this.lastState;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private emit(state: EngineState): void {
    this.lastState = state;
    this.deps.onState(state);
  }

  private log(line: string): void {
    this.deps.log?.(line);
  }

  /** Engine lines that repeat on every start and say nothing new after the first time. */
  private readonly onceLines = new Set<string>();
  private logEngineLine(line: string): void {
    if (/Falling back to CPU|Running on CPU|running on the CPU/i.test(line)) {
      if (this.onceLines.has(line)) return;
      this.onceLines.add(line);
    }
    this.log(`[engine] ${line}`);
  }

  async start(settings: Settings): Promise<void> {
    await this.stop({ quiet: true });
    this.settings = settings;
    this.failures = 0;
    await this.attempt(++this.generation);
  }

  async restart(settings: Settings): Promise<void> {
    return this.start(settings);
  }

  /** Synchronous last resort when the server process is exiting: signal the engine, no waiting. */
  killNow(): void {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.proc?.kill('SIGTERM');
    this.proc = undefined;
  }

  async stop(options: { quiet?: boolean } = {}): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const proc = this.proc;
    this.proc = undefined;
    this.readyLine = undefined;
    this.currentClient?.close('engine stopped');
    this.currentClient = undefined;
    if (proc) {
      proc.kill('SIGTERM');
      const killTimer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(killTimer);
    }
    if (!options.quiet) this.emit({ state: 'stopped', message: 'Engine stopped.' });
  }

  private scheduleRetry(gen: number, why: string): void {
    this.failures++;
    if (this.failures >= this.backoff.maxFailures) {
      this.emit({
        state: 'error',
        message: `The engine failed ${this.failures} times in a row and will not be restarted automatically: ${why}. Fix the cause, then run "Pronto: Restart Engine".`,
        gaveUp: true,
      });
      return;
    }
    const delay = backoffDelay(this.failures, this.backoff);
    this.emit({
      state: 'degraded',
      message: `${why}. Retrying in ${(delay / 1000).toFixed(1)} s (attempt ${this.failures + 1} of ${this.backoff.maxFailures}).`,
    });
    this.retryTimer = setTimeout(() => {
      if (gen === this.generation) void this.attempt(gen);
    }, delay);
  }

  private async attempt(gen: number): Promise<void> {
    const settings = this.settings;
    if (!settings) return;
    if (settings['engine.url']) return this.attemptRemote(gen, settings);
    this.emit({ state: 'starting', message: 'Starting the engine…' });

    // The model first: a missing or wrong model is said at once, before any engine process.
    const model = await (this.deps.resolveModel ?? existingModelFile)(settings);
    if (gen !== this.generation) return;
    if (!model.ok) return this.emit(model.state ?? { state: 'error', message: model.message });
    const draft = model.draftPath;
    for (const note of model.notes ?? []) this.log(note);

    const binary = await this.findBinary(settings['engine.path']);
    if (gen !== this.generation) return;
    if (!binary.ok) return this.emit({ state: 'error', message: binary.message });

    const args = [
      '--model',
      model.path,
      ...(draft ? ['--draft-model', draft] : []),
      // -1 (all layers) is the engine's own default.
      ...(settings['engine.gpuLayers'] >= 0 ? ['--gpu-layers', String(settings['engine.gpuLayers'])] : []),
      '--ctx',
      String(settings['engine.contextSize']),
      '--parallel',
      String(settings['engine.parallel']),
      ...(settings['engine.threads'] > 0 ? ['--threads', String(settings['engine.threads'])] : []),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--exit-with-stdin',
    ];
    const modelName = path.basename(model.path);
    this.emit({ state: 'starting', message: `Loading ${modelName}…`, model: modelName, demoModel: model.demo });
    this.log(`starting ${binary.path} (${binary.version}, from ${binary.source}) ${args.join(' ')}`);
    const proc = await this.launcher.launch(binary.path, args, {
      readyTimeoutMs: this.deps.readyTimeoutMs ?? 180000,
      onLog: (line) => this.logEngineLine(line),
    });
    if (gen !== this.generation) {
      proc.kill('SIGKILL');
      return;
    }
    this.proc = proc;
    const startedAt = Date.now();
    const ready = await proc.ready;
    if (gen !== this.generation) return;
    if (!ready.ok) {
      proc.kill('SIGKILL');
      await proc.exited;
      if (gen !== this.generation) return;
      this.proc = undefined;
      // Exit code 2 = the engine rejected its arguments: retrying cannot help.
      if (ready.exitCode === 2) return this.emit({ state: 'error', message: `The engine rejected its settings: ${ready.message}` });
      return this.scheduleRetry(gen, `The engine did not start: ${ready.message}`);
    }
    const client = new EngineClient({ baseUrl: `http://${ready.line.host}:${ready.line.port}`, connectTimeoutMs: 10000 });
    const connected = await client.connect();
    if (gen !== this.generation) return void client.close();
    if (!connected.ok) {
      proc.kill('SIGKILL');
      await proc.exited;
      if (gen !== this.generation) return;
      this.proc = undefined;
      return this.scheduleRetry(gen, `The engine started but its socket failed: ${connected.message}`);
    }
    this.currentClient = client;
    this.readyLine = ready.line;
    this.startsCompleted++;
    this.log(
      `engine ready at ${client.baseUrl} (pid ${proc.pid}, ${ready.line.build.backend}, n_ctx ${ready.line.n_ctx}, n_parallel ${ready.line.n_parallel})`,
    );
    const demo = model.demo;
    this.emit({
      state: 'ready',
      message: demo
        ? 'Demo model: its suggestions are meaningless until you choose a real model (Pronto menu → Choose a model…).'
        : `Ready: ${modelName} on ${ready.line.build.backend}.`,
      model: modelName,
      backend: ready.line.build.backend,
      demoModel: demo,
    });

    // The socket closed but the process may still be alive: reconnect once; if that fails, kill
    // the process and let the exit handler below restart it with backoff.
    const watchSocket = (watched: EngineClient) =>
      watched.onClose((reason) => {
        if (gen !== this.generation || this.proc !== proc || this.currentClient !== watched) return;
        this.log(`engine socket closed (${reason}); reconnecting`);
        const next = new EngineClient({ baseUrl: watched.baseUrl, connectTimeoutMs: 5000 });
        void next.connect().then((r) => {
          if (gen !== this.generation || this.proc !== proc) return void next.close();
          if (r.ok) {
            this.currentClient = next;
            watchSocket(next);
            return;
          }
          this.log(`reconnecting failed (${r.message}); restarting the engine`);
          proc.kill('SIGKILL');
        });
      });
    watchSocket(client);

    void proc.exited.then((exit) => {
      if (gen !== this.generation) return;
      const why = `The engine exited unexpectedly (${exit.signal ?? `code ${exit.code}`})`;
      this.log(`${why}; stderr: ${proc.stderrTail().split('\n').slice(-3).join(' | ')}`);
      const current = this.currentClient;
      this.proc = undefined;
      this.readyLine = undefined;
      this.currentClient = undefined;
      for (const c of new Set([client, current])) {
        c?.drain(why);
        c?.close(why);
      }
      if (Date.now() - startedAt >= this.backoff.stableMs) this.failures = 0;
      this.scheduleRetry(gen, why);
    });
  }

  private async attemptRemote(gen: number, settings: Settings): Promise<void> {
    const url = settings['engine.url'];
    this.emit({ state: 'starting', message: `Connecting to the engine at ${url}…`, backend: 'remote' });
    const client = new EngineClient({ baseUrl: url, apiKey: settings['engine.apiKey'] || undefined, connectTimeoutMs: 10000 });
    const health = await client.health();
    if (gen !== this.generation) return;
    if (!health.ok) return this.scheduleRetry(gen, `Remote engine unreachable: ${health.message}`);
    const connected = await client.connect();
    if (gen !== this.generation) return void client.close();
    if (!connected.ok) {
      // A refused key will not fix itself: no retry storm.
      if (/API key/.test(connected.message)) return this.emit({ state: 'error', message: connected.message, backend: 'remote' });
      return this.scheduleRetry(gen, connected.message);
    }
    this.currentClient = client;
    this.failures = 0;
    this.startsCompleted++;
    this.emit({ state: 'ready', message: `Connected to the remote engine at ${url}.`, backend: 'remote' });
    client.onClose((reason) => {
      if (gen !== this.generation || this.currentClient !== client) return;
      this.currentClient = undefined;
      this.scheduleRetry(gen, `Lost the remote engine: ${reason}`);
    });
  }
}
