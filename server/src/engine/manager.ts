/**
 * Owns the engine's lifecycle: start (local child process or remote URL), check the protocol
 * version at connect, watch a local engine's health, restart with exponential backoff after a crash
 * or a hang, give up with a clear message after repeated failures, stop. It reports its state
 * through one callback; the server turns it into `pronto/status`.
 *
 * - A local engine gets a fresh random API key at every start, in the environment variable
 *   PRONTO_API_KEY (never on the command line, where other local users could read it); the engine
 *   removes it from its environment once read.
 * - Liveness: every `healthCheck.intervalMs` a local engine's `/health` must answer within
 *   `timeoutMs`; after `failures` misses in a row (a stopped or wedged process: SIGSTOP, a deadlock)
 *   it is killed, its pending requests end with that reason, and it restarts with backoff. A
 *   request that misses its deadline (EngineClient `deadlineMs`) has already ended with a `timeout`
 *   and triggers a check at once. A missed deadline alone never kills the engine: on a slow machine
 *   a cold prompt can take that long, and killing would throw away its KV cache.
 * - The engine's protocol version (ready line for a local engine, /health for a remote one; absent
 *   means 1) must be ENGINE_PROTOCOL_VERSION, else the manager stops with a message saying what to
 *   update.
 *
 * Every start gets a generation number; anything that finishes for an older generation (a slow
 * start after stop(), an exit after restart()) is ignored, so no flags are reset by hand.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ENGINE_PROTOCOL_VERSION, type ReadyLine } from '../../../protocol/engine';
import type { ModelProblem } from '../../../protocol/lsp';
import type { Settings } from '../settings';
import { EngineClient, type CompletionOutcome, type RequestSummary } from './client';
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
  /** pronto.chat.modelPath was refused; the engine runs without it (state `ready`). */
  chatModelProblem?: ModelProblem;
  /** Failed `maxFailures` times in a row; no more automatic restarts (state `error`). */
  gaveUp?: boolean;
}

/**
 * The model (and draft) to start on, or why there is none: `state` is what to report then
 * (server/src/models/selection.ts decides; without it, an existing pronto.model.path is used as is).
 */
export type ModelResolution =
  | { ok: true; path: string; demo: boolean; draftPath?: string; chatModelPath?: string; chatModelProblem?: ModelProblem; notes?: string[] }
  | { ok: false; message: string; state?: EngineState };

export interface EngineManagerDeps {
  launcher?: EngineLauncher;
  findBinary?: (settingPath: string) => Promise<BinaryResult>;
  /** Picks and checks the model files before each start (server/src/models/selection.ts). */
  resolveModel?: (settings: Settings) => Promise<ModelResolution>;
  /** The API key of a remote engine (VS Code keeps it in its secret storage), read at each connect. */
  remoteApiKey?: () => string | undefined;
  onState: (state: EngineState) => void;
  log?: (line: string) => void;
  backoff?: Partial<BackoffOptions>;
  healthCheck?: Partial<HealthCheckOptions>;
  readyTimeoutMs?: number;
  /**
   * For tests and benchmarks only ($PRONTO_ENGINE_INFO_FILE): each local engine that becomes ready
   * is described in this file (mode 0600) as `{url, pid, apiKey}`, so a harness can read its
   * /metrics. The engine scrubs the key from its own environment, and nothing else reveals it.
   */
  engineInfoFile?: string;
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Consecutive failures after which the manager stops retrying. */
  maxFailures: number;
  /** An engine that ran this long before dying resets the failure count. */
  stableMs: number;
}

export interface HealthCheckOptions {
  /** How often a local engine's /health is asked (0: never). */
  intervalMs: number;
  /** How long one answer may take. */
  timeoutMs: number;
  /** Unanswered checks in a row after which the engine counts as hung. */
  failures: number;
}

const defaultBackoff: BackoffOptions = { baseMs: 500, maxMs: 15000, maxFailures: 5, stableMs: 30000 };
const defaultHealthCheck: HealthCheckOptions = { intervalMs: 5000, timeoutMs: 5000, failures: 2 };

export function backoffDelay(failures: number, o: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, failures - 1));
}

/**
 * Why an engine that speaks protocol `reported` (undefined: an engine from before versions were
 * reported, i.e. 1) cannot be used, and what to do; undefined when it matches.
 */
