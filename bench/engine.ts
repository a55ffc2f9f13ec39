// Engine benchmark: pronto-engine against llama-server on the same model and the same edit traces.
//   npm run bench:engine -- [--json out.json] [--keystrokes 16] [--n-predict 8] [--decode-tokens 128]
//                           [--threads 2] [--only vscode,best,ours] [--speculative] [--model path.gguf]
//                           [--engine path/to/pronto-engine]   (default: npm run -s engine:path, the prebuilt-linked build)
//                           [--window small|llama.vscode] [--decode-rounds 6] [--engine-args "--kv-type q8_0"]
//                           [--sections traces,speculation,busy] (default traces,speculation)
// See bench/README.md for what is measured and how to read the tables.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBenchModel, ensureModel } from '../test/support/models';
import { startCpuLoad } from './lib/cpuLoad';
import { speculationBounds, speculationTable } from './lib/speculation';
import { ensureLlamaServer, llamaDecode, llamaInfill, startLlamaServer } from './lib/llamaServer';
import { prontoDecode, prontoEngineBinary, prontoInfill, startProntoEngine } from './lib/prontoEngine';
import { fmt, median, ratio, renderTable, summarize, type RequestSample, type TraceSummary } from './lib/stats';
import { type FimRequest, standardTraces, type Trace, windowPresets, type WindowName } from './lib/traces';
import { intArg, strArg } from './lib/args';

const repoRoot = path.resolve(__dirname, '..');

interface Options {
  json?: string;
  keystrokes: number;
  nPredict: number;
  decodeTokens: number;
  /** Plain-decode rounds; each round runs every server once (order alternating), medians are reported. */
  decodeRounds: number;
  window: WindowName;
  threads: number;
  only: Set<ConfigName>;
  speculative: boolean;
  model?: string;
  /** pronto-engine binary to measure, e.g. one built with PRONTO_LLAMA_FROM_SOURCE=ON (same llama.cpp build as the peer). */
  engine?: string;
  /** Extra pronto-engine flags, e.g. "--kv-type q8_0". */
  engineArgs: string[];
  sections: Set<Section>;
  /** Unrelated draft model for the speculation bounds (default: the tiny qwen2 test model, same vocabulary as the bench model). */
  unrelatedDraft?: string;
}

type Section = 'traces' | 'speculation' | 'busy';
const SECTIONS: Section[] = ['traces', 'speculation', 'busy'];

type ConfigName = 'vscode' | 'best' | 'ours';
const CONFIG_LABEL: Record<ConfigName, string> = {
  vscode: 'llama-server as llama.vscode drives it (-np 1, --cache-reuse 256, PSM /infill)',
  best: 'llama-server best config (-np 4, --spm-infill, --cache-reuse 256)',
  ours: 'pronto-engine (--parallel 4, WebSocket /v1/stream FIM)',
};

