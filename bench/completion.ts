// Completion benchmark: a real editing session (a file from node_modules retyped at a human pace)
// replayed through (1) OURS: the real Pronto LSP server + pronto-engine, driven like VS Code drives
// an LSP inline completion provider, and (2) PEER: an emulation of the llama.vscode client against
// llama-server, as its users run it and in llama-server's best configuration.
//   npm run bench:completion -- [--json out.json] [--keystrokes 100] [--n-predict 16] [--threads 2]
//        [--only ours,vscode,best] [--file node_modules/ws/lib/websocket.js] [--from-line 330]
//        [--seed 7] [--wait-cap-ms 20000] [--accepts 10] [--bundle dist/server.js] [--model file.gguf]
// See bench/README.md ("npm run bench:completion") for the definitions of the figures.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBenchModel } from '../test/support/models';
import { ensureLlamaServer, llamaServerBinary, startLlamaServer } from './lib/llamaServer';
import { prontoEngineBinary } from './lib/prontoEngine';
import { fmt, mean, percentile, ratio, renderTable } from './lib/stats';
import { LlamaVscodeClient, llamaVscodeDefaults, type PeerRequest } from './completion/llamaVscodeClient';
import { ProntoLspClient, type EngineCounters } from './completion/lspClient';
import { defaultReplayOptions, replay, type KeystrokeRecord } from './completion/replay';
import { intArg, strArg } from './lib/args';
import { defaultSessionOptions, loadSession, type Session } from './completion/session';
import { defaultAcceptOptions, runAccepts, type AcceptRecord } from './completion/accepts';

const repoRoot = path.resolve(__dirname, '..');

type ConfigName = 'ours' | 'vscode' | 'best';
const CONFIG_LABEL: Record<ConfigName, string> = {
  ours: 'Pronto LSP server (stdio) + pronto-engine, server defaults (parallel 2, ctx 8192, debounce 75 ms, prefetch on)',
  vscode: 'llama.vscode client emulation + llama-server as its users run it (-np 1 -c 8192 --cache-reuse 256)',
  best: 'llama.vscode client emulation + llama-server best config (-np 4 -c 16384 --spm-infill --cache-reuse 256)',
};

interface Options {
  json?: string;
  keystrokes: number;
  nPredict: number;
  threads: number;
  only: ConfigName[];
  file: string;
  fromLine: number;
  seed: number;
  waitCapMs: number;
  accepts: number;
  bundle?: string;
  model?: string;
}

const USAGE =
  'usage: npm run bench:completion -- [--json file] [--keystrokes N] [--n-predict N] [--threads N] [--only ours,vscode,best] [--file path] [--from-line N] [--seed N] [--wait-cap-ms N] [--accepts N] [--bundle dist/server.js] [--model file.gguf]';

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      json: { type: 'string' },
      keystrokes: { type: 'string' },
      'n-predict': { type: 'string' },
      threads: { type: 'string' },
      only: { type: 'string' },
      file: { type: 'string' },
      'from-line': { type: 'string' },
      seed: { type: 'string' },
      'wait-cap-ms': { type: 'string' },
      accepts: { type: 'string' },
      bundle: { type: 'string' },
      model: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return process.exit(0);
  }
  const int = (flag: string, v: string | undefined, min: number, max: number, fallback: number): number =>
    v === undefined ? fallback : intArg(`--${flag}`, v, min, max);
  const o: Options = {
    ...(values.json !== undefined ? { json: strArg('--json', values.json) } : {}),
    keystrokes: int('keystrokes', values.keystrokes, 1, 400, defaultSessionOptions.keystrokes),
    nPredict: int('n-predict', values['n-predict'], 1, 512, 16),
    threads: int('threads', values.threads, 1, 256, 2),
    only: ['ours', 'vscode', 'best'],
    file: values.file !== undefined ? strArg('--file', values.file) : 'node_modules/ws/lib/websocket.js',
    fromLine:
      values['from-line'] !== undefined ? intArg('--from-line', values['from-line'], 1, 1_000_000) - 1 : defaultSessionOptions.fromLine,
    seed: int('seed', values.seed, 0, 2 ** 31, defaultSessionOptions.seed),
    waitCapMs: int('wait-cap-ms', values['wait-cap-ms'], 100, 600_000, defaultReplayOptions.waitCapMs),
    accepts: int('accepts', values.accepts, 0, 200, defaultAcceptOptions.accepts),
  };
  if (values.bundle !== undefined) {
    o.bundle = path.resolve(strArg('--bundle', values.bundle));
    if (!existsSync(o.bundle)) throw new Error(`--bundle: no file ${o.bundle} (run npm run build)`);
  }
  if (values.model !== undefined) {
    o.model = path.resolve(strArg('--model', values.model));
    if (!existsSync(o.model)) throw new Error(`--model: no file ${o.model}`);
  }
  if (values.only !== undefined) {
    const names = values.only.split(',').filter(Boolean);
    for (const n of names) if (!(n in CONFIG_LABEL)) throw new Error(`--only: unknown config "${n}" (ours, vscode, best)`);
    if (!names.length) throw new Error('--only needs a list: ours,vscode,best');
    o.only = names as ConfigName[];
  }
  return o;
}

