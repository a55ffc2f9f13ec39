/**
 * Definitions of symbols used near the cursor, two sources:
 *
 * - `EditorDefinitions`: the editor's own go-to-definition, asked with the server → client request
 *   `pronto/resolveDefinitions` (protocol/lsp.ts) for clients that advertise it. Asked in the
 *   background (`prepare`, called when a completion request arrives, never awaited), answers cached
 *   per (document, name) with the document version and reused on later keystrokes (`lookup`). A
 *   slow client is cut off after a timeout and left alone for a while; a completion never waits.
 * - `findDefinitions`: the fallback, a cheap editor-independent stand-in for go-to-definition:
 *   identifiers from the last lines before the cursor are looked up as declarations
 *   (`function x`, `class x`, `const x =`, `def x`, `fn x`, …) in the other open documents; each hit
 *   becomes a short chunk starting at the declaration. Used for names the editor has no answer for
 *   (yet), and for every name when the client cannot answer.
 *
 * `combineDefinitions` merges both into the FIM request's extra context chunks.
 */
import * as path from 'node:path';
import type { ContextChunk } from '../../../protocol/engine';
import type { DefinitionPosition, ResolveDefinitionsParams, ResolveDefinitionsResult, ResolvedDefinition } from '../../../protocol/lsp';

const KEYWORDS = new Set(
  'abstract async await boolean break case catch class const continue def default delete do elif else enum export extends false final finally fn for from func function if impl import in instanceof interface let new nil none null number object pass private protected public return self static string struct super switch this throw true try type typeof undefined var void while with yield'.split(
    ' ',
  ),
);

/**
 * The identifier touching the cursor is being typed: half a name (`makeSq`) matches nothing or the
 * wrong thing, and looking it up on every keystroke would change the prompt's extra chunks (placed
 * first, so every token after them) with each character. It is looked up once the user moved past it.
 */
function withoutWordAtEnd(text: string): string {
  // Walked back by hand: an anchored regex would rescan a long word run once per start position.
  let i = text.length;
  while (i > 0 && /[\w$]/.test(text[i - 1]!)) i--;
  while (i < text.length && /[0-9]/.test(text[i]!)) i++; // an identifier does not start with a digit
  return text.slice(0, i);
}

/** Identifiers in the last `lines` lines before the cursor, nearest first, without keywords or the word being typed. */
export function identifiersNearCursor(prefix: string, lines = 3, max = 8): string[] {
  const tail = withoutWordAtEnd(prefix.split('\n').slice(-lines).join('\n'));
  const found = tail.match(/[A-Za-z_$][\w$]*/g) ?? [];
  const out: string[] = [];
  for (const id of found.reverse()) {
    if (id.length < 3 || KEYWORDS.has(id.toLowerCase()) || out.includes(id)) continue;
    out.push(id);
    if (out.length >= max) break;
  }
  return out;
}

const escapeDollar = (s: string) => s.replace(/[$]/g, '\\$');

function declarationPattern(name: string): RegExp {
  return new RegExp(
    `^[ \\t]*(?:export[ \\t]+)?(?:default[ \\t]+)?(?:pub[ \\t]+)?(?:async[ \\t]+)?(?:function\\*?|class|interface|type|enum|struct|trait|def|fn|func|const|let|var)[ \\t]+${escapeDollar(name)}\\b`,
    'm',
  );
}

export interface OpenDocument {
  uri: string;
  filename: string;
  text: string;
}

/** Chunks of `chunkLines` lines starting at declarations of `names` in `docs` (other than `excludeUri`). */
export function findDefinitions(names: string[], docs: OpenDocument[], excludeUri: string, maxChunks = 3, chunkLines = 12): ContextChunk[] {
  const chunks: ContextChunk[] = [];
  for (const name of names) {
    for (const doc of docs) {
      if (doc.uri === excludeUri) continue;
      const m = declarationPattern(name).exec(doc.text);
      if (!m) continue;
      const startLine = doc.text.slice(0, m.index).split('\n').length - 1;
      const text = doc.text
        .split('\n')
        .slice(startLine, startLine + chunkLines)
        .join('\n');
      chunks.push({ filename: doc.filename, text });
      break; // one definition per name
    }
    if (chunks.length >= maxChunks) break;
  }
  return chunks;
}

/** Same identifiers as `identifiersNearCursor`, with the position of their nearest occurrence before the cursor. */
export function identifierPositionsNearCursor(text: string, offset: number, lines = 3, max = 8): DefinitionPosition[] {
  const before = withoutWordAtEnd(text.slice(0, Math.max(0, Math.min(offset, text.length))));
  const allLines = before.split('\n');
  const first = Math.max(0, allLines.length - lines);
  const out: DefinitionPosition[] = [];
  for (let line = allLines.length - 1; line >= first && out.length < max; line--) {
    const lineText = allLines[line]!;
    const found = [...lineText.matchAll(/[A-Za-z_$][\w$]*/g)].reverse();
    for (const m of found) {
      const name = m[0];
      if (name.length < 3 || KEYWORDS.has(name.toLowerCase()) || out.some((p) => p.name === name)) continue;
      out.push({ line, character: m.index, name });
      if (out.length >= max) break;
    }
  }
  return out;
}

