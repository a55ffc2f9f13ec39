/**
 * The completion request flow (Tabby / llama.vscode style):
 *
 *   request ─► cache (exact or typing-through, raw text) ─hit─► filters ─► items
 *      │ miss
 *      ├─► a prefetch is computing this position (or one the user typed on from)? join it ─► cache ─► filters
 *      ▼
 *   abort the previous request ─► adaptive debounce ─► context (context/completionContext.ts)
 *      ─► FIM request(s) to the engine ─► cache (raw) ─► filters ─► items ─► prefetch the next one
 *
 * Every answer, cached or fresh, is post-processed for the position the user is at when it is
 * returned. A newer request aborts the older one through its AbortController; the engine client
 * turns the abort into a `cancel` message so the engine stops decoding. The LSP cancellation token
 * is linked to the same controller. A request that joins a prefetch never aborts it.
 */
import type { DidAcceptParams } from '../../../protocol/lsp';
import { completionContext, cursorContext, windowBudget, type ContextSources, type CursorContext } from '../context/completionContext';
import type { EngineClient, SubmitInput } from '../engine/client';
import type { FimParts } from '../templates/fim';
import type { Settings } from '../settings';
import type { CompletionStats } from '../stats';
import { CompletionCache, type AnswerSource } from './cache';
import { AdaptiveDebounce, delay } from './debounce';
import { filterContext, postprocess } from './postprocess';
import { Prefetcher, type Position } from './prefetch';

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
  /** Where the context comes from: the token estimate, the ring, the definitions. */
  context: ContextSources;
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

export type Outcome = 'shown' | 'empty' | 'cancelled' | 'error';

export type ProvideResult = {
  items: string[];
  fromCache: boolean;
  /** The answer was computed by a prefetch (found in the cache, or joined while running). */
  fromPrefetch?: boolean;
  outcome: Outcome;
  message?: string;
};

interface EngineTotals {
  prompt: number;
  reused: number;
  evaluated: number;
  generated: number;
  drafted: number;
  accepted: number;
}

type Generated =
  | { kind: 'raw'; raw: string[]; stats: EngineTotals }
  | { kind: 'cancelled'; message: string; stats: EngineTotals }
  | { kind: 'error'; message: string; stats: EngineTotals };

/** What the user last saw: the position and the suggestions (post-processed). */
interface Shown extends Position {
  items: string[];
}

function positionOf(input: CompletionInput): Position {
  return { uri: input.uri, before: input.text.slice(0, input.offset), after: input.text.slice(input.offset) };
}

/**
 * Time the engine gets for a completion beyond its decoding budget (queueing and evaluating the
 * prompt: a cold 3,000-token prompt on a slow, busy CPU). Past `timeBudgetMs` + this, the request
 * ends with a `timeout` and the engine's health is checked (engine/manager.ts).
 */
export const PROMPT_ALLOWANCE_MS = 20_000;

export function requestDeadlineMs(settings: Pick<Settings, 'completion.timeBudgetMs'>): number {
  return settings['completion.timeBudgetMs'] + PROMPT_ALLOWANCE_MS;
}

/** Post-processes raw texts for the cursor context; blanks and duplicates dropped. */
export function filterAnswers(raw: string[], cursor: CursorContext): string[] {
  const ctx = filterContext(cursor.prefix, cursor.suffix, cursor.multiline);
  const items: string[] = [];
  for (const r of raw) {
    const text = postprocess(r, ctx);
    if (text.trim().length > 0 && !items.includes(text)) items.push(text);
  }
  return items;
}

export class CompletionProvider {
  readonly cache = new CompletionCache(64);
  private readonly debounce: AdaptiveDebounce;
  private current: AbortController | undefined;
  readonly prefetcher: Prefetcher;
  private lastShown: Shown | undefined;
  /** Language of each document asked about (prefetch renders templates with it). */
  private readonly languages = new Map<string, string>();

  constructor(private readonly deps: ProviderDeps) {
    this.debounce = new AdaptiveDebounce(deps.getSettings()['completion.debounceMs']);
    this.prefetcher = new Prefetcher({
      onStart: () => deps.stats.count('prefetchStarted'),
      onAbort: () => deps.stats.count('prefetchAborted'),
    });
  }

