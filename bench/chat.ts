// Chat benchmark: keystroke completions while a chat answer streams from the same engine, and the
// second turn of a chat against the first. pronto-engine against llama-server (same llama.cpp, same
// model file), each driven as its editor client drives it:
//   ours:    the sidecar's WebSocket /v1/stream: FIM submits, chat `messages` submits (priority chat);
//            run twice: one model for both, and the same file again as --chat-model (two models on
//            one scheduler);
//   llama-server: llama.vscode's requests: /infill for completions, streaming /v1/chat/completions for
//            chat, with llama-server's default --parallel (its slots serve both).
//
//   npm run bench:chat -- [--keystrokes 16] [--n-predict 8] [--chat-tokens 256] [--threads 2]
//                         [--only ours,ours-2,peer] [--model file.gguf] [--engine file] [--json out.json]
//                         [--llama-server path/to/llama-server]  (default: built by scripts/build-llama-server.mjs)
//
// See bench/README.md ("Chat") for how to read the table.

import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureBenchModel } from '../test/support/models';
import { intArg, listArg, parseFlags, strArg } from './lib/args';
import { ensureLlamaServer, llamaInfill, startLlamaServer, streamRequest, type LlamaServer } from './lib/llamaServer';
import { prontoEngineBinary, prontoInfill, startProntoEngine, submit, type ProntoEngine } from './lib/prontoEngine';
import { fmt, percentile, renderTable, type RequestSample } from './lib/stats';
import { standardTraces, type FimRequest } from './lib/traces';

const repoRoot = path.resolve(__dirname, '..');

type ConfigName = 'ours' | 'ours-2' | 'peer';
const CONFIG_LABEL: Record<ConfigName, string> = {
  ours: 'pronto-engine, one model for completions and chat (--parallel 4)',
  'ours-2': 'pronto-engine, the same file again as --chat-model (two models, one scheduler)',
  peer: "llama-server, llama.vscode's requests (/infill, streaming /v1/chat/completions), default --parallel",
};

interface Options {
  keystrokes: number;
  nPredict: number;
  chatTokens: number;
  threads: number;
  only: Set<ConfigName>;
  model?: string;
  engine?: string;
  /** An existing llama-server binary (else scripts/build-llama-server.mjs builds one). */
  llamaServer?: string;
  json?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { keystrokes: 16, nPredict: 8, chatTokens: 256, threads: 2, only: new Set(['ours', 'ours-2', 'peer']) };
  parseFlags(
    argv,
    'usage: npm run bench:chat -- [--keystrokes N] [--n-predict N] [--chat-tokens N] [--threads N] [--only ours,ours-2,peer] [--model file.gguf] [--engine file] [--llama-server file] [--json file]',
    {
      '--keystrokes': (v, f) => (o.keystrokes = intArg(f, v, 1, 200)),
      '--n-predict': (v, f) => (o.nPredict = intArg(f, v, 1, 512)),
      '--chat-tokens': (v, f) => (o.chatTokens = intArg(f, v, 8, 4096)),
      '--threads': (v, f) => (o.threads = intArg(f, v, 1, 256)),
      '--model': (v, f) => (o.model = strArg(f, v)),
      '--engine': (v, f) => (o.engine = strArg(f, v)),
      '--json': (v, f) => (o.json = strArg(f, v)),
      '--llama-server': (v, f) => (o.llamaServer = strArg(f, v)),
      '--only': (v, f) => (o.only = new Set(listArg(f, v, Object.keys(CONFIG_LABEL) as ConfigName[]))),
    },
  );
  return o;
}

interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}
interface ChatResult {
  text: string;
  /** Server-reported time to the first token (ours: stats.t_first_token_ms; llama-server: timings.prompt_ms). */
  ttftMs: number;
  /** Prompt tokens evaluated (not reused from the cache). */
  evaluated: number;
  promptTokens: number;
}

