/**
 * Definitions of symbols used near the cursor, found in the other open documents: a cheap,
 * editor-independent stand-in for go-to-definition. Identifiers from the last lines before the
 * cursor are looked up as declarations (`function x`, `class x`, `const x =`, `def x`, `fn x`, …);
 * each hit becomes a short chunk starting at the declaration.
 *
 * TODO: when the client can answer a definition request for the cursor's symbols (LSP
 * `textDocument/definition` results forwarded by the extension), prefer those locations.
 */
import type { ContextChunk } from '../../../protocol/engine';

const KEYWORDS = new Set(
  'abstract async await boolean break case catch class const continue def default delete do elif else enum export extends false final finally fn for from func function if impl import in instanceof interface let new nil none null number object pass private protected public return self static string struct super switch this throw true try type typeof undefined var void while with yield'.split(
    ' ',
  ),
);

/** Identifiers in the last `lines` lines before the cursor, nearest first, without keywords. */
export function identifiersNearCursor(prefix: string, lines = 3, max = 8): string[] {
  const tail = prefix.split('\n').slice(-lines).join('\n');
  const found = tail.match(/[A-Za-z_$][\w$]*/g) ?? [];
  const out: string[] = [];
  for (const id of found.reverse()) {
    if (id.length < 3 || KEYWORDS.has(id.toLowerCase()) || out.includes(id)) continue;
    out.push(id);
    if (out.length >= max) break;
  }
  return out;
}

const escape = (s: string) => s.replace(/[$]/g, '\\$');

function declarationPattern(name: string): RegExp {
  return new RegExp(
    `^[ \\t]*(?:export[ \\t]+)?(?:default[ \\t]+)?(?:pub[ \\t]+)?(?:async[ \\t]+)?(?:function\\*?|class|interface|type|enum|struct|trait|def|fn|func|const|let|var)[ \\t]+${escape(name)}\\b`,
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
      const text = doc.text.split('\n').slice(startLine, startLine + chunkLines).join('\n');
      chunks.push({ filename: doc.filename, text });
      break; // one definition per name
    }
    if (chunks.length >= maxChunks) break;
  }
  return chunks;
}
