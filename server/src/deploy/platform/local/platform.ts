/**
 * The local platform: a deployment on one (multi-GPU) workstation. Each colour is a set of engine
 * processes (`pronto-engine`, one per replica, each on its own GPUs through CUDA_VISIBLE_DEVICES),
 * and HAProxy plays the two Services (haproxy.ts). Everything lives in the state folder
 * (`target.stateDir`):
 *
 *   state.json      the DeploymentRecord (active colour, what each colour runs, the rollout state)
 *   lock.json       the rollout lock (holder, pid, renewal time)
 *   request.json    a promote/abort for the controller that holds the lock
 *   processes.json  engine processes per colour (pid, port, log files)
 *   api-key         the key the engines require (generated once, mode 600) unless apiKey: names one
 *   haproxy.cfg / haproxy.sock / haproxy.pid, logs/
 *
 * Engines and HAProxy are started detached: they are the deployment, and outlive the controller
 * (a VS Code window closing or `pronto-deploy` killed mid-rollout), which finds them again here.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readyLineSchema } from '../../../../../protocol/engine';
import { findEngineBinary } from '../../../engine/process';
import { probeHardware } from '../../../models/hardware';
import { downloadVerified } from '../../../models/download';
import type { DeployConfig, LocalTarget } from '../../config/schema';
import { COLOURS, configRevision, otherColour, type Colour } from '../../manifests/render';
import type {
  DeploymentRecord,
  Endpoints,
  LockHolder,
  LockResult,
  ManualRequest,
  Platform,
  PlatformRequest,
  PlatformResponse,
  Readiness,
  Route,
} from '../types';
import {
  acquireLockFile,
  lockIsStale,
  pidAlive,
  pidRuns,
  processStartTime,
  readJson,
  releaseLockFile,
  renewLockFile,
  writeJsonAtomic,
} from './files';
import { BACKENDS, Haproxy, haproxyConfig } from './haproxy';

interface EngineProcessRecord {
  server: string;
  pid: number;
  binary: string;
  /** Process start time (ticks since boot): with the pid, the process's identity. */
  startTime?: number;
  /** Port from the engine's ready line; 0 until it printed one. */
  port: number;
  out: string;
  log: string;
  gpus: number[];
  startedAt: number;
}

type ProcessTable = Partial<Record<Colour, EngineProcessRecord[]>>;

export interface LocalPlatformOptions {
  /** Folder the config's relative paths are resolved against (the workspace). */
  root: string;
  haproxyBinary?: string;
  /** How long a drained server may keep sessions before they are cut (WebSockets never end by themselves). */
  drainTimeoutMs?: number;
  /** GPUs present (for tests and machines without nvidia-smi); default: probed. */
  gpuCount?: number;
  log?: (line: string) => void;
}

/**
 * HAProxy passes the client's Host header on; the engines (on loopback) refuse names that are not
 * loopback unless allowed. With HAProxy on another address, accept this machine's name and the
 * configured ones.
 */
export function hostArgs(target: LocalTarget): string[] {
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(target.host);
  if (loopback) return [];
  const hosts = [os.hostname(), ...(['0.0.0.0', '::'].includes(target.host) ? [] : [target.host]), ...target.allowedHosts];
  return ['--allowed-hosts', [...new Set(hosts)].join(',')];
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }
}

/** The state folder of a local target, absolute. */
export function localStateDir(target: LocalTarget, root: string): string {
  return path.resolve(root, target.stateDir);
}

export class LocalPlatform implements Platform {
  readonly kind = 'local' as const;
  private readonly target: LocalTarget;
  private readonly dir: string;
  private readonly haproxy: Haproxy;
  private readonly log: (line: string) => void;

  constructor(
    private readonly config: DeployConfig,
    private readonly options: LocalPlatformOptions,
  ) {
    if (config.target.kind !== 'local') throw new Error('LocalPlatform needs target.kind: local');
    this.target = config.target;
    this.dir = localStateDir(this.target, options.root);
    this.haproxy = new Haproxy(options.haproxyBinary ?? 'haproxy', {
      config: this.file('haproxy.cfg'),
      socket: this.file('haproxy.sock'),
      pidFile: this.file('haproxy.pid'),
    });
    this.log = options.log ?? (() => undefined);
  }

