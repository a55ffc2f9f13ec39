// HTTP endpoints of the real engine: OpenAI-compatible completions (plain, FIM, SSE), chat, tokenize,
// metrics, and --api-key auth (HTTP and the WebSocket upgrade).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

let engine: RunningEngine;
before(async () => {
  engine = await startEngine({ model: (await ensureTestModels()).target, args: ['--ctx', '2048', '--parallel', '2'] });
});
after(async () => {
  await engine?.stop();
});

interface Completion {
  object: string;
  choices: Array<{ text?: string; message?: { role: string; content: string }; finish_reason: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

async function post<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await fetch(`${engine.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** Reads an SSE stream into its data payloads (until [DONE]). */
async function sse(path: string, body: unknown): Promise<unknown[]> {
  const res = await fetch(`${engine.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  const events = text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  assert.equal(events.at(-1), '[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e) as unknown);
}

test('/v1/completions: ignore_eos generates exactly max_tokens; greedy is deterministic', async () => {
  const body = { prompt: 'def quicksort(xs):\n', max_tokens: 12, temperature: 0, ignore_eos: true };
  const a = await post<Completion>('/v1/completions', body);
  assert.equal(a.status, 200);
  assert.equal(a.json.object, 'text_completion');
  assert.equal(a.json.usage.completion_tokens, 12);
  assert.equal(a.json.choices[0]!.finish_reason, 'length');
  const b = await post<Completion>('/v1/completions', body);
  assert.equal(b.json.choices[0]!.text, a.json.choices[0]!.text);
});

test('/v1/completions with suffix is FIM and matches the WebSocket FIM request', async () => {
  const prefix = 'x = compute(';
  const suffix = ')\nprint(x)\n';
  const http = await post<Completion>('/v1/completions', { prompt: prefix, suffix, max_tokens: 8, ignore_eos: true });
  const s = await EngineSocket.open(engine.url);
  try {
    const ws = await s.request({
      type: 'submit',
      id: 'f',
      fim: { prefix, suffix },
      limits: { max_tokens: 8, ignore_eos: true },
      speculative: { draft: false, ngram: false },
    });
    assert.equal(http.json.choices[0]!.text, ws.done!.text);
    assert.equal(http.json.usage.prompt_tokens, ws.done!.stats.prompt_tokens);
  } finally {
    await s.close();
  }
});

test('/v1/completions stream=true sends SSE chunks that add up to the non-streamed text', async () => {
  const body = { prompt: 'function add(a, b) {', max_tokens: 10, ignore_eos: true };
  const whole = await post<Completion>('/v1/completions', body);
  const chunks = (await sse('/v1/completions', { ...body, stream: true })) as Completion[];
  const text = chunks.flatMap((c) => c.choices.map((ch) => ch.text ?? '')).join('');
  assert.equal(text, whole.json.choices[0]!.text);
  const final = chunks.find((c) => c.choices[0]?.finish_reason);
  assert.equal(final?.choices[0]?.finish_reason, 'length');
});

test('/v1/chat/completions applies the chat template the request names (the test model has none), plain and streamed', async () => {
  const messages = [
    { role: 'system', content: 'You write code.' },
    { role: 'user', content: 'Reverse a list in Python.' },
  ];
  // Without one the model's own is used, and this model has none: a 400 (test/integration/chat.test.ts).
  const r = await post<Completion>('/v1/chat/completions', { messages, max_tokens: 8, ignore_eos: true, chat_template: 'chatml' });
  assert.equal(r.status, 200);
  assert.equal(r.json.object, 'chat.completion');
  assert.equal(r.json.choices[0]!.message!.role, 'assistant');
  assert.ok(r.json.usage.prompt_tokens > 10);
  const chunks = (await sse('/v1/chat/completions', {
    messages,
    max_tokens: 8,
    ignore_eos: true,
    stream: true,
    chat_template: 'chatml',
  })) as Array<{
    object: string;
    choices: Array<{ delta?: { content?: string; role?: string } }>;
  }>;
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(chunks.flatMap((c) => c.choices.map((ch) => ch.delta?.content ?? '')).join(''), r.json.choices[0]!.message!.content);
});

test('/tokenize returns the model tokens, with special tokens parsed on request', async () => {
  const plain = await post<{ tokens: number[] }>('/tokenize', { content: 'hello world' });
  assert.ok(plain.json.tokens.length >= 2);
  const special = await post<{ tokens: number[] }>('/tokenize', { content: '<｜fim▁begin｜>', parse_special: true });
  assert.deepEqual(special.json.tokens, [32016]);
  const withBos = await post<{ tokens: number[] }>('/tokenize', { content: 'hello world', add_special: true });
  assert.deepEqual(withBos.json.tokens, [32013, ...plain.json.tokens]);
});

test('/metrics exposes histograms, counters and gauges in Prometheus text', async () => {
  await post('/v1/completions', { prompt: 'abc', max_tokens: 3, ignore_eos: true });
  const res = await fetch(`${engine.url}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const m = await res.text();
  for (const h of ['pronto_time_to_first_token_seconds', 'pronto_request_latency_seconds', 'pronto_per_token_latency_seconds']) {
    assert.match(m, new RegExp(`# TYPE ${h} histogram`));
    assert.match(m, new RegExp(`${h}_bucket\\{le="\\+Inf"\\} [1-9]`));
  }
  assert.match(m, /pronto_prompt_tokens_evaluated_total [1-9]/);
  assert.match(m, /# TYPE pronto_prompt_tokens_reused_total counter/);
  assert.match(m, /# TYPE pronto_drafted_tokens_total counter/);
  assert.match(m, /# TYPE pronto_accepted_tokens_total counter/);
  assert.match(m, /# TYPE pronto_cancellations_total counter/);
  assert.match(m, /pronto_errors_total\{kind="internal"\} 0/);
  assert.match(m, /pronto_kv_cache_usage_ratio 0\.\d+|pronto_kv_cache_usage_ratio [01]/);
  assert.match(m, /pronto_busy_sequences 0/);
  assert.match(m, /pronto_models_loaded 1/);
});

test('--api-key: every route but /health needs the bearer key, including the WebSocket upgrade', async () => {
  const e = await startEngine({
    model: (await ensureTestModels()).target,
    args: ['--ctx', '256', '--parallel', '1', '--api-key', 's3cret'],
  });
  try {
    assert.equal((await fetch(`${e.url}/health`)).status, 200);
    const none = await fetch(`${e.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const wrong = await fetch(`${e.url}/v1/models`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const right = await fetch(`${e.url}/v1/models`, { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(right.status, 200);
    await assert.rejects(EngineSocket.open(e.url), /HTTP 401/);
    await assert.rejects(EngineSocket.open(e.url, { Authorization: 'Bearer nope' }), /HTTP 401/);
    const s = await EngineSocket.open(e.url, { Authorization: 'Bearer s3cret' });
    const r = await s.request({ type: 'submit', id: 'a', prompt: 'x', limits: { max_tokens: 2 } });
    assert.ok(r.done);
    await s.close();
  } finally {
    await e.stop();
  }
});