function filenameOfUri(uri: string): string {
  try {
    return path.basename(new URL(uri).pathname);
  } catch {
    return path.basename(uri);
  }
}

/**
 * The definitions a document's prompts carry, kept from one keystroke to the next. The names near
 * the cursor change with every line typed (a name typed, a line scrolled out of the last three), and
 * each change of the extra chunks (placed first in the prompt) makes the engine re-evaluate or shift
 * what follows them. So a definition stays once found, in the order it was found (new ones last,
 * nearest the cursor), until `capacity` newer ones push it out; one found again with other text (its
 * file was edited) is replaced in place. Keyed by file and first line (the declaration).
 */
export class StickyDefinitions {
  private readonly perUri = new Map<string, ContextChunk[]>();

  constructor(private readonly capacity = 4) {}

  update(uri: string, found: ContextChunk[]): ContextChunk[] {
    const key = (c: ContextChunk) => `${c.filename ?? ''}\n${c.text.split('\n', 1)[0]}`;
    const kept = [...(this.perUri.get(uri) ?? [])];
    for (const c of found) {
      const i = kept.findIndex((k) => key(k) === key(c));
      if (i < 0) kept.push(c);
      else if (kept[i]!.text !== c.text) kept[i] = c;
    }
    const out = kept.slice(Math.max(0, kept.length - this.capacity));
    this.perUri.set(uri, out);
    return out;
  }

  forget(uri: string): void {
    this.perUri.delete(uri);
  }
}

/** Cap on one snippet from the client (it caps too; this protects the prompt from a careless one). */
export const MAX_DEFINITION_CHARS = 2000;

interface Entry {
  version: number;
  at: number;
  /** undefined: the editor knows no definition for this name (cached too, so it is not asked again). */
  definition: ResolvedDefinition | undefined;
}

export interface EditorDefinitionsOptions {
  /** Sends `pronto/resolveDefinitions` to the client; `signal` aborts on timeout. */
  request: (params: ResolveDefinitionsParams, signal: AbortSignal) => Promise<ResolveDefinitionsResult>;
  /** How long one request may take before it is given up (default 3000 ms; it runs in the background). */
  timeoutMs?: number;
  /** After a timeout or error, the client is not asked again for this long (default 5000 ms). */
  backoffMs?: number;
  /** Entries from an older document version are refreshed once they are this old (default 10 s). */
  refreshMs?: number;
  /** Identifiers asked per request (default 8). */
  maxNames?: number;
  /** Documents kept in the cache (least recently used dropped first; default 50). */
  maxDocuments?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export interface PrepareInput {
  uri: string;
  version: number;
  text: string;
  offset: number;
  /** Lines of `uri` already in the prompt (inclusive). */
  excludeLines?: { start: number; end: number };
}

/** Definitions from the editor, cached per (document, name); see the file comment. */
export class EditorDefinitions {
  private readonly cache = new Map<string, Map<string, Entry>>();
  private readonly excluded = new Map<string, { start: number; end: number }>();
  private running: Promise<void> | undefined;
  private pending: PrepareInput | undefined;
  private quietUntil = 0;
  private disposed = false;
  private readonly controllers = new Set<AbortController>();
  /** Requests sent to the client so far (for tests and logs). */
  requestsSent = 0;

