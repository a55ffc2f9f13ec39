/**
 * The completion request flow (Tabby / llama.vscode style):
 *
 *   request ─► cache (exact or typing-through) ─hit─► items
 *      │ miss
 *      ▼
 *   abort the previous request ─► adaptive debounce ─► FIM request(s) to the engine
 *      ─► post-processing filters ─► cache ─► items ─► prefetch of the next suggestion
 *
 * A newer request aborts the older one through its AbortController; the engine client turns the
 * abort into a `cancel` message so the engine stops decoding. The LSP cancellation token is linked
 * to the same controller.
 */
import * as path from 'node:path';
import type { ContextChunk } from '../../../protocol/engine';
import type { FimParts } from '../templates/fim';
import type { SubmitInput } from '../engine/client';
import type { EngineClient } from '../engine/client';
import { findDefinitions, identifiersNearCursor, type OpenDocument } from '../context/definitions';
import type { ContextRing } from '../context/ring';
import { cursorWindow, fimBudget, precutChars } from '../context/window';
import type { Settings } from '../settings';
import type { CompletionStats } from '../stats';
import { CompletionCache } from './cache';
import { AdaptiveDebounce, delay } from './debounce';
import { filterContext, postprocess, wantsMultiline } from './postprocess';

export interface CompletionInput {
  uri: string;
  /** Whole document text and the cursor offset in it. */
  text: string;
  offset: number;
  /** The user asked for a suggestion explicitly (LSP triggerKind Invoked): no debounce. */
  explicit?: boolean;
  /** Language id of the document ({language} in FIM templates). */
  languageId?: string;
}

export interface ProviderDeps {
  getClient: () => EngineClient | undefined;
  getSettings: () => Settings;
  ring: ContextRing;
  /** Open documents, searched for definitions of symbols near the cursor. */
  getDocuments?: () => OpenDocument[];
  /**
   * Definitions chunks for a request (editor-resolved ones with the pattern-search fallback, see
   * context/definitions.ts); when set, used instead of the pattern search over `getDocuments`.
   */
  getDefinitions?: (uri: string, prefixWindow: string) => ContextChunk[];
  stats: CompletionStats;
  /**
   * A custom FIM template's rendered prompt (server/src/templates/fim.ts), sent instead of the
   * engine's own FIM layout; undefined keeps the engine's `fim` path.
   */
  fimPrompt?: (parts: FimParts) => string | undefined;
  onRequestStart?: () => void;
  onRequestEnd?: (figures: { tokensPerSecond?: number; lastLatencyMs?: number }) => void;
  log?: (line: string) => void;
  now?: () => number;
}

export type ProvideResult = { items: string[]; fromCache: boolean; outcome: 'shown' | 'empty' | 'cancelled' | 'error'; message?: string };

function filenameOf(uri: string): string {
  try {
    return path.basename(new URL(uri).pathname);
  } catch {
    return path.basename(uri);
  }
}

