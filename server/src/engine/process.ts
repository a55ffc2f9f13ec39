/**
 * The engine child process behind a small interface (typescript-language-server style), so the
 * manager can be tested with fakes and the real thing is one execa call.
 *
 * Binary discovery, in order: the `pronto.engine.path` setting, `$PRONTO_ENGINE_PATH`, then
 * `native/build/pronto-engine` in `$PRONTO_EXTENSION_DIR` or the extension/repository root
 * (searched upwards from this file).
 * A candidate is used only after `--version` answers.
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
  kill(signal?: NodeJS.Signals): void;
  /** Last lines the engine wrote to stderr, for error messages. */
  stderrTail(): string;
}

export interface EngineLauncher {
  launch(binary: string, args: string[], options: { readyTimeoutMs: number; onLog?: (line: string) => void }): Promise<EngineProcess>;
}

const loadExeca = () => import('execa');

export const execaLauncher: EngineLauncher = {
  async launch(binary, args, { readyTimeoutMs, onLog }) {
    const { execa } = await loadExeca();
    // stdin is a pipe the engine watches (--exit-with-stdin): if this server dies without stopping
    // it (SIGKILL, a crashed extension host), the pipe closes and the engine shuts down by itself.
    const child = execa(binary, args, {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      buffer: false,
      cleanup: true,
      windowsHide: true,
    });
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
      () => settleReady({ ok: false, message: `engine did not report ready within ${readyTimeoutMs} ms` }),
      readyTimeoutMs,
    );
    if (child.stdout) {
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        if (!readySettled && line.trimStart().startsWith('{')) {
          let json: unknown;
          try {
            json = JSON.parse(line);
          } catch {
            onLog?.(line);
            return;
          }
          if ((json as { event?: unknown })?.event !== 'ready') return void onLog?.(line);
          const parsed = readyLineSchema.safeParse(json);
          settleReady(
            parsed.success
              ? { ok: true, line: parsed.data }
              : { ok: false, message: `engine printed a ready line this server does not understand: ${parsed.error.message}` },
          );
          return;
        }
        onLog?.(line);
      });
    }
    if (child.stderr) {
      readline.createInterface({ input: child.stderr }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLog?.(line);
      });
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
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
    return {
      pid: child.pid,
      ready,
      exited,
      // process.kill, not execa's kill(): it must work synchronously from a process 'exit' handler.
      kill: (signal = 'SIGTERM') => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        try {
          process.kill(child.pid, signal);
        } catch {
          // already gone
        }
      },
      stderrTail: () => tail.join('\n'),
    };
  },
};

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
  roots: string[] = defaultSearchRoots(),
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
