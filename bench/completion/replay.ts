// Replays a session the way VS Code drives an inline completion provider, and measures what the
// user sees.
//
// VS Code, per keystroke: the document changes (an LSP client sends didChange at once), the token of
// the previous provider call is cancelled, and after a short debounce (50 ms, VS Code's
// InlineCompletionsDebounce) the provider is called with a fresh token. A result that arrives after
// its token was cancelled is dropped. The user's clock is the session's: keys at the recorded gaps;
// at a pause the user also waits (up to `waitCapMs`) for the suggestion of that state.
//
// Latency of a keystroke = time from the keystroke until the provider call for exactly that
// document state answered with a non-empty suggestion, while its token was still live.

import { CancellationTokenSource, type CancellationToken } from 'vscode-jsonrpc';
import type { Keystroke, Session } from './session';

export interface ProviderAnswer {
  items: string[];
  fromCache: boolean;
}

/** What the replay needs from a client (ours through LSP, or the llama.vscode emulation). */
export interface CompletionClient {
  /** The document changed (didChange). Called at the keystroke, before any provider call. */
  change(k: Keystroke, index: number): void;
  /** VS Code calls the provider; null = no answer (the client gave up, e.g. cancelled). */
  provide(k: Keystroke, token: CancellationToken): Promise<ProviderAnswer | null>;
}

export interface KeystrokeRecord {
  index: number;
  pause: boolean;
  text: string;
  /** ms since the session started. */
  at: number;
  /** The provider was called for this state (not superseded during VS Code's debounce). */
  called: boolean;
  /** The provider answered while the state was current (token live). */
  answered: boolean;
  /** That answer had a suggestion. */
  shown: boolean;
  fromCache: boolean;
  /** Keystroke -> answer with a suggestion (ms); undefined when none was shown for this state. */
  latencyMs?: number;
  /** Keystroke -> any answer while current (suggestion or empty). */
  answerMs?: number;
  /** At a pause: the user gave up waiting after waitCapMs. */
  timedOut: boolean;
}

export interface ReplayOptions {
  debounceMs: number;
  waitCapMs: number;
}

export const defaultReplayOptions: ReplayOptions = { debounceMs: 50, waitCapMs: 20_000 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function replay(
  session: Session,
  client: CompletionClient,
  o: ReplayOptions = defaultReplayOptions,
  onKey?: (r: KeystrokeRecord) => void,
): Promise<KeystrokeRecord[]> {
  const records: KeystrokeRecord[] = [];
  const pending: Promise<void>[] = [];
  const failures: string[] = [];
  let current: CancellationTokenSource | undefined;
  const t0 = performance.now();
  for (const [index, k] of session.keystrokes.entries()) {
    const tKey = performance.now();
    current?.cancel();
    const cts = new CancellationTokenSource();
    current = cts;
    client.change(k, index);
    const rec: KeystrokeRecord = {
      index,
      pause: k.pause,
      text: k.text,
      at: tKey - t0,
      called: false,
      answered: false,
      shown: false,
      fromCache: false,
      timedOut: false,
    };
    records.push(rec);
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    const call = (async () => {
      await sleep(o.debounceMs);
      if (cts.token.isCancellationRequested) return;
      rec.called = true;
      const answer = await client.provide(k, cts.token);
      if (cts.token.isCancellationRequested || answer === null) return;
      const t = performance.now() - tKey;
      rec.answered = true;
      rec.answerMs = t;
      rec.fromCache = answer.fromCache;
      if (answer.items.some((s) => s.length > 0)) {
        rec.shown = true;
        rec.latencyMs = t;
      }
    })()
      .catch((e: unknown) => {
        // Kept, not thrown here: the replay fails once, with the first error, after the session.
        failures.push(`keystroke ${index + 1}: the provider failed: ${(e as Error).message}`);
      })
      .finally(() => settle());
    pending.push(call);
    if (k.pause) {
      // The user pauses for at least gapMs and keeps waiting (up to the cap) for this state's answer.
      const start = performance.now();
      let capTimer: NodeJS.Timeout | undefined;
      const capped = await Promise.race([
        settled.then(() => false),
        new Promise<boolean>((r) => (capTimer = setTimeout(() => r(true), o.waitCapMs))),
      ]);
      clearTimeout(capTimer);
      rec.timedOut = capped && !rec.answered;
      const waited = performance.now() - start;
      if (waited < k.gapMs) await sleep(k.gapMs - waited);
    } else {
      await sleep(k.gapMs);
    }
    onKey?.(rec);
  }
  current?.cancel();
  await Promise.all(pending);
  if (failures.length) throw new Error(`${failures[0]} (${failures.length} failed calls)`);
  return records;
}