  /** Resolves when the running prefetch (if any) settles; for tests. */
  get prefetching(): Promise<void> {
    return this.prefetcher.running?.done ?? Promise.resolve();
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Aborts whatever is in flight (used on disable and shutdown). */
  abortAll(): void {
    this.current?.abort();
    this.prefetcher.abort();
  }

  private cursor(input: CompletionInput, settings: Settings): CursorContext {
    return cursorContext(input, windowBudget(settings, this.deps.context.tokens), settings['completion.multiline']);
  }

  /**
   * A cached answer for this position, post-processed for it. An exact hit stands even when nothing
   * survives the filters (asking again would give the same answer); a typing-through hit that the
   * filters empty is a miss (the cached text ran out: what follows is unknown).
   */
  private fromCache(input: CompletionInput, position: Position, settings: Settings): { items: string[]; source: AnswerSource } | undefined {
    const hit = this.cache.get(input.uri, position.before, position.after);
    if (!hit) return undefined;
    const items = filterAnswers(hit.raw, this.cursor(input, settings));
    return items.length > 0 || hit.typedThrough === 0 ? { items, source: hit.source } : undefined;
  }

  async provide(input: CompletionInput, signal?: AbortSignal): Promise<ProvideResult> {
    const started = this.now();
    const settings = this.deps.getSettings();
    const position = positionOf(input);
    if (input.languageId) this.languages.set(input.uri, input.languageId);
    // A newer request supersedes the older one, all the way to the engine.
    this.current?.abort();
    const controller = new AbortController();
    this.current = controller;
    const onOuterAbort = () => controller.abort();
    if (signal?.aborted) controller.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    try {
      const cached = this.fromCache(input, position, settings);
      if (cached)
        return this.answer(input, position, started, cached.items, { fromCache: true, fromPrefetch: cached.source === 'prefetch' });

      // A prefetch is computing this position (or one the user typed on from): wait for it.
      const prefetch = this.prefetcher.covering(position);
      if (prefetch) {
        this.deps.stats.count('prefetchJoined');
        await Promise.race([
          prefetch.done,
          new Promise<void>((r) => controller.signal.addEventListener('abort', () => r(), { once: true })),
        ]);
        if (controller.signal.aborted) {
          this.record(input.uri, started, false, 'cancelled');
          return { items: [], fromCache: false, outcome: 'cancelled' };
        }
        const joined = this.fromCache(input, position, settings);
        if (joined) return this.answer(input, position, started, joined.items, { fromCache: false, fromPrefetch: true });
        // The prefetch gave nothing usable here: ask the engine.
      }
      this.prefetcher.abort();

      this.debounce.setBase(settings['completion.debounceMs']);
      const debounced = this.debounce.next(started);
      const wait = input.explicit ? 0 : debounced;
      if (!(await delay(wait, controller.signal))) {
        this.record(input.uri, started, false, 'cancelled');
        return { items: [], fromCache: false, outcome: 'cancelled' };
      }
      const client = this.deps.getClient();
      if (!client) {
        const message = 'the engine is not ready';
        const id = this.record(input.uri, started, false, 'error', undefined, undefined, message);
        this.deps.log?.(`completion #${id} failed: ${message}`);
        return { items: [], fromCache: false, outcome: 'error', message };
      }
      this.deps.onRequestStart?.();
      let figures: { tokensPerSecond?: number; lastLatencyMs?: number } = {};
      try {
        const context = completionContext(input, settings, this.deps.context);
        const result = await this.generate(
          client,
          context.fim,
          context.multiline,
          settings,
          controller.signal,
          settings['completion.alternatives'],
          input.languageId ?? 'plaintext',
        );
        if (result.kind === 'cancelled') {
          this.record(input.uri, started, false, 'cancelled', result.stats);
          return { items: [], fromCache: false, outcome: 'cancelled', message: result.message };
        }
        if (result.kind === 'error') {
          const id = this.record(input.uri, started, false, 'error', result.stats, undefined, result.message);
          this.deps.log?.(`completion #${id} failed: ${result.message}`);
          return { items: [], fromCache: false, outcome: 'error', message: result.message };
        }
        // An answer with nothing generated is not kept: the engine may have spent the time budget on
        // the prompt (a cold file on a slow CPU), and asking again there continues from what it evaluated.
        if (result.stats.generated > 0)
          this.cache.set({ uri: input.uri, prefix: position.before, suffix: position.after, raw: result.raw, source: 'request' });
        figures = { lastLatencyMs: this.now() - started, tokensPerSecond: this.deps.stats.tokensPerSecond };
        return this.answer(input, position, started, filterAnswers(result.raw, context), { fromCache: false }, result.stats);
      } finally {
        this.deps.onRequestEnd?.(figures);
      }
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      if (this.current === controller) this.current = undefined;
    }
  }

  /** Records an answer; a shown one is remembered for accepts, and what comes after its first item is prefetched. */
  private answer(
    input: CompletionInput,
    position: Position,
    started: number,
    items: string[],
    from: { fromCache: boolean; fromPrefetch?: boolean },
    stats?: EngineTotals,
  ): ProvideResult {
    const outcome: Outcome = items.length > 0 ? 'shown' : 'empty';
    this.record(input.uri, started, from.fromCache, outcome, stats, from.fromPrefetch);
    if (from.fromPrefetch) {
      this.deps.stats.count('prefetchAnswered');
      this.deps.log?.(
        `completion answered from the prefetch (${from.fromCache ? 'its cached answer' : 'joined while it ran'}): ${outcome}`,
      );
    }
    if (items.length > 0) {
      this.lastShown = { ...position, items };
      this.schedulePrefetch({ uri: input.uri, before: position.before + items[0]!, after: position.after }, position);
    }
    return { items, fromCache: from.fromCache, ...(from.fromPrefetch ? { fromPrefetch: true } : {}), outcome };
  }

  /**
   * The user accepted (part of) a suggestion. The anticipated position is the end of the suggestion
   * they took part of: for a full accept that is where they are now; after a word or a line, the
   * rest is served by typing-through and the next suggestion is prefetched for where it ends.
   * `documentText` (the document after the accept, when known) guards against a stale accept.
   */
  noteAccepted(accept: Pick<DidAcceptParams, 'uri' | 'text' | 'kind'>, documentText?: string): void {
    this.deps.stats.recordAccepted(accept);
    const shown = this.lastShown;
    if (!shown || shown.uri !== accept.uri || !accept.text) return;
    const item = accept.kind === 'full' ? accept.text : shown.items.find((i) => i.startsWith(accept.text));
    if (item === undefined || !item.startsWith(accept.text)) return;
    if (documentText !== undefined && documentText !== shown.before + accept.text + shown.after) return;
    this.schedulePrefetch({ uri: shown.uri, before: shown.before + item, after: shown.after }, shown);
  }

  /** Records a finished request; returns its number (`#id` in log lines). */
  private record(
    uri: string,
    started: number,
    fromCache: boolean,
    outcome: Outcome,
    stats?: EngineTotals,
    fromPrefetch?: boolean,
    message?: string,
  ): number {
    return this.deps.stats.record({
      at: started,
      uri,
      latencyMs: this.now() - started,
      fromCache,
      ...(fromPrefetch ? { fromPrefetch: true } : {}),
      promptTokens: stats?.prompt ?? 0,
      reusedTokens: stats?.reused ?? 0,
      evaluatedTokens: stats?.evaluated ?? 0,
      generatedTokens: stats?.generated ?? 0,
      draftedTokens: stats?.drafted ?? 0,
      acceptedTokens: stats?.accepted ?? 0,
      outcome,
      ...(message !== undefined ? { message } : {}),
    });
  }

  /** Sends the FIM request(s) and returns the engine's raw texts. */
  private async generate(
    client: EngineClient,
    fim: SubmitInput['fim'],
    multiline: boolean,
    settings: Settings,
    signal: AbortSignal,
    alternatives: number,
    languageId: string,
  ): Promise<Generated> {
    // A custom FIM template renders the prompt itself; the built-in one keeps the engine's `fim` layout.
    const prompt =
      fim &&
      this.deps.fimPrompt?.({
        ...fim,
        filename: fim.filename ?? '',
        extra: fim.extra ?? [],
        budget: fim.budget ?? {},
        languageId,
        charsPerToken: this.deps.context.tokens.charsPerToken,
      });
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
    for (const _ of requests) this.deps.stats.count('engineRequests');
    const deadlineMs = requestDeadlineMs(settings);
    const outcomes = await Promise.all(requests.map((r) => client.submit(r, { signal, deadlineMs })));
    const totals: EngineTotals = { prompt: 0, reused: 0, evaluated: 0, generated: 0, drafted: 0, accepted: 0 };
    const raw: string[] = [];
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
      if (o.text.length > 0 && !raw.includes(o.text)) raw.push(o.text);
    }
    if (raw.length > 0 || (cancelled === undefined && firstError === undefined)) return { kind: 'raw', raw, stats: totals };
    if (cancelled !== undefined) return { kind: 'cancelled', message: cancelled, stats: totals };
    return { kind: 'error', message: firstError!, stats: totals };
  }

