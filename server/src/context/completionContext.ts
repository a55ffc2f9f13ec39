/**
 * Everything a completion request needs from a document and a cursor, built in one place: the
 * request handler (which tells the editor which lines the prompt holds), the provider and prefetch
 * all call it.
 *
 *   document + cursor ──► cursorContext: prefix/suffix windows by token budget (× the model's
 *                         characters per token, context/tokens.ts; the prefix starting on a block of
 *                         PREFIX_BLOCK_LINES lines, or where a pinned window starts), lines capped; the document lines
 *                         they span (left out of the ring and the definitions); single/multi-line
 *   + ring + definitions ──► completionContext: the extra chunks (capped, nearest kept within the
 *                         extra token budget) and the FIM input sent to the engine
 *
 * The engine enforces the token budgets exactly (`fim.budget`); the character windows here decide
 * what is sent, so a huge file is never sent whole, and which lines count as in the prompt. Where the
 * prefix starts is decided here, not by the engine's token cut (see SEND_MARGIN): that is what keeps
 * consecutive keystrokes' prompts extending one another.
 */
import * as path from 'node:path';
import type { ContextChunk, FimBudget, FimInput } from '../../../protocol/engine';
import { wantsMultiline } from '../completion/postprocess';
import type { Settings } from '../settings';
import { identifiersNearCursor } from './definitions';
import type { ContextRing } from './ring';
import type { TokenEstimator } from './tokens';
import { capChunk, type Kept, keepHead, keepTail, lineOf, MAX_CHUNK_CHARS, MAX_LINE_CHARS } from './window';

export interface DocumentPosition {
  uri: string;
  /** Whole document text and the cursor offset in it. */
  text: string;
  offset: number;
}

/**
 * Characters sent beyond what the token budget holds, as a factor, for the suffix and the extra
 * chunks: the engine cuts them exactly in tokens, and neither changes while the user types, so the
 * engine's cut stays put. Not for the prefix: its token count goes up and down by one as the
 * tokenizer merges the word being typed, so an engine cut by tokens flips between two line starts on
 * consecutive keystrokes (measured: 28 and then 1,013 tokens evaluated, alternating). The prefix is
 * cut here, by characters (which only grow while typing) and in blocks of lines (PREFIX_BLOCK_LINES).
 */
export const SEND_MARGIN = 1.5;

/**
 * The first line sent is a multiple of this many lines (when the window does not reach the file's
 * start). Cut by characters alone, the window's first line moves down by one every line's worth of
 * typing; in blocks, it moves once every PREFIX_BLOCK_LINES lines, so between two moves consecutive
 * keystrokes send the same text up to the cursor line (the engine re-evaluates only what was typed).
 */
export const PREFIX_BLOCK_LINES = 16;

/** `kept` (the end of a text whose first line is document line `firstLine`) without its lines before the next block start. */
function startAtBlock(kept: Kept, firstLine: number, lastLine: number): Kept {
  const blockStart = Math.ceil(firstLine / PREFIX_BLOCK_LINES) * PREFIX_BLOCK_LINES;
  if (blockStart === firstLine || blockStart > lastLine) return kept;
  let at = 0;
  for (let i = firstLine; i < blockStart; i++) at = kept.text.indexOf('\n', at) + 1;
  return { text: kept.text.slice(at), lines: kept.lines - (blockStart - firstLine) };
}

/** How far past twice the prefix budget a pinned start may reach (a suggestion of many lines). */
const PIN_SLACK_CHARS = 4096;

/** Offset where document line `line` starts in `text` (which ends on line `lastLine`); -1 when out of range. */
function lineStartBefore(text: string, line: number, lastLine: number): number {
  if (line < 0 || line > lastLine) return -1;
  let at = text.length;
  for (let i = line; i <= lastLine; i++) at = at <= 0 ? -1 : text.lastIndexOf('\n', at - 1);
  return at + 1;
}