/** A server as the benchmark drives it. */
interface Target {
  infill(req: FimRequest): Promise<RequestSample>;
  /** One chat answer of `maxTokens` (ignore_eos); `onFirst` at its first streamed token; `signal` stops it. */
  chat(messages: ChatMessage[], maxTokens: number, onFirst?: () => void, signal?: AbortSignal): Promise<ChatResult>;
  stop(): Promise<void>;
}

// The bench model has no chat template of its own (random weights, Qwen2.5's vocabulary): both servers
// get chatml, Qwen2.5's template.
const CHAT_TEMPLATE = 'chatml';

function ours(e: ProntoEngine, o: Options): Target {
  return {
    infill: (r) => prontoInfill(e, r, o.nPredict, false),
    chat: async (messages, maxTokens, onFirst, signal) => {
      const id = `chat-${Math.random().toString(36).slice(2)}`;
      let first = false;
      const onMessage = (data: Buffer): void => {
        if (!first && data.toString().includes(`"id":"${id}"`) && data.toString().includes('"type":"token"')) {
          first = true;
          onFirst?.();
        }
      };
      e.socket.on('message', onMessage);
      const cancel = (): void => e.socket.send(JSON.stringify({ type: 'cancel', id }));
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        const r = await submitWithId(e, id, {
          messages,
          chat_template: CHAT_TEMPLATE,
          sampling: { temperature: 0 },
          limits: { max_tokens: maxTokens, ignore_eos: true },
          speculative: { draft: false, ngram: false },
        });
        const s = r.done.stats;
        return { text: r.done.text, ttftMs: s.t_first_token_ms, evaluated: s.evaluated_tokens, promptTokens: s.prompt_tokens };
      } finally {
        e.socket.off('message', onMessage);
        signal?.removeEventListener('abort', cancel);
      }
    },
    stop: () => e.stop(),
  };
}

/** `submit` with a chosen id (so the chat can be cancelled by it). */
function submitWithId(e: ProntoEngine, id: string, msg: Parameters<typeof submit>[1]): ReturnType<typeof submit> {
  return submit(e, msg, 600_000, id);
}

function peer(s: LlamaServer, o: Options): Target {
  return {
    infill: (r) => llamaInfill(s, r, o.nPredict),
    chat: async (messages, maxTokens, onFirst, signal) => {
      // As llama.vscode's chat sends it (OpenAI streaming), plus ignore_eos/top_k 1 for fixed work.
      type Chunk = {
        error?: { message?: string };
        choices?: { delta?: { content?: string } }[];
        timings?: { prompt_n?: number; prompt_ms?: number; cache_n?: number };
      };
      let text = '';
      let timings: NonNullable<Chunk['timings']> = {};
      try {
        await streamRequest<Chunk>(
          `${s.url}/v1/chat/completions`,
          { messages, max_tokens: maxTokens, ignore_eos: true, top_k: 1, cache_prompt: true },
          signal,
          (chunk) => {
            const piece = chunk.choices?.[0]?.delta?.content;
            if (piece) {
              if (!text) onFirst?.();
              text += piece;
            }
            if (chunk.timings) timings = chunk.timings;
          },
        );
      } catch (err) {
        if (!signal?.aborted) throw err;
      }
      const evaluated = timings.prompt_n ?? NaN;
      return { text, ttftMs: timings.prompt_ms ?? NaN, evaluated, promptTokens: evaluated + (timings.cache_n ?? 0) };
    },
    stop: () => s.stop(),
  };
}

async function startTarget(
  c: ConfigName,
  o: Options,
  model: string,
  engineBin: string | undefined,
  llamaBin: string | undefined,
): Promise<Target> {
  if (c === 'peer')
    return peer(
      // No -np: llama-server's default, as llama.vscode users run it. (startLlamaServer needs a value:
      // parallel 0 leaves the flag out.)
      await startLlamaServer({
        bin: llamaBin!,
        model,
        threads: o.threads,
        ctx: 16384,
        parallel: 0,
        args: ['--chat-template', CHAT_TEMPLATE],
      }),
      o,
    );
  const args = c === 'ours-2' ? ['--chat-model', model] : [];
  return ours(await startProntoEngine({ bin: engineBin!, model, threads: o.threads, ctx: 16384, parallel: 4, args }), o);
}

