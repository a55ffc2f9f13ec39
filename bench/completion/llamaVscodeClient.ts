// PEER: an emulation of ggml-org/llama.vscode's inline completion client (src/completion.ts,
// src/llama-server.ts, src/extra-context.ts, src/lru-cache.ts), against llama-server's /infill.
// What is kept, because it decides latency and load:
// - requests are serialized: a provider call waits (polling every 150 ms, DELAY_BEFORE_COMPL_REQUEST)
//   while another is in progress, and returns null if its token was cancelled meanwhile; a request
//   once sent is not aborted (axios without a cancel token);
// - LRU result cache (250 keys) keyed by sha256(inputPrefix|inputSuffix|prompt), with typing-through
//   by slicing the line prefix (getCachedCompletion);
// - after a suggestion is shown (and the line suffix is empty): cacheFutureSuggestion (a second
//   /infill for the text after accepting it) and cacheFutureAcceptLineSuggestion; then
//   addFimContextChunks (ring of extra context: chunks above the prefix window and below the suffix
//   window, queued; a 1 s timer moves one into the ring and sends an n_predict 0 /infill to warm the
//   server's cache when no completion started in the last 3 s);
// - the request: input_prefix (256 lines above), input_suffix (line suffix + 64 lines below),
//   input_extra (the ring), prompt (line prefix), n_predict, top_k 40, top_p 0.99, samplers
//   [top_k, top_p, infill], cache_prompt, t_max_prompt_ms 500, t_max_predict_ms 1000, n_indent;
// - post-processing: removeTrailingNewLines, shouldDiscardSuggestion, updateSuggestion.
// Left out: RAG, the OpenAI endpoint, status bar, chunks picked on save/yank/editor switch (the
// session has none of these events); the random chunk choice uses a seeded PRNG.

import { createHash } from 'node:crypto';
import type { CancellationToken } from 'vscode-jsonrpc';
import type { CompletionClient, ProviderAnswer } from './replay';
import { seededRandom, type Keystroke, type Session } from './session';

export interface LlamaVscodeConfig {
  n_prefix: number;
  n_suffix: number;
  n_predict: number;
  t_max_prompt_ms: number;
  t_max_predict_ms: number;
  max_line_suffix: number;
  max_cache_keys: number;
  ring_n_chunks: number;
  ring_chunk_size: number;
  ring_scope: number;
  ring_update_ms: number;
}

/** llama.vscode's defaults (package.json), n_predict set by the benchmark. */
export const llamaVscodeDefaults: LlamaVscodeConfig = {
  n_prefix: 256,
  n_suffix: 64,
  n_predict: 128,
  t_max_prompt_ms: 500,
  t_max_predict_ms: 1000,
  max_line_suffix: 8,
  max_cache_keys: 250,
  ring_n_chunks: 16,
  ring_chunk_size: 64,
  ring_scope: 1024,
  ring_update_ms: 1000,
};

const DELAY_BEFORE_COMPL_REQUEST = 150;
const RING_UPDATE_MIN_TIME_LAST_COMPL = 3000;
const MAX_LAST_PICK_LINE_DISTANCE = 32;
const MAX_QUEUED_CHUNKS = 16;

interface Chunk {
  text: string;
  time: number;
  filename: string;
}

/** One HTTP request to llama-server, as measured. */
export interface PeerRequest {
  kind: 'completion' | 'future' | 'ring';
  promptN: number;
  predictedN: number;
  /** llama-server's own prompt and generation times (timings.prompt_ms, predicted_ms). */
  promptMs: number;
  predictedMs: number;
  ms: number;
}

class LruCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly max: number) {}
  static hash(s: string): string {
    return createHash('sha256').update(s, 'utf8').digest('hex');
  }
  get(key: string): string | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  put(key: string, v: string): void {
    this.map.delete(key);
    this.map.set(key, v);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

interface LlamaResponse {
  content?: string;
  timings?: { prompt_n?: number; predicted_n?: number; prompt_ms?: number; predicted_ms?: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function removeTrailingNewLines(lines: string[]): void {
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
}

export class LlamaVscodeClient implements CompletionClient {
  private isRequestInProgress = false;
  private readonly cache: LruCache;
  private readonly rand: () => number;
  private lines: string[];
  // extra context ring
  private chunks: Chunk[] = [];
  private chunksLines: string[][] = [];
  private queuedChunks: Chunk[] = [];
  private queuedChunksLines: string[][] = [];
  private lastComplStartTime = Date.now();
  private lastLinePick = -9999;
  private ringTimer: NodeJS.Timeout | undefined;
  /** Background work (future suggestions, ring updates) still running. */
  private readonly background = new Set<Promise<unknown>>();

  readonly requests: PeerRequest[] = [];
  providerCalls = 0;
  servedFromCache = 0;

  constructor(
    private readonly url: string,
    private readonly session: Session,
    private readonly cfg: LlamaVscodeConfig,
    seed = 1,
  ) {
    this.cache = new LruCache(cfg.max_cache_keys);
    this.rand = seededRandom(seed);
    this.lines = session.initialDoc.split('\n');
  }

  /** Starts the ring buffer's periodic update (llama.vscode starts it at activation). */
  startRingTimer(): void {
    this.ringTimer ??= setInterval(() => this.periodicRingBufferUpdate(), this.cfg.ring_update_ms);
  }

  dispose(): void {
    clearInterval(this.ringTimer);
    this.ringTimer = undefined;
  }

  /** Resolves when no background request is running. */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.isRequestInProgress) {
      if (this.background.size > 0) await Promise.allSettled([...this.background]);
      else await sleep(20);
    }
  }

  /** Errors of background requests (llama.vscode ignores them; the benchmark reports them). */
  readonly errors: string[] = [];

  private track(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => void this.errors.push((e as Error).message)).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  change(k: Keystroke): void {
    this.lines = k.doc.split('\n');
  }

  /** The warm-up (opening the file): one completion at the initial cursor, awaited with its background work. */
  async warmup(): Promise<void> {
    const k: Keystroke = {
      text: '',
      doc: this.session.initialDoc,
      offset: this.session.initialOffset,
      line: this.session.initialLine,
      character: this.session.initialCharacter,
      gapMs: 0,
      pause: true,
    };
    await this.provide(k, { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) } as CancellationToken);
    await this.idle();
  }

  private async infill(kind: PeerRequest['kind'], body: object): Promise<LlamaResponse> {
    const t0 = performance.now();
    const res = await fetch(`${this.url}/infill`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`llama-server /infill: HTTP ${res.status}: ${text.slice(0, 300)}`);
    const data = JSON.parse(text) as LlamaResponse;
    this.requests.push({
      kind,
      promptN: data.timings?.prompt_n ?? 0,
      predictedN: data.timings?.predicted_n ?? 0,
      promptMs: data.timings?.prompt_ms ?? NaN,
      predictedMs: data.timings?.predicted_ms ?? NaN,
      ms: performance.now() - t0,
    });
    return data;
  }

  private getFIMCompletion(
    kind: 'completion' | 'future',
    inputPrefix: string,
    inputSuffix: string,
    prompt: string,
    nindent: number,
  ): Promise<LlamaResponse> {
    return this.infill(kind, {
      input_prefix: inputPrefix,
      input_suffix: inputSuffix,
      input_extra: this.chunks,
      prompt,
      n_predict: this.cfg.n_predict,
      top_k: 40,
      top_p: 0.99,
      stream: false,
      samplers: ['top_k', 'top_p', 'infill'],
      cache_prompt: true,
      ...(nindent ? { n_indent: nindent } : {}),
      t_max_prompt_ms: this.cfg.t_max_prompt_ms,
      t_max_predict_ms: this.cfg.t_max_predict_ms,
    });
  }

  async provide(k: Keystroke, token: CancellationToken): Promise<ProviderAnswer | null> {
    this.providerCalls++;
    while (this.isRequestInProgress) {
      await sleep(DELAY_BEFORE_COMPL_REQUEST);
      if (token.isCancellationRequested) return null;
    }
    this.isRequestInProgress = true;
    try {
      this.lastComplStartTime = Date.now();
      const lines = this.lines;
      const line = k.line;
      const prefixLines = lines.slice(Math.max(0, line - this.cfg.n_prefix), line);
      const suffixLines = lines.slice(line + 1, Math.min(lines.length - 1, line + this.cfg.n_suffix) + 1);
      const lineText = lines[line] ?? '';
      const linePrefix = lineText.slice(0, k.character);
      const lineSuffix = lineText.slice(k.character);
      const nindent = lineText.length - lineText.trimStart().length;
      if (lineSuffix.length > this.cfg.max_line_suffix) return null;
      let prompt = linePrefix;
      let spacesToRemove = 0;
      if (/^[ \t]*$/.test(prompt)) {
        prompt = '';
        spacesToRemove = linePrefix.length;
      }
      const inputPrefix = prefixLines.join('\n') + '\n';
      const inputSuffix = lineSuffix + '\n' + suffixLines.join('\n') + '\n';

      const hashKey = LruCache.hash(inputPrefix + '|' + inputSuffix + '|' + prompt);
      let completion = this.getCachedCompletion(hashKey, inputPrefix, inputSuffix, prompt);
      const isCachedResponse = completion !== undefined;
      if (isCachedResponse) this.servedFromCache++;
      else {
        if (token.isCancellationRequested) return null;
        const data = await this.getFIMCompletion('completion', inputPrefix, inputSuffix, prompt, nindent);
        completion = data.content;
      }
      if (completion === undefined || completion.trim() === '') return { items: [], fromCache: isCachedResponse };
      const suggestionLines = completion.split(/\r?\n/);
      removeTrailingNewLines(suggestionLines);
      if (this.shouldDiscardSuggestion(suggestionLines, line, linePrefix, lineSuffix)) return { items: [], fromCache: isCachedResponse };
      completion = this.updateSuggestion(suggestionLines, lineSuffix);
      if (!isCachedResponse) this.cache.put(hashKey, completion);

      // llama.vscode: setTimeout(async () => {...}, 0) after returning the suggestion.
      const shownLines = suggestionLines;
      this.track(
        (async () => {
          await sleep(0);
          if (!token.isCancellationRequested && lineSuffix.trim() === '') {
            await this.cacheFutureSuggestion(inputPrefix, inputSuffix, prompt, shownLines);
            this.cacheFutureAcceptLineSuggestion(inputPrefix, inputSuffix, prompt, shownLines);
          }
          if (!token.isCancellationRequested) this.addFimContextChunks(line);
        })(),
      );
      return { items: [this.removeLeadingSpaces(completion, spacesToRemove)], fromCache: isCachedResponse };
    } finally {
      this.isRequestInProgress = false;
    }
  }

  private removeLeadingSpaces(str: string, n: number): string {
    let i = 0;
    // Same precedence as the original: (i < len && i < n && str[i] === ' ') || str[i] === '\t'
    while ((i < str.length && i < n && str[i] === ' ') || str[i] === '\t') i++;
    return str.slice(i);
  }

  private getCachedCompletion(hashKey: string, inputPrefix: string, inputSuffix: string, prompt: string): string | undefined {
    const result = this.cache.get(hashKey);
    if (result !== undefined) return result;
    for (let i = prompt.length; i >= 0; i--) {
      const newPrompt = prompt.slice(0, i);
      const promptCut = prompt.slice(i);
      const r = this.cache.get(LruCache.hash(inputPrefix + '|' + inputSuffix + '|' + newPrompt));
      if (r !== undefined && promptCut === r.slice(0, promptCut.length)) return r.slice(prompt.length - newPrompt.length);
    }
    return undefined;
  }

  private shouldDiscardSuggestion(suggestionLines: string[], line: number, linePrefix: string, lineSuffix: string): boolean {
    const doc = this.lines;
    const at = (i: number): string => doc[i] ?? '';
    if (suggestionLines.length === 0) return true;
    if (suggestionLines.length === 1 && suggestionLines[0]!.trim() === '') return true;
    if (line === doc.length - 1) return false;
    if (
      suggestionLines.length > 1 &&
      (suggestionLines[0]!.trim() === '' || suggestionLines[0]!.trim() === lineSuffix.trim()) &&
      suggestionLines.slice(1).every((v, i) => v === at(line + 1 + i))
    )
      return true;
    if (suggestionLines.length === 1 && suggestionLines[0] === lineSuffix) return true;
    let firstNonEmpty = line + 1;
    while (firstNonEmpty < doc.length && at(firstNonEmpty).trim() === '') firstNonEmpty++;
    if (firstNonEmpty >= doc.length) return false;
    if (linePrefix + suggestionLines[0] === at(firstNonEmpty)) {
      if (suggestionLines.length === 1) return true;
      if (suggestionLines.length === 2 && suggestionLines[1] === at(firstNonEmpty + 1).slice(0, suggestionLines[1]!.length)) return true;
      if (suggestionLines.length > 2 && suggestionLines.slice(1).every((v, i) => v === at(firstNonEmpty + 1 + i))) return true;
    }
    return false;
  }

  private updateSuggestion(suggestionLines: string[], lineSuffix: string): string {
    if (lineSuffix.trim() !== '') {
      if (suggestionLines[0]!.endsWith(lineSuffix)) return suggestionLines[0]!.slice(0, -lineSuffix.length);
      if (suggestionLines.length > 1) return suggestionLines[0]!;
    }
    return suggestionLines.join('\n');
  }

  private async cacheFutureSuggestion(inputPrefix: string, inputSuffix: string, prompt: string, suggestionLines: string[]): Promise<void> {
    let futureInputPrefix = inputPrefix;
    const futureInputSuffix = inputSuffix;
    let futurePrompt = prompt + suggestionLines[0];
    if (suggestionLines.length > 1) {
      futureInputPrefix = inputPrefix + prompt + suggestionLines.slice(0, -1).join('\n') + '\n';
      futurePrompt = suggestionLines[suggestionLines.length - 1]!;
      const futureInputPrefixLines = futureInputPrefix.slice(0, -1).split(/\r?\n/);
      if (futureInputPrefixLines.length > this.cfg.n_prefix) {
        futureInputPrefix = futureInputPrefixLines.slice(futureInputPrefixLines.length - this.cfg.n_prefix).join('\n') + '\n';
      }
    }
    const futureHashKey = LruCache.hash(futureInputPrefix + '|' + futureInputSuffix + '|' + futurePrompt);
    if (this.cache.get(futureHashKey) !== undefined) return;
    const futureData = await this.getFIMCompletion(
      'future',
      futureInputPrefix,
      futureInputSuffix,
      futurePrompt,
      prompt.length - prompt.trimStart().length,
    );
    if (futureData.content !== undefined && futureData.content.trim() !== '') {
      const lines = futureData.content.split(/\r?\n/);
      removeTrailingNewLines(lines);
      this.cache.put(futureHashKey, lines.join('\n'));
    }
  }

  private cacheFutureAcceptLineSuggestion(inputPrefix: string, inputSuffix: string, prompt: string, suggestionLines: string[]): void {
    if (suggestionLines.length <= 1) return;
    const futureInputPrefix = inputPrefix + prompt + suggestionLines[0] + '\n';
    const key = LruCache.hash(futureInputPrefix + '|' + inputSuffix + '|' + '');
    if (this.cache.get(key) === undefined) this.cache.put(key, suggestionLines.slice(1).join('\n'));
  }

  // ---- extra context ring (src/extra-context.ts) ----

  private addFimContextChunks(line: number): void {
    const delta = Math.abs(line - this.lastLinePick);
    if (delta <= MAX_LAST_PICK_LINE_DISTANCE) return;
    const doc = this.lines;
    const get = (a: number, b: number): string[] => doc.slice(a, b + 1);
    this.pickChunk(get(Math.max(0, line - this.cfg.ring_scope), Math.max(0, line - this.cfg.n_prefix)));
    this.pickChunk(
      get(
        Math.min(doc.length - 1, line + this.cfg.n_suffix),
        Math.min(doc.length - 1, line + this.cfg.n_suffix + this.cfg.ring_chunk_size),
      ),
    );
    this.lastLinePick = line;
  }

  private pickChunk(lines: string[]): void {
    if (this.cfg.ring_n_chunks <= 0 || lines.length < 3) return;
    let chunkLines: string[];
    if (lines.length + 1 < this.cfg.ring_chunk_size) chunkLines = lines;
    else {
      const start = Math.floor(this.rand() * Math.max(0, lines.length - this.cfg.ring_chunk_size / 2 + 1));
      chunkLines = lines.slice(start, Math.min(start + this.cfg.ring_chunk_size / 2, lines.length));
    }
    if (this.queuedChunks.length >= MAX_QUEUED_CHUNKS) {
      this.queuedChunks.splice(0, 1);
      this.queuedChunksLines.splice(0, 1);
    }
    this.queuedChunks.push({ text: chunkLines.join('\n') + '\n', time: Date.now(), filename: this.session.absPath });
    this.queuedChunksLines.push(chunkLines);
  }

  private periodicRingBufferUpdate(): void {
    if (this.queuedChunks.length === 0 || Date.now() - this.lastComplStartTime < RING_UPDATE_MIN_TIME_LAST_COMPL) return;
    const lines = this.queuedChunksLines.shift();
    const chunk = this.queuedChunks.shift();
    if (lines && chunk) {
      this.chunksLines.push(lines);
      this.chunks.push(chunk);
      while (this.chunks.length > this.cfg.ring_n_chunks) {
        this.chunks.shift();
        this.chunksLines.shift();
      }
    }
    // Fire and forget in llama.vscode; tracked here so the benchmark can wait for it.
    this.track(
      this.infill('ring', {
        input_prefix: '',
        input_suffix: '',
        input_extra: this.chunks,
        prompt: '',
        n_predict: 0,
        samplers: [],
        cache_prompt: true,
        t_max_prompt_ms: this.cfg.t_max_prompt_ms,
        t_max_predict_ms: 1,
      }),
    );
  }
}