/** The end of `textBefore` within the prefix budget, starting at a block boundary. */
function blockWindow(textBefore: string, budget: WindowBudget, cursorLine: number): Kept {
  const all = keepTail(textBefore, budget.prefixChars, budget.maxLineChars);
  return all.lines > 0 ? startAtBlock(all, cursorLine - all.lines + 1, cursorLine) : all;
}

/** Character budgets of the cursor window: what the token budgets hold (the engine keeps about this much). */
export interface WindowBudget {
  prefixChars: number;
  suffixChars: number;
  maxLineChars: number;
  /** Suffix characters SENT = the budget × this (default SEND_MARGIN); the lines counted as in the prompt use the budget itself. */
  suffixMargin?: number;
}

/**
 * A window pinned to where another one starts: a prefetch for the text after a suggestion sends the
 * same prefix start as the request that showed the suggestion, so its prompt extends that request's
 * prompt (nothing in the engine's cache moves, and a prefetch cancelled half-way loses nothing).
 */
export interface PinnedStart {
  /** Document line the prefix starts at. */
  startLine: number;
  /** Tokens allowed beyond the prefix budget (the suggestion's length at most). */
  extraPrefixTokens: number;
}

export interface CursorContext {
  uri: string;
  filename: string;
  /** Text sent before / after the cursor (the prefix within its budget from a block start, the suffix × SEND_MARGIN; cut at line boundaries, lines capped). */
  prefix: string;
  suffix: string;
  /** The cursor line's text before / after the cursor (capped). */
  linePrefix: string;
  lineSuffix: string;
  /** 0-based line of the cursor. */
  cursorLine: number;
  /**
   * Document lines the token budgets hold (inclusive; the text sent reaches a little further): in
   * the prompt, so left out of the extra context and of the definitions the editor is asked for.
   */
  firstLine: number;
  lastLine: number;
  /** A multi-line suggestion is wanted here (pronto.completion.multiline and the cursor's context). */
  multiline: boolean;
}

export interface CompletionContext extends CursorContext {
  /** Extra context, oldest first (the engine places the last ones nearest the cursor). */
  extra: ContextChunk[];
  /** The FIM part of the engine request. */
  fim: FimInput;
}

export interface ContextSources {
  tokens: TokenEstimator;
  ring?: ContextRing;
  /**
   * Definitions of the identifiers near the cursor (editor-resolved, with the pattern-search
   * fallback, see context/definitions.ts), nearest last.
   */
  definitions?: (uri: string, names: string[]) => ContextChunk[];
}

type ContextSettings = Pick<
  Settings,
  | 'context.prefixTokens'
  | 'context.suffixTokens'
  | 'context.extraTokens'
  | 'context.prefixChars'
  | 'context.suffixChars'
  | 'completion.multiline'
>;

export function filenameOf(uri: string): string {
  try {
    return path.basename(new URL(uri).pathname);
  } catch {
    return path.basename(uri);
  }
}

/** The engine-side token budgets of a FIM request, from the settings. */
export function fimBudget(settings: Pick<Settings, 'context.prefixTokens' | 'context.suffixTokens' | 'context.extraTokens'>): FimBudget {
  return {
    prefix_tokens: settings['context.prefixTokens'],
    suffix_tokens: settings['context.suffixTokens'],
    extra_tokens: settings['context.extraTokens'],
  };
}

/** The window's character budgets: the token budgets × characters per token, at most the character settings. */
export function windowBudget(settings: ContextSettings, tokens: Pick<TokenEstimator, 'chars'>): WindowBudget {
  return {
    prefixChars: Math.min(settings['context.prefixChars'], tokens.chars(settings['context.prefixTokens'])),
    suffixChars: Math.min(settings['context.suffixChars'], tokens.chars(settings['context.suffixTokens'])),
    maxLineChars: MAX_LINE_CHARS,
  };
}

