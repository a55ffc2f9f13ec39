/**
 * LRU cache of suggestions with typing-through.
 *
 * An entry remembers the prefix and suffix it was computed for and its suggestions. A lookup with a
 * longer prefix hits an entry when the extra characters are exactly the start of one of its
 * suggestions (the user is typing the ghost text): the rest of that suggestion is returned with no
 * engine call. Keys use the tail of the prefix and the head of the suffix so a cache hit does not
 * depend on text far away from the cursor.
 */
export interface CacheEntry {
  uri: string;
  prefix: string;
  suffix: string;
  items: string[];
}

export interface CacheHit {
  items: string[];
  /** Characters typed since the entry was stored (0 for an exact hit). */
  typedThrough: number;
}

const KEY_PREFIX_CHARS = 2000;
const KEY_SUFFIX_CHARS = 500;

function prefixKey(prefix: string): string {
  return prefix.slice(-KEY_PREFIX_CHARS);
}
function suffixKey(suffix: string): string {
  return suffix.slice(0, KEY_SUFFIX_CHARS);
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
    const items = entry.items.filter((t) => t.length > 0);
    if (items.length === 0) return;
    const key = this.key(entry.uri, entry.prefix, entry.suffix);
    this.entries.delete(key);
    this.entries.set(key, { ...entry, items });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get(uri: string, prefix: string, suffix: string): CacheHit | undefined {
    const exactKey = this.key(uri, prefix, suffix);
    const exact = this.entries.get(exactKey);
    if (exact) {
      this.entries.delete(exactKey);
      this.entries.set(exactKey, exact);
      return { items: exact.items, typedThrough: 0 };
    }
    const pk = prefixKey(prefix);
    const sk = suffixKey(suffix);
    // Typing-through: newest entries first.
    for (const [key, entry] of [...this.entries].reverse()) {
      if (entry.uri !== uri || suffixKey(entry.suffix) !== sk) continue;
      const epk = prefixKey(entry.prefix);
      // The stored prefix tail must be a prefix of the current one, shifted by the typed text.
      const typed = findTyped(epk, pk);
      if (typed === undefined || typed.length === 0) continue;
      const rest = entry.items
        .filter((item) => item.startsWith(typed) && item.length > typed.length)
        .map((item) => item.slice(typed.length));
      if (rest.length === 0) continue;
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { items: rest, typedThrough: typed.length };
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
