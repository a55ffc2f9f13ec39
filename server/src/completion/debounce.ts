/**
 * Adaptive debounce: wait longer while the user types fast (a request fired mid-burst is wasted),
 * and only the base delay when they type slowly. The typing interval is an exponential moving
 * average of the gaps between completion requests; long pauses are not counted as typing.
 */
export class AdaptiveDebounce {
  private lastAt: number | undefined;
  private emaMs: number | undefined;

  constructor(
    private baseMs: number,
    private readonly alpha = 0.3,
    /** Gaps longer than this are pauses, not typing. */
    private readonly pauseMs = 1000,
  ) {}

  setBase(baseMs: number): void {
    this.baseMs = baseMs;
  }

  get typingIntervalMs(): number | undefined {
    return this.emaMs;
  }

  /** Records a request at `now` and returns how long to wait before sending it. */
  next(now: number): number {
    if (this.lastAt !== undefined) {
      const gap = now - this.lastAt;
      if (gap < this.pauseMs) this.emaMs = this.emaMs === undefined ? gap : this.alpha * gap + (1 - this.alpha) * this.emaMs;
    }
    this.lastAt = now;
    return debounceDelay(this.baseMs, this.emaMs);
  }
}

/** Pure rule: fast typing (interval below 4× base) waits 1.5× the interval, within [base, 4× base]. */
export function debounceDelay(baseMs: number, typingIntervalMs: number | undefined): number {
  if (typingIntervalMs === undefined || typingIntervalMs >= 4 * baseMs) return baseMs;
  return Math.round(Math.min(4 * baseMs, Math.max(baseMs, 1.5 * typingIntervalMs)));
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