/** The cursor window and the lines it spans (pure). */
export function cursorContext(
  input: DocumentPosition,
  budget: WindowBudget,
  multiline: Settings['completion.multiline'],
  pinned?: Pick<PinnedStart, 'startLine'>,
): CursorContext {
  const offset = Math.max(0, Math.min(input.offset, input.text.length));
  const margin = budget.suffixMargin ?? SEND_MARGIN;
  const cursorLine = lineOf(input.text, offset);
  const textBefore = input.text.slice(0, offset);
  const start = pinned ? lineStartBefore(textBefore, pinned.startLine, cursorLine) : -1;
  // A pin reaching much further than the budget (a stale one) is ignored.
  const before =
    start >= 0 && textBefore.length - start <= 2 * budget.prefixChars + PIN_SLACK_CHARS
      ? keepTail(textBefore.slice(start), Number.POSITIVE_INFINITY, budget.maxLineChars)
      : blockWindow(textBefore, budget, cursorLine);
  const after = keepHead(input.text.slice(offset), budget.suffixChars * margin, budget.maxLineChars);
  // The lines within the suffix budget itself (what the engine keeps), measured on the text already cut.
  const keptAfter = margin === 1 ? after : keepHead(after.text, budget.suffixChars, budget.maxLineChars);
  const linePrefix = before.text.slice(before.text.lastIndexOf('\n') + 1);
  const nl = after.text.indexOf('\n');
  const lineSuffix = nl < 0 ? after.text : after.text.slice(0, nl);
  return {
    uri: input.uri,
    filename: filenameOf(input.uri),
    prefix: before.text,
    suffix: after.text,
    linePrefix,
    lineSuffix,
    cursorLine,
    firstLine: cursorLine - Math.max(1, before.lines) + 1,
    lastLine: cursorLine + Math.max(1, keptAfter.lines) - 1,
    multiline: wantsMultiline(multiline, linePrefix, lineSuffix),
  };
}

/**
 * The extra chunks of one request: ring chunks, then the definitions the ring does not already
 * hold (nearest the cursor); each capped; the nearest kept while they fit `maxChars` (pure).
 */
export function selectExtra(ringChunks: ContextChunk[], definitions: ContextChunk[], maxChars: number): ContextChunk[] {
  const newDefinitions = definitions.filter((d) => !ringChunks.some((c) => c.filename === d.filename && c.text.includes(d.text)));
  const all = [...ringChunks, ...newDefinitions].map((c) => ({ ...c, text: capChunk(c.text, MAX_CHUNK_CHARS) }));
  const kept: ContextChunk[] = [];
  let used = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    const c = all[i]!;
    const size = c.text.length + (c.filename?.length ?? 0);
    if (used + size > maxChars) break;
    kept.unshift(c);
    used += size;
  }
  return kept;
}

/** The whole context of a completion request. */
export function completionContext(
  input: DocumentPosition,
  settings: ContextSettings,
  sources: ContextSources,
  pinned?: PinnedStart,
): CompletionContext {
  const cursor = cursorContext(input, windowBudget(settings, sources.tokens), settings['completion.multiline'], pinned);
  const ringChunks = sources.ring?.forRequest(input.uri, cursor.firstLine, cursor.lastLine) ?? [];
  const definitions = sources.definitions?.(input.uri, identifiersNearCursor(cursor.prefix)) ?? [];
  const extra = selectExtra(ringChunks, definitions, sources.tokens.chars(settings['context.extraTokens']) * SEND_MARGIN);
  const budget = fimBudget(settings);
  return {
    ...cursor,
    extra,
    fim: {
      prefix: cursor.prefix,
      suffix: cursor.suffix,
      filename: cursor.filename,
      ...(extra.length ? { extra } : {}),
      budget: pinned ? { ...budget, prefix_tokens: budget.prefix_tokens! + pinned.extraPrefixTokens } : budget,
    },
  };
}