  describe(): string {
    return `local (HAProxy: active ${this.target.host}:${this.target.activePort}, preview ${this.target.host}:${this.target.previewPort}; state in ${this.dir})`;
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  // ---- state, lock, requests -------------------------------------------------------------

  async readRecord(): Promise<DeploymentRecord> {
    return (await readJson<DeploymentRecord>(this.file('state.json'))) ?? { name: this.config.name, colours: {} };
  }

  async writeRecord(record: DeploymentRecord): Promise<void> {
    await this.ensureDir();
    await writeJsonAtomic(this.file('state.json'), record);
  }

  /** The state folder, with a .gitignore: it holds the API key and run-time files, never to be committed. */
  private async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.file('.gitignore'), '# Pronto local deploy platform: state, API key, logs. Not for version control.\n*\n', {
      flag: 'wx',
    }).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
  }

  acquireLock(holder: LockHolder): Promise<LockResult> {
    return acquireLockFile(this.file('lock.json'), holder);
  }

  renewLock(holder: LockHolder): Promise<void> {
    return renewLockFile(this.file('lock.json'), holder);
  }

  releaseLock(holder: LockHolder): Promise<void> {
    return releaseLockFile(this.file('lock.json'), holder);
  }

  readLock(): Promise<LockHolder | undefined> {
    return readJson<LockHolder>(this.file('lock.json')).catch(() => undefined);
  }

  isStale(holder: LockHolder, now: number): boolean {
    return lockIsStale(holder, now);
  }

  readRequest(): Promise<ManualRequest | undefined> {
    return readJson<ManualRequest>(this.file('request.json')).catch(() => undefined);
  }

  writeRequest(request: ManualRequest): Promise<void> {
    return writeJsonAtomic(this.file('request.json'), request);
  }

  async clearRequest(): Promise<void> {
    await unlink(this.file('request.json')).catch(() => undefined);
  }

  // ---- API key -----------------------------------------------------------------------------

  async apiKey(): Promise<string> {
    const { env, file } = this.config.apiKey;
    if (env) {
      const v = process.env[env];
      if (!v) throw new Error(`apiKey.env names ${env}, which is not set in this environment`);
      return v;
    }
    if (file) return (await readFile(path.resolve(this.options.root, file), 'utf8')).trim();
    const keyFile = this.file('api-key');
    if (existsSync(keyFile)) return (await readFile(keyFile, 'utf8')).trim();
    await this.ensureDir();
    const key = randomBytes(24).toString('base64url');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    return (await readFile(keyFile, 'utf8')).trim();
  }

  // ---- processes -----------------------------------------------------------------------------

  private async processes(): Promise<ProcessTable> {
    return (await readJson<ProcessTable>(this.file('processes.json'))) ?? {};
  }

  private async saveProcesses(table: ProcessTable): Promise<void> {
    await writeJsonAtomic(this.file('processes.json'), table);
  }

  /** HAProxy running with our config, and every recorded engine registered in it. */
  private async ensureHaproxy(): Promise<void> {
    if (await this.haproxy.alive()) return;
    await mkdir(this.dir, { recursive: true });
    await unlink(this.haproxy.paths.socket).catch(() => undefined);
    await writeFile(
      this.haproxy.paths.config,
      haproxyConfig({
        host: this.target.host,
        activePort: this.target.activePort,
        previewPort: this.target.previewPort,
        socket: this.haproxy.paths.socket,
      }),
    );
    this.log(`starting HAProxy (${this.haproxy.paths.config})`);
    await this.haproxy.start();
    // A restarted HAProxy knows no servers: register the engines that still run.
    const record = await this.readRecord();
    const table = await this.processes();
    for (const colour of COLOURS) {
      for (const p of table[colour] ?? []) {
        if (p.port && pidRuns(p.pid, p.startTime)) await this.register(colour, p, record);
      }
    }
  }

  private async register(colour: Colour, p: EngineProcessRecord, record: DeploymentRecord): Promise<void> {
    const addr = `127.0.0.1:${p.port}`;
    const isActive = record.active === colour;
    await this.haproxy.addServer(BACKENDS.active, p.server, addr, isActive ? 'ready' : 'drain');
    const previewColour =
      record.rollout && !['succeeded', 'rolledBack', 'aborted'].includes(record.rollout.phase) && !record.rollout.switched
        ? record.rollout.candidate
        : record.active;
    await this.haproxy.addServer(BACKENDS.preview, p.server, addr, previewColour === colour || !previewColour ? 'ready' : 'maint');
  }

  private async engineBinary(): Promise<string> {
    const found = await findEngineBinary(this.target.engineBinary);
    if (!found.ok) throw new Error(found.message);
    return found.path;
  }

  private async modelPath(config: DeployConfig, signal?: AbortSignal): Promise<string> {
    if (config.model.path) {
      const p = path.resolve(this.options.root, config.model.path);
      if (!existsSync(p)) throw new Error(`model.path ${p} does not exist`);
      return p;
    }
    const dest = this.file(path.join('models', `${config.model.sha256}.gguf`));
    if (existsSync(dest)) return dest;
    await mkdir(path.dirname(dest), { recursive: true });
    this.log(`fetching the model from ${config.model.url}`);
    const r = await downloadVerified({ url: config.model.url!, destination: dest, expectedSha256: config.model.sha256, signal });
    return r.path;
  }

  private async gpuIds(): Promise<number[]> {
    if (this.target.gpuIds.length) return this.target.gpuIds;
    const count = this.options.gpuCount ?? (await probeHardware()).gpus.length;
    return Array.from({ length: count }, (_, i) => i);
  }

  /** Starts one engine process, detached; the port is known once its ready line appears. */
  private async startEngine(
    colour: Colour,
    index: number,
    config: DeployConfig,
    gpus: number[],
    signal?: AbortSignal,
  ): Promise<EngineProcessRecord> {
    const binary = await this.engineBinary();
    const model = await this.modelPath(config, signal);
    const key = await this.apiKey();
    const server = `${colour}-${index}`;
    await mkdir(this.file('logs'), { recursive: true });
    const out = this.file(path.join('logs', `${server}.out`));
    const log = this.file(path.join('logs', `${server}.log`));
    const outFd = openSync(out, 'w');
    const logFd = openSync(log, 'w');
    const target = config.target.kind === 'local' ? config.target : this.target;
    const args = [
      '--model',
      model,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--parallel',
      String(config.engine.parallel),
      '--ctx',
      String(config.engine.contextSize),
      ...(gpus.length === 0 ? ['--gpu-layers', '0'] : []),
      ...hostArgs(target),
      ...target.engineArgs,
    ];
    const child = spawn(binary, args, {
      detached: true,
      stdio: ['ignore', outFd, logFd],
      // The key travels in the environment (the engine removes it once read), never on the command line.
      env: { ...process.env, PRONTO_API_KEY: key, CUDA_VISIBLE_DEVICES: gpus.join(',') },
    });
    closeSync(outFd);
    closeSync(logFd);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${binary}`);
    this.log(`started engine ${server} (pid ${child.pid}${gpus.length ? `, GPUs ${gpus.join(',')}` : ', CPU'})`);
    return { server, pid: child.pid, binary, startTime: processStartTime(child.pid), port: 0, out, log, gpus, startedAt: Date.now() };
  }

  private readyPort(p: EngineProcessRecord): number {
    try {
      const first = readFileSync(p.out, 'utf8').split('\n')[0];
      if (!first) return 0;
      const parsed = readyLineSchema.safeParse(JSON.parse(first));
      return parsed.success ? parsed.data.port : 0;
    } catch {
      return 0;
    }
  }

  private async stopEngine(p: EngineProcessRecord): Promise<void> {
    if (!pidRuns(p.pid, p.startTime)) return;
    // The engine leads its own process group (started detached): signal the group, so a wrapper's
    // children go too. The engine exits within 3 s of SIGTERM by design; SIGKILL after 5 s.
    signalGroup(p.pid, 'SIGTERM');
    for (let i = 0; i < 100 && pidAlive(p.pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (pidAlive(p.pid)) signalGroup(p.pid, 'SIGKILL');
    this.log(`stopped engine ${p.server} (pid ${p.pid})`);
  }

  // ---- Platform operations -----------------------------------------------------------------

  async deploy(colour: Colour, config: DeployConfig, replicas: number, signal?: AbortSignal): Promise<void> {
    await this.ensureHaproxy();
    const table = await this.processes();
    const record = await this.readRecord();
    const revision = configRevision(config);
    const current = record.colours[colour];
    if (current && current.revision !== revision && (table[colour]?.length ?? 0) > 0) {
      // The candidate colour still runs an older version (scaled-down leftovers): replace it.
      await this.scale(colour, 0, signal);
    }
    record.colours[colour] = { revision, replicas, config };
    await this.writeRecord(record);
    await this.scaleTo(colour, replicas, config, signal);
    // Preview selects the candidate only.
    const other = otherColour(colour);
    for (const p of (await this.processes())[other] ?? []) {
      await this.haproxy.setState(BACKENDS.preview, p.server, 'maint').catch(() => undefined);
    }
  }

  private async scaleTo(colour: Colour, replicas: number, config: DeployConfig, signal?: AbortSignal): Promise<void> {
    const table = await this.processes();
    const procs = (table[colour] ?? []).filter((p) => pidRuns(p.pid, p.startTime) || p.port === 0);
    // Dead processes are dropped from HAProxy and replaced.
    for (const dead of (table[colour] ?? []).filter((p) => !procs.includes(p))) await this.unregister(dead, 0);
    while (procs.length > replicas) {
      const p = procs.pop()!;
      await this.unregister(p, this.options.drainTimeoutMs ?? 30_000, signal);
      await this.stopEngine(p);
    }
    if (procs.length < replicas) {
      const all = await this.gpuIds();
      const used = new Set(COLOURS.flatMap((c) => (c === colour ? procs : (table[c] ?? [])).flatMap((p) => p.gpus)));
      const free = all.filter((g) => !used.has(g));
      const needed = (replicas - procs.length) * config.gpus;
      if (needed > free.length) {
        throw new Error(
          `not enough GPUs: ${replicas - procs.length} more replica(s) × ${config.gpus} GPU(s) need ${needed}, ${free.length} free of ${all.length} (the other colour holds the rest during a rollout); lower replicas or gpus, or use gpus: 0 for CPU`,
        );
      }
      const indexes = new Set(procs.map((p) => Number(p.server.split('-')[1])));
      for (let i = 0; procs.length < replicas; i++) {
        if (indexes.has(i)) continue;
        const gpus = free.splice(0, config.gpus);
        procs.push(await this.startEngine(colour, i, config, gpus, signal));
        table[colour] = procs;
        await this.saveProcesses(table);
      }
    }
    table[colour] = procs;
    await this.saveProcesses(table);
    const record = await this.readRecord();
    if (record.colours[colour]) record.colours[colour]!.replicas = replicas;
    await this.writeRecord(record);
  }

  private async unregister(p: EngineProcessRecord, drainMs: number, signal?: AbortSignal): Promise<void> {
    if (!(await this.haproxy.alive())) return;
    await Promise.all([
      this.haproxy.removeServer(BACKENDS.active, p.server, drainMs, signal),
      this.haproxy.removeServer(BACKENDS.preview, p.server, drainMs, signal),
    ]);
  }

  async readiness(colour: Colour): Promise<Readiness> {
    await this.ensureHaproxy();
    const table = await this.processes();
    const procs = table[colour] ?? [];
    const want = (await this.readRecord()).colours[colour]?.replicas ?? 0;
    if (procs.length < want) return { ready: false, message: `${procs.length} of ${want} engine processes started` };
    const record = await this.readRecord();
    let ready = 0;
    const waiting: string[] = [];
    for (const p of procs) {
      if (!pidRuns(p.pid, p.startTime)) {
        const tail = existsSync(p.log) ? readFileSync(p.log, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
        return {
          ready: false,
          message: `engine ${p.server} exited`,
          fatal: `engine ${p.server} (pid ${p.pid}) exited: ${tail || 'no output'}`,
        };
      }
      if (!p.port) {
        const port = this.readyPort(p);
        if (!port) {
          waiting.push(`${p.server} loading the model`);
          continue;
        }
        p.port = port;
        await this.saveProcesses(table);
        await this.register(colour, p, record);
      }
      const stat = (await this.haproxy.stats()).find((s) => s.backend === BACKENDS.preview && s.server === p.server);
      if (!stat) await this.register(colour, p, record);
      if (stat?.status.startsWith('UP') || stat?.status === 'DRAIN') ready++;
      else waiting.push(`${p.server} health check ${stat?.status ?? 'pending'}`);
    }
    return ready === procs.length && procs.length > 0
      ? { ready: true, message: `${ready} of ${procs.length} replicas ready` }
      : { ready: false, message: `${ready} of ${procs.length} replicas ready${waiting.length ? `: ${waiting.join(', ')}` : ''}` };
  }

  async switchActive(colour: Colour): Promise<void> {
    await this.ensureHaproxy();
    const table = await this.processes();
    const mine = table[colour] ?? [];
    const others = table[otherColour(colour)] ?? [];
    if (!mine.length) throw new Error(`cannot switch active to ${colour}: it runs no engine`);
    for (const p of mine) await this.haproxy.setState(BACKENDS.active, p.server, 'ready');
    // The new colour must be UP in `active` before the old one stops taking requests.
    for (let i = 0; ; i++) {
      const stats = await this.haproxy.stats();
      const up = mine.every((p) => stats.find((s) => s.backend === BACKENDS.active && s.server === p.server)?.status.startsWith('UP'));
      if (up) break;
      if (i > 200) throw new Error(`${colour} did not come UP in HAProxy's active backend`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const p of others) await this.haproxy.setState(BACKENDS.active, p.server, 'drain').catch(() => undefined);
    for (const p of mine) await this.haproxy.setState(BACKENDS.preview, p.server, 'ready');
    for (const p of others) await this.haproxy.setState(BACKENDS.preview, p.server, 'maint').catch(() => undefined);
    const record = await this.readRecord();
    record.active = colour;
    await this.writeRecord(record);
    this.log(`active → ${colour}`);
  }

  async scale(colour: Colour, replicas: number, signal?: AbortSignal): Promise<void> {
    const record = await this.readRecord();
    const config = record.colours[colour]?.config ?? this.config;
    if (replicas > 0) await this.ensureHaproxy();
    await this.scaleTo(colour, replicas, config, signal);
    if (replicas === 0) return;
    // New engines take traffic once they printed their ready line (then they are registered in
    // HAProxy) and pass its health check.
    const deadline = Date.now() + config.timeouts.ready * 1000;
    for (;;) {
      const r = await this.readiness(colour);
      if (r.ready) return;
      if (r.fatal) throw new Error(r.fatal);
      if (Date.now() > deadline) throw new Error(`${colour} did not become ready within ${config.timeouts.ready} s: ${r.message}`);
      if (signal?.aborted) throw signal.reason;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async replicas(colour: Colour): Promise<number> {
    return ((await this.processes())[colour] ?? []).filter((p) => pidRuns(p.pid, p.startTime)).length;
  }

  async request(route: Route, req: PlatformRequest): Promise<PlatformResponse> {
    let base: string;
    if ('service' in route)
      base = `http://${this.target.host}:${route.service === 'active' ? this.target.activePort : this.target.previewPort}`;
    else {
      const p = (await this.processes())[route.colour]?.[route.replica];
      if (!p?.port) throw new Error(`${route.colour} has no replica ${route.replica}`);
      base = `http://127.0.0.1:${p.port}`;
    }
    const res = await fetch(base + req.path, {
      method: req.method,
      body: req.body,
      headers: {
        authorization: `Bearer ${await this.apiKey()}`,
        ...(req.body ? { 'content-type': 'application/json' } : {}),
        ...req.headers,
      },
      signal: req.signal,
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    const body = res.body ?? (async function* () {})();
    return { status: res.status, headers, body: body as AsyncIterable<Uint8Array> };
  }

  async promSelector(colour: Colour): Promise<string> {
    const ports = ((await this.processes())[colour] ?? []).map((p) => p.port).filter(Boolean);
    return `instance=~"127.0.0.1:(${ports.join('|') || '0'})"`;
  }

  async endpoints(): Promise<Endpoints> {
    const key = await this.apiKey();
    const record = await this.readRecord();
    const table = await this.processes();
    const base = (port: number) => `http://${this.target.host}:${port}`;
    const out: Endpoints = { colours: {} };
    if (record.active) out.active = { url: base(this.target.activePort), apiKey: key };
    if ((await this.haproxy.alive()) && COLOURS.some((c) => table[c]?.length))
      out.preview = { url: base(this.target.previewPort), apiKey: key };
    const previewColour =
      record.rollout && !record.rollout.switched && !['succeeded', 'rolledBack', 'aborted'].includes(record.rollout.phase)
        ? record.rollout.candidate
        : undefined;
    for (const c of COLOURS) {
      const procs = (table[c] ?? []).filter((p) => p.port && pidRuns(p.pid, p.startTime));
      if (!procs.length) continue;
      out.colours[c] = {
        url: `http://127.0.0.1:${procs[0]!.port}`,
        apiKey: key,
        role: record.active === c ? 'active' : previewColour === c ? 'preview' : 'idle',
        replicas: procs.length,
      };
    }
    return out;
  }

  /** Stops every engine and HAProxy (`pronto-deploy down`); the state file says nothing runs. */
  async down(): Promise<void> {
    const table = await this.processes();
    for (const c of COLOURS) for (const p of table[c] ?? []) await this.stopEngine(p);
    await this.saveProcesses({});
    const pid = Number((await readFile(this.haproxy.paths.pidFile, 'utf8').catch(() => '')).trim());
    if (pid && pidAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
    const record = await this.readRecord();
    await this.writeRecord({ ...record, active: undefined, colours: {} });
  }
}
