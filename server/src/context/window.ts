/**
 * The text around the cursor that goes into the FIM prompt: a prefix and a suffix window, each cut
 * to a character budget (≈3-4 characters per token) at a line boundary so the model never sees half
 * a line at the far edge.
 */
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
