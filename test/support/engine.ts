// Spawns the real pronto-engine on a model, waits for its ready JSON line (the real signal, no sleeps),
// and always kills it: stop() in the test's finally/after, plus a process 'exit' hook as a backstop.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { readyLineSchema, type ReadyLine } from '../../protocol/engine';

/** The engine under test: native/build/pronto-engine, or PRONTO_TEST_ENGINE (e.g. an older build, to show a test catches its fault). */
export const engineBinary = process.env.PRONTO_TEST_ENGINE ?? path.resolve(__dirname, '../../native/build/pronto-engine');

export interface RunningEngine {
  port: number;
  url: string;
  ready: ReadyLine;
  child: ChildProcess;
  /** Everything the engine wrote on stderr so far. */
  stderr(): string;
  /** Kills the engine (SIGTERM, then SIGKILL after 3 s) and resolves when it has exited. */
  stop(): Promise<void>;
}

export interface EngineRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function assertEngineBuilt(): void {
  if (!existsSync(engineBinary)) throw new Error(`pronto-engine is not built at ${engineBinary}: run npm run build:native`);
}

/** Runs the engine to completion (for --version and start-up failures). Kills it after timeoutMs. */
export function runEngine(args: string[], timeoutMs = 30_000): Promise<EngineRunResult> {
  assertEngineBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(engineBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pronto-engine ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Starts the engine; resolves on its ready line, rejects if it exits or stays silent for timeoutMs. */
export function startEngine(opts: { model: string; args?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunningEngine> {
  assertEngineBuilt();
  const args = ['--model', opts.model, '--port', '0', '--threads', '1', ...(opts.args ?? [])];
  const child = spawn(engineBinary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  live.add(child);
  let stderr = '';
  let stdoutBuf = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise<RunningEngine>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`pronto-engine printed no ready line within ${opts.timeoutMs ?? 60_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`pronto-engine exited before it was ready (code ${code}, signal ${signal})\n${stderr}`));
    };
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBuf += d.toString();
      const nl = stdoutBuf.indexOf('\n');
      if (nl < 0) return;
      const line = stdoutBuf.slice(0, nl);
      stdoutBuf = stdoutBuf.slice(nl + 1);
      clearTimeout(timer);
      child.off('exit', onExit);
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        void stop();
        reject(new Error(`pronto-engine's first stdout line is not JSON: ${line}`));
        return;
      }
      const parsed = readyLineSchema.safeParse(json);
      if (!parsed.success) {
        void stop();
        reject(new Error(`pronto-engine's ready line does not match the protocol: ${parsed.error.message}\n${line}`));
        return;
      }
      const ready = parsed.data;
      resolve({ port: ready.port, url: `http://127.0.0.1:${ready.port}`, ready, child, stderr: () => stderr, stop });
    });
  });
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
