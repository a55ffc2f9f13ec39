/**
 * Answers the server's `pronto/resolveDefinitions` (protocol/lsp.ts) with VS Code's own
 * go-to-definition: `vscode.executeDefinitionProvider` for each identifier position (at most
 * MAX_POSITIONS, all in parallel under one short deadline), then a short snippet of each target:
 * the declaration's full range when the provider gives one (LocationLink.targetRange, as the
 * TypeScript server does), else the target line expanded to its enclosing indented block; capped
 * in lines and characters. Definitions inside the requested document's own window (the lines the
 * prompt already holds) are skipped.
 */
import * as vscode from 'vscode';
import type { ResolveDefinitionsParams, ResolveDefinitionsResult, ResolvedDefinition } from '../../protocol/lsp';
import { capChars, snippetLines } from './snippet';

export const MAX_POSITIONS = 8;
/**
 * All positions are looked up in parallel under one deadline; names not answered by then are
 * reported as `unresolved` (the server asks again later). Definition providers such as tsserver
 * answer one request at a time and slow down while the engine uses the CPU, hence not less.
 */
export const LOOKUP_DEADLINE_MS = 1500;

/** Resolves to undefined when `p` takes longer than `ms` (or fails). */
function withTimeout<T>(p: Thenable<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    Promise.resolve(p).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

/** The lines of a document: the open one when VS Code has it, else the file read from disk. */
async function linesOf(uri: vscode.Uri): Promise<string[] | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open.getText().split(/\r?\n/);
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)).split(/\r?\n/);
  } catch {
    return undefined;
  }
}

function targetOf(loc: vscode.Location | vscode.LocationLink): { uri: vscode.Uri; range: vscode.Range } {
  return 'targetUri' in loc ? { uri: loc.targetUri, range: loc.targetRange } : { uri: loc.uri, range: loc.range };
}

export async function resolveDefinitions(
  params: ResolveDefinitionsParams,
  token?: vscode.CancellationToken,
): Promise<ResolveDefinitionsResult> {
  if (!params || typeof params.uri !== 'string' || !Array.isArray(params.positions)) {
    throw new Error('pronto/resolveDefinitions: params need a uri string and a positions array');
  }
  const uri = vscode.Uri.parse(params.uri);
  const positions = params.positions
    .filter(
      (p) =>
        p && Number.isInteger(p.line) && Number.isInteger(p.character) && p.line >= 0 && p.character >= 0 && typeof p.name === 'string',
    )
    .slice(0, MAX_POSITIONS);
  const window = params.excludeLines;
  const unresolved: string[] = [];
  const deadline = Date.now() + LOOKUP_DEADLINE_MS;
  const found = await Promise.all(
    positions.map(async (p): Promise<ResolvedDefinition | undefined> => {
      if (token?.isCancellationRequested) return undefined;
      const locations = await withTimeout(
        vscode.commands
          .executeCommand<(vscode.Location | vscode.LocationLink)[] | undefined>(
            'vscode.executeDefinitionProvider',
            uri,
            new vscode.Position(p.line, p.character),
          )
          .then(
            (v) => v ?? [],
            () => [], // a failing provider: no definition (not "try again")
          ),
        Math.max(0, deadline - Date.now()),
      );
      if (locations === undefined) {
        unresolved.push(p.name);
        return undefined;
      }
      for (const loc of locations) {
        const target = targetOf(loc);
        const sameDoc = target.uri.toString() === uri.toString();
        // The definition at the identifier itself (a declaration) or in the prompt's window: nothing new.
        if (sameDoc && target.range.start.line <= p.line && target.range.end.line >= p.line) continue;
        if (sameDoc && window && target.range.start.line >= window.start && target.range.start.line <= window.end) continue;
        const lines = await linesOf(target.uri);
        if (!lines) continue;
        const { start, end } = snippetLines(lines, target.range.start.line, target.range.end.line);
        const text = capChars(lines.slice(start, end + 1).join('\n'));
        if (!text.trim()) continue;
        return { name: p.name, uri: target.uri.toString(), text, line: start };
      }
      return undefined;
    }),
  );
  const definitions = found.filter((d): d is ResolvedDefinition => d !== undefined);
  return unresolved.length ? { definitions, unresolved } : { definitions };
}
