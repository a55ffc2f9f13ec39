/**
 * A ring of context chunks from files the user recently edited, opened or saved (llama.vscode's
 * "ring buffer" of extra context). Each chunk is a window of lines; a new chunk that is nearly the
 * same as an old one (Jaccard similarity of their line sets above a threshold) replaces it, so the
 * ring holds distinct material. The newest chunks come last: closest to the cursor in the prompt.
 * Definitions of symbols near the cursor come from context/definitions.ts.
 */
import type { ContextChunk } from '../../../protocol/engine';

export interface RingChunk extends ContextChunk {
  uri: string;
  /** First line of the chunk in its file. */
  startLine: number;
  at: number;
}

export function lineSetSimilarity(a: string, b: string): number {
  const la = new Set(
    a
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  const lb = new Set(
    b
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  if (la.size === 0 && lb.size === 0) return 1;
  let common = 0;
  for (const l of la) if (lb.has(l)) common++;
  return common / (la.size + lb.size - common);
}

export class ContextRing {
  private chunks: RingChunk[] = [];

  constructor(
    private capacity: number,
    private chunkLines: number,
    private readonly similarityThreshold = 0.75,
  ) {}

  configure(capacity: number, chunkLines: number): void {
    this.capacity = capacity;
    this.chunkLines = chunkLines;
    while (this.chunks.length > capacity) this.chunks.shift();
  }

  get size(): number {
    return this.chunks.length;
  }

  /** Adds the window of `chunkLines` lines around `line` of a document. */
  addAround(uri: string, filename: string, text: string, line: number, now = Date.now()): void {
    if (this.capacity === 0) return;
    const lines = text.split('\n');
    const start = Math.max(0, Math.min(line - Math.floor(this.chunkLines / 2), lines.length - this.chunkLines));
    const slice = lines.slice(start, start + this.chunkLines).join('\n');
    if (slice.trim().length === 0) return;
    this.add({ uri, filename, text: slice, startLine: start, at: now });
  }

  add(chunk: RingChunk): void {
    if (this.capacity === 0) return;
    this.chunks = this.chunks.filter((c) => lineSetSimilarity(c.text, chunk.text) < this.similarityThreshold);
    this.chunks.push(chunk);
    while (this.chunks.length > this.capacity) this.chunks.shift();
  }

  removeUri(uri: string): void {
    this.chunks = this.chunks.filter((c) => c.uri !== uri);
  }

  /**
   * Chunks for a request in `uri`, oldest first. Chunks of the same file that overlap the prompt's
   * own window are left out (the model already sees that text).
   */
  forRequest(uri: string, windowStartLine: number, windowEndLine: number): ContextChunk[] {
    return this.chunks
      .filter((c) => c.uri !== uri || c.startLine + this.chunkLines < windowStartLine || c.startLine > windowEndLine)
      .map((c) => ({ filename: c.filename, text: c.text }));
  }
}
