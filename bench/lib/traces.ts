// Edit traces: real source files typed keystroke by keystroke, one FIM request per keystroke.
//
// A "site" is a line of a real file whose content the user (re)types: the document holds the file
// with that line's content removed, and keystroke k has typed its first k characters. The prompt
// window is what an editor client sends: `prefixLines` lines above the cursor plus the typed part,
// and `suffixLines` lines below it. Lines at sites visited earlier are left complete (the user
// finished them, e.g. by accepting a completion). Pure functions: the same files give the same
// traces, so runs and servers are comparable.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface ExtraChunk {
  filename: string;
  text: string;
}

/** One completion request: the state of the editor after a keystroke. */
export interface FimRequest {
  filename: string;
  prefix: string;
  suffix: string;
  /** Context from other files (llama.vscode's ring buffer of chunks). */
  extra: ExtraChunk[];
}

export interface Trace {
  name: string;
  description: string;
  /** Requests sent before measuring (opening the files): not counted. */
  warmup: FimRequest[];
  keystrokes: FimRequest[];
}

export interface SourceFile {
  /** Path shown to the model (relative to the repository). */
  filename: string;
  lines: string[];
}

export interface WindowOptions {
  prefixLines: number;
  suffixLines: number;
  /** Lines of the other file sent as extra context. */
  extraLines: number;
}

export const defaultWindow: WindowOptions = { prefixLines: 48, suffixLines: 16, extraLines: 24 };
/** The benchmark's windows: `small` (the default) and llama.vscode's defaults (n_prefix 256 lines,
 * n_suffix 64 lines, ring chunks of 64 lines). */
export const windowPresets = {
  small: defaultWindow,
  'llama.vscode': { prefixLines: 256, suffixLines: 64, extraLines: 64 },
} satisfies Record<string, WindowOptions>;
export type WindowName = keyof typeof windowPresets;

export function loadSource(repoRoot: string, relPath: string): SourceFile {
  const text = readFileSync(path.join(repoRoot, relPath), 'utf8');
  return { filename: relPath, lines: text.split('\n') };
}

const indentOf = (line: string): string => /^\s*/.exec(line)![0];

/** First line at or after `from` whose content (after indentation) has at least `minChars` characters. */
export function findSite(file: SourceFile, from: number, minChars: number): number {
  for (let i = Math.max(0, from); i < file.lines.length; i++) {
    const line = file.lines[i]!;
    if (line.length - indentOf(line).length >= minChars) return i;
  }
  throw new Error(`${file.filename}: no line with ${minChars}+ characters after line ${from}`);
}

/** The request after typing `typed` characters of line `line`'s content. */
export function requestAt(file: SourceFile, line: number, typed: number, win: WindowOptions, extra: ExtraChunk[]): FimRequest {
  const cur = file.lines[line];
  if (cur === undefined) throw new Error(`${file.filename}: no line ${line}`);
  const indent = indentOf(cur);
  const content = cur.slice(indent.length);
  if (typed > content.length) throw new Error(`${file.filename}:${line + 1}: only ${content.length} characters to type, asked ${typed}`);
  const before = file.lines.slice(Math.max(0, line - win.prefixLines), line);
  const after = file.lines.slice(line + 1, line + 1 + win.suffixLines);
  return {
    filename: file.filename,
    prefix: (before.length ? before.join('\n') + '\n' : '') + indent + content.slice(0, typed),
    suffix: '\n' + after.join('\n'),
    extra,
  };
}

/** `n` lines of `file` around `line`, as an extra-context chunk. */
export function chunkAround(file: SourceFile, line: number, n: number): ExtraChunk {
  const start = Math.max(0, line - Math.floor(n / 2));
  return { filename: file.filename, text: file.lines.slice(start, start + n).join('\n') };
}

/**
 * Trace A: one file, one site, `keystrokes` characters typed. Extra context: a fixed chunk of `other`
 * (as an editor's context ring buffer would hold).
 */
export function singleFileTrace(file: SourceFile, other: SourceFile, keystrokes: number, win = defaultWindow): Trace {
  const site = findSite(file, win.prefixLines + 10, keystrokes);
  const extra = [chunkAround(other, findSite(other, win.prefixLines + 10, 1), win.extraLines)];
  return {
    name: 'A: one file',
    description: `${keystrokes} keystrokes at ${file.filename}:${site + 1}`,
    warmup: [requestAt(file, site, 0, win, extra)],
    keystrokes: Array.from({ length: keystrokes }, (_, k) => requestAt(file, site, k + 1, win, extra)),
  };
}

/**
 * Trace B: alternates between two files every `perSite` keystrokes; each return to a file moves a
 * few lines further down. Extra context: a chunk of the other file around its last cursor.
 */
export function twoFileTrace(a: SourceFile, b: SourceFile, keystrokes: number, perSite = 4, linesBetween = 3, win = defaultWindow): Trace {
  const files = [a, b];
  const next = [win.prefixLines + 10, win.prefixLines + 10];
  const sites: Array<{ file: number; line: number }> = [];
  for (let s = 0; s * perSite < keystrokes; s++) {
    const f = s % 2;
    const line = findSite(files[f]!, next[f]!, perSite);
    sites.push({ file: f, line });
    next[f] = line + linesBetween;
  }
  const lastLine = [sites[0]!.line, (sites[1] ?? sites[0]!).line];
  const keys: FimRequest[] = [];
  const warmup: FimRequest[] = [];
  for (const [s, site] of sites.entries()) {
    const file = files[site.file]!;
    const otherIdx = 1 - site.file;
    const extra = [chunkAround(files[otherIdx]!, lastLine[otherIdx]!, win.extraLines)];
    if (s < 2) warmup.push(requestAt(file, site.line, 0, win, extra));
    for (let k = 1; k <= perSite && keys.length < keystrokes; k++) keys.push(requestAt(file, site.line, k, win, extra));
    lastLine[site.file] = site.line;
  }
  return {
    name: 'B: two files',
    description: `${keystrokes} keystrokes, switching between ${a.filename} and ${b.filename} every ${perSite}`,
    warmup,
    keystrokes: keys,
  };
}

/** The two standard traces over files from node_modules (present after npm ci). */
export function standardTraces(repoRoot: string, keystrokes = 16, win = defaultWindow): Trace[] {
  const a = loadSource(repoRoot, 'node_modules/ws/lib/websocket.js');
  const b = loadSource(repoRoot, 'node_modules/ws/lib/receiver.js');
  return [singleFileTrace(a, b, keystrokes, win), twoFileTrace(a, b, keystrokes, 4, 3, win)];
}
