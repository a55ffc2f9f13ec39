// llama-server (llama.cpp's own server) as the benchmark peer: finding the binary, starting it, and
// the two requests the benchmarks make (`/infill` as llama.vscode sends it, `/completion` for decode).

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { FimRequest } from './traces';
import { startServerProcess, type InferenceServerOptions, type ServerProcess } from './process';
import type { RequestSample } from './stats';

/** Where scripts/build-llama-server.mjs builds it ($PRONTO_LLAMA_SERVER_BUILD, else native/.deps/llama-server-build). */
export function llamaServerBinary(repoRoot: string): string {
  const build = process.env.PRONTO_LLAMA_SERVER_BUILD
    ? path.resolve(process.env.PRONTO_LLAMA_SERVER_BUILD)
    : path.join(repoRoot, 'native/.deps/llama-server-build');
  return path.join(build, 'bin/llama-server');
}

/** Builds llama-server if needed (scripts/build-llama-server.mjs, incremental) and returns its path. */
export async function ensureLlamaServer(repoRoot: string): Promise<string> {
  const bin = llamaServerBinary(repoRoot);
  const { execa } = await import('execa');
  const r = await execa(process.execPath, [path.join(repoRoot, 'scripts/build-llama-server.mjs')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    reject: false,
  });
  if (r.exitCode !== 0 || !existsSync(bin)) throw new Error(`building llama-server failed (exit ${r.exitCode}); see the output above`);
  return bin;
}

export type LlamaServerOptions = InferenceServerOptions;

export interface LlamaServer {
  url: string;
  proc: ServerProcess<string>;
  stop(): Promise<void>;
}

/** Starts llama-server on a free port and waits for its "listening on" line (printed after the model loads). */
export async function startLlamaServer(o: LlamaServerOptions): Promise<LlamaServer> {
  const args = [
    '-m',
    o.model,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '-t',
    String(o.threads),
    '-c',
    String(o.ctx),
    // parallel 0: llama-server's own default.
    ...(o.parallel > 0 ? ['-np', String(o.parallel)] : []),
    '--metrics',
    '--no-webui',
    ...(o.args ?? []),
  ];
  const proc = await startServerProcess(
    o.bin,
    args,
    (line) => /listening on (http:\/\/[^\s]+)/.exec(line)?.[1],
    o.readyTimeoutMs ?? 180_000,
  );
  const url = proc.ready.replace(/\/$/, '');
  const health = await fetch(`${url}/health`);
  if (!health.ok) {
    await proc.stop();
    throw new Error(`llama-server /health answered ${health.status} after it said it was listening`);
  }
  return { url, proc, stop: () => proc.stop() };
}

interface LlamaTimings {
  prompt_n?: number;
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
  predicted_per_second?: number;
}
interface LlamaChunk {
  content?: string;
  stop?: boolean;
  tokens_evaluated?: number;
  timings?: LlamaTimings;
  error?: { message?: string };
}

/**
 * POSTs with stream: true and reads the SSE events; returns per-event arrival times. `onChunk` sees
 * each event as it arrives (e.g. to act on the first token).
 */
export async function streamRequest<C extends { error?: { message?: string } } = LlamaChunk>(
  url: string,
  body: object,
  signal?: AbortSignal,
  onChunk?: (chunk: C) => void,
): Promise<{ t0: number; events: Array<{ t: number; chunk: C }> }> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const events: Array<{ t: number; chunk: C }> = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    const t = performance.now();
    buf += decoder.decode(part, { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data) as C;
      if (chunk.error) throw new Error(`${url}: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
      events.push({ t, chunk });
      onChunk?.(chunk);
    }
  }
  return { t0, events };
}

function sampleFrom(t0: number, events: Array<{ t: number; chunk: LlamaChunk }>): RequestSample {
  const last = events.at(-1);
  if (!last?.chunk.stop || !last.chunk.timings) throw new Error('llama-server stream ended without a final chunk with timings');
  const firstToken = events.find((e) => !e.chunk.stop);
  const timings = last.chunk.timings;
  const generated = timings.predicted_n ?? 0;
  return {
    // prompt_n: prompt tokens actually evaluated (the rest came from the slot's cache).
    evaluated: timings.prompt_n ?? NaN,
    promptTokens: last.chunk.tokens_evaluated ?? NaN,
    ttftMs: timings.prompt_ms ?? NaN,
    firstTextMs: (firstToken ?? last).t - t0,
    latencyMs: last.t - t0,
    generated,
  };
}

/**
 * One FIM request as llama.vscode sends it: the current line's text before the cursor goes in `prompt`,
 * the lines above in `input_prefix`, the rest in `input_suffix`, other files' chunks in `input_extra`.
 * Only differences: `stream: true` (to time the first token), `ignore_eos` and top_k 1 (fixed work).
 */
export async function llamaInfill(server: LlamaServer, req: FimRequest, nPredict: number): Promise<RequestSample> {
  const cut = req.prefix.lastIndexOf('\n') + 1;
  const { t0, events } = await streamRequest(`${server.url}/infill`, {
    input_prefix: req.prefix.slice(0, cut),
    prompt: req.prefix.slice(cut),
    input_suffix: req.suffix,
    input_extra: req.extra.map((c) => ({ filename: c.filename, text: c.text })),
    n_predict: nPredict,
    ignore_eos: true,
    cache_prompt: true,
    top_k: 1,
    top_p: 0.99,
    samplers: ['top_k', 'top_p', 'infill'],
  });
  return sampleFrom(t0, events);
}

/** Plain decode speed: `nPredict` tokens after a short prompt, measured from first to last token. */
export async function llamaDecode(
  server: LlamaServer,
  prompt: string,
  nPredict: number,
): Promise<{ clientTokPerS: number; serverTokPerS: number; generated: number }> {
  const { events } = await streamRequest(`${server.url}/completion`, {
    prompt,
    n_predict: nPredict,
    ignore_eos: true,
    cache_prompt: false,
    top_k: 1,
    samplers: ['top_k'],
  });
  const tokenEvents = events.filter((e) => !e.chunk.stop);
  const last = events.at(-1)!;
  const generated = last.chunk.timings?.predicted_n ?? tokenEvents.length;
  const first = tokenEvents[0];
  const lastTok = tokenEvents.at(-1);
  const clientTokPerS = first && lastTok && lastTok !== first ? ((tokenEvents.length - 1) * 1000) / (lastTok.t - first.t) : NaN;
  return { clientTokPerS, serverTokPerS: last.chunk.timings?.predicted_per_second ?? NaN, generated };
}