/** What one configuration measured over the session (after its warm-up). */
interface RunResult {
  config: ConfigName;
  label: string;
  keystrokes: number;
  pauses: number;
  /** Latency at pauses to the answer for that state (suggestion or empty), Infinity when timed out. */
  pauseLatencies: number[];
  /** Latency at pauses to a suggestion: shown ones, plus Infinity for pauses that timed out. */
  pauseShownLatencies: number[];
  pausesShown: number;
  pausesEmpty: number;
  pausesTimedOut: number;
  /** Keystrokes whose state got a suggestion before the next keystroke. */
  shownInTime: number;
  /** Latencies of all keystrokes that got a suggestion for their state. */
  allLatencies: number[];
  cacheServed: number;
  engineTokensEvaluated: number;
  engineRequests: number;
  /** LSP inlineCompletion requests (ours) or provider calls that reached the client (peer). */
  clientCalls: number;
  cancelledEngineRequests?: number;
  generatedTokens: number;
  wallMs: number;
  errors: string[];
  records: KeystrokeRecord[];
  peerRequests?: PeerRequest[];
  /** Ours: the server's own records of the session's requests (pronto/stats recent, last 50). */
  serverRecords?: unknown[];
  /** Ours: the accept phase (Tab on each suggestion as it shows), after the typing session. */
  accepts?: { records: AcceptRecord[]; engineRequests: number; cancelledEngineRequests: number };
}

function summarizeRecords(
  records: KeystrokeRecord[],
): Pick<
  RunResult,
  'pauses' | 'pauseLatencies' | 'pauseShownLatencies' | 'pausesShown' | 'pausesEmpty' | 'pausesTimedOut' | 'shownInTime' | 'allLatencies'
> {
  const pauses = records.filter((r) => r.pause);
  return {
    pauses: pauses.length,
    pauseLatencies: pauses.filter((r) => r.answered || r.timedOut).map((r) => (r.answered ? r.answerMs! : Infinity)),
    pauseShownLatencies: pauses.filter((r) => r.shown || r.timedOut).map((r) => (r.shown ? r.latencyMs! : Infinity)),
    pausesShown: pauses.filter((r) => r.shown).length,
    pausesEmpty: pauses.filter((r) => r.answered && !r.shown).length,
    pausesTimedOut: pauses.filter((r) => r.timedOut).length,
    shownInTime: records.filter((r) => r.shown).length,
    allLatencies: records.filter((r) => r.shown).map((r) => r.latencyMs!),
  };
}

function progress(name: string): (r: KeystrokeRecord) => void {
  return (r) => {
    const what = r.shown
      ? `shown ${Math.round(r.latencyMs!)} ms${r.fromCache ? ' (cache)' : ''}`
      : r.timedOut
        ? 'timed out'
        : r.answered
          ? 'empty'
          : r.called
            ? 'superseded'
            : 'debounced';
    if (r.pause || process.env.BENCH_VERBOSE) process.stderr.write(`  [${name}] key ${r.index + 1}${r.pause ? ' (pause)' : ''}: ${what}\n`);
  };
}