  constructor(private readonly options: EditorDefinitionsOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * Starts a background request for identifiers near the cursor that are not cached (or cached for
   * an older version, long enough ago). Returns at once; at most one request runs, and a newer
   * cursor replaces a queued one.
   */
  prepare(input: PrepareInput): void {
    if (this.disposed) return;
    if (input.excludeLines) this.excluded.set(input.uri, input.excludeLines);
    if (this.running) {
      this.pending = input;
      return;
    }
    const positions = this.missing(input);
    if (positions.length === 0) return;
    this.running = this.ask(input, positions).finally(() => {
      this.running = undefined;
      const next = this.pending;
      this.pending = undefined;
      if (next) this.prepare(next);
    });
  }

  /** Resolves when no request is running or queued (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Cached definitions for `names` (in order) as context chunks, and the names the editor has
   * answered for (with or without a definition): those need no fallback search.
   */
  lookup(uri: string, names: string[]): { chunks: ContextChunk[]; known: Set<string> } {
    const perDoc = this.cache.get(uri);
    const chunks: ContextChunk[] = [];
    const known = new Set<string>();
    if (!perDoc) return { chunks, known };
    // Touch: most recently used document last.
    this.cache.delete(uri);
    this.cache.set(uri, perDoc);
    const window = this.excluded.get(uri);
    for (const name of names) {
      const entry = perDoc.get(name);
      if (!entry) continue;
      known.add(name);
      const d = entry.definition;
      if (!d) continue;
      if (d.uri === uri && window && d.line !== undefined && d.line >= window.start && d.line <= window.end) continue;
      if (chunks.some((c) => c.text === d.text)) continue;
      chunks.push({ filename: filenameOfUri(d.uri), text: d.text });
    }
    return { chunks, known };
  }

  /** The document closed: its entries go. */
  forget(uri: string): void {
    this.cache.delete(uri);
    this.excluded.delete(uri);
  }

  dispose(): void {
    this.disposed = true;
    this.pending = undefined;
    for (const c of this.controllers) c.abort();
  }

  private missing(input: PrepareInput): DefinitionPosition[] {
    if (this.now() < this.quietUntil) return [];
    const perDoc = this.cache.get(input.uri);
    const refreshMs = this.options.refreshMs ?? 10_000;
    const now = this.now();
    return identifierPositionsNearCursor(input.text, input.offset, 3, this.options.maxNames ?? 8).filter((p) => {
      const e = perDoc?.get(p.name);
      return !e || (e.version !== input.version && now - e.at >= refreshMs);
    });
  }

  private async ask(input: PrepareInput, positions: DefinitionPosition[]): Promise<void> {
    const controller = new AbortController();
    this.controllers.add(controller);
    const timeoutMs = this.options.timeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${timeoutMs} ms`));
        controller.abort(); // after the rejection, so the race reports the timeout
      }, timeoutMs);
    });
    this.requestsSent++;
    try {
      const params: ResolveDefinitionsParams = {
        uri: input.uri,
        positions,
        ...(input.excludeLines ? { excludeLines: input.excludeLines } : {}),
      };
      const result = await Promise.race([this.options.request(params, controller.signal), timeout]);
      if (this.disposed) return;
      this.store(input, positions, result);
    } catch (err) {
      this.quietUntil = this.now() + (this.options.backoffMs ?? 5000);
      this.options.log?.(`pronto/resolveDefinitions failed (${(err as Error).message}); using the pattern search for a while`);
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
  }

  private store(input: PrepareInput, positions: DefinitionPosition[], result: unknown): void {
    const defs = (result as { definitions?: unknown } | null | undefined)?.definitions;
    if (!Array.isArray(defs)) {
      throw new Error(
        `the client answered pronto/resolveDefinitions without a definitions array: ${JSON.stringify(result)?.slice(0, 200)}`,
      );
    }
    const byName = new Map<string, ResolvedDefinition>();
    for (const d of defs as unknown[]) {
      const c = d as Partial<ResolvedDefinition> | null;
      if (!c || typeof c.name !== 'string' || typeof c.uri !== 'string' || typeof c.text !== 'string' || !c.text.trim()) continue;
      if (byName.has(c.name)) continue;
      byName.set(c.name, {
        name: c.name,
        uri: c.uri,
        text: c.text.length > MAX_DEFINITION_CHARS ? c.text.slice(0, MAX_DEFINITION_CHARS) : c.text,
        ...(typeof c.line === 'number' ? { line: c.line } : {}),
      });
    }
    let perDoc = this.cache.get(input.uri);
    if (!perDoc) {
      perDoc = new Map();
      this.cache.set(input.uri, perDoc);
      const max = this.options.maxDocuments ?? 50;
      while (this.cache.size > max) this.cache.delete(this.cache.keys().next().value!);
    }
    const rawUnresolved = (result as { unresolved?: unknown }).unresolved;
    const unresolved = new Set(Array.isArray(rawUnresolved) ? rawUnresolved.filter((n): n is string => typeof n === 'string') : []);
    const at = this.now();
    for (const p of positions) {
      // Not looked up in time on the client's side: unknown, asked again on a later keystroke.
      if (unresolved.has(p.name) && !byName.has(p.name)) continue;
      perDoc.set(p.name, { version: input.version, at, definition: byName.get(p.name) });
    }
    this.options.log?.(
      `definitions from the editor for ${input.uri} v${input.version}: ${positions
        .map((p) => `${p.name}${byName.has(p.name) ? '' : unresolved.has(p.name) ? ' (not in time)' : ' (none)'}`)
        .join(', ')}`,
    );
  }
}

/**
 * The definitions chunks for one FIM request: the editor's (when it answered for a name) first,
 * then the pattern search for the names it has no answer for; at most `maxChunks`.
 */
export function combineDefinitions(
  names: string[],
  editor: { chunks: ContextChunk[]; known: Set<string> } | undefined,
  docs: OpenDocument[],
  excludeUri: string,
  maxChunks = 4,
): ContextChunk[] {
  const fromEditor = editor?.chunks ?? [];
  const rest = names.filter((n) => !editor?.known.has(n));
  const fallback = rest.length ? findDefinitions(rest, docs, excludeUri) : [];
  const out: ContextChunk[] = [];
  for (const c of [...fromEditor, ...fallback]) {
    if (out.length >= maxChunks) break;
    if (out.some((o) => o.text === c.text)) continue;
    out.push(c);
  }
  return out;
}