export class CompletionProvider {
  readonly cache = new CompletionCache(64);
  private readonly debounce: AdaptiveDebounce;
  private current: AbortController | undefined;
  private prefetchController: AbortController | undefined;
  /** Resolves when the running prefetch (if any) settles; for tests. */
  prefetching: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ProviderDeps) {
    this.debounce = new AdaptiveDebounce(deps.getSettings()['completion.debounceMs']);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Aborts whatever is in flight (used on disable and shutdown). */
  abortAll(): void {
    this.current?.abort();
    this.prefetchController?.abort();
  }

  async provide(input: CompletionInput, signal?: AbortSignal): Promise<ProvideResult> {
    const started = this.now();
    const settings = this.deps.getSettings();
    const before = input.text.slice(0, input.offset);
    const after = input.text.slice(input.offset);

    const hit = this.cache.get(input.uri, before, after);
    if (hit) {
      this.current?.abort(); // an older request still in flight is superseded
      this.record(input.uri, started, true, 'shown');
      this.schedulePrefetch(input, hit.items[0]!);
      return { items: hit.items, fromCache: true, outcome: 'shown' };
    }

    // A newer request supersedes the older one, all the way to the engine.
    this.current?.abort();
    this.prefetchController?.abort();
    const controller = new AbortController();
    this.current = controller;
    const onOuterAbort = () => controller.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    try {
      this.debounce.setBase(settings['completion.debounceMs']);
      const debounced = this.debounce.next(started);
      const wait = input.explicit ? 0 : debounced;
      if (!(await delay(wait, controller.signal))) {
        this.record(input.uri, started, false, 'cancelled');
        return { items: [], fromCache: false, outcome: 'cancelled' };
      }
      const client = this.deps.getClient();
      if (!client) {
        this.record(input.uri, started, false, 'error');
        return { items: [], fromCache: false, outcome: 'error', message: 'engine not ready' };
      }
      this.deps.onRequestStart?.();
      let figures: { tokensPerSecond?: number; lastLatencyMs?: number } = {};
      try {
        const result = await this.generate(client, input, before, after, settings, controller.signal, settings['completion.alternatives']);
        const latency = this.now() - started;
        if (result.kind === 'cancelled') {
          this.record(input.uri, started, false, 'cancelled', result.stats);
          return { items: [], fromCache: false, outcome: 'cancelled', message: result.message };
        }
        if (result.kind === 'error') {
          this.record(input.uri, started, false, 'error', result.stats);
          this.deps.log?.(`completion failed: ${result.message}`);
          return { items: [], fromCache: false, outcome: 'error', message: result.message };
        }
        const outcome = result.items.length > 0 ? 'shown' : 'empty';
        this.record(input.uri, started, false, outcome, result.stats);
        figures = { lastLatencyMs: latency, tokensPerSecond: this.deps.stats.tokensPerSecond };
        if (result.items.length > 0) {
          this.cache.set({ uri: input.uri, prefix: before, suffix: after, items: result.items });
          this.schedulePrefetch(input, result.items[0]!);
        }
        return { items: result.items, fromCache: false, outcome };
      } finally {
        this.deps.onRequestEnd?.(figures);
      }
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      if (this.current === controller) this.current = undefined;
    }
  }

  /** The user accepted (part of) a suggestion: it is in the document now; keep the cache warm. */
  noteAccepted(): void {
    this.deps.stats.recordAccepted();
  }

  private record(
    uri: string,
    started: number,
    fromCache: boolean,
    outcome: 'shown' | 'empty' | 'cancelled' | 'error',
    stats?: EngineTotals,
  ): void {
    this.deps.stats.record({
      at: started,
      uri,
      latencyMs: this.now() - started,
      fromCache,
      promptTokens: stats?.prompt ?? 0,
      reusedTokens: stats?.reused ?? 0,
      evaluatedTokens: stats?.evaluated ?? 0,
      generatedTokens: stats?.generated ?? 0,
      draftedTokens: stats?.drafted ?? 0,
      acceptedTokens: stats?.accepted ?? 0,
      outcome,
    });
  }

  /** Builds the FIM request(s) and post-processes the answers. */
  private async generate(
    client: EngineClient,
    input: CompletionInput,
    before: string,
    _after: string,
    settings: Settings,
    signal: AbortSignal,
    alternatives: number,
  ): Promise<
    | { kind: 'items'; items: string[]; stats: EngineTotals }
    | { kind: 'cancelled'; message: string; stats: EngineTotals }
    | { kind: 'error'; message: string; stats: EngineTotals }
  > {
    const win = cursorWindow(
      input.text,
      input.offset,
      precutChars(settings['context.prefixTokens'], settings['context.prefixChars']),
      precutChars(settings['context.suffixTokens'], settings['context.suffixChars']),
    );
    const multiline = wantsMultiline(settings['completion.multiline'], win.linePrefix, win.lineSuffix);
    const cursorLine = before.split('\n').length - 1;
    const windowStart = cursorLine - win.prefix.split('\n').length + 1;
    const windowEnd = cursorLine + win.suffix.split('\n').length - 1;
    const definitions = this.deps.getDefinitions
      ? this.deps.getDefinitions(input.uri, win.prefix)
      : this.deps.getDocuments
        ? findDefinitions(identifiersNearCursor(win.prefix), this.deps.getDocuments(), input.uri)
        : [];
    const ringChunks = this.deps.ring.forRequest(input.uri, windowStart, windowEnd);
    // Definitions the ring already holds are not sent twice; the rest go last (nearest the cursor).
    const newDefinitions = definitions.filter((d) => !ringChunks.some((c) => c.filename === d.filename && c.text.includes(d.text)));
    const extra = [...ringChunks, ...newDefinitions];
    const fim = {
      prefix: win.prefix,
      suffix: win.suffix,
      filename: filenameOf(input.uri),
      ...(extra.length ? { extra } : {}),
      budget: fimBudget(settings),
    };
    const prompt = this.deps.fimPrompt?.({ ...fim, extra, languageId: input.languageId ?? 'plaintext' });
    const base: SubmitInput = {
      ...(prompt !== undefined ? { prompt } : { fim }),
      limits: {
        // Single-line answers end at the first line break (stop_at_eol), so one limit serves both.
        max_tokens: settings['completion.maxTokens'],
        time_budget_ms: settings['completion.timeBudgetMs'],
        ...(multiline ? { stop_at_block_end: true } : { stop_at_eol: true }),
      },
    };
    const requests: SubmitInput[] = [base];
    for (let i = 1; i < alternatives; i++) requests.push({ ...base, sampling: { temperature: 0.7, top_p: 0.95, seed: i } });
    const outcomes = await Promise.all(requests.map((r) => client.submit(r, { signal })));
    const totals: EngineTotals = { prompt: 0, reused: 0, evaluated: 0, generated: 0, drafted: 0, accepted: 0 };
    const ctx = filterContext(win.prefix, win.suffix, multiline);
    const items: string[] = [];
    let firstError: string | undefined;
    let cancelled: string | undefined;
    for (const o of outcomes) {
      if (o.kind === 'cancelled') {
        cancelled ??= o.reason;
        continue;
      }
      if (o.kind === 'error') {
        firstError ??= `${o.code}: ${o.message}`;
        continue;
      }
      totals.prompt += o.stats.prompt_tokens;
      totals.reused += o.stats.reused_tokens;
      totals.evaluated += o.stats.evaluated_tokens;
      totals.generated += o.stats.generated_tokens;
      totals.drafted += o.stats.drafted_tokens;
      totals.accepted += o.stats.accepted_tokens;
      // Decode speed after the first token (prompt evaluation and queueing excluded).
      this.deps.stats.recordDecode(o.stats.generated_tokens - 1, o.stats.t_total_ms - o.stats.t_first_token_ms);
      const text = postprocess(o.text, ctx);
      if (text.trim().length > 0 && !items.includes(text)) items.push(text);
    }
    if (items.length > 0) return { kind: 'items', items, stats: totals };
    if (cancelled !== undefined) return { kind: 'cancelled', message: cancelled, stats: totals };
    if (firstError !== undefined) return { kind: 'error', message: firstError, stats: totals };
    return { kind: 'items', items: [], stats: totals };
  }

  /**
   * Prefetch: compute the suggestion that will be wanted once `shown` is accepted, so accepting it
   * and carrying on is served from the cache. At most one prefetch runs; a real request aborts it.
   */
  private schedulePrefetch(input: CompletionInput, shown: string): void {
    const settings = this.deps.getSettings();
    if (!settings['completion.prefetch']) return;
    const text = input.text.slice(0, input.offset) + shown + input.text.slice(input.offset);
    const offset = input.offset + shown.length;
    const before = text.slice(0, offset);
    const after = text.slice(offset);
    if (this.cache.get(input.uri, before, after)) return;
    const client = this.deps.getClient();
    if (!client) return;
    this.prefetchController?.abort();
    const controller = new AbortController();
    this.prefetchController = controller;
    this.prefetching = (async () => {
      const result = await this.generate(
        client,
        { ...input, text, offset, explicit: false },
        before,
        after,
        settings,
        controller.signal,
        1,
      );
      if (result.kind === 'items' && result.items.length > 0)
        this.cache.set({ uri: input.uri, prefix: before, suffix: after, items: result.items });
    })()
      .catch((err) => this.deps.log?.(`prefetch failed: ${(err as Error).message}`))
      .finally(() => {
        if (this.prefetchController === controller) this.prefetchController = undefined;
      });
  }
}

interface EngineTotals {
  prompt: number;
  reused: number;
  evaluated: number;
  generated: number;
  drafted: number;
  accepted: number;
}
