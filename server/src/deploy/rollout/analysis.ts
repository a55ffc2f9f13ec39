/**
 * Real requests the controller sends itself (Flagger's load tester, Argo's pre-promotion analysis):
 *   - the smoke test: one completion and one streaming chat through the preview service, each
 *     required to answer 200 with generated text;
 *   - the analysis load: a steady rate of such requests through a service during a gate window,
 *     so the candidate has traffic to be measured on, with each outcome and latency kept (the
 *     client-side view of the gates: it includes everything between the client and the engine).
 */
import type { Gates } from '../config/schema';
import { readBody, type Platform } from '../platform/types';
import { evaluateGates, p95, secs, type Measurement } from './gates';
import type { GateResult } from './machine';

export interface RequestOutcome {
  ok: boolean;
  latencySeconds: number;
  /** Why it failed ("HTTP 503", "stream ended without [DONE]", "connect ECONNREFUSED"). */
  error?: string;
  tokens: number;
}

const COMPLETION_PROMPT = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n';
const CHAT_MESSAGES = [{ role: 'user', content: 'Write a one-line Python function that adds two numbers.' }];

/** One non-streaming completion. */
export async function completionRequest(platform: Platform, service: 'active' | 'preview', signal?: AbortSignal): Promise<RequestOutcome> {
  const t0 = performance.now();
  try {
    const res = await platform.request(
      { service },
      {
        method: 'POST',
        path: '/v1/completions',
        body: JSON.stringify({ prompt: COMPLETION_PROMPT, max_tokens: 8, temperature: 0 }),
        signal,
      },
    );
    const text = await readBody(res);
    const latencySeconds = (performance.now() - t0) / 1000;
    if (res.status !== 200) return { ok: false, latencySeconds, error: `completion: HTTP ${res.status} ${text.slice(0, 200)}`, tokens: 0 };
    const json = JSON.parse(text) as { choices?: Array<{ text?: unknown }>; usage?: { completion_tokens?: number } };
    const tokens = json.usage?.completion_tokens ?? 0;
    if (typeof json.choices?.[0]?.text !== 'string' || tokens < 1) {
      return { ok: false, latencySeconds, error: 'completion: the reply has no generated text', tokens };
    }
    return { ok: true, latencySeconds, tokens };
  } catch (err) {
    return { ok: false, latencySeconds: (performance.now() - t0) / 1000, error: `completion: ${errorText(err)}`, tokens: 0 };
  }
}

/** One streaming chat request (SSE), read to its `[DONE]`. */
export async function chatRequest(platform: Platform, service: 'active' | 'preview', signal?: AbortSignal): Promise<RequestOutcome> {
  const t0 = performance.now();
  try {
    const res = await platform.request(
      { service },
      {
        method: 'POST',
        path: '/v1/chat/completions',
        body: JSON.stringify({ messages: CHAT_MESSAGES, max_tokens: 8, stream: true, temperature: 0 }),
        signal,
      },
    );
    if (res.status !== 200) {
      const text = await readBody(res).catch(() => '');
      return {
        ok: false,
        latencySeconds: (performance.now() - t0) / 1000,
        error: `chat: HTTP ${res.status} ${text.slice(0, 200)}`,
        tokens: 0,
      };
    }
    let buffer = '';
    let tokens = 0;
    let done = false;
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl = buffer.indexOf('\n\n');
      while (nl >= 0) {
        const event = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 2);
        nl = buffer.indexOf('\n\n');
        if (!event.startsWith('data:')) continue;
        const data = event.slice(5).trim();
        if (data === '[DONE]') done = true;
        else {
          const json = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> };
          if (json.choices?.[0]?.delta?.content) tokens++;
        }
      }
    }
    const latencySeconds = (performance.now() - t0) / 1000;
    if (!done) return { ok: false, latencySeconds, error: 'chat: the stream ended without [DONE]', tokens };
    if (tokens < 1) return { ok: false, latencySeconds, error: 'chat: the stream carried no generated text', tokens };
    return { ok: true, latencySeconds, tokens };
  } catch (err) {
    return { ok: false, latencySeconds: (performance.now() - t0) / 1000, error: `chat: ${errorText(err)}`, tokens: 0 };
  }
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ? `${e.message} (${e.cause.code})` : (e.message ?? String(err));
}

/** The smoke test's two gates. */
export async function smokeTest(platform: Platform, signal?: AbortSignal): Promise<GateResult[]> {
  const completion = await completionRequest(platform, 'preview', signal);
  const chat = await chatRequest(platform, 'preview', signal);
  const gate = (name: string, o: RequestOutcome): GateResult => ({
    stage: 'smoke',
    name,
    source: 'through the preview service',
    threshold: 'HTTP 200 with generated text',
    measured: o.ok ? `200, ${o.tokens} token(s) in ${secs(o.latencySeconds)}` : (o.error ?? 'failed'),
    passed: o.ok,
    value: o.latencySeconds,
  });
  return [gate('smoke: completion', completion), gate('smoke: chat (streaming)', chat)];
}

/**
 * A steady load of real requests (alternating completion and streaming chat) at `rate` per second
 * through a service until `signal` aborts; `stop()` waits for those in flight and returns them all.
 */
export class AnalysisLoad {
  readonly outcomes: RequestOutcome[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly stopController = new AbortController();
  private n = 0;

  constructor(
    private readonly platform: Platform,
    private readonly service: 'active' | 'preview',
    rate: number,
  ) {
    if (rate <= 0) return;
    const send = () => {
      const kind = this.n++ % 2 === 0 ? completionRequest : chatRequest;
      const p = kind(this.platform, this.service, this.stopController.signal).then((o) => {
        // A request cut by the end of the window is neither a success nor a failure.
        if (!this.stopController.signal.aborted || o.ok) this.outcomes.push(o);
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    };
    send();
    this.timer = setInterval(send, 1000 / rate);
  }

  /** Stops sending; waits up to `graceMs` for requests in flight, then cuts them. */
  async stop(graceMs = 10_000): Promise<RequestOutcome[]> {
    if (this.timer) clearInterval(this.timer);
    const settle = Promise.all([...this.inFlight]);
    const timeout = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([settle, timeout]);
    this.stopController.abort();
    await settle;
    return this.outcomes;
  }
}

/** The client-side measurement of the analysis requests. */
export function measureOutcomes(outcomes: RequestOutcome[]): Measurement {
  return {
    requests: outcomes.length,
    failures: outcomes.filter((o) => !o.ok).length,
    p95Seconds: p95(outcomes.map((o) => o.latencySeconds)),
  };
}

export function analysisGates(outcomes: RequestOutcome[], gates: Gates, service: 'active' | 'preview'): GateResult[] {
  // The minimum-requests gate belongs to the metrics view (it counts every request the colour got).
  const stage = service === 'preview' ? 'analysis' : 'watch';
  const results = evaluateGates(
    measureOutcomes(outcomes),
    { ...gates, minRequests: 0 },
    `analysis requests through ${service}`,
    stage,
  ).filter((g) => g.name !== 'requests');
  const firstError = outcomes.find((o) => !o.ok)?.error;
  if (firstError) {
    const rate = results.find((g) => g.name === 'success rate');
    if (rate) rate.measured += `; first error: ${firstError}`;
  }
  return results;
}