export function protocolMismatch(
  reported: number | undefined,
  engine: { remote: false; binary: string } | { remote: true; url: string },
): string | undefined {
  const version = reported ?? 1;
  if (version === ENGINE_PROTOCOL_VERSION) return undefined;
  const older = version < ENGINE_PROTOCOL_VERSION;
  const which = engine.remote ? `The remote engine at ${engine.url}` : `The engine ${engine.binary}`;
  const head = `${which} speaks engine protocol version ${version}, but this version of Pronto needs version ${ENGINE_PROTOCOL_VERSION}`;
  if (engine.remote) {
    return older
      ? `${head}: the engine is older than the extension. Update the engine deployment (or use a matching Pronto version), then run "Pronto: Restart Engine".`
      : `${head}: the engine is newer than the extension. Update the Pronto extension (or deploy a matching engine), then run "Pronto: Restart Engine".`;
  }
  return older
    ? `${head}: the engine binary is older than the extension. Rebuild it (npm run build:native) or point pronto.engine.path at the engine shipped with this extension, then run "Pronto: Restart Engine".`
    : `${head}: the engine binary is newer than the extension. Update the extension, or point pronto.engine.path at the engine shipped with it, then run "Pronto: Restart Engine".`;
}

const formatCount = (n: number) => n.toLocaleString('en-US');

/** "61,234 characters, longest line 60,000 characters" for error messages. */
export function describeRequest(r: RequestSummary): string {
  return `${formatCount(r.chars)} characters, its longest line ${formatCount(r.longestLine)} characters`;
}

/** Without a resolver: pronto.model.path as is, when the file exists (tests with fake engines). */
async function existingModelFile(settings: Settings): Promise<ModelResolution> {
  const file = settings['model.path'];
  if (!file) return { ok: false, message: 'No model configured: set pronto.model.path or pick one from the model catalog.' };
  if (!existsSync(file)) return { ok: false, message: `The model file in pronto.model.path does not exist: ${file}` };
  const draft = settings['model.draftPath'];
  if (draft && !existsSync(draft)) return { ok: false, message: `The draft model file in pronto.model.draftPath does not exist: ${draft}` };
  const chat = settings['chat.modelPath'];
  return { ok: true, path: file, demo: false, ...(draft ? { draftPath: draft } : {}), ...(chat ? { chatModelPath: chat } : {}) };
}

export class EngineManager {
  private generation = 0;
  private proc: EngineProcess | undefined;
  private currentClient: EngineClient | undefined;
  private readyLine: ReadyLine | undefined;
  private failures = 0;
  /** The chat model the engine could not load (it said so naming --chat-model): left out until start(). */
  private chatModelFailure?: { path: string; message: string };
  private retryTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private settings: Settings | undefined;
  private lastState: EngineState = { state: 'stopped', message: 'Engine not started.' };
  /** What the engine was last asked to handle, kept across restarts for the give-up message. */
  private lastRequest: RequestSummary | undefined;
  private readonly backoff: BackoffOptions;
  private readonly health: HealthCheckOptions;
  private readonly launcher: EngineLauncher;
  private readonly findBinary: (settingPath: string) => Promise<BinaryResult>;
  /** Number of engine (re)starts that reached ready; for tests and logs. */
  startsCompleted = 0;

  constructor(private readonly deps: EngineManagerDeps) {
    this.backoff = { ...defaultBackoff, ...deps.backoff };
    this.health = { ...defaultHealthCheck, ...deps.healthCheck };
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
  /** Identifies the model the engine runs (its file, or a remote URL): the token estimate is calibrated per key. */
  get modelKey(): string | undefined {
    if (this.readyLine) return `${this.readyLine.model.path} (${this.readyLine.model.size_bytes} bytes)`;
    return this.currentClient && this.settings?.['engine.url'] ? this.settings['engine.url'] : undefined;
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
    this.chatModelFailure = undefined; // a restart or a settings change tries the chat model again
    this.lastRequest = undefined;
    await this.attempt(++this.generation);
  }

  async restart(settings: Settings): Promise<void> {
    return this.start(settings);
  }

  /** Synchronous last resort when the server process is exiting: signal the engine, no waiting. */
  killNow(): void {
    this.generation++;
    clearTimeout(this.retryTimer);
    clearInterval(this.healthTimer);
    this.proc?.kill('SIGTERM');
    this.proc = undefined;
  }

  async stop(options: { quiet?: boolean } = {}): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    const proc = this.proc;
    this.proc = undefined;
    this.readyLine = undefined;
    this.currentClient?.close('engine stopped');
    this.currentClient = undefined;
    if (proc) await proc.stop(3000);
    if (!options.quiet) this.emit({ state: 'stopped', message: 'Engine stopped.' });
  }

