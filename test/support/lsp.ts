/**
 * Test support for the LSP sidecar:
 * - `startFakeEngine()`: an in-process engine double that speaks protocol/engine.ts over a real
 *   WebSocket + HTTP server (unit tests of the client, manager and provider).
 * - This file run as a program (`writeFakeEngineBinary()` makes an executable wrapper) is an engine
 *   *process* double: `--version`, the ready line on stdout, `--port 0`, `--api-key`, crash on
 *   demand. Used to test process management (start, kill -9, restart) through the real LSP server.
 * - `startLspServer()`: spawns the real server (`server/src/main.ts --stdio` under tsx) and talks
 *   to it with a real JSON-RPC connection, answering workspace/configuration like an editor.
 *
 * Fake output: a prefix containing `/*fake:TEXT*\/` (JSON string escapes allowed) makes the engine
 * answer TEXT; `/*fake-slow*\/` makes it stream a token every 50 ms until max_tokens or cancel.
 * Anything else answers `hello()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { WebSocketServer, type WebSocket } from 'ws';
import { ENGINE_PROTOCOL_VERSION, type ClientMessage, type DoneEvent, type ReadyLine, type SubmitMessage } from '../../protocol/engine';
import type { StatusParams } from '../../protocol/lsp';

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface FakeEngine {
  url: string;
  port: number;
  /** Every message received, in order. */
  received: ClientMessage[];
  /** Ids the engine saw a cancel for. */
  cancelled: Set<string>;
  /** Resolves when a message matching `pred` has been received. */
  waitFor(pred: (m: ClientMessage) => boolean): Promise<ClientMessage>;
  /** Drops every open socket (simulates a network failure). */
  dropSockets(): void;
  /** Stops answering anything, HTTP or WebSocket, until resume() (a hung engine). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export interface FakeEngineOptions {
  port?: number;
  apiKey?: string;
  tokenMs?: number;
  /** Reported in /health (default ENGINE_PROTOCOL_VERSION; null: left out, as engines before protocol versions did). */
  protocol?: number | null;
  onMessage?: (m: ClientMessage) => void;
}

