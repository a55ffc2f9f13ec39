// The real pronto-engine for tests, started by the sidecar's own launcher (server/src/engine/process.ts:
// execa, the ready line parsed with the protocol's schema), waiting for its ready line (the real
// signal, no sleeps). stop() in the test's finally/after; execa kills it if the test process exits.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { ReadyLine } from '../../protocol/engine';
import { launchEngine, type ExitInfo } from '../../server/src/engine/process';

/** The engine under test: native/build/pronto-engine, or PRONTO_TEST_ENGINE (e.g. an older build, to show a test catches its fault). */
export const engineBinary = process.env.PRONTO_TEST_ENGINE ?? path.resolve(__dirname, '../../native/build/pronto-engine');

export interface RunningEngine {
  port: number;
  url: string;
  ready: ReadyLine;
  pid: number;
  /** Resolves when the engine has exited. */
  exited: Promise<ExitInfo>;
  kill(signal?: NodeJS.Signals): void;
  /** Everything the engine wrote on stderr so far. */
  stderr(): string;
  /** Kills the engine (SIGTERM, then SIGKILL after 3 s) and resolves when it has exited. */
  stop(): Promise<void>;
}

export interface EngineRunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Fails (never skips) when the binary is missing: a test of the real engine cannot pass without it. */
export function assertEngineBuilt(): void {
  if (!existsSync(engineBinary)) throw new Error(`pronto-engine is not built at ${engineBinary}: run npm run build:native`);
}

/** Runs the engine to completion (for --version and start-up failures). Kills it after timeoutMs. */
export async function runEngine(args: string[], timeoutMs = 30_000): Promise<EngineRunResult> {
  assertEngineBuilt();
  const { execa } = await import('execa');
  const r = await execa(engineBinary, args, { reject: false, timeout: timeoutMs, stdin: 'ignore', killSignal: 'SIGKILL' });
  if (r.timedOut) throw new Error(`pronto-engine ${args.join(' ')} did not exit within ${timeoutMs} ms\n${r.stderr}`);
  return { code: r.exitCode ?? null, signal: r.signal ?? null, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Starts the engine; resolves on its ready line, rejects if it exits or stays silent for timeoutMs. */
export async function startEngine(opts: {
  model: string;
  args?: string[];
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}): Promise<RunningEngine> {
  assertEngineBuilt();
  const args = ['--model', opts.model, '--port', '0', '--threads', '1', ...(opts.args ?? [])];
  let stderr = '';
  const proc = await launchEngine(engineBinary, args, {
    readyTimeoutMs: opts.timeoutMs ?? 60_000,
    stdin: 'ignore',
    env: opts.env,
    onLog: (line, stream) => {
      if (stream === 'stderr') stderr += `${line}\n`;
    },
  });
  const ready = await proc.ready;
  if (!ready.ok) {
    await proc.stop();
    throw new Error(`pronto-engine did not start: ${ready.message}\n${stderr}`);
  }
  const port = ready.line.port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    ready: ready.line,
    pid: proc.pid!,
    exited: proc.exited,
    kill: (signal) => proc.kill(signal),
    stderr: () => stderr,
    stop: async () => {
      await proc.stop(3000);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A small WebSocket client for /v1/stream
// ---------------------------------------------------------------------------------------------
import WebSocket from 'ws';
import {
  parseServerMessage,
  type ClientMessage,
  type DoneEvent,
  type ErrorEvent,
  type ServerMessage,
  type SubmitMessage,
} from '../../protocol/engine';

export interface StreamResult {
  tokens: string[];
  done?: DoneEvent;
  error?: ErrorEvent;
}

export class EngineSocket {
  private waiters = new Map<string, { tokens: string[]; resolve: (r: StreamResult) => void; onToken?: (t: string) => void }>();
  /** Messages that belong to no request (e.g. errors for unparseable frames). */
  readonly orphans: ServerMessage[] = [];
  private orphanWaiters: Array<(m: ServerMessage) => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => this.onMessage(data.toString()));
    // A dead engine must fail the test, not hang it: pending requests end with a synthetic error.
    ws.on('close', (code: number) => {
      for (const [id, w] of this.waiters) {
        w.resolve({
          tokens: w.tokens,
          error: { type: 'error', id, error: { code: 'internal', message: `socket closed (code ${code}) before the request ended` } },
        });
      }
      this.waiters.clear();
    });
  }

  static open(url: string, headers?: Record<string, string>): Promise<EngineSocket> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/stream', { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new EngineSocket(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
  }

  private onMessage(raw: string): void {
    const msg = parseServerMessage(raw);
    const w = msg.id !== undefined ? this.waiters.get(msg.id) : undefined;
    if (!w) {
      this.orphans.push(msg);
      for (const f of this.orphanWaiters.splice(0)) f(msg);
      return;
    }
    if (msg.type === 'token') {
      w.tokens.push(msg.text);
      w.onToken?.(msg.text);
    } else if (msg.type === 'done') {
      this.waiters.delete(msg.id);
      w.resolve({ tokens: w.tokens, done: msg });
    } else {
      this.waiters.delete(msg.id!);
      w.resolve({ tokens: w.tokens, error: msg });
    }
  }

  send(msg: ClientMessage | string): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Sends a submit and resolves with its tokens and final done/error event. */
  request(msg: SubmitMessage, onToken?: (t: string) => void): Promise<StreamResult> {
    const p = new Promise<StreamResult>((resolve) => this.waiters.set(msg.id, { tokens: [], resolve, onToken }));
    this.send(msg);
    return p;
  }

  /** Sends a raw frame and resolves with the next message attributed to no pending request. */
  rawExpectOrphan(frame: string): Promise<ServerMessage> {
    const p = new Promise<ServerMessage>((resolve) => this.orphanWaiters.push(resolve));
    this.ws.send(frame);
    return p;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
