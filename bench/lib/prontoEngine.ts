// pronto-engine as benchmarked: started with the same model and threads as the peer, driven over its
// WebSocket /v1/stream (protocol/engine.ts). Timing is client side, as for llama-server.

import WebSocket from 'ws';
import { parseServerMessage, type DoneEvent, type ReadyLine, type SubmitMessage } from '../../protocol/engine';
import { findEngineBinary, launchEngine, type EngineProcess } from '../../server/src/engine/process';
import type { InferenceServerOptions } from './process';
import type { RequestSample } from './stats';
import type { FimRequest } from './traces';

/** The engine binary as the sidecar finds it (`$PRONTO_ENGINE_PATH`, else native/build), or the reason there is none. */
export async function prontoEngineBinary(): Promise<{ bin?: string; why?: string }> {
  const r = await findEngineBinary('');
  return r.ok ? { bin: r.path } : { why: r.message };
}

export type ProntoEngineOptions = InferenceServerOptions;

export interface ProntoEngine {
  url: string;
  ready: ReadyLine;
  socket: WebSocket;
  proc: EngineProcess;
  stop(): Promise<void>;
}

export async function startProntoEngine(o: ProntoEngineOptions): Promise<ProntoEngine> {
  const args = [
    '--model',
    o.model,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--threads',
    String(o.threads),
    '--ctx',
    String(o.ctx),
    '--parallel',
    String(o.parallel),
    ...(o.args ?? []),
  ];
  const proc = await launchEngine(o.bin, args, { readyTimeoutMs: o.readyTimeoutMs ?? 180_000, stdin: 'ignore', tailLines: 12 });
  const ready = await proc.ready;
  if (!ready.ok) {
    await proc.stop(5000);
    throw new Error(`${o.bin}: ${ready.message}\n  last output:\n    ${proc.stderrTail().split('\n').join('\n    ')}`);
  }
  const { host, port } = ready.line;
  const url = `http://${host}:${port}`;
  const socket = new WebSocket(`ws://${host}:${port}/v1/stream`);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
  } catch (e) {
    await proc.stop(5000);
    throw new Error(`pronto-engine: cannot open /v1/stream: ${(e as Error).message}`);
  }
  return {
    url,
    ready: ready.line,
    socket,
    proc,
    stop: async () => {
      socket.close();
      await proc.stop(5000);
    },
  };
}

let nextId = 0;

/** Sends one submit and resolves with the done event and the arrival time of the first token event. */
export function submit(
  engine: ProntoEngine,
  msg: Omit<SubmitMessage, 'type' | 'id'>,
  timeoutMs = 300_000,
  id = `bench-${++nextId}`,
): Promise<{ t0: number; tFirst: number; tDone: number; done: DoneEvent; tokenEvents: number[] }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    let tFirst = NaN;
    const tokenEvents: number[] = [];
    const cleanup = (): void => {
      clearTimeout(timer);
      engine.socket.off('message', onMessage);
      engine.socket.off('close', onClose);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`request ${id}: no done event within ${timeoutMs} ms`));
    }, timeoutMs);
    const onClose = (): void => {
      cleanup();
      reject(new Error(`request ${id}: engine closed the socket`));
    };
    const onMessage = (data: WebSocket.RawData): void => {
      const t = performance.now();
      const m = parseServerMessage(data.toString());
      if (m.id !== id) return;
      if (m.type === 'token') {
        if (Number.isNaN(tFirst)) tFirst = t;
        tokenEvents.push(t);
      } else if (m.type === 'done') {
        cleanup();
        resolve({ t0, tFirst: Number.isNaN(tFirst) ? t : tFirst, tDone: t, done: m, tokenEvents });
      } else {
        cleanup();
        reject(new Error(`request ${id}: engine error ${m.error.code}: ${m.error.message}`));
      }
    };
    engine.socket.on('message', onMessage);
    engine.socket.once('close', onClose);
    engine.socket.send(JSON.stringify({ type: 'submit', id, ...msg } satisfies SubmitMessage));
  });
}

export async function prontoInfill(engine: ProntoEngine, req: FimRequest, nPredict: number, speculative: boolean): Promise<RequestSample> {
  const r = await submit(engine, {
    fim: { prefix: req.prefix, suffix: req.suffix, filename: req.filename, extra: req.extra },
    sampling: { temperature: 0 },
    limits: { max_tokens: nPredict, ignore_eos: true },
    speculative: { draft: speculative, ngram: speculative },
  });
  const s = r.done.stats;
  return {
    evaluated: s.evaluated_tokens,
    promptTokens: s.prompt_tokens,
    ttftMs: s.t_first_token_ms,
    firstTextMs: r.tFirst - r.t0,
    latencyMs: r.tDone - r.t0,
    generated: s.generated_tokens,
  };
}

/** Plain decode speed (speculation off), measured from the first token event to done. */
export async function prontoDecode(
  engine: ProntoEngine,
  prompt: string,
  nPredict: number,
): Promise<{ clientTokPerS: number; serverTokPerS: number; generated: number }> {
  const r = await submit(engine, {
    prompt,
    sampling: { temperature: 0 },
    limits: { max_tokens: nPredict, ignore_eos: true },
    speculative: { draft: false, ngram: false },
  });
  const s = r.done.stats;
  // Tokens after the first one, over the time after the first one (token events may batch tokens).
  const clientTokPerS = ((s.generated_tokens - 1) * 1000) / (r.tDone - r.tFirst);
  const serverTokPerS = ((s.generated_tokens - 1) * 1000) / (s.t_total_ms - s.t_first_token_ms);
  return { clientTokPerS, serverTokPerS, generated: s.generated_tokens };
}