  /**
   * Computes the answer for `position` ahead of time (one per position; see prefetch.ts). Its window
   * starts where the window of `shownAt` (the request that showed the suggestion) starts, so its
   * prompt extends that request's prompt in the engine's cache.
   */
  private schedulePrefetch(position: Position, shownAt: Position): void {
    const settings = this.deps.getSettings();
    if (!settings['completion.prefetch']) return;
    if (this.cache.has(position.uri, position.before, position.after)) return;
    const client = this.deps.getClient();
    if (!client) return;
    const languageId = this.languages.get(position.uri) ?? 'plaintext';
    this.prefetcher.schedule(position, async (signal) => {
      const input: CompletionInput = {
        uri: position.uri,
        text: position.before + position.after,
        offset: position.before.length,
        languageId,
      };
      const anchor = this.cursor({ uri: shownAt.uri, text: shownAt.before + shownAt.after, offset: shownAt.before.length }, settings);
      const context = completionContext(input, settings, this.deps.context, {
        startLine: anchor.firstLine,
        extraPrefixTokens: settings['completion.maxTokens'],
      });
      const result = await this.generate(client, context.fim, context.multiline, settings, signal, 1, languageId);
      if (result.kind === 'raw' && result.stats.generated > 0)
        this.cache.set({ uri: position.uri, prefix: position.before, suffix: position.after, raw: result.raw, source: 'prefetch' });
      else if (result.kind === 'error') this.deps.log?.(`prefetch failed: ${result.message}`);
    });
  }
}
