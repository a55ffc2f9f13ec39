// Helpers for the deploy tests on the local platform: a workspace with a deploy config on ports of
// its own, `pronto-deploy` run as a real child process (so it can be SIGKILLed), a steady load of
// completions and streaming chats through HAProxy with every outcome recorded, and a cleanup that
// stops whatever the platform started (engines, HAProxy) even when a test failed half-way.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './models';

export const cliPath = path.join(repoRoot, 'server/src/deploy/cli.ts');
/** tsx's loader by URL: the CLI runs with the workspace (outside the repo) as its working folder. */
const tsxLoader = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
export const faultEngine = path.join(repoRoot, 'test/support/fault-engine.mjs');

/** A port that was free a moment ago (bound with SO_REUSEADDR by the OS default for listen). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Workspace {
  dir: string;
  configFile: string;
  stateDir: string;
  activePort: number;
  previewPort: number;
  write(yaml: string): void;
  apiKey(): string;
  state(): {
    active?: string;
    rollout?: {
      phase: string;
      reason?: string;
      gates: Array<{ name: string; source: string; passed: boolean; measured: string }>;
      history: Array<{ at: number; phase: string; note: string }>;
    };
  };
}

export async function makeWorkspace(prefix = 'pronto-deploy-'): Promise<Workspace> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  mkdirSync(path.join(dir, '.pronto'));
  const activePort = await freePort();
  let previewPort = await freePort();
  while (previewPort === activePort) previewPort = await freePort();
  const configFile = path.join(dir, '.pronto', 'deploy.yaml');
  const stateDir = path.join(dir, '.pronto', 'local');
  return {
    dir,
    configFile,
    stateDir,
    activePort,
    previewPort,
    write: (yaml) => writeFileSync(configFile, yaml),
    apiKey: () => readFileSync(path.join(stateDir, 'api-key'), 'utf8').trim(),
    state: () => JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')),
  };
}

/** A local-platform config for the tests: small windows, a real minimum of requests. */
export function localConfig(
  ws: Workspace,
  o: { model: string; binary?: string; parallel?: number; extra?: string; minRequests?: number; window?: string },
): string {
  return `name: test
target:
  kind: local
  activePort: ${ws.activePort}
  previewPort: ${ws.previewPort}
  engineBinary: ${JSON.stringify(o.binary ?? '')}
  engineArgs: ["--threads", "1"]
model:
  path: ${JSON.stringify(o.model)}
engine: { parallel: ${o.parallel ?? 4}, contextSize: 4096 }
gpus: 0
gates:
  minSuccessRate: 0.99
  maxP95Latency: 10s
  window: ${o.window ?? '4s'}
  minRequests: ${o.minRequests ?? 8}
  analysisRate: 4
timeouts: { ready: 60s, smoke: 30s }
postPromotion: { window: 2s }
scaleDownDelay: 1s
${o.extra ?? ''}`;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `pronto-deploy ARGS` in the workspace; `done` resolves when it exits. */
export function startCli(
  ws: Workspace,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<CliResult>; stderr: () => string } {
  const config = args.includes('--config') ? [] : ['--config', ws.configFile];
  const child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args, ...config], {
    cwd: ws.dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done, stderr: () => stderr };
}

export function runCli(ws: Workspace, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(ws, args, env).done;
}

/** Resolves when `predicate(state)` holds (polling the state file), or rejects after `timeoutMs`. */
export async function waitForState(
  ws: Workspace,
  predicate: (s: ReturnType<Workspace['state']>) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (predicate(ws.state())) return;
    } catch {
      // Not written yet.
    }
    if (Date.now() > deadline) throw new Error(`state did not reach the expected condition within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Outcome {
  kind: 'completion' | 'chat';
  ok: boolean;
  error?: string;
  start: number;
  end: number;
  /** The model that answered (blue and green run different models in the tests). */
  model?: string;
}

/**
 * A steady load through a URL: a completion and a streaming chat alternately every `intervalMs`,
 * each awaited to its end, every outcome recorded. Bounded: it stops by itself after `maxMs`.
 */
export class SteadyLoad {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly pending = new Set<Promise<void>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private n = 0;

  constructor(
    private readonly url: string,
    private readonly key: string,
    intervalMs = 120,
    maxMs = 300_000,
  ) {
    this.timer = setInterval(() => this.fire(), intervalMs);
    setTimeout(() => void this.stop(), maxMs).unref();
  }

  private fire(): void {
    if (!this.running) return;
    const kind = this.n++ % 2 === 0 ? 'completion' : 'chat';
    const p = this.one(kind).then((o) => {
      this.outcomes.push(o);
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async one(kind: 'completion' | 'chat'): Promise<Outcome> {
    const start = Date.now();
    try {
      const body =
        kind === 'completion'
          ? { prompt: 'def add(a, b):\n    return', max_tokens: 16, temperature: 0 }
          : { messages: [{ role: 'user', content: 'Say something long.' }], max_tokens: 200, stream: true, temperature: 0 };
      const res = await fetch(`${this.url}/v1/${kind === 'completion' ? 'completions' : 'chat/completions'}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      if (res.status !== 200) return { kind, ok: false, error: `HTTP ${res.status}: ${text.slice(0, 200)}`, start, end: Date.now() };
      if (kind === 'completion') {
        const json = JSON.parse(text) as { model?: string; choices?: Array<{ text?: string }> };
        const ok = typeof json.choices?.[0]?.text === 'string';
        return { kind, ok, error: ok ? undefined : 'no text', start, end: Date.now(), model: json.model };
      }
      const events = text.split('\n\n').filter((e) => e.startsWith('data:'));
      const done = events.some((e) => e.trim() === 'data: [DONE]');
      const first = events.find((e) => e.includes('"model"'));
      const model = first ? (JSON.parse(first.slice(5)) as { model?: string }).model : undefined;
      return { kind, ok: done, error: done ? undefined : 'stream ended without [DONE]', start, end: Date.now(), model };
    } catch (err) {
      return { kind, ok: false, error: String((err as Error).cause ?? err), start, end: Date.now() };
    }
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pending]);
    return this.outcomes;
  }

  failures(): Outcome[] {
    return this.outcomes.filter((o) => !o.ok);
  }
}

/** Stops every process the local platform recorded in the workspace, then removes it. */
export function cleanupWorkspace(ws: Workspace): void {
  try {
    const table = JSON.parse(readFileSync(path.join(ws.stateDir, 'processes.json'), 'utf8')) as Record<string, Array<{ pid: number }>>;
    for (const procs of Object.values(table)) for (const p of procs) killQuietly(p.pid);
  } catch {
    // Nothing recorded.
  }
  try {
    killQuietly(Number(readFileSync(path.join(ws.stateDir, 'haproxy.pid'), 'utf8').trim()));
  } catch {
    // No HAProxy.
  }
  rmSync(ws.dir, { recursive: true, force: true });
}

/** Engines run in process groups of their own (detached): the group also holds a wrapper's engine. */
function killQuietly(pid: number): void {
  if (!pid) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // Gone already, or not a group leader.
    }
  }
}
