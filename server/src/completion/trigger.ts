/**
 * Where ghost text is offered, as Copilot does it: at the end of a line, or in the middle of one when
 * only closing brackets and quotes follow (then at most one of `:`, `{`, `;`, `,`), e.g. `foo(ba║)`,
 * `"na║"`, `[1, 2║];`. Not in the middle of a word (`con║st`) or before other text (`a║ = b`): there
 * a suggestion would be inserted in front of text the model did not see as following it, and VS Code's
 * suggest widget hides ghost text in the middle of a word anyway (while it would be counted as shown).
 * An explicit request (Alt+\, "Trigger Inline Suggestion") is always answered.
 */

const CLOSERS = new Set([')', ']', '}', '>', '"', "'", '`']);
const ONE_TRAILING = new Set([':', '{', ';', ',']);

const isSpace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v';

/**
 * Whether a suggestion is offered before `lineSuffix` (the cursor line's text after the cursor).
 * Copilot's rule `^\s*[)>}\]"'`]*\s*[:{;,]?\s*$`, by hand: the regex backtracks cubically on a long
 * run of spaces that ends in other text, and a line can be 60,000 characters.
 */
export function offersSuggestionBefore(lineSuffix: string): boolean {
  let i = 0;
  const n = lineSuffix.length;
  while (i < n && isSpace(lineSuffix[i]!)) i++;
  while (i < n && CLOSERS.has(lineSuffix[i]!)) i++;
  while (i < n && isSpace(lineSuffix[i]!)) i++;
  if (i < n && ONE_TRAILING.has(lineSuffix[i]!)) i++;
  while (i < n && isSpace(lineSuffix[i]!)) i++;
  return i === n;
}
