/**
 * LRU cache of RAW model answers with typing-through (Tabby / llama.vscode style).
 *
 * An entry remembers where the user was (the prefix and suffix it was computed for) and the
 * engine's raw texts, before post-processing. A lookup with a longer prefix hits an entry when the
 * extra characters are what the user typed over a suggestion made from one of its texts (the
 * ghost text): the rest of that raw text is returned with no engine call. The caller runs the
 * post-processing filters on what it gets, for the position the user is at NOW, so a cached answer
 * is cut exactly as a fresh one would be (a filter that depends on the cursor line, such as the
 * single/multi-line decision, sees the current line).
 *
 * Keys use the tail of the prefix and the head of the suffix so a hit does not depend on text far
 * away from the cursor.
 */
export type AnswerSource = 'request' | 'prefetch';

export interface CacheEntry {
  uri: string;
  prefix: string;
  suffix: string;
  /** The engine's texts, as generated (not post-processed). */
  raw: string[];
  /** Computed for a request, or ahead of time by prefetch. */
  source: AnswerSource;
}

export interface CacheHit {
  /** The rest of each raw text that matches what was typed (never empty), not post-processed. */
  raw: string[];
  /** Characters typed since the entry was stored (0 for an exact hit). */
  typedThrough: number;
  source: AnswerSource;
}

const KEY_PREFIX_CHARS = 2000;
const KEY_SUFFIX_CHARS = 500;

function prefixKey(prefix: string): string {
  return prefix.slice(-KEY_PREFIX_CHARS);
}
function suffixKey(suffix: string): string {
  return suffix.slice(0, KEY_SUFFIX_CHARS);
}

const isHorizontalSpace = (ch: string | undefined) => ch === ' ' || ch === '\t';

/**
 * How far into `raw` the user is after typing `typed` over a suggestion made from it: the index in
 * `raw` after the typed text, or undefined when the typed text departs from it. What the
 * post-processing changes is allowed for: leading indentation the filter removed (or the user
 * typed differently, tabs for spaces) and trailing spaces before a line break.
 */
export function typedThroughRaw(raw: string, typed: string): number | undefined {
  let i = 0;
  let j = 0;
  let atLineStart = true;
  while (i < typed.length) {
    if (atLineStart) {
      // Indentation: whatever the user typed stands for the raw text's indentation.
      let ti = i;
      while (isHorizontalSpace(typed[ti])) ti++;
      let rj = j;
      while (isHorizontalSpace(raw[rj])) rj++;
      i = ti;
      j = rj;
      atLineStart = false;
      continue;
    }
    const t = typed[i]!;
    if (t === '\n') {
      // Trailing spaces in the raw text were trimmed from what was shown.
      while (isHorizontalSpace(raw[j])) j++;
      if (raw[j] !== '\n') return undefined;
      i++;
      j++;
      atLineStart = true;
      continue;
    }
    if (raw[j] !== t) return undefined;
    i++;
    j++;
  }
  return j;
}

export class CompletionCache {
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly entries = new Map<string, CacheEntry>();

  constructor(private readonly capacity = 64) {}

  get size(): number {
    return this.entries.size;
  }

  private key(uri: string, prefix: string, suffix: string): string {
    return `${uri}\u0000${prefixKey(prefix)}\u0000${suffixKey(suffix)}`;
  }

  /** Forgets every entry (the prompt changed, e.g. a new FIM template). */
  clear(): void {
    this.entries.clear();
  }

  set(entry: CacheEntry): void {
    const raw = entry.raw.filter((t) => t.length > 0);
    if (raw.length === 0) return;
    const key = this.key(entry.uri, entry.prefix, entry.suffix);
    this.entries.delete(key);
    this.entries.set(key, { ...entry, raw });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** An entry for exactly this position exists (no lookup bookkeeping). */
  has(uri: string, prefix: string, suffix: string): boolean {
    return this.entries.has(this.key(uri, prefix, suffix));
  }

  get(uri: string, prefix: string, suffix: string): CacheHit | undefined {
    const exactKey = this.key(uri, prefix, suffix);
    const exact = this.entries.get(exactKey);
    if (exact) {
      this.entries.delete(exactKey);
      this.entries.set(exactKey, exact);
      return { raw: exact.raw, typedThrough: 0, source: exact.source };
    }
    const pk = prefixKey(prefix);
    const sk = suffixKey(suffix);
    // Typing-through: newest entries first.
    for (const [key, entry] of [...this.entries].reverse()) {
      if (entry.uri !== uri || suffixKey(entry.suffix) !== sk) continue;
      // The stored prefix tail must be a prefix of the current one, shifted by the typed text.
      const typed = findTyped(prefixKey(entry.prefix), pk);
      if (typed === undefined || typed.length === 0) continue;
      const rest: string[] = [];
      for (const item of entry.raw) {
        const at = typedThroughRaw(item, typed);
        if (at !== undefined && at < item.length) rest.push(item.slice(at));
      }
      if (rest.length === 0) continue;
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { raw: rest, typedThrough: typed.length, source: entry.source };
    }
    return undefined;
  }
}

/** If `current` = `stored` + typed (allowing the window to have slid), returns typed. */
function findTyped(stored: string, current: string): string | undefined {
  if (current.length > stored.length && current.startsWith(stored)) return current.slice(stored.length);
  // Both are full-size tails: the window slid by `typed.length` characters.
  if (stored.length !== KEY_PREFIX_CHARS || current.length !== KEY_PREFIX_CHARS) return undefined;
  const probe = stored.slice(-32);
  for (let n = 1; n <= 256; n++) {
    const end = current.length - n;
    if (current.slice(end - probe.length, end) !== probe) continue;
    if (stored.slice(n) === current.slice(0, end)) return current.slice(end);
  }
  return undefined;
}