function parseArgs(argv: string[]): Options {
  const o: Options = {
    keystrokes: 16,
    nPredict: 8,
    decodeTokens: 128,
    decodeRounds: 6,
    window: 'small',
    engineArgs: [],
    threads: 2,
    only: new Set(['vscode', 'best', 'ours']),
    speculative: false,
    sections: new Set<Section>(['traces', 'speculation']),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string | undefined => argv[++i];
    switch (a) {
      case '--json':
        o.json = strArg(a, v());
        break;
      case '--keystrokes':
        o.keystrokes = intArg(a, v(), 1, 200);
        break;
      case '--n-predict':
        o.nPredict = intArg(a, v(), 1, 512);
        break;
      case '--decode-tokens':
        o.decodeTokens = intArg(a, v(), 2, 4096);
        break;
      case '--threads':
        o.threads = intArg(a, v(), 1, 256);
        break;
      case '--decode-rounds':
        o.decodeRounds = intArg(a, v(), 1, 50);
        break;
      case '--engine-args':
        o.engineArgs = (v() ?? '').split(/\s+/).filter(Boolean);
        break;
      case '--window': {
        const w = v();
        if (w !== 'small' && w !== 'llama.vscode') throw new Error(`--window: small or llama.vscode, got ${w ?? 'nothing'}`);
        o.window = w;
        break;
      }
      case '--speculative':
        o.speculative = true;
        break;
      case '--model':
        o.model = strArg(a, v());
        break;
      case '--engine':
        o.engine = strArg(a, v());
        break;
      case '--unrelated-draft':
        o.unrelatedDraft = strArg(a, v());
        break;
      case '--sections': {
        const names = (v() ?? '').split(',').filter(Boolean);
        for (const n of names) if (!SECTIONS.includes(n as Section)) throw new Error(`--sections: unknown "${n}" (${SECTIONS.join(', ')})`);
        if (!names.length) throw new Error(`--sections needs a list: ${SECTIONS.join(',')}`);
        o.sections = new Set(names as Section[]);
        break;
      }
      case '--only': {
        const names = (v() ?? '').split(',').filter(Boolean);
        for (const n of names) if (!(n in CONFIG_LABEL)) throw new Error(`--only: unknown config "${n}" (vscode, best, ours)`);
        if (!names.length) throw new Error('--only needs a list: vscode,best,ours');
        o.only = new Set(names as ConfigName[]);
        break;
      }
      case '--help':
      case '-h':
        console.log(
          'usage: npm run bench:engine -- [--json file] [--keystrokes N] [--n-predict N] [--decode-tokens N] [--threads N] [--only vscode,best,ours] [--speculative] [--model file.gguf] [--engine file] [--window small|llama.vscode] [--decode-rounds N] [--engine-args flags] [--sections traces,speculation,busy] [--unrelated-draft file.gguf]',
        );
        return process.exit(0);
      default:
        throw new Error(`unknown argument ${a} (try --help)`);
    }
  }
  return o;
}

interface Target {
  infill(req: FimRequest): Promise<RequestSample>;
  decode(prompt: string): Promise<{ clientTokPerS: number; serverTokPerS: number; generated: number }>;
  stop(): Promise<void>;
}

async function startTarget(
  name: ConfigName,
  o: Options,
  model: string,
  llamaBin: string | undefined,
  engineBin: string | undefined,
): Promise<Target> {
  if (name === 'ours') return startOurs(o, model, engineBin!, o.threads, o.engineArgs);
  return startPeer(name, o, model, llamaBin!, o.threads, []);
}

function startOurs(o: Options, model: string, bin: string, threads: number, args: string[]): Promise<Target> {
  return startProntoEngine({ bin, model, threads, ctx: 16384, parallel: 4, args }).then((e) => ({
    infill: (r: FimRequest) => prontoInfill(e, r, o.nPredict, o.speculative),
    decode: (p: string) => prontoDecode(e, p, o.decodeTokens),
    stop: () => e.stop(),
  }));
}

function startPeer(name: 'vscode' | 'best', o: Options, model: string, bin: string, threads: number, extra: string[]): Promise<Target> {
  return startLlamaServer(
    name === 'vscode'
      ? { bin, model, threads, ctx: 8192, parallel: 1, args: ['--cache-reuse', '256', ...extra] }
      : { bin, model, threads, ctx: 16384, parallel: 4, args: ['--cache-reuse', '256', '--spm-infill', ...extra] },
  ).then((s) => ({
    infill: (r: FimRequest) => llamaInfill(s, r, o.nPredict),
    decode: (p: string) => llamaDecode(s, p, o.decodeTokens),
    stop: () => s.stop(),
  }));
}

/**
 * Runs one trace on already started targets: warm-up requests (not measured), then every keystroke
 * on every target, taking turns request by request (the first in turn rotates) so a change in machine
 * load hits them alike; only one request is in flight at any time.
 */
async function runKeystrokes(
  targets: Map<string, Target>,
  trace: Trace,
  o: Options,
  log: (s: string) => void,
  beforeKeys?: () => void,
): Promise<Map<string, RequestSample[]>> {
  const names = [...targets.keys()];
  for (const c of names) for (const w of trace.warmup) await targets.get(c)!.infill(w);
  beforeKeys?.();
  const samples = new Map<string, RequestSample[]>(names.map((c) => [c, []]));
  for (const [k, req] of trace.keystrokes.entries()) {
    const order = names.map((_, j) => names[(j + k) % names.length]!);
    for (const c of order) {
      const s = await targets.get(c)!.infill(req);
      if (s.generated !== o.nPredict)
        throw new Error(`${c} keystroke ${k + 1}: generated ${s.generated} tokens, expected ${o.nPredict} (ignore_eos)`);
      samples.get(c)!.push(s);
      log(
        `    key ${String(k + 1).padStart(2)} ${c.padEnd(10)}: evaluated ${String(s.evaluated).padStart(4)} / ${s.promptTokens} prompt tokens, ttft ${fmt(s.ttftMs)} ms (first text ${fmt(s.firstTextMs)}), total ${fmt(s.latencyMs)} ms`,
      );
    }
  }
  return samples;
}

