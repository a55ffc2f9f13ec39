/**
 * The text around the cursor that goes into the FIM prompt: a prefix and a suffix window, each cut
 * to a character budget at a line boundary so the model never sees half a line at the far edge.
 *
 * The real budget is in TOKENS (`pronto.context.prefixTokens` / `suffixTokens` / `extraTokens`),
 * sent with every FIM request as `fim.budget` and enforced by the engine, which knows the tokens.
 * The character cut here is only a generous pre-cut so a huge file is not sent whole: `tokens ×
 * PRECUT_CHARS_PER_TOKEN` characters (code averages 3-4 characters per token), further bounded by
 * `pronto.context.prefixChars` / `suffixChars`.
 */
import type { FimBudget } from '../../../protocol/engine';
import type { Settings } from '../settings';

export const PRECUT_CHARS_PER_TOKEN = 6;

/** The engine-side token budgets of a FIM request, from the settings. */
export function fimBudget(settings: Pick<Settings, 'context.prefixTokens' | 'context.suffixTokens' | 'context.extraTokens'>): FimBudget {
  return {
    prefix_tokens: settings['context.prefixTokens'],
    suffix_tokens: settings['context.suffixTokens'],
    extra_tokens: settings['context.extraTokens'],
  };
}

/** Characters to send for a token budget: generous (the engine cuts exactly), at most `maxChars`. */
export function precutChars(tokens: number, maxChars: number): number {
  return Math.min(maxChars, tokens * PRECUT_CHARS_PER_TOKEN);
}

export interface CursorWindow {
  prefix: string;
  suffix: string;
  /** Text of the cursor's line before / after the cursor. */
  linePrefix: string;
  lineSuffix: string;
}

export function cutPrefix(text: string, budget: number): string {
  if (text.length <= budget) return text;
  const start = text.length - budget;
  const nl = text.indexOf('\n', start);
  // Start at the next full line when one exists inside the window.
  return nl >= 0 && nl < text.length - 1 ? text.slice(nl + 1) : text.slice(start);
}

export function cutSuffix(text: string, budget: number): string {
  if (text.length <= budget) return text;
  const nl = text.lastIndexOf('\n', budget);
  return nl > 0 ? text.slice(0, nl + 1) : text.slice(0, budget);
}

export function cursorWindow(text: string, offset: number, prefixChars: number, suffixChars: number): CursorWindow {
  const before = text.slice(0, offset);
  const after = text.slice(offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEndRel = after.indexOf('\n');
  return {
    prefix: cutPrefix(before, prefixChars),
    suffix: cutSuffix(after, suffixChars),
    linePrefix: before.slice(lineStart),
    lineSuffix: lineEndRel < 0 ? after : after.slice(0, lineEndRel),
  };
}
