/**
 * Cutting text to a character budget at line boundaries, with every line capped: the pure part of
 * the context module, shared by the completion window (context/completionContext.ts) and chat.
 *
 * - `keepTail` keeps the END of a text (what comes before a cursor): whole lines from the end while
 *   they fit; its last line (the one touching the cursor) keeps its tail.
 * - `keepHead` keeps the START of a text (what comes after a cursor): its first line keeps its head,
 *   then whole lines while they fit.
 * - Every line is capped at `maxLineChars` (its head is kept, except the line touching the cut
 *   point): a minified bundle, a base64 data URI or a lock file must not reach the engine as a
 *   60,000-character line (llama.cpp's tokenizer recurses per character on some vocabularies and
 *   overflows its stack on such runs; and no model learns anything from one).
 *
 * Both walk from the cut point, so a huge document costs what is kept, not what it holds.
 */

/** Longest line sent to the engine (characters); longer lines are cut. */
export const MAX_LINE_CHARS = 1000;
/** Longest extra-context chunk sent to the engine (characters). */
export const MAX_CHUNK_CHARS = 6000;

export interface Kept {
  text: string;
  /** Lines the text spans (a partial line at either end counts); 0 for an empty result of an empty input. */
  lines: number;
}

/** Start of the line that ends at `lineEnd` (the index of its '\n', or text.length). */
function lineStartBefore(text: string, lineEnd: number): number {
  return lineEnd === 0 ? 0 : text.lastIndexOf('\n', lineEnd - 1) + 1;
}

/** The end of `text` within `maxChars`, cut at a line start; lines capped. */
export function keepTail(text: string, maxChars: number, maxLineChars = MAX_LINE_CHARS): Kept {
  const budget = Math.max(0, Math.floor(maxChars));
  let pos = lineStartBefore(text, text.length);
  // The line touching the cut point keeps its tail (the characters nearest the cursor).
  let last = text.slice(Math.max(pos, text.length - maxLineChars));
  if (last.length >= budget) return { text: budget > 0 ? last.slice(last.length - budget) : '', lines: 1 };
  const parts = [last];
  let used = last.length;
  while (pos > 0) {
    const lineEnd = pos - 1;
    const lineStart = lineStartBefore(text, lineEnd);
    last = text.slice(lineStart, Math.min(lineEnd, lineStart + maxLineChars));
    if (used + last.length + 1 > budget) break;
    parts.push(last);
    used += last.length + 1;
    pos = lineStart;
  }
  return { text: parts.reverse().join('\n'), lines: parts.length };
}

/** The start of `text` within `maxChars`, cut after a line end (the '\n' kept); lines capped. */
export function keepHead(text: string, maxChars: number, maxLineChars = MAX_LINE_CHARS): Kept {
  const budget = Math.max(0, Math.floor(maxChars));
  let nl = text.indexOf('\n');
  let end = nl < 0 ? text.length : nl;
  let line = text.slice(0, Math.min(end, maxLineChars));
  if (line.length >= budget) return { text: line.slice(0, budget), lines: 1 };
  const parts = [line];
  let used = line.length;
  while (nl >= 0) {
    const start = nl + 1;
    nl = text.indexOf('\n', start);
    end = nl < 0 ? text.length : nl;
    line = text.slice(start, Math.min(end, start + maxLineChars));
    if (used + line.length + 1 > budget) {
      // Cut here: end the kept text with the line break (when it fits), so its last line is whole.
      return { text: used < budget ? `${parts.join('\n')}\n` : parts.join('\n'), lines: parts.length };
    }
    parts.push(line);
    used += line.length + 1;
  }
  return { text: parts.join('\n'), lines: parts.length };
}

/** Every line of `text` capped at `maxLineChars` (heads kept). */
export function capLines(text: string, maxLineChars = MAX_LINE_CHARS): string {
  if (text.length <= maxLineChars) return text;
  let out = '';
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    out += text.slice(start, Math.min(end, start + maxLineChars));
    if (nl < 0) return out;
    out += '\n';
    start = nl + 1;
  }
}

/** An extra-context chunk as sent: lines capped, at most `maxChars` (whole lines from its start). */
export function capChunk(text: string, maxChars = MAX_CHUNK_CHARS, maxLineChars = MAX_LINE_CHARS): string {
  const kept = keepHead(text, maxChars, maxLineChars).text;
  return kept.length < text.length && kept.endsWith('\n') ? kept.slice(0, -1) : kept;
}

/** Number of line breaks in `text` before `offset` (the 0-based line of `offset`). */
export function lineOf(text: string, offset: number): number {
  let line = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** The longest line of a text (for error messages about what was sent). */
export function longestLine(text: string): number {
  let longest = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    longest = Math.max(longest, end - start);
    if (nl < 0) return longest;
    start = nl + 1;
  }
}
