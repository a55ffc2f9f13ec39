// The accept phase: the user takes suggestions with Tab, one after another, as soon as they show
// (after a human reaction time), the way VS Code drives it: the suggestion is inserted (didChange),
// the accept is reported (pronto/didAcceptCompletion), and after VS Code's debounce the provider is
// asked at the new position. The figure: how often that request was answered from the prefetch
// (the server computed it while the suggestion was shown) instead of asking the engine itself.
//
// "Answered without an engine request of its own" is read from the server's own record of that
// request (pronto/stats `recent`): no prompt tokens (a cache hit or a joined prefetch) and an answer
// (shown or empty). Older servers keep the same records, so the figure compares before and after.

import type { CancellationToken } from 'vscode-jsonrpc';
import type { CompletionRecord } from '../../protocol/lsp';
import { seededRandom } from './session';

export interface AcceptClient {
  /** Asks at the cursor; null when cancelled. */
  ask(token?: CancellationToken): Promise<{ items: string[] } | null>;
  /** Types `text` at the cursor (didChange). */
  type(text: string): void;
  /** Tab: inserts `text` at the cursor and reports the accept. */
  accept(text: string): void;
  /** The server's record of the last request it answered. */
  lastRecord(): Promise<CompletionRecord | undefined>;
}

export interface AcceptOptions {
  /** Accepts to make. */
  accepts: number;
  /** Reaction time between a suggestion showing and Tab, uniform in [min, max] ms. */
  reactionMs: [number, number];
  /** VS Code's debounce before it asks at the new position. */
  debounceMs: number;
  seed: number;
  /** When a state has no suggestion the user types on: these characters, cyclically. */
  filler: string;
  /** Give up after this many states in a row without a suggestion. */
  maxTries: number;
}

export const defaultAcceptOptions: AcceptOptions = {
  accepts: 10,
  reactionMs: [150, 400],
  debounceMs: 50,
  seed: 11,
  filler: ' value = compute(item);\n',
  maxTries: 40,
};

export interface AcceptRecord {
  index: number;
  /** What was accepted. */
  text: string;
  /** The request at the new position was answered without an engine request of its own. */
  fromPrefetch: boolean;
  /** Tab -> that answer (ms). */
  latencyMs: number;
  /** It had a suggestion (which is then the next one accepted). */
  shownNext: boolean;
  record?: CompletionRecord;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Served without the engine: no prompt evaluated for it, and an answer. */
export function answeredWithoutEngine(r: CompletionRecord | undefined): boolean {
  return r !== undefined && r.promptTokens === 0 && (r.outcome === 'shown' || r.outcome === 'empty');
}

export async function runAccepts(client: AcceptClient, o: AcceptOptions = defaultAcceptOptions): Promise<AcceptRecord[]> {
  const rand = seededRandom(o.seed);
  const records: AcceptRecord[] = [];
  let shown: string | undefined;
  let tries = 0;
  let fill = 0;
  while (records.length < o.accepts) {
    if (!shown) {
      if (tries++ >= o.maxTries) break;
      client.type(o.filler[fill++ % o.filler.length]!);
      await sleep(o.debounceMs);
      shown = (await client.ask())?.items[0] || undefined;
      continue;
    }
    tries = 0;
    await sleep(Math.round(o.reactionMs[0] + rand() * (o.reactionMs[1] - o.reactionMs[0])));
    const t0 = performance.now();
    client.accept(shown);
    await sleep(o.debounceMs);
    const next = await client.ask();
    const latencyMs = performance.now() - t0;
    const record = await client.lastRecord();
    records.push({
      index: records.length,
      text: shown,
      fromPrefetch: answeredWithoutEngine(record),
      latencyMs,
      shownNext: Boolean(next?.items[0]),
      record,
    });
    shown = next?.items[0] || undefined;
  }
  return records;
}