type TraceResults = Partial<
  Record<
    ConfigName,
    {
      traces: Record<string, { summary: TraceSummary; samples: RequestSample[] }>;
      decode?: Awaited<ReturnType<Target['decode']>> & { rounds: number[] };
    }
  >
>;

async function tracesSection(
  o: Options,
  model: string,
  llamaBin: string | undefined,
  engineBin: string | undefined,
  traces: Trace[],
  log: (s: string) => void,
): Promise<{ table: string; results: TraceResults; configs: ConfigName[] }> {
  const configs = (['vscode', 'best', 'ours'] as ConfigName[]).filter((c) => o.only.has(c));
  const results: TraceResults = {};
  const decodePrompt = traces[0]!.keystrokes[0]!.prefix.split('\n').slice(-12).join('\n');
  for (const c of configs) results[c] = { traces: {} };
  for (const [i, trace] of traces.entries()) {
    log(`\n== trace ${trace.name}: ${trace.description}`);
    // Fresh servers per trace, so one trace's cache does not help or hurt the next.
    const targets = new Map<ConfigName, Target>();
    try {
      for (const c of configs) {
        log(`  starting ${CONFIG_LABEL[c]}`);
        targets.set(c, await startTarget(c, o, model, llamaBin, engineBin));
      }
      const samples = await runKeystrokes(targets, trace, o, log);
      for (const c of configs) results[c]!.traces[trace.name] = { summary: summarize(samples.get(c)!), samples: samples.get(c)! };
      // Plain decode on the last trace's servers (vscode is the same binary as best: skipped), with
      // the trace's sequences still resident. Decode speed swings 10-20% from run to run on a shared
      // 2-core machine, so it runs in rounds, alternating which server goes first, and the medians
      // are reported.
      if (i === traces.length - 1) {
        const deciders = configs.filter((c) => c !== 'vscode');
        const runs = new Map<ConfigName, Array<Awaited<ReturnType<Target['decode']>>>>(deciders.map((c) => [c, []]));
        for (let r = 0; r < o.decodeRounds; r++) {
          for (const c of r % 2 ? [...deciders].reverse() : deciders) {
            const d = await targets.get(c)!.decode(decodePrompt);
            runs.get(c)!.push(d);
            log(
              `  decode round ${r + 1} ${c}: ${fmt(d.clientTokPerS, 1)} tok/s client side, ${fmt(d.serverTokPerS, 1)} server side (${d.generated} tokens)`,
            );
          }
        }
        for (const [c, rs] of runs) {
          results[c]!.decode = {
            clientTokPerS: median(rs.map((r) => r.clientTokPerS)),
            serverTokPerS: median(rs.map((r) => r.serverTokPerS)),
            generated: rs[0]!.generated,
            rounds: rs.map((r) => r.clientTokPerS),
          };
        }
      }
    } finally {
      for (const t of targets.values()) await t.stop();
    }
  }

  const cols = configs.map((c) => (c === 'vscode' ? 'peer:vscode' : c === 'best' ? 'peer:best' : 'ours'));
  const header = ['metric', ...cols];
  if (results.ours && results.vscode) header.push('ours/vscode');
  if (results.ours && results.best) header.push('ours/best');
  const rows: string[][] = [];
  const metric = (label: string, pick: (s: TraceSummary) => number, digits: number, traceName: string): void => {
    const vals = configs.map((c) => pick(results[c]!.traces[traceName]!.summary));
    const row = [label, ...vals.map((v) => fmt(v, digits))];
    const ours = results.ours ? pick(results.ours.traces[traceName]!.summary) : NaN;
    if (results.ours && results.vscode) row.push(ratio(ours, pick(results.vscode.traces[traceName]!.summary)));
    if (results.ours && results.best) row.push(ratio(ours, pick(results.best.traces[traceName]!.summary)));
    rows.push(row);
  };
  for (const trace of traces) {
    rows.push([`[${trace.name}]`]);
    metric('  prompt tokens evaluated / request', (s) => s.evaluatedMean, 1, trace.name);
    metric('  prompt tokens / request', (s) => s.promptTokensMean, 0, trace.name);
    metric('  TTFT p50 (ms)', (s) => s.ttftP50, 0, trace.name);
    metric('  TTFT p95 (ms)', (s) => s.ttftP95, 0, trace.name);
    metric('  request latency p50 (ms)', (s) => s.latencyP50, 0, trace.name);
    metric('  request latency p95 (ms)', (s) => s.latencyP95, 0, trace.name);
  }
  const dec = configs.map((c) => results[c]!.decode?.clientTokPerS ?? NaN);
  const decRow = [`decode tok/s (${o.decodeTokens} tokens, no spec., median of ${o.decodeRounds})`, ...dec.map((v) => fmt(v, 1))];
  if (results.ours && results.vscode) decRow.push('n/a');
  if (results.ours && results.best)
    decRow.push(ratio(results.ours.decode?.clientTokPerS ?? NaN, results.best.decode?.clientTokPerS ?? NaN));
  rows.push(decRow);
  return { table: renderTable(header, rows), results, configs };
}

