/**
 * Reads `.pronto/deploy.yaml`: YAML (the `yaml` library, which keeps each node's source range) →
 * zod (schema.ts). Every problem comes back with the line and column of the node it is about and a
 * sentence that says what to write instead, e.g.
 *
 *   deploy.yaml:7:12: gates.window: "a minute" is not a duration; write a number of seconds or e.g. 30s, 5m, 1h30m
 *   deploy.yaml:3:3: unknown key "replica"; did you mean "replicas"?
 *
 * Nothing here throws for bad input: the result is a tagged union.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { deployConfigSchema, KNOWN_KEYS, type DeployConfig } from './schema';

export interface ConfigProblem {
  /** 1-based line and column in the file. */
  line: number;
  column: number;
  /** Dotted path of the value (empty for the whole file). */
  path: string;
  message: string;
}

export type ConfigResult = { ok: true; config: DeployConfig } | { ok: false; problems: ConfigProblem[] };

export const DEFAULT_CONFIG_PATH = path.join('.pronto', 'deploy.yaml');

/** One line per problem, `file:line:col: path: message`, for logs, the CLI and VS Code. */
export function formatProblems(file: string, problems: ConfigProblem[]): string {
  return problems.map((p) => `${file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n');
}

export async function loadDeployConfigFile(file: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `${file} does not exist; create it with "Pronto: Create Deploy Config" or \`pronto-deploy init\``
        : `${file} could not be read: ${(err as Error).message}`;
    return { ok: false, problems: [{ line: 1, column: 1, path: '', message }] };
  }
  return parseDeployConfig(text);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** What to write when a required key is missing. */
const REQUIRED_HINT: Record<string, string> = {
  name: 'name: team-completions (lower-case letters, digits, dashes)',
  target: 'target: with kind: local (engines on this machine behind HAProxy) or kind: kubernetes',
  model: 'model: with path: (a GGUF file) or url: and sha256:',
  'target.kind': 'kind: local or kind: kubernetes',
};

const LOCAL_ONLY = new Set(['host', 'activePort', 'previewPort', 'stateDir', 'engineBinary', 'engineArgs', 'gpuIds', 'allowedHosts']);
const KUBERNETES_ONLY = new Set(['context', 'namespace', 'publicUrl', 'port']);

export function parseDeployConfig(text: string): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length) {
    const seen = new Set<number>();
    return {
      ok: false,
      // One problem per line: the parser often reports a follow-up error at the same place.
      problems: doc.errors
        .filter((e) => !seen.has(at(e.pos[0]).line) && seen.add(at(e.pos[0]).line))
        .map((e) => ({
          ...at(e.pos[0]),
          path: '',
          message: `${e.message.split('\n')[0]} (YAML syntax: check the indentation and the colon after each key)`,
        })),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml refuses alias bombs ("billion laughs") here.
    return {
      ok: false,
      problems: [{ line: 1, column: 1, path: '', message: `${(err as Error).message}; write the values out instead of nesting aliases` }],
    };
  }
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    return {
      ok: false,
      problems: [
        { line: 1, column: 1, path: '', message: 'the file must be a mapping of keys (name:, target:, model:, …); see the starter file' },
      ],
    };
  }
  const r = deployConfigSchema.safeParse(data);
  if (r.success) return { ok: true, config: r.data };

  /** The deepest node along `segments` that exists, and whether it was the full path. */
  const nodeAt = (segments: (string | number)[]): { node: YamlNode | undefined; exact: boolean } => {
    for (let n = segments.length; n >= 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true);
      if (isNode(node)) return { node, exact: n === segments.length };
    }
    return { node: doc.contents ?? undefined, exact: segments.length === 0 };
  };
  const problems: ConfigProblem[] = [];
  const visit = (issues: z.core.$ZodIssue[], prefix: (string | number)[] = []) => {
    for (const issue of issues) {
      const segments = [...prefix, ...(issue.path as (string | number)[])];
      const dotted = segments.join('.');
      if (issue.code === 'unrecognized_keys') {
        const parent = doc.getIn(segments, true);
        for (const key of issue.keys) {
          let offset = isNode(parent) ? parent.range?.[0] : undefined;
          if (isMap(parent)) {
            const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
            if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
          }
          const scope = segments.filter((s) => typeof s === 'string').join('.');
          const hint =
            scope === 'target' && LOCAL_ONLY.has(key)
              ? `; "${key}" belongs to kind: local`
              : scope === 'target' && KUBERNETES_ONLY.has(key)
                ? `; "${key}" belongs to kind: kubernetes`
                : (() => {
                    const s = suggestKey(key, KNOWN_KEYS[scope] ?? []);
                    return s ? `; did you mean "${s}"?` : `; the keys here are: ${(KNOWN_KEYS[scope] ?? []).join(', ')}`;
                  })();
          problems.push({ ...at(offset), path: [...segments, key].join('.'), message: `unknown key "${key}"${hint}` });
        }
        continue;
      }
      if (issue.code === 'invalid_union' && issue.errors.length && issue.errors.every((e) => e.length)) {
        // A union (e.g. a duration given as a list): report the first branch's reasons.
        visit(issue.errors[0]!, segments);
        continue;
      }
      const { node, exact } = nodeAt(segments);
      const missing = !exact && issue.code === 'invalid_type' && (issue.input === undefined || issue.input === null);
      let message = issue.message;
      if (missing) message = `is missing; add ${REQUIRED_HINT[dotted] ?? `${String(segments[segments.length - 1])}: (it ${message})`}`;
      else if (/^Invalid input: expected/.test(message)) message = `${message.replace(/^Invalid input: /, '')}`;
      problems.push({ ...at(node?.range?.[0]), path: dotted, message });
    }
  };
  visit(r.error.issues);
  // Several branches can report the same place; keep the file order.
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems: problems.filter((p, i) => i === 0 || JSON.stringify(p) !== JSON.stringify(problems[i - 1])) };
}
