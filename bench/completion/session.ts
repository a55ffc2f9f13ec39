// An editing session to replay: a region of a real source file retyped keystroke by keystroke at a
// human pace. Pure and seeded: the same file, start line, count and seed give the same session, so
// every client replays exactly the same keystrokes with exactly the same gaps.
//
// The document starts as the file with the region removed (the cursor at the region's first line,
// after its indentation). Each keystroke inserts one character at the cursor; Enter inserts "\n"
// plus the next line's indentation (an editor's auto-indent). The user never accepts a suggestion:
// with random-weight models they are meaningless, so the user types the file's own text.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface Keystroke {
  /** What the key inserted at the cursor. */
  text: string;
  /** Document text after the keystroke, and the cursor offset in it. */
  doc: string;
  offset: number;
  /** Cursor position (0-based line, UTF-16 character) after the keystroke. */
  line: number;
  character: number;
  /** Time the user waits before the next keystroke (ms). */
  gapMs: number;
  /** The user pauses here (line end, or a thinking pause) and waits for a suggestion. */
  pause: boolean;
}

export interface Session {
  filename: string;
  /** Absolute path (for file:// URIs). */
  absPath: string;
  languageId: string;
  /** 0-based line where typing starts. */
  startLine: number;
  /** The document before the first keystroke, and the cursor in it. */
  initialDoc: string;
  initialOffset: number;
  initialLine: number;
  initialCharacter: number;
  keystrokes: Keystroke[];
}

export interface SessionOptions {
  /** Keystrokes to type. */
  keystrokes: number;
  /** Start at the first line at or after this 0-based line with at least 8 characters of content. */
  fromLine: number;
  seed: number;
  /** Gap between ordinary keys, uniform in [min, max] ms. */
  keyGapMs: [number, number];
  /** Pause after a line (before Enter) and thinking pauses, uniform in [min, max] ms. */
  pauseMs: [number, number];
  /** Probability of a thinking pause after a word (a space or punctuation typed). */
  thinkProbability: number;
}

export const defaultSessionOptions: SessionOptions = {
  keystrokes: 100,
  fromLine: 330,
  seed: 7,
  keyGapMs: [120, 200],
  pauseMs: [900, 1600],
  thinkProbability: 0.3,
};

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const indentOf = (line: string): string => /^\s*/.exec(line)![0];

function positionAt(doc: string, offset: number): { line: number; character: number } {
  const before = doc.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

export function languageOf(filename: string): string {
  const ext = path.extname(filename);
  return (
    (
      {
        '.js': 'javascript',
        '.mjs': 'javascript',
        '.cjs': 'javascript',
        '.ts': 'typescript',
        '.py': 'python',
        '.c': 'c',
        '.cpp': 'cpp',
      } as Record<string, string>
    )[ext] ?? 'plaintext'
  );
}

/** Builds the session from the text of a file. */
export function buildSession(filename: string, absPath: string, text: string, o: SessionOptions = defaultSessionOptions): Session {
  if (!Number.isInteger(o.keystrokes) || o.keystrokes < 1) throw new Error(`keystrokes must be a positive integer, got ${o.keystrokes}`);
  const lines = text.split('\n');
  let start = -1;
  for (let i = Math.max(0, o.fromLine); i < lines.length; i++) {
    if (lines[i]!.trim().length >= 8) {
      start = i;
      break;
    }
  }
  if (start < 0) throw new Error(`${filename}: no line with 8+ characters at or after line ${o.fromLine + 1}`);

  // The keys: the content of lines start, start+1, ... with Enter (+ auto-indent) between them.
  const keys: Array<{ text: string; endsLine: boolean }> = [];
  let end = start;
  for (let i = start; i < lines.length && keys.length < o.keystrokes; i++) {
    const line = lines[i]!;
    if (i > start) keys.push({ text: '\n' + indentOf(line), endsLine: false });
    const content = line.slice(indentOf(line).length);
    for (let c = 0; c < content.length && keys.length < o.keystrokes; c++)
      keys.push({ text: content[c]!, endsLine: c === content.length - 1 });
    end = i + 1;
  }
  if (keys.length < o.keystrokes)
    throw new Error(`${filename}: only ${keys.length} characters to type after line ${start + 1}, asked ${o.keystrokes}`);

  const before = lines.slice(0, start).join('\n') + (start > 0 ? '\n' : '') + indentOf(lines[start]!);
  const after = end < lines.length ? '\n' + lines.slice(end).join('\n') : '';
  const rand = seededRandom(o.seed);
  const uniform = ([lo, hi]: [number, number]): number => Math.round(lo + rand() * (hi - lo));

  const keystrokes: Keystroke[] = [];
  let typed = '';
  for (const [k, key] of keys.entries()) {
    typed += key.text;
    const doc = before + typed + after;
    const offset = before.length + typed.length;
    const last = k === keys.length - 1;
    const wordEnd = /[\s;,()[\]{}.]/.test(key.text) && !key.endsLine;
    const pause = last || key.endsLine || (wordEnd && rand() < o.thinkProbability);
    const gapMs = pause ? uniform(o.pauseMs) : uniform(o.keyGapMs);
    keystrokes.push({ text: key.text, doc, offset, ...positionAt(doc, offset), gapMs, pause });
  }
  const initialDoc = before + after;
  return {
    filename,
    absPath,
    languageId: languageOf(filename),
    startLine: start,
    initialDoc,
    initialOffset: before.length,
    ...(() => {
      const p = positionAt(initialDoc, before.length);
      return { initialLine: p.line, initialCharacter: p.character };
    })(),
    keystrokes,
  };
}

export function loadSession(repoRoot: string, relPath: string, o: SessionOptions = defaultSessionOptions): Session {
  const abs = path.join(repoRoot, relPath);
  return buildSession(relPath, abs, readFileSync(abs, 'utf8'), o);
}
