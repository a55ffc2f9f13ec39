// Starting llama-server (the benchmarks' peer) and waiting for the line that says it is ready (never a
// sleep); pronto-engine is started by the sidecar's own launcher (server/src/engine/process.ts).
// execa kills the child when stop() is called, and also if this process exits first (`cleanup`).

import * as readline from 'node:readline';

/** How a benchmarked inference server (llama-server or pronto-engine) is started: same model, threads, context and sequences for both. */
export interface InferenceServerOptions {
  bin: string;
  model: string;
  threads: number;
  ctx: number;
  parallel: number;
  /** Extra flags, e.g. ["--cache-reuse", "256"] or ["--spm-infill"]. */
  args?: string[];
  readyTimeoutMs?: number;
}

export interface ServerProcess<T> {
  pid: number | undefined;
  /** What the ready matcher returned. */
  ready: T;
  /** Last lines of output (stdout and stderr), for error messages. */
  tail(): string[];
  stop(): Promise<void>;
}

/**
 * Spawns `bin args` and resolves once `matchReady` returns a value for a line of output.
 * Rejects (and kills the child) if it exits first or `timeoutMs` passes.
 */
export async function startServerProcess<T>(
  bin: string,
  args: string[],
  matchReady: (line: string, stream: 'stdout' | 'stderr') => T | undefined,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<ServerProcess<T>> {
  const { execa } = await import('execa');
  const child = execa(bin, args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: false, cleanup: true });
  void child.catch(() => undefined);
  const lines: string[] = [];
  const remember = (line: string): void => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
    onLine?.(line);
  };
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (): Promise<void> => {
    if (gone) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().then(() => reject(new Error(`${bin}: ${why}\n  last output:\n    ${lines.slice(-12).join('\n    ')}`)));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (e) => fail(`cannot start: ${e.message}`));
    child.once('exit', (code, signal) => fail(`exited before it was ready (${signal ?? `code ${code}`})`));
    for (const [stream, name] of [
      [child.stdout!, 'stdout'],
      [child.stderr!, 'stderr'],
    ] as const) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        remember(line);
        if (settled) return;
        const r = matchReady(line, name);
        if (r !== undefined) {
          settled = true;
          clearTimeout(timer);
          resolve({ pid: child.pid, ready: r, tail: () => [...lines], stop });
        }
      });
    }
  });
}