/** A realistic chat turn: a question about code, with the code. */
function chatTurn1(trace: FimRequest): ChatMessage[] {
  return [
    { role: 'system', content: 'You are a helpful coding assistant. Answer briefly.' },
    { role: 'user', content: `Explain what this code does:\n\n\`\`\`js\n${trace.prefix.split('\n').slice(-40).join('\n')}\n\`\`\`` },
  ];
}

interface ConfigResult {
  idle: RequestSample[];
  busy: RequestSample[];
  /** Chat answers started during the busy keystrokes, and keystrokes sent while one was in flight. */
  busyChats: number;
  keysWhileStreaming: number;
  turn1: ChatResult;
  turn2: ChatResult;
}

async function runConfig(
  c: ConfigName,
  o: Options,
  model: string,
  engineBin?: string,
  llamaBin?: string,
  log = console.error,
): Promise<ConfigResult> {
  const [trace] = standardTraces(repoRoot, o.keystrokes);
  const keys = trace!.keystrokes;
  const check = (s: RequestSample, k: number): RequestSample => {
    if (s.generated !== o.nPredict) throw new Error(`${c} keystroke ${k + 1}: generated ${s.generated} tokens, expected ${o.nPredict}`);
    return s;
  };

  // Idle: a fresh server, the trace's warm-up, then the keystrokes one after the other.
  log(`  ${c}: idle keystrokes`);
  let t = await startTarget(c, o, model, engineBin, llamaBin);
  const idle: RequestSample[] = [];
  try {
    for (const w of trace!.warmup) await t.infill(w);
    for (const [k, req] of keys.entries()) {
      idle.push(check(await t.infill(req), k));
      log(`    idle key ${k + 1}: ${fmt(idle.at(-1)!.latencyMs)} ms`);
    }
  } finally {
    await t.stop();
  }

  // Busy: a fresh server, the same warm-up and keystrokes while chat answers stream without a break.
  log(`  ${c}: keystrokes while a chat answer of ${o.chatTokens} tokens streams`);
  t = await startTarget(c, o, model, engineBin, llamaBin);
  const busy: RequestSample[] = [];
  let busyChats = 0;
  let keysWhileStreaming = 0;
  let turn1: ChatResult;
  let turn2: ChatResult;
  try {
    for (const w of trace!.warmup) await t.infill(w);
    const stopChats = new AbortController();
    let inFlight = false;
    let firstToken!: () => void;
    const started = new Promise<void>((r) => (firstToken = r));
    const chats = (async () => {
      while (!stopChats.signal.aborted) {
        busyChats++;
        inFlight = true;
        await t.chat(
          [{ role: 'user', content: `Write a long story about a lighthouse keeper, part ${busyChats}.` }],
          o.chatTokens,
          firstToken,
          stopChats.signal,
        );
        inFlight = false;
      }
    })();
    await started;
    for (const [k, req] of keys.entries()) {
      if (inFlight) keysWhileStreaming++;
      busy.push(check(await t.infill(req), k));
      log(`    busy key ${k + 1}: ${fmt(busy.at(-1)!.latencyMs)} ms (chat answers so far ${busyChats})`);
    }
    stopChats.abort();
    await chats;

    // Chat turns on the same server, now idle: turn 2 carries turn 1 and its answer.
    log(`  ${c}: chat turn 1 and turn 2`);
    const m1 = chatTurn1(keys[0]!);
    turn1 = await t.chat(m1, 32);
    turn2 = await t.chat(
      [...m1, { role: 'assistant', content: turn1.text }, { role: 'user', content: 'Now suggest a better name for it.' }],
      32,
    );
  } finally {
    await t.stop();
  }
  return { idle, busy, busyChats, keysWhileStreaming, turn1: turn1!, turn2: turn2! };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const model = o.model ?? (await ensureBenchModel());
  const configs = (['ours', 'ours-2', 'peer'] as ConfigName[]).filter((c) => o.only.has(c));
  let engineBin: string | undefined;
  if (configs.some((c) => c !== 'peer')) {
    engineBin = o.engine ?? (await prontoEngineBinary()).bin;
    if (!engineBin) throw new Error('pronto-engine is not built: npm run build:native');
  }
  const llamaBin = configs.includes('peer') ? (o.llamaServer ?? (await ensureLlamaServer(repoRoot))) : undefined;
  console.error(
    `model ${model}, ${o.threads} threads, ${o.keystrokes} keystrokes of ${o.nPredict} tokens, chat answers of ${o.chatTokens} tokens`,
  );
  const results = new Map<ConfigName, ConfigResult>();
  for (const c of configs) {
    console.error(`== ${CONFIG_LABEL[c]}`);
    results.set(c, await runConfig(c, o, model, engineBin, llamaBin));
  }

  const p = (xs: RequestSample[], q: number): number =>
    percentile(
      xs.map((s) => s.latencyMs),
      q,
    );
  const x = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const cols = configs;
  const rows: string[][] = [];
  const row = (label: string, f: (r: ConfigResult) => string): void => {
    rows.push([label, ...cols.map((c) => f(results.get(c)!))]);
  };
  row('keystroke latency p50, idle (ms)', (r) => fmt(p(r.idle, 50)));
  row('keystroke latency p50, chat streaming (ms)', (r) => fmt(p(r.busy, 50)));
  row('  busy / idle, p50', (r) => x(p(r.busy, 50), p(r.idle, 50)));
  row('keystroke latency p95, idle (ms)', (r) => fmt(p(r.idle, 95)));
  row('keystroke latency p95, chat streaming (ms)', (r) => fmt(p(r.busy, 95)));
  row('  busy / idle, p95', (r) => x(p(r.busy, 95), p(r.idle, 95)));
  row('keystrokes sent while a chat answer was in flight', (r) => `${r.keysWhileStreaming}/${r.busy.length}`);
  row('chat answers started during the keystrokes', (r) => String(r.busyChats));
  row('chat turn 1: prompt tokens (evaluated)', (r) => `${fmt(r.turn1.promptTokens)} (${fmt(r.turn1.evaluated)})`);
  row('chat turn 2: prompt tokens (evaluated)', (r) => `${fmt(r.turn2.promptTokens)} (${fmt(r.turn2.evaluated)})`);
  row('chat TTFT turn 1 (ms)', (r) => fmt(r.turn1.ttftMs));
  row('chat TTFT turn 2 (ms)', (r) => fmt(r.turn2.ttftMs));
  row('  turn 2 / turn 1', (r) => x(r.turn2.ttftMs, r.turn1.ttftMs));
  const table = renderTable(['metric', ...cols], rows);
  console.log(`\n${table}\n`);
  const peerRes = results.get('peer');
  for (const c of configs.filter((c) => c !== 'peer')) {
    const r = results.get(c)!;
    const ratio95 = p(r.busy, 95) / p(r.idle, 95);
    const line = `${c}: busy/idle p95 ${ratio95.toFixed(2)}x (goal <= 1.3x)`;
    console.log(peerRes ? `${line}; llama-server ${(p(peerRes.busy, 95) / p(peerRes.idle, 95)).toFixed(2)}x` : line);
  }
  if (o.json) {
    mkdirSync(path.dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify({ options: { ...o, only: [...o.only] }, results: Object.fromEntries(results) }, null, 2));
  }
}

main().catch((e: Error) => {
  console.error(`bench:chat: ${e.message}`);
  process.exit(1);
});
