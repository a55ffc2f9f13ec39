/**
 * The one way to start `pronto-engine` and the one way to find it, shared by the sidecar
 * (EngineManager), the tests (test/support/engine.ts) and the benchmarks (bench/lib/prontoEngine.ts).
 *
 * - `launchEngine`: execa child process; waits for the ready JSON line on stdout, parsed by
 *   `parseReadyLine` with protocol/engine.ts's zod schema (the only parser of that line); reports
 *   an early exit or silence as a message, never a hang. The process sits behind the small
 *   `EngineProcess` interface (typescript-language-server style) so the manager can be tested with
 *   fakes. execa's `cleanup` kills the child if this process exits without stopping it.
 * - `findEngineBinary`: the `pronto.engine.path` setting, `$PRONTO_ENGINE_PATH`, then
 *   `native/build/pronto-engine` in `$PRONTO_EXTENSION_DIR` or the extension/repository root
 *   (searched upwards from this file). A candidate is used only after `--version` answers.
 *   `npm run -s engine:path` (scripts/engine-path.ts) prints what it finds.
 *
 * execa is ESM-only; this package is CommonJS, so it is loaded with a dynamic import (a static
 * import becomes require(), which fails on execa's import-only dependencies under tsx).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { readyLineSchema, type ReadyLine } from '../../../protocol/engine';

/** `exitCode` is set when the process exited before it was ready (2: it rejected its arguments). */
export type ReadyResult = { ok: true; line: ReadyLine } | { ok: false; message: string; exitCode?: number | null };
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface EngineProcess {
  readonly pid: number | undefined;
  /** Resolves once: the ready line, or why the engine never became ready. */
  readonly ready: Promise<ReadyResult>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** Sends a signal; a no-op once the process has exited. Synchronous (usable from an 'exit' hook). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** Last lines the engine wrote to stderr, for error messages. */
  stderrTail(): string;
}

export interface LaunchOptions {
  readyTimeoutMs: number;
  /** Every output line except the ready line. */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Added to this process's environment (e.g. PRONTO_API_KEY: never on the command line). */
  env?: NodeJS.ProcessEnv;
  /**
   * 'pipe' (default): a pipe the engine can watch with --exit-with-stdin, so it shuts down when
   * this process dies without stopping it (SIGKILL, a crashed extension host).
   */
  stdin?: 'pipe' | 'ignore';
  /** Lines of stderr kept for stderrTail() (default 20). */
  tailLines?: number;
}

export interface EngineLauncher {
  launch(binary: string, args: string[], options: LaunchOptions): Promise<EngineProcess>;
}

export type ReadyLineParse = { ok: true; line: ReadyLine } | { ok: false; message: string };

/**
 * The engine's ready line, or undefined for any other output line (logs). A JSON object with
 * `"event":"ready"` that does not match the protocol is an error: this sidecar cannot talk to it.
 */
export function parseReadyLine(line: string): ReadyLineParse | undefined {
  if (!line.trimStart().startsWith('{')) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  if ((json as { event?: unknown } | null)?.event !== 'ready') return undefined;
  const parsed = readyLineSchema.safeParse(json);
  return parsed.success
    ? { ok: true, line: parsed.data }
    : { ok: false, message: `engine printed a ready line this version does not understand: ${parsed.error.message}` };
}

const loadExeca = () => import('execa');