function fakeAnswer(msg: SubmitMessage): { tokens: string[]; slow: boolean } {
  const prefix = msg.fim?.prefix ?? msg.prompt ?? '';
  if (prefix.includes('/*fake-slow*/'))
    return { tokens: Array.from({ length: msg.limits?.max_tokens ?? 64 }, (_, i) => `t${i} `), slow: true };
  const matches = [...prefix.matchAll(/\/\*fake:(.*?)\*\//g)];
  const last = matches[matches.length - 1];
  let text = 'hello()';
  if (last) {
    try {
      text = JSON.parse(`"${last[1]}"`) as string;
    } catch {
      text = last[1]!;
    }
  }
  // A few characters per token, like a real tokenizer.
  const tokens = text.match(/[\s\S]{1,3}/g) ?? [];
  return { tokens, slow: false };
}

export async function startFakeEngine(options: FakeEngineOptions = {}): Promise<FakeEngine> {
  const received: ClientMessage[] = [];
  const cancelled = new Set<string>();
  const waiters: { pred: (m: ClientMessage) => boolean; resolve: (m: ClientMessage) => void }[] = [];
  const sockets = new Set<WebSocket>();
  const authorized = (req: http.IncomingMessage) => !options.apiKey || req.headers.authorization === `Bearer ${options.apiKey}`;

  let paused = false;
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    if (paused) return void held.push(() => server.emit('request', req, res));
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health')
      return send(200, {
        status: 'ok',
        busy_sequences: 0,
        n_parallel: 2,
        ...(options.protocol !== null ? { protocol: options.protocol ?? ENGINE_PROTOCOL_VERSION } : {}),
      });
    if (!authorized(req)) return send(401, { error: { code: 'unauthorized', message: 'missing or wrong API key' } });
    if (req.url === '/debug/received') return send(200, received);
    if (req.url === '/tokenize' && req.method === 'POST') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const content = String((JSON.parse(body) as { content?: unknown }).content ?? '');
        // Three characters per token, like the fake's answers.
        send(200, { tokens: Array.from({ length: Math.ceil(content.length / 3) }, (_, i) => i) });
      });
      return;
    }
    send(404, { error: { code: 'not_found', message: req.url ?? '' } });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url !== '/v1/stream' || !authorized(req)) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data) => {
      if (paused) return;
      let msg: ClientMessage;
      try {
        msg = JSON.parse(data.toString()) as ClientMessage;
      } catch {
        ws.send(JSON.stringify({ type: 'error', error: { code: 'bad_request', message: 'invalid JSON' } }));
        return;
      }
      received.push(msg);
      options.onMessage?.(msg);
      for (const w of [...waiters]) {
        if (w.pred(msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
      if (msg.type === 'cancel') {
        cancelled.add(msg.id);
        return;
      }
      void generate(ws, msg);
    });
  });

  async function generate(ws: WebSocket, msg: SubmitMessage): Promise<void> {
    const { tokens, slow } = fakeAnswer(msg);
    const started = Date.now();
    let text = '';
    let reason: DoneEvent['finish_reason'] = 'stop';
    const max = msg.limits?.max_tokens ?? 64;
    for (let i = 0; i < tokens.length; i++) {
      if (cancelled.has(msg.id)) {
        reason = 'cancelled';
        break;
      }
      if (i >= max) {
        reason = 'length';
        break;
      }
      const delayMs = slow ? 50 : (options.tokenMs ?? 0);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (ws.readyState !== ws.OPEN) return;
      text += tokens[i]!;
      ws.send(JSON.stringify({ type: 'token', id: msg.id, text: tokens[i] }));
    }
    if (ws.readyState !== ws.OPEN) return;
    const prompt = (msg.fim?.prefix.length ?? 0) + (msg.fim?.suffix.length ?? 0);
    const done: DoneEvent = {
      type: 'done',
      id: msg.id,
      text,
      finish_reason: reason,
      stats: {
        prompt_tokens: Math.ceil(prompt / 4),
        reused_tokens: 0,
        evaluated_tokens: Math.ceil(prompt / 4),
        generated_tokens: tokens.length,
        drafted_tokens: 0,
        accepted_tokens: 0,
        t_queue_ms: 0,
        t_prompt_ms: 1,
        t_first_token_ms: 1,
        t_total_ms: Math.max(2, Date.now() - started),
        decode_steps: tokens.length,
        steps_after_cancel: 0,
      },
    };
    ws.send(JSON.stringify(done));
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    cancelled,
    waitFor(pred) {
      const found = received.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    dropSockets() {
      for (const s of sockets) s.terminate();
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const h of held.splice(0)) h();
    },
    close() {
      for (const s of sockets) s.terminate();
      wss.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** `protocol` null: left out, as engines before protocol versions did. */
export function readyLineFor(port: number, modelPath: string, protocol: number | null = ENGINE_PROTOCOL_VERSION): ReadyLine {
  const model = {
    path: modelPath,
    name: path.basename(modelPath),
    arch: 'fake',
    n_params: 1,
    size_bytes: 1,
    n_ctx_train: 4096,
    n_vocab: 100,
  };
  return {
    event: 'ready',
    host: '127.0.0.1',
    port,
    model,
    draft_model: null,
    fim: { supported: true, repo_level: false, order: 'psm' },
    build: { version: '0.0.0-fake', llama: 'none', source: 'fake', backend: 'CPU', devices: [] },
    n_ctx: 4096,
    n_parallel: 2,
    ...(protocol !== null ? { protocol } : {}),
  };
}

/** Entry point when this file runs as the fake engine process. */
async function fakeEngineMain(argv: string[]): Promise<void> {
  if (argv.includes('--version')) {
    process.stdout.write('pronto-engine 0.0.0-fake\n');
    return;
  }
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (process.env.FAKE_ENGINE_FAIL_START) {
    process.stderr.write('fake engine: failing at start as asked\n');
    process.exit(3);
  }
  const model = arg('--model') ?? '';
  // Tests learn what the engine process received through a report URL (no polling).
  const reportUrl = process.env.FAKE_ENGINE_REPORT_URL;
  const report = (body: unknown): Promise<unknown> =>
    reportUrl
      ? fetch(reportUrl, {
          method: 'POST',
          body: JSON.stringify({ pid: process.pid, ...(body as object) }),
          signal: AbortSignal.timeout(5000),
        }).catch(() => undefined)
      : Promise.resolve();
  // As the real engine: the key from --api-key or, as the sidecar passes it, PRONTO_API_KEY (removed once read).
  const apiKey = arg('--api-key') ?? process.env.PRONTO_API_KEY;
  delete process.env.PRONTO_API_KEY;
  // FAKE_ENGINE_PROTOCOL: the protocol version to report ("none": leave it out, as old engines did).
  const protocolEnv = process.env.FAKE_ENGINE_PROTOCOL;
  const protocol = protocolEnv === 'none' ? undefined : protocolEnv ? Number(protocolEnv) : ENGINE_PROTOCOL_VERSION;
  const engine = await startFakeEngine({
    port: Number(arg('--port') ?? 0),
    apiKey,
    protocol: protocol ?? null,
    tokenMs: Number(process.env.FAKE_ENGINE_TOKEN_MS ?? 0),
    onMessage: (m) => void report({ message: m }),
  });
  await report({ event: 'started', apiKey: apiKey ?? '', argv });
  process.stdout.write(`${JSON.stringify(readyLineFor(engine.port, model, protocol ?? null))}\n`);
  const stop = (signal: string) => {
    // Report first: the test waits for it, and exiting would lose it.
    void report({ event: signal })
      .then(() => engine.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  void fakeEngineMain(process.argv.slice(2));
}

/** Writes an executable that runs this file as the fake engine process; returns its path. */
export function writeFakeEngineBinary(dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-fake-engine-'))): string {
  const bin = path.join(dir, 'pronto-engine');
  const tsxLoader = require.resolve('tsx');
  writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" --import "${tsxLoader}" "${__filename}" "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}

/** One report from a fake engine process: a message it received, its start (key and arguments), or a signal (`event`). */
export type EngineReport =
  | { pid: number; message: ClientMessage; event?: undefined }
  | { pid: number; event: 'started'; apiKey: string; argv: string[]; message?: undefined }
  | { pid: number; event: string; message?: undefined };

/** Collects what fake engine processes report (see FAKE_ENGINE_REPORT_URL). */
export interface EngineReports {
  url: string;
  reports: EngineReport[];
  waitFor(pred: (r: EngineReport) => boolean): Promise<EngineReport>;
  close(): Promise<void>;
}

export async function startEngineReports(): Promise<EngineReports> {
  const reports: EngineReport[] = [];
  const waiters: { pred: (r: (typeof reports)[number]) => boolean; resolve: (r: (typeof reports)[number]) => void }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.end();
      const r = JSON.parse(body) as (typeof reports)[number];
      reports.push(r);
      for (const w of [...waiters]) {
        if (w.pred(r)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
    reports,
    waitFor(pred) {
      const found = reports.find(pred);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** URL of the engine a server started, from its log line "engine ready at URL". */
export function engineUrlFromLogs(h: Pick<LspHarness, 'logs'>): string {
  const line = [...h.logs].reverse().find((l) => l.includes('engine ready at'));
  const m = line && /engine ready at (http:\/\/\S+)/.exec(line);
  if (!m) throw new Error('the server logged no engine URL ("engine ready at ...")');
  return m[1]!;
}

/** Command line of a process (Linux /proc), '' when it is gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Direct children of a process (Linux /proc) that look like an engine (`--model` argument). */
export function enginePids(pid: number): number[] {
  return childPids(pid).filter((c) => cmdline(c).includes('--model'));
}

/** Direct children of a process (Linux /proc). Under tsx this includes esbuild's service process. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // task ended
    }
  }
  return out;
}

/** The engine the server started, as it describes it in $PRONTO_ENGINE_INFO_FILE (tests only). */
export interface EngineInfo {
  url: string;
  pid: number;
  apiKey: string;
}

/** Reads an engine info file written by the server ($PRONTO_ENGINE_INFO_FILE). */
export function readEngineInfo(file: string): EngineInfo {
  return JSON.parse(readFileSync(file, 'utf8')) as EngineInfo;
}

/** The engine the server started (its latest one): URL, pid and the API key it was given. */
export function engineInfoOf(h: LspHarness): EngineInfo {
  return readEngineInfo(h.engineInfoFile);
}

/** URL of the engine the server started. */
export function engineUrlOf(h: LspHarness): string {
  return engineInfoOf(h).url;
}

/** The Authorization header for the engine the server started (the key the server gave it). */
export function engineAuthHeaders(h: LspHarness): Record<string, string> {
  const { apiKey } = engineInfoOf(h);
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

/** GET a path of the engine the server started, with the key the server gave it. */
export async function engineGet(h: LspHarness, pathname: string): Promise<Response> {
  const info = engineInfoOf(h);
  return fetch(`${info.url}${pathname}`, { headers: info.apiKey ? { Authorization: `Bearer ${info.apiKey}` } : {} });
}

/** One counter or gauge from the engine's /metrics (the engine's own count). */
export async function engineMetric(h: LspHarness, name: string): Promise<number> {
  const res = await engineGet(h, '/metrics');
  const text = await res.text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} is not in /metrics (HTTP ${res.status}): ${text.slice(0, 200)}`);
  return Number(m[1]);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The real LSP server over stdio
// ---------------------------------------------------------------------------------------------

export interface LspHarness {
  connection: MessageConnection;
  child: ChildProcess;
  /** Where the server describes the engine it started ($PRONTO_ENGINE_INFO_FILE): see engineInfoOf(). */
  engineInfoFile: string;
  statuses: StatusParams[];
  logs: string[];
  /** The settings answered to workspace/configuration (mutable). */
  workspaceSettings: { pronto?: unknown };
  /** Resolves with the first status (already received or future) matching `pred`. */
  waitForStatus(pred: (s: StatusParams) => boolean, afterIndex?: number): Promise<StatusParams>;
  /** `rootUri`: the workspace folder (file: URI) the server is told about; none by default. */
  initialize(initializationOptions?: unknown, withConfiguration?: boolean, rootUri?: string | null): Promise<unknown>;
  open(uri: string, text: string, languageId?: string): Promise<void>;
  change(uri: string, version: number, text: string): Promise<void>;
  inline(
    uri: string,
    line: number,
    character: number,
    token?: import('vscode-jsonrpc').CancellationToken,
  ): Promise<{ items: { insertText: string }[] }>;
  stop(): Promise<void>;
}

/**
 * Spawns the server: the TypeScript source under tsx, or `bundle` (a file built by esbuild.mjs,
 * e.g. dist/server.js) with plain node.
 */
export function startLspServer(env: NodeJS.ProcessEnv = {}, bundle?: string): LspHarness {
  const args = bundle
    ? [bundle, '--stdio']
    : ['--import', require.resolve('tsx'), path.join(repoRoot, 'server', 'src', 'main.ts'), '--stdio'];
  const engineInfoFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'pronto-engine-info-')), 'engine.json');
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, PRONTO_ENGINE_INFO_FILE: engineInfoFile, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const statuses: StatusParams[] = [];
  const waiters: { pred: (s: StatusParams) => boolean; resolve: (s: StatusParams) => void }[] = [];
  const workspaceSettings: { pronto?: unknown } = {};
  connection.onNotification('pronto/status', (s: StatusParams) => {
    statuses.push(s);
    for (const w of [...waiters]) {
      if (w.pred(s)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(s);
      }
    }
  });
  connection.onNotification('window/logMessage', (p: { message: string }) => void logs.push(p.message));
  connection.onRequest('workspace/configuration', (p: { items: { section?: string }[] }) =>
    p.items.map(() => workspaceSettings.pronto ?? null),
  );
  connection.onRequest('client/registerCapability', () => null);
  connection.listen();
  let version = 1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return {
    connection,
    child,
    engineInfoFile,
    statuses,
    logs,
    workspaceSettings,
    waitForStatus(pred, afterIndex = 0) {
      const found = statuses.slice(afterIndex).find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    async initialize(initializationOptions, withConfiguration = false, rootUri = null) {
      const result = await connection.sendRequest('initialize', {
        processId: process.pid,
        rootUri,
        capabilities: { workspace: { configuration: withConfiguration }, textDocument: { inlineCompletion: {} } },
        initializationOptions,
      });
      await connection.sendNotification('initialized', {});
      return result;
    },
    async open(uri, text, languageId = 'typescript') {
      await connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: version++, text } });
    },
    async change(uri, v, text) {
      await connection.sendNotification('textDocument/didChange', { textDocument: { uri, version: v }, contentChanges: [{ text }] });
    },
    inline(uri, line, character, token) {
      const params = { textDocument: { uri }, position: { line, character }, context: { triggerKind: 2 } };
      return token
        ? connection.sendRequest('textDocument/inlineCompletion', params, token)
        : connection.sendRequest('textDocument/inlineCompletion', params);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          await Promise.race([connection.sendRequest('shutdown'), exited]);
          await connection.sendNotification('exit');
        } catch {
          // already gone
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      connection.dispose();
    },
  };
}
