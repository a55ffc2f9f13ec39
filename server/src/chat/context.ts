/**
 * Context for a chat message: the selection, the current file and files the user picked, resolved
 * to text and cut to a token budget counted with the engine's own tokenizer (`/tokenize`). Items
 * are taken in priority order (selection, current file, then the others as given); an item that
 * does not fit whole is cut at a line boundary (its start kept), and one that has no room left is
 * dropped. The report says, per item, what was sent and why anything was cut.
 */
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatContextItem, ChatContextItemReport, ChatContextReport } from '../../../protocol/chat';
import { keepHead } from '../context/window';

/** Files larger than this are not read from disk for chat (a lock file, a bundle). */
export const MAX_FILE_BYTES = 1 << 20;
/** An item is cut rather than dropped only when at least this many tokens are left for it. */
const MIN_CUT_TOKENS = 32;

export type CountTokens = (text: string) => Promise<number>;

export interface ResolvedItem extends ChatContextItem {
  text: string;
  languageId: string;
  label: string;
}

export interface AssembledContext {
  items: (ResolvedItem & { sent: string })[];
  report: ChatContextReport;
}

export function uriLabel(uri: string): string {
  try {
    return path.basename(new URL(uri).pathname) || uri;
  } catch {
    return path.basename(uri) || uri;
  }
}

export function itemLabel(item: ChatContextItem): string {
  const name = uriLabel(item.uri);
  return item.kind === 'selection' && item.range ? `${name}:${item.range.startLine + 1}-${item.range.endLine + 1}` : name;
}

const byExtension: Record<string, string> = {
  ts: 'typescript',
  tsx: 'typescriptreact',
  js: 'javascript',
  jsx: 'javascriptreact',
  mjs: 'javascript',
  cjs: 'javascript',
  py: 'python',
  c: 'c',
  h: 'c',
  cc: 'cpp',
  cpp: 'cpp',
  hpp: 'cpp',
  rs: 'rust',
  go: 'go',
  java: 'java',
  kt: 'kotlin',
  rb: 'ruby',
  php: 'php',
  cs: 'csharp',
  swift: 'swift',
  sh: 'shellscript',
  json: 'json',
  md: 'markdown',
  css: 'css',
  html: 'html',
  yaml: 'yaml',
  yml: 'yaml',
  toml: 'toml',
  sql: 'sql',
  lua: 'lua',
};

export function languageFromUri(uri: string): string {
  const ext = uriLabel(uri).split('.').pop()?.toLowerCase() ?? '';
  return byExtension[ext] ?? 'plaintext';
}

/** Priority: selection first, then the current file, then the rest in the order given. */
export function contextPriority(items: readonly ChatContextItem[]): number[] {
  const rank = (i: ChatContextItem) => (i.kind === 'selection' ? 0 : i.current ? 1 : 2);
  return items.map((_, i) => i).sort((a, b) => rank(items[a]!) - rank(items[b]!) || a - b);
}

/**
 * The longest start of `text` (at a line end, lines capped like the completion window's: the context
 * module's keepHead) within `budget` tokens; a few tokenizer calls at most.
 */
export async function fitTokens(
  text: string,
  tokens: number,
  budget: number,
  count: CountTokens,
): Promise<{ text: string; tokens: number } | undefined> {
  if (tokens <= budget) return { text, tokens };
  if (budget < MIN_CUT_TOKENS) return undefined;
  let chars = Math.floor((text.length * budget) / tokens);
  for (let attempt = 0; attempt < 5 && chars > 0; attempt++) {
    const cut = keepHead(text, chars).text;
    const n = await count(cut);
    if (n <= budget) return { text: cut, tokens: n };
    chars = Math.floor((cut.length * budget) / n) - 1;
  }
  return undefined;
}

export interface ResolveDeps {
  /** The text of an open document, when the server has it. */
  openDocument(uri: string): { text: string; languageId: string } | undefined;
}