export async function launchEngine(binary: string, args: string[], options: LaunchOptions): Promise<EngineProcess> {
  const { execa } = await loadExeca();
  const child = execa(binary, args, {
    stdin: options.stdin ?? 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: false,
    cleanup: true,
    windowsHide: true,
    env: options.env,
    extendEnv: true,
  });
  const tailLines = options.tailLines ?? 20;
  const tail: string[] = [];
  let resolveReady!: (r: ReadyResult) => void;
  const ready = new Promise<ReadyResult>((r) => (resolveReady = r));
  let readySettled = false;
  const settleReady = (r: ReadyResult) => {
    if (readySettled) return;
    readySettled = true;
    clearTimeout(timer);
    resolveReady(r);
  };
  const timer = setTimeout(
    () => settleReady({ ok: false, message: `engine did not report ready within ${options.readyTimeoutMs} ms` }),
    options.readyTimeoutMs,
  );
  if (child.stdout) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed = readySettled ? undefined : parseReadyLine(line);
      if (parsed) settleReady(parsed);
      else options.onLog?.(line, 'stdout');
    });
  }
  if (child.stderr) {
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      tail.push(line);
      if (tail.length > tailLines) tail.shift();
      options.onLog?.(line, 'stderr');
    });
  }
  // A closed stdin pipe must not crash this process with EPIPE (the engine may exit first).
  child.stdin?.on('error', () => undefined);
  // 'close', not 'exit': the output lines written before the exit have been delivered by then.
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: child.exitCode, signal: null }));
  });
  void exited.then(({ code, signal }) =>
    settleReady({
      ok: false,
      message: `engine exited before it was ready (${signal ?? `code ${code}`})${tail.length ? `: ${tail.slice(-3).join(' | ')}` : ''}`,
      exitCode: code,
    }),
  );
  void child.catch(() => undefined);
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  // process.kill, not execa's kill(): it must work synchronously from a process 'exit' handler.
  const kill = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (hasExited || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    pid: child.pid,
    ready,
    exited,
    kill,
    async stop(graceMs = 3000) {
      kill('SIGTERM');
      const killTimer = setTimeout(() => kill('SIGKILL'), graceMs);
      const info = await exited;
      clearTimeout(killTimer);
      return info;
    },
    stderrTail: () => tail.join('\n'),
  };
}

export const execaLauncher: EngineLauncher = { launch: launchEngine };

export type BinaryResult = { ok: true; path: string; version: string; source: string } | { ok: false; message: string };

/**
 * Directories that may hold `native/build/pronto-engine`: the extension folder the VS Code client
 * passes as $PRONTO_EXTENSION_DIR, then this file's ancestors (dist/ or server/src/engine/).
 */
export function defaultSearchRoots(from: string = __dirname, env: NodeJS.ProcessEnv = process.env): string[] {
  const roots: string[] = env.PRONTO_EXTENSION_DIR ? [env.PRONTO_EXTENSION_DIR] : [];
  let dir = from;
  for (let i = 0; i < 6; i++) {
    roots.push(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return roots;
}

export async function checkVersion(binary: string): Promise<{ ok: true; version: string } | { ok: false; message: string }> {
  const { execa } = await loadExeca();
  const result = await execa(binary, ['--version'], { reject: false, timeout: 10000, stdin: 'ignore' });
  if (result.failed || result.exitCode !== 0) {
    const why = result.timedOut
      ? 'timed out'
      : result.code === 'ENOENT'
        ? 'file not found'
        : `${result.shortMessage ?? `exit code ${result.exitCode}`}`;
    return { ok: false, message: `"${binary} --version" failed: ${why}` };
  }
  const version = String(result.stdout).trim().split('\n')[0] ?? '';
  return { ok: true, version };
}

export async function findEngineBinary(
  settingPath: string,
  env: NodeJS.ProcessEnv = process.env,
  roots: string[] = defaultSearchRoots(__dirname, env),
): Promise<BinaryResult> {
  const candidates: { path: string; source: string; explicit: boolean }[] = [];
  if (settingPath) candidates.push({ path: settingPath, source: 'setting pronto.engine.path', explicit: true });
  else if (env.PRONTO_ENGINE_PATH)
    candidates.push({ path: env.PRONTO_ENGINE_PATH, source: 'environment PRONTO_ENGINE_PATH', explicit: true });
  else
    for (const root of roots)
      candidates.push({ path: path.join(root, 'native', 'build', 'pronto-engine'), source: 'native/build', explicit: false });

  for (const c of candidates) {
    if (!existsSync(c.path)) {
      if (c.explicit) return { ok: false, message: `The engine binary from ${c.source} does not exist: ${c.path}` };
      continue;
    }
    const v = await checkVersion(c.path);
    if (v.ok) return { ok: true, path: c.path, version: v.version, source: c.source };
    return { ok: false, message: `The engine binary from ${c.source} does not work: ${v.message}` };
  }
  return {
    ok: false,
    message:
      'No engine binary found: build it with "npm run build:native", or set pronto.engine.path (or PRONTO_ENGINE_PATH), or pronto.engine.url for a remote engine.',
  };
}
