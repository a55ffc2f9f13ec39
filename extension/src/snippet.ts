/**
 * The snippet sent back for a definition (extension/src/definitions.ts), without VS Code imports so
 * it can be unit-tested: which lines, and how many characters at most.
 */
export const MAX_SNIPPET_LINES = 24;
export const MAX_SNIPPET_CHARS = 1500;

const indentOf = (line: string) => line.length - line.trimStart().length;

/**
 * Lines [start, end] of the snippet: the given range when it spans several lines, else from the
 * target line down to the end of its indented block (the next non-empty line indented no deeper
 * than the first, included when it closes the block); capped at MAX_SNIPPET_LINES.
 */
export function snippetLines(lines: string[], startLine: number, endLine: number): { start: number; end: number } {
  const start = Math.max(0, Math.min(startLine, lines.length - 1));
  let end = Math.max(start, Math.min(endLine, lines.length - 1));
  if (end === start) {
    const base = indentOf(lines[start] ?? '');
    for (let i = start + 1; i < lines.length && i - start < MAX_SNIPPET_LINES; i++) {
      const l = lines[i]!;
      if (!l.trim()) continue;
      if (indentOf(l) <= base) {
        // A closing bracket belongs to the block; anything else starts the next statement.
        if (/^\s*[)\]}]/.test(l)) end = i;
        break;
      }
      end = i;
    }
  }
  return { start, end: Math.min(end, start + MAX_SNIPPET_LINES - 1) };
}

export function capChars(text: string): string {
  if (text.length <= MAX_SNIPPET_CHARS) return text;
  const cut = text.slice(0, MAX_SNIPPET_CHARS);
  const nl = cut.lastIndexOf('\n');
  return nl > 0 ? cut.slice(0, nl) : cut;
}
