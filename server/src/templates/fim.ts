/**
 * The completion prompt from the FIM template in force. The built-in default (or a template whose
 * text equals it) keeps the engine's `fim` path: the engine builds that prompt from the model's FIM
 * tokens and enforces the token budgets exactly. Any other template is rendered here and sent as a
 * raw `prompt` (special tokens parsed by the engine), its parts cut to the token budgets by the
 * model's characters per token (the server's one estimate, context/tokens.ts, with a safety margin
 * since nothing cuts a raw prompt exactly after this), at line boundaries, lines capped.
 */
import type { ContextChunk, FimBudget } from '../../../protocol/engine';
import { capChunk, keepHead, keepTail } from '../context/window';
import { defaultFimTemplateText, type FimModel, renderExtraContext } from './defaults';
import { renderTemplate } from './render';

/** Used when no estimate is passed: low for code (3.5-4 is typical). */
export const CHARS_PER_TOKEN = 3;
/** Share of the estimate used: a custom prompt must fit the context without the engine's exact cut. */
const SAFETY = 0.85;

export interface FimParts {
  prefix: string;
  suffix: string;
  filename: string;
  languageId: string;
  extra: ContextChunk[];
  budget: FimBudget;
  /** The model's characters per token (ServerContext.tokens); CHARS_PER_TOKEN when absent. */
  charsPerToken?: number;
}

/** Cuts the parts to their budgets (nearest extra chunks first, whole chunks only). */
function cutParts(parts: FimParts): FimParts {
  const perToken = parts.charsPerToken !== undefined ? parts.charsPerToken * SAFETY : CHARS_PER_TOKEN;
  const chars = (tokens: number | undefined) => (tokens === undefined ? Number.POSITIVE_INFINITY : Math.floor(tokens * perToken));
  const extraChars = chars(parts.budget.extra_tokens);
  const extra: ContextChunk[] = [];
  let used = 0;
  for (let i = parts.extra.length - 1; i >= 0; i--) {
    const c = { ...parts.extra[i]!, text: capChunk(parts.extra[i]!.text) };
    if (used + c.text.length > extraChars) break;
    used += c.text.length;
    extra.unshift(c);
  }
  return {
    ...parts,
    prefix: keepTail(parts.prefix, chars(parts.budget.prefix_tokens)).text,
    suffix: keepHead(parts.suffix, chars(parts.budget.suffix_tokens)).text,
    extra,
  };
}

/** Renders a FIM template for the parts (cut to their budgets). */
export function renderFimTemplate(template: string, parts: FimParts, model: FimModel): string {
  const p = cutParts(parts);
  return renderTemplate(template, {
    prefix: p.prefix,
    suffix: p.suffix,
    filename: p.filename,
    language: p.languageId,
    extra_context: renderExtraContext(p.extra, model.tokens),
  });
}

/** The raw prompt for a custom template, or undefined when the engine's own FIM layout is in force. */
export function customFimPrompt(template: { text: string; isDefault: boolean }, parts: FimParts, model: FimModel): string | undefined {
  if (template.isDefault || template.text === defaultFimTemplateText(model)) return undefined;
  return renderFimTemplate(template.text, parts, model);
}