/**
 * The keystroke trace (one file) on a machine that is not idle: a process spins on one core while the
 * keystrokes run. llama-server and ours with the thread counts and spin/sleep settings that matter.
 */
async function busySection(
  o: Options,
  model: string,
  llamaBin: string | undefined,
  engineBin: string | undefined,
  trace: Trace,
  log: (s: string) => void,
) {
  const variants: Array<{ key: string; label: string; start: () => Promise<Target> }> = [];
  if (llamaBin) {
    variants.push({
      key: 'peer t2',
      label: 'llama-server best config, -t 2 (default --poll 50)',
      start: () => startPeer('best', o, model, llamaBin, 2, []),
    });
    variants.push({ key: 'peer t1', label: 'llama-server best config, -t 1', start: () => startPeer('best', o, model, llamaBin, 1, []) });
  }
  if (engineBin) {
    for (const [threads, poll] of [
      [2, 50],
      [2, 0],
      [1, 50],
      [1, 0],
    ] as const)
      variants.push({
        key: `ours t${threads} p${poll}`,
        label: `pronto-engine --threads ${threads} --poll ${poll}`,
        start: () => startOurs(o, model, engineBin, threads, [...o.engineArgs, '--poll', String(poll)]),
      });
  }
  log(`\n== busy machine: trace ${trace.name} with a process spinning on one core`);
  const targets = new Map<string, Target>();
  let load: ReturnType<typeof startCpuLoad> | undefined;
  try {
    for (const v of variants) {
      log(`  starting ${v.label}`);
      targets.set(v.key, await v.start());
    }
    const samples = await runKeystrokes(targets, trace, o, log, () => {
      load = startCpuLoad(1);
      log(`  competing load started (${load.core === undefined ? 'not pinned: no taskset' : `pinned to CPU ${load.core}`})`);
    });
    const summaries = new Map([...samples].map(([k, v]) => [k, summarize(v)]));
    const base = summaries.get('peer t2');
    const header = [
      'busy machine: configuration',
      'TTFT p50',
      'latency p50',
      'latency p95',
      'evaluated/req',
      'p50 vs peer t2',
      'p95 vs peer t2',
    ];
    const rows = variants.map((v) => {
      const s = summaries.get(v.key)!;
      return [
        `  ${v.label}`,
        fmt(s.ttftP50),
        fmt(s.latencyP50),
        fmt(s.latencyP95),
        fmt(s.evaluatedMean, 1),
        base ? ratio(s.latencyP50, base.latencyP50) : 'n/a',
        base ? ratio(s.latencyP95, base.latencyP95) : 'n/a',
      ];
    });
    return { table: renderTable(header, rows), pinned: load?.core, samples: Object.fromEntries(samples) };
  } finally {
    load?.stop();
    for (const t of targets.values()) await t.stop();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const log = (s: string): void => console.error(s);

  if (!o.model) log('bench model: generating if missing (.cache/models)...');
  const model = o.model ?? (await ensureBenchModel());
  const needPeer = (o.sections.has('traces') && (o.only.has('vscode') || o.only.has('best'))) || o.sections.has('busy');
  if (needPeer) log('llama-server: building if needed...');
  const llamaBin = needPeer ? await ensureLlamaServer(repoRoot) : undefined;
  let engineBin: string | undefined;
  const skipped: Record<string, string> = {};
  {
    const r = o.engine
      ? existsSync(o.engine)
        ? { bin: path.resolve(o.engine) }
        : { why: `--engine ${o.engine} does not exist` }
      : await prontoEngineBinary();
    if (r.bin) engineBin = r.bin;
    else {
      skipped.ours = `pronto-engine not available: ${r.why}`;
      o.only.delete('ours');
      log(`NOTE: ${skipped.ours}`);
    }
  }

  const traces = standardTraces(repoRoot, o.keystrokes, windowPresets[o.window]);
  const out: Record<string, unknown> = {};
  const tables: string[] = [];
  if (o.sections.has('traces')) {
    const t = await tracesSection(o, model, llamaBin, engineBin, traces, log);
    out.traces = { configs: Object.fromEntries(t.configs.map((c) => [c, CONFIG_LABEL[c]])), results: t.results, table: t.table };
    tables.push(t.table);
  }
  if (o.sections.has('speculation') && engineBin) {
    log('\n== speculation bounds');
    const unrelatedDraft = o.unrelatedDraft ?? (o.model ? undefined : await ensureModel('qwen2'));
    if (!unrelatedDraft) skipped.unrelated = 'no --unrelated-draft for this --model (it needs the same vocabulary)';
    const rows = await speculationBounds(
      {
        engineBin,
        model,
        unrelatedDraft,
        threads: o.threads,
        decodeTokens: o.decodeTokens,
        rounds: o.decodeRounds,
        engineArgs: o.engineArgs,
        prompt: traces[0]!.keystrokes[0]!.prefix.split('\n').slice(-12).join('\n'),
      },
      log,
    );
    const t = speculationTable(rows, o.decodeTokens, o.decodeRounds);
    const table = renderTable(t.header, t.rows);
    out.speculation = { rows, unrelatedDraft, table };
    tables.push(table);
  }
  if (o.sections.has('busy')) {
    const b = await busySection(o, model, llamaBin, engineBin, traces[0]!, log);
    out.busy = b;
    tables.push(b.table);
  }

  console.log(
    `\nEngine benchmark: ${path.basename(model)}, ${o.threads} threads, ${o.keystrokes} keystrokes/trace, ${o.nPredict} tokens/request (ignore_eos), window ${o.window} (${windowPresets[o.window].prefixLines}/${windowPresets[o.window].suffixLines}/${windowPresets[o.window].extraLines} lines)` +
      `${o.speculative ? ', ours WITH speculation' : ', no speculation'}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
  );
  if (engineBin)
    console.log(
      `ours: ${engineBin} (${o.engine ? '--engine' : 'npm run -s engine:path'})${o.engineArgs.length ? ` ${o.engineArgs.join(' ')}` : ''}`,
    );
  console.log(tables.join('\n\n'));
  for (const [k, why] of Object.entries(skipped)) console.log(`(${k} skipped: ${why})`);
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);

  if (o.json) {
    const json = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), loadavg: os.loadavg() },
      model,
      options: {
        keystrokes: o.keystrokes,
        nPredict: o.nPredict,
        decodeTokens: o.decodeTokens,
        decodeRounds: o.decodeRounds,
        engineArgs: o.engineArgs,
        threads: o.threads,
        speculative: o.speculative,
        window: windowPresets[o.window],
        windowName: o.window,
        sections: [...o.sections],
      },
      traces: traces.map((t) => ({ name: t.name, description: t.description })),
      ...out,
      skipped,
    };
    mkdirSync(path.dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify(json, null, 2));
    log(`wrote ${o.json}`);
  }
}

main().catch((e: unknown) => {
  console.error(`bench:engine failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
