/** Where an applied code block goes in a file (pure; extension/src/chat/codeActions.ts shows it as a diff). */

/**
 * The file's text with the code applied: it replaces the selection when there is one; a block that
 * starts like the file (its first non-blank line is the file's) replaces the whole file; otherwise
 * it is inserted at the cursor. Pure, for tests.
 */
export function proposedText(
  text: string,
  selection: { start: number; end: number },
  code: string,
): { text: string; mode: 'selection' | 'file' | 'insert' } {
  const block = code.endsWith('\n') || !text.includes('\n') ? code : `${code}\n`;
  if (selection.end > selection.start) {
    const replaced = text.slice(selection.start, selection.end);
    const body = replaced.endsWith('\n') ? block : code;
    return { text: text.slice(0, selection.start) + body + text.slice(selection.end), mode: 'selection' };
  }
  const firstLine = (s: string) =>
    s
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim();
  if (text.trim() && firstLine(text) === firstLine(code)) return { text: block, mode: 'file' };
  return { text: text.slice(0, selection.start) + code + text.slice(selection.start), mode: 'insert' };
}
