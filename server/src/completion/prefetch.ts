/**
 * Prefetch (llama.vscode's idea, made to pay): when a suggestion is shown, the suggestion that will
 * be wanted once it is accepted is computed ahead, so Tab is followed by the next suggestion with no
 * wait. Rules:
 * - one prefetch per anticipated position: scheduling the position already being computed (each
 *   typing-through keystroke anticipates the same end) does nothing; another position replaces it;
 * - a request for the position being computed, or for one the user reached by typing on from it,
 *   JOINS it instead of aborting it (`covering`), and is answered from its result;
 * - its answer enters the cache (source 'prefetch'), where typing-through finds it too.
 * The work itself (`run`) is the provider's: build the context, ask the engine, store the answer.
 */
export interface Position {
  uri: string;
  /** Document text before / after the cursor. */
  before: string;
  after: string;
}

export interface RunningPrefetch extends Position {
  /** Settles when the prefetch has finished, failed or been aborted (never rejects). */
  readonly done: Promise<void>;
  readonly controller: AbortController;
}

/** How far past a prefetch's position a request may have typed and still wait for it. */
const MAX_TYPED_AHEAD = 256;

export function samePosition(a: Position, b: Position): boolean {
  return a.uri === b.uri && a.before === b.before && a.after === b.after;
}

/** `request` is the prefetch's position, or one reached by typing on from it (same text after the cursor). */
export function reachedFrom(prefetch: Position, request: Position): boolean {
  if (prefetch.uri !== request.uri || prefetch.after !== request.after) return false;
  const typed = request.before.length - prefetch.before.length;
  return typed >= 0 && typed <= MAX_TYPED_AHEAD && request.before.startsWith(prefetch.before);
}

export class Prefetcher {
  private current: RunningPrefetch | undefined;

  constructor(private readonly hooks: { onStart?: () => void; onAbort?: () => void } = {}) {}

  /** The prefetch in flight, if any. */
  get running(): RunningPrefetch | undefined {
    return this.current;
  }

  /**
   * Starts `run` for `position` unless that position is already being computed; a prefetch for
   * another position is aborted first. Returns the running prefetch (new or existing).
   */
  schedule(position: Position, run: (signal: AbortSignal) => Promise<void>): RunningPrefetch {
    if (this.current && samePosition(this.current, position)) return this.current;
    this.abort();
    const controller = new AbortController();
    const done = run(controller.signal)
      .catch(() => undefined)
      .finally(() => {
        if (this.current === entry) this.current = undefined;
      });
    const entry: RunningPrefetch = { ...position, controller, done };
    this.current = entry;
    this.hooks.onStart?.();
    return entry;
  }

  /** The running prefetch a request at `position` can wait for instead of asking the engine itself. */
  covering(position: Position): RunningPrefetch | undefined {
    return this.current && reachedFrom(this.current, position) ? this.current : undefined;
  }

  abort(): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    p.controller.abort();
    this.hooks.onAbort?.();
  }
}