  private scheduleRetry(gen: number, why: string): void {
    this.failures++;
    if (this.failures >= this.backoff.maxFailures) {
      const last = this.lastRequest
        ? ` The last request it received had ${describeRequest(this.lastRequest)}${
            this.lastRequest.longestLine > 10_000 ? ' (very long lines can crash the tokenizer of some models)' : ''
          }.`
        : ' It had received no request yet (it fails while starting: see the log).';
      this.emit({
        state: 'error',
        message: `The engine failed ${this.failures} times in a row and will not be restarted automatically. Last failure: ${why}.${last} Run "Pronto: Restart Engine" to try again; "Pronto: Show Logs" has the engine's last output.`,
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
    // A chat model that passed the file checks but that the engine could not load: started without it.
    let chatModelPath = model.chatModelPath;
    let chatProblem = model.chatModelProblem;
    if (chatModelPath && this.chatModelFailure?.path === chatModelPath) {
      chatProblem = {
        setting: 'pronto.chat.modelPath',
        path: chatModelPath,
        problem: `The engine could not load the chat model ${path.basename(chatModelPath)}: ${this.chatModelFailure.message}.`,
        advice: 'Chat uses the code model until pronto.chat.modelPath names a GGUF instruct model llama.cpp can load.',
      };
      chatModelPath = undefined;
    }

    const binary = await this.findBinary(settings['engine.path']);
    if (gen !== this.generation) return;
    if (!binary.ok) return this.emit({ state: 'error', message: binary.message });

    const args = [
      '--model',
      model.path,
      ...(draft ? ['--draft-model', draft] : []),
      ...(chatModelPath ? ['--chat-model', chatModelPath] : []),
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
    // A fresh key per start, in the environment: other local users cannot read it (they can read
    // command lines), and a web page cannot guess it.
    const apiKey = randomBytes(32).toString('base64url');
    const proc = await this.launcher.launch(binary.path, args, {
      readyTimeoutMs: this.deps.readyTimeoutMs ?? 180000,
      env: { PRONTO_API_KEY: apiKey },
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
      // The chat model was refused (the engine names --chat-model): completions must not suffer for it.
      if (chatModelPath && /--chat-model/.test(ready.message)) {
        this.chatModelFailure = { path: chatModelPath, message: ready.message };
        this.log(`the engine could not load the chat model; starting without it: ${ready.message}`);
        return this.attempt(gen);
      }
      // Exit code 2 = the engine rejected its arguments: retrying cannot help.
      if (ready.exitCode === 2) return this.emit({ state: 'error', message: `The engine rejected its settings: ${ready.message}` });
      return this.scheduleRetry(gen, `The engine did not start: ${ready.message}`);
    }
    const mismatch = protocolMismatch(ready.line.protocol, { remote: false, binary: `${binary.path} (${binary.version})` });
    if (mismatch) {
      this.proc = undefined;
      await proc.stop(3000);
      if (gen !== this.generation) return;
      return this.emit({ state: 'error', message: mismatch });
    }
    const client = new EngineClient({ baseUrl: `http://${ready.line.host}:${ready.line.port}`, apiKey, connectTimeoutMs: 10000 });
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
    if (this.deps.engineInfoFile) {
      try {
        writeFileSync(this.deps.engineInfoFile, JSON.stringify({ url: client.baseUrl, pid: proc.pid, apiKey }), { mode: 0o600 });
      } catch (err) {
        this.log(`could not write the engine info file ${this.deps.engineInfoFile}: ${(err as Error).message}`);
      }
    }
    this.log(
      `engine ready at ${client.baseUrl} (pid ${proc.pid}, ${ready.line.build.backend}, n_ctx ${ready.line.n_ctx}, n_parallel ${ready.line.n_parallel}, protocol ${ready.line.protocol ?? 1})`,
    );
    const demo = model.demo;
    if (chatProblem) this.log(`chat model refused: ${chatProblem.problem} ${chatProblem.advice}`);
    const chatNote = chatProblem
      ? ` Chat model refused: ${chatProblem.problem} ${chatProblem.advice}`
      : chatModelPath
        ? ` Chat: ${path.basename(chatModelPath)}.`
        : '';
    this.emit({
      state: 'ready',
      message:
        (demo
          ? 'Demo model: its suggestions are meaningless until you choose a real model (Pronto menu → Choose a model…).'
          : `Ready: ${modelName} on ${ready.line.build.backend}.`) + chatNote,
      model: modelName,
      backend: ready.line.build.backend,
      demoModel: demo,
      ...(chatProblem ? { chatModelProblem: chatProblem } : {}),
    });

    /** Set when this manager killed the engine for not responding: the exit message says so. */
    let hungReason: string | undefined;
    const killHung = (why: string) => {
      if (gen !== this.generation || this.proc !== proc || hungReason) return;
      hungReason = why;
      this.log(`${why}; killing pid ${proc.pid}`);
      proc.kill('SIGKILL');
    };
    const probe = this.liveness(gen, proc, () => this.currentClient ?? client, killHung);

    // The socket closed but the process may still be alive: reconnect once; if that fails, kill
    // the process and let the exit handler below restart it with backoff.
    const watchSocket = (watched: EngineClient) => {
      this.watchDeadlines(watched, probe);
      watched.onClose((reason) => {
        if (gen !== this.generation || this.proc !== proc || this.currentClient !== watched) return;
        this.log(`engine socket closed (${reason}); reconnecting`);
        const next = new EngineClient({ baseUrl: watched.baseUrl, apiKey, connectTimeoutMs: 5000 });
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
    };
    watchSocket(client);

    void proc.exited.then((exit) => {
      if (gen !== this.generation) return;
      clearInterval(this.healthTimer);
      this.healthTimer = undefined;
      const current = this.currentClient;
      this.lastRequest = current?.lastRequest ?? client.lastRequest ?? this.lastRequest;
      const why = hungReason
        ? `The engine stopped responding (${hungReason}); it was stopped`
        : `The engine exited unexpectedly (${exit.signal ?? `code ${exit.code}`})${
            this.lastRequest ? ` while the last request sent to it had ${describeRequest(this.lastRequest)}` : ''
          }`;
      this.log(`${why}; stderr: ${proc.stderrTail().split('\n').slice(-3).join(' | ')}`);
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

  /**
   * Periodic /health checks of a local engine; returns a function that checks at once (after a
   * missed deadline). `failures` unanswered checks in a row: the engine is hung.
   */
  private liveness(gen: number, proc: EngineProcess, client: () => EngineClient, killHung: (why: string) => void): () => void {
    const { intervalMs, timeoutMs, failures } = this.health;
    let misses = 0;
    let checking = false;
    const check = async (): Promise<void> => {
      if (checking || gen !== this.generation || this.proc !== proc) return;
      checking = true;
      try {
        // Checks in a row, without waiting for the next tick once one has failed.
        for (;;) {
          const h = await client().health(timeoutMs);
          if (gen !== this.generation || this.proc !== proc) return;
          if (h.ok) {
            misses = 0;
            return;
          }
          misses++;
          this.log(`engine health check failed (${misses} of ${failures}): ${h.message}`);
          if (misses >= failures) {
            killHung(`no answer to /health within ${timeoutMs} ms, ${misses} times in a row`);
            return;
          }
        }
      } finally {
        checking = false;
      }
    };
    clearInterval(this.healthTimer);
    if (intervalMs > 0) {
      this.healthTimer = setInterval(() => void check(), intervalMs);
      this.healthTimer.unref();
    }
    return () => void check();
  }

  /** A request past its deadline: check the engine's health at once (a stopped engine is found sooner). */
  private watchDeadlines(client: EngineClient, probe: () => void): void {
    client.onOutcome((outcome: CompletionOutcome) => {
      if (outcome.kind !== 'error' || outcome.code !== 'timeout') return;
      this.log(`a request missed its deadline (${outcome.message}); checking the engine's health`);
      probe();
    });
  }

  private async attemptRemote(gen: number, settings: Settings): Promise<void> {
    const url = settings['engine.url'];
    this.emit({ state: 'starting', message: `Connecting to the engine at ${url}…`, backend: 'remote' });
    const client = new EngineClient({ baseUrl: url, apiKey: this.deps.remoteApiKey?.() || undefined, connectTimeoutMs: 10000 });
    const health = await client.health();
    if (gen !== this.generation) return;
    if (!health.ok) return this.scheduleRetry(gen, `Remote engine unreachable: ${health.message}`);
    const mismatch = protocolMismatch(health.health.protocol, { remote: true, url });
    if (mismatch) return this.emit({ state: 'error', message: mismatch, backend: 'remote' });
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