/** Text for each item: given by the client, else the open document, else the file on disk. */
export async function resolveItem(item: ChatContextItem, deps: ResolveDeps): Promise<ResolvedItem | { failed: string }> {
  const label = itemLabel(item);
  if (item.text !== undefined) return { ...item, text: item.text, languageId: item.languageId ?? languageFromUri(item.uri), label };
  const open = deps.openDocument(item.uri);
  if (open) return { ...item, text: open.text, languageId: item.languageId ?? open.languageId, label };
  if (item.kind === 'selection') return { failed: 'a selection needs its text' };
  let file: string;
  try {
    file = fileURLToPath(item.uri);
  } catch {
    return { failed: 'not open and not a file: URI' };
  }
  try {
    const s = await stat(file);
    if (!s.isFile()) return { failed: 'not a file' };
    if (s.size > MAX_FILE_BYTES) return { failed: `too large (${Math.round(s.size / 1024)} KB, limit ${MAX_FILE_BYTES / 1024} KB)` };
    const buf = await readFile(file);
    if (buf.includes(0)) return { failed: 'a binary file' };
    return { ...item, text: buf.toString('utf8'), languageId: item.languageId ?? languageFromUri(item.uri), label };
  } catch (err) {
    return { failed: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** Resolves, counts and cuts the items to the budget. */
export async function assembleContext(
  items: readonly ChatContextItem[],
  budget: number,
  count: CountTokens,
  deps: ResolveDeps,
): Promise<AssembledContext> {
  const reports: ChatContextItemReport[] = items.map((i) => ({
    kind: i.kind,
    uri: i.uri,
    label: itemLabel(i),
    tokens: 0,
    sentTokens: 0,
    cut: 'dropped',
  }));
  const sent: (ResolvedItem & { sent: string })[] = [];
  const kept = new Map<number, ResolvedItem & { sent: string }>();
  let left = Math.max(0, budget);
  for (const index of contextPriority(items)) {
    const report = reports[index]!;
    const resolved = await resolveItem(items[index]!, deps);
    if ('failed' in resolved) {
      report.note = resolved.failed;
      continue;
    }
    const tokens = await count(resolved.text);
    report.tokens = tokens;
    const fit = await fitTokens(resolved.text, tokens, left, count);
    if (!fit) {
      report.note = left <= 0 ? 'no room left in the context budget' : `${left} tokens left in the budget, not enough for it`;
      continue;
    }
    report.sentTokens = fit.tokens;
    report.cut = fit.tokens < tokens || fit.text.length < resolved.text.length ? 'truncated' : 'none';
    if (report.cut === 'truncated') {
      const lines = fit.text.split('\n').length - (fit.text.endsWith('\n') ? 1 : 0);
      report.note = `first ${lines} of ${resolved.text.split('\n').length} lines (${fit.tokens} of ${tokens} tokens) fit the budget`;
    }
    left -= fit.tokens;
    kept.set(index, { ...resolved, sent: fit.text });
  }
  // Back in the order the user gave.
  for (let i = 0; i < items.length; i++) if (kept.has(i)) sent.push(kept.get(i)!);
  const sentTokens = reports.reduce((n, r) => n + r.sentTokens, 0);
  return { items: sent, report: { items: reports, sentTokens, budgetTokens: Math.max(0, budget), droppedTurns: 0 } };
}

/** A fence longer than any backtick run in the text, so code holding ``` stays intact. */
export function fenceFor(text: string): string {
  let longest = 2;
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(longest + 1);
}

/** The context block placed before the user's message. */
export function contextBlock(items: readonly (ResolvedItem & { sent: string })[]): string {
  if (!items.length) return '';
  const parts = items.map((i) => {
    const fence = fenceFor(i.sent);
    const what = i.kind === 'selection' ? `Selected code from ${i.label}` : `File ${i.label}`;
    const cut = i.sent.length < i.text.length ? ' (start only)' : '';
    return `${what}${cut}:\n${fence}${i.languageId}\n${i.sent}${i.sent.endsWith('\n') ? '' : '\n'}${fence}`;
  });
  return `${parts.join('\n\n')}\n\n`;
}