async function runOurs(o: Options, session: Session, model: string, engineBin: string): Promise<RunResult> {
  const client = await ProntoLspClient.start(session, {
    modelPath: model,
    enginePath: engineBin,
    threads: o.threads,
    maxTokens: o.nPredict,
    bundle: o.bundle,
  });
  try {
    process.stderr.write(`  [ours] engine at ${client.engineUrl}; warm-up request...\n`);
    await client.warmup();
    const c0: EngineCounters = await client.counters();
    const s0 = await client.stats();
    const calls0 = client.requestsSent;
    const t0 = performance.now();
    const records = await replay(session, client, { ...defaultReplayOptions, waitCapMs: o.waitCapMs }, progress('ours'));
    await client.waitIdle();
    const wallMs = performance.now() - t0;
    const c1 = await client.counters();
    const s1 = await client.stats();
    let accepts: RunResult['accepts'];
    if (o.accepts > 0) {
      process.stderr.write(`  [ours] accept phase: Tab on ${o.accepts} suggestions as they show...\n`);
      const acceptRecords = await runAccepts(client, { ...defaultAcceptOptions, accepts: o.accepts, seed: o.seed });
      await client.waitIdle();
      const c2 = await client.counters();
      accepts = {
        records: acceptRecords,
        engineRequests: c2.requests - c1.requests,
        cancelledEngineRequests: c2.cancellations - c1.cancellations,
      };
      for (const a of acceptRecords)
        process.stderr.write(
          `  [ours] accept ${a.index + 1}: next request ${a.fromPrefetch ? 'from the prefetch' : 'asked the engine'}, ${Math.round(a.latencyMs)} ms\n`,
        );
    }
    return {
      accepts,
      config: 'ours',
      label: CONFIG_LABEL.ours,
      keystrokes: records.length,
      ...summarizeRecords(records),
      cacheServed: s1.cacheHits - s0.cacheHits,
      engineTokensEvaluated: c1.evaluated - c0.evaluated,
      engineRequests: c1.requests - c0.requests,
      cancelledEngineRequests: c1.cancellations - c0.cancellations,
      clientCalls: client.requestsSent - calls0,
      generatedTokens: c1.generated - c0.generated,
      wallMs,
      errors: [],
      records,
      serverRecords: s1.recent.filter((x) => x.at >= Date.now() - wallMs - 1000),
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n  the server's last log lines:\n    ${client.lsp.logs.slice(-20).join('\n    ')}`);
  } finally {
    await client.stop();
  }
}

async function runPeer(name: 'vscode' | 'best', o: Options, session: Session, model: string, llamaBin: string): Promise<RunResult> {
  const server = await startLlamaServer(
    name === 'vscode'
      ? { bin: llamaBin, model, threads: o.threads, ctx: 8192, parallel: 1, args: ['--cache-reuse', '256'] }
      : { bin: llamaBin, model, threads: o.threads, ctx: 16384, parallel: 4, args: ['--spm-infill', '--cache-reuse', '256'] },
  );
  const client = new LlamaVscodeClient(server.url, session, { ...llamaVscodeDefaults, n_predict: o.nPredict }, o.seed);
  try {
    process.stderr.write(`  [${name}] llama-server at ${server.url}; warm-up request...\n`);
    await client.warmup();
    client.startRingTimer();
    const r0 = client.requests.length;
    const cache0 = client.servedFromCache;
    const calls0 = client.providerCalls;
    const t0 = performance.now();
    const records = await replay(session, client, { ...defaultReplayOptions, waitCapMs: o.waitCapMs }, progress(name));
    client.dispose();
    await client.idle();
    const wallMs = performance.now() - t0;
    const reqs = client.requests.slice(r0);
    return {
      config: name,
      label: CONFIG_LABEL[name],
      keystrokes: records.length,
      ...summarizeRecords(records),
      cacheServed: client.servedFromCache - cache0,
      engineTokensEvaluated: reqs.reduce((s, r) => s + r.promptN, 0),
      engineRequests: reqs.length,
      clientCalls: client.providerCalls - calls0,
      generatedTokens: reqs.reduce((s, r) => s + r.predictedN, 0),
      wallMs,
      errors: [...client.errors],
      records,
      peerRequests: reqs,
    };
  } finally {
    client.dispose();
    await server.stop();
  }
}

const ms = (x: number): string => (x === Infinity ? `>cap` : fmt(x));

function figures(r: RunResult): Record<string, number> {
  return {
    p50: percentile(r.pauseLatencies, 50),
    p95: percentile(r.pauseLatencies, 95),
    shownP50: percentile(r.pauseShownLatencies, 50),
    allP50: percentile(r.allLatencies, 50),
    shownInTime: r.shownInTime / r.keystrokes,
    cache: r.cacheServed / r.keystrokes,
    tokens: r.engineTokensEvaluated / r.keystrokes,
    requests: r.engineRequests / r.keystrokes,
    acceptHits: r.accepts?.records.length ? r.accepts.records.filter((a) => a.fromPrefetch).length / r.accepts.records.length : Number.NaN,
    acceptRequests: r.accepts?.records.length ? r.accepts.engineRequests / r.accepts.records.length : Number.NaN,
  };
}

function render(results: RunResult[], capMs: number): string {
  const by = new Map(results.map((r) => [r.config, r]));
  const ours = by.get('ours');
  const cols = results.map((r) => r.config);
  const header = ['figure', ...cols.map((c) => (c === 'ours' ? 'ours' : `peer:${c}`))];
  if (ours) for (const c of cols) if (c !== 'ours') header.push(`ours/${c}`);
  const rows: string[][] = [];
  const add = (label: string, key: string, show: (x: number) => string): void => {
    const row = [label, ...results.map((r) => show(figures(r)[key]!))];
    if (ours) for (const r of results) if (r.config !== 'ours') row.push(ratioOf(figures(ours)[key]!, figures(r)[key]!));
    rows.push(row);
  };
  // A peer past the wait cap still bounds the ratio: ours / peer < ours / cap.
  const ratioOf = (a: number, b: number): string =>
    a !== Infinity && b === Infinity && Number.isFinite(a)
      ? `<${(a / capMs).toFixed(2)}x`
      : a === Infinity || b === Infinity
        ? 'n/a'
        : ratio(a, b);
  add('latency at pauses p50 (ms)', 'p50', ms);
  add('latency at pauses p95 (ms)', 'p95', ms);
  add('  same, suggestion shown p50', 'shownP50', ms);
  add('latency, all shown p50 (ms)', 'allP50', ms);
  add('keystrokes shown in time', 'shownInTime', (x) => `${fmt(100 * x)}%`);
  add('served from cache / key', 'cache', (x) => `${fmt(100 * x, 1)}%`);
  add('engine tokens evaluated / key', 'tokens', (x) => fmt(x, 1));
  add('engine requests / key', 'requests', (x) => fmt(x, 2));
  if (results.some((r) => r.accepts?.records.length)) {
    const na = (f: (x: number) => string) => (x: number) => (Number.isNaN(x) ? 'n/a' : f(x));
    add(
      'after Tab: answered from prefetch',
      'acceptHits',
      na((x) => `${fmt(100 * x)}%`),
    );
    add(
      'engine requests / accept',
      'acceptRequests',
      na((x) => fmt(x, 2)),
    );
  }
  const counts = [
    'pauses: shown/empty/timed out',
    ...results.map((r) => `${r.pausesShown}/${r.pausesEmpty}/${r.pausesTimedOut} of ${r.pauses}`),
  ];
  return renderTable(header, [...rows, counts]);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const session = loadSession(repoRoot, o.file, { ...defaultSessionOptions, keystrokes: o.keystrokes, fromLine: o.fromLine, seed: o.seed });
  const pauses = session.keystrokes.filter((k) => k.pause).length;
  const typingMs = session.keystrokes.reduce((s, k) => s + k.gapMs, 0);
  console.log(
    `session: ${session.keystrokes.length} keystrokes (${pauses} pauses) retyping ${session.filename} from line ${session.startLine + 1}, seed ${o.seed}, ${fmt(typingMs / 1000, 1)} s of typing; n_predict ${o.nPredict}, ${o.threads} threads`,
  );

  const model = o.model ?? (await ensureBenchModel());
  console.log(`model: ${model}`);
  let engineBin: string | undefined;
  let llamaBin: string | undefined;
  const skipped: string[] = [];
  if (o.only.includes('ours')) {
    const e = await prontoEngineBinary();
    if (e.bin) engineBin = e.bin;
    else skipped.push(`ours: no engine binary (npm run -s engine:path: ${e.why})`);
  }
  if (o.only.some((c) => c !== 'ours')) {
    llamaBin = existsSync(llamaServerBinary(repoRoot)) ? llamaServerBinary(repoRoot) : await ensureLlamaServer(repoRoot);
  }

  const results: RunResult[] = [];
  for (const name of o.only) {
    if (name === 'ours' && !engineBin) continue;
    console.log(`\n== ${name}: ${CONFIG_LABEL[name]}`);
    const t = performance.now();
    const r = name === 'ours' ? await runOurs(o, session, model, engineBin!) : await runPeer(name, o, session, model, llamaBin!);
    results.push(r);
    console.log(
      `   done in ${fmt((performance.now() - t) / 1000, 1)} s (session ${fmt(r.wallMs / 1000, 1)} s)${r.errors.length ? `; ${r.errors.length} background errors: ${r.errors[0]}` : ''}`,
    );
  }
  for (const s of skipped) console.log(`skipped ${s}`);
  if (!results.length) throw new Error('nothing was measured');

  console.log(
    `\nCompletion benchmark (${os.cpus().length} cores, ${session.keystrokes.length} keystrokes, n_predict ${o.nPredict}, model ${path.basename(model)})`,
  );
  console.log(render(results, o.waitCapMs));
  for (const r of results) {
    if (r.config === 'ours') {
      console.log(
        `ours: ${r.clientCalls} LSP inlineCompletion requests, ${r.engineRequests} engine requests (${r.cancelledEngineRequests} cancelled), ${r.generatedTokens} tokens generated`,
      );
      if (r.accepts)
        console.log(
          `ours, accept phase: ${r.accepts.records.length} accepts${r.accepts.records.length < o.accepts ? ` (of ${o.accepts} asked: the model gave no suggestion often enough)` : ''}, ${r.accepts.records.filter((a) => a.fromPrefetch).length} answered from the prefetch, ${r.accepts.engineRequests} engine requests (${r.accepts.cancelledEngineRequests} cancelled), next suggestion p50 ${fmt(
            percentile(
              r.accepts.records.map((a) => a.latencyMs),
              50,
            ),
          )} ms`,
        );
    } else {
      const kinds = (k: PeerRequest['kind']): number => r.peerRequests!.filter((q) => q.kind === k).length;
      console.log(
        `peer:${r.config}: ${r.clientCalls} provider calls, ${r.engineRequests} /infill requests (${kinds('completion')} completion, ${kinds('future')} future-suggestion, ${kinds('ring')} ring update), mean request ${fmt(mean(r.peerRequests!.map((q) => q.ms)))} ms (server: prompt ${fmt(mean(r.peerRequests!.map((q) => q.promptMs)))} ms, generation ${fmt(mean(r.peerRequests!.map((q) => q.predictedMs)))} ms), ${r.generatedTokens} tokens generated`,
      );
    }
  }
  if (o.json) {
    mkdirSync(path.dirname(o.json), { recursive: true });
    writeFileSync(
      o.json,
      JSON.stringify(
        {
          options: o,
          session: {
            file: session.filename,
            startLine: session.startLine + 1,
            keystrokes: session.keystrokes.map((k) => ({ text: k.text, gapMs: k.gapMs, pause: k.pause })),
          },
          model,
          table: render(results, o.waitCapMs),
          results: results.map((r) => ({ ...r, figures: figures(r) })),
        },
        (_k, v: unknown) => (v === Infinity ? 'Infinity' : v),
        2,
      ),
    );
    console.log(`wrote ${o.json}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench:completion: ${(e as Error).message}`);
    process.exit(1);
  },
);
