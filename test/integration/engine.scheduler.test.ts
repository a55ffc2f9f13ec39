// The scheduler through the real engine (native/src/scheduler.h): priorities, preemption that resumes
// where it stopped, a bounded queue, KV pressure. Every check is bound by the order of events, never by
// time: a long request is kept running until the events the test waits for have happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type StreamResult } from '../support/engine';
import type { SubmitMessage } from '../../protocol/engine';

const chat = (id: string, text: string, maxTokens: number): SubmitMessage => ({
  type: 'submit',
  id,
  messages: [{ role: 'user', content: text }],
  chat_template: 'chatml', // the test model has no template of its own
  limits: { max_tokens: maxTokens, ignore_eos: true },
  speculative: { draft: false, ngram: false },
});
const fim = (id: string, prefix: string, extra: Partial<SubmitMessage> = {}): SubmitMessage => ({
  type: 'submit',
  id,
  fim: { prefix, suffix: '\n}\n' },
  limits: { max_tokens: 8, ignore_eos: true },
  speculative: { draft: false, ngram: false },
  ...extra,
});
const firstToken = (s: EngineSocket, msg: SubmitMessage): { first: Promise<void>; done: Promise<StreamResult> } => {
  let resolve!: () => void;
  const first = new Promise<void>((r) => (resolve = r));
  const done = s.request(msg, () => resolve());
  void done.then(() => resolve());
  return { first, done };
};

test('an interactive request is admitted ahead of queued chat work and preempts a running chat, which resumes exactly', async () => {
  const { target } = await ensureTestModels();
  const e = await startEngine({ model: target, args: ['--ctx', '2048', '--parallel', '1'] });
  const s = await EngineSocket.open(e.url);
  try {
    // Reference: the chat alone.
    const alone = await s.request(chat('alone', 'Write a long story about a lighthouse.', 120));
    assert.equal(alone.done?.stats.generated_tokens, 120);

    const events: string[] = [];
    const a = firstToken(s, chat('A', 'Write a long story about a lighthouse.', 120));
    await a.first; // A runs in the only sequence
    const b = s.request(chat('B', 'Another chat, queued behind A.', 4), () => events.push('B token'));
    const c = s.request(fim('C', 'function add(a, b) {\n  return '), () => events.push('C token'));
    const logged = (p: Promise<StreamResult>, event: string) =>
      p.then((r) => {
        events.push(event);
        return r;
      });
    const [ra, rb, rc] = await Promise.all([logged(a.done, 'A done'), logged(b, 'B done'), logged(c, 'C done')]);
    assert.ok(rc.done && rb.done && ra.done, JSON.stringify([ra.error, rb.error, rc.error]));
    // C (interactive, submitted last) finished before B (chat, submitted earlier) produced anything.
    assert.ok(events.indexOf('C done') < events.indexOf('B token'), events.join(', '));
    assert.ok(events.indexOf('C done') < events.indexOf('A done'), events.join(', '));
    // A was preempted for C and resumed where it stopped: the same text as alone.
    assert.ok((ra.done!.stats.preemptions ?? 0) >= 1, JSON.stringify(ra.done!.stats));
    assert.equal(ra.done!.stats.generated_tokens, 120);
    assert.equal(ra.done!.text, alone.done!.text);
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_preemptions_total [1-9]/);
    assert.match(metrics, /pronto_admission_waits_total [1-9]/);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('a full queue answers overloaded; a waiting request runs out of its time budget with "time"', async () => {
  const { target } = await ensureTestModels();
  const e = await startEngine({ model: target, args: ['--ctx', '2048', '--parallel', '1', '--max-queue', '2'] });
  const s = await EngineSocket.open(e.url);
  try {
    const long = firstToken(s, fim('long', 'let x = ', { limits: { max_tokens: 1500, ignore_eos: true } }));
    await long.first;
    const queued = [1, 2].map((i) => s.request(fim(`q${i}`, `let y${i} = `)));
    const refused = await s.request(fim('q3', 'let z = '));
    assert.equal(refused.error?.error.code, 'overloaded', JSON.stringify(refused));
    assert.match(refused.error?.error.message ?? '', /--max-queue/);
    // Over HTTP the same refusal is a 503 with Retry-After (the network side's mapping).
    const http = await fetch(`${e.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'x', max_tokens: 2 }) });
    assert.equal(http.status, 503);
    assert.ok(http.headers.get('retry-after'));
    assert.equal(((await http.json()) as { error: { code: string } }).error.code, 'overloaded');
    // Replace one waiting request by one with a tiny budget: it ends while still waiting.
    s.send({ type: 'cancel', id: 'q2' });
    assert.equal((await queued[1])!.done?.finish_reason, 'cancelled');
    const timed = await s.request(fim('t', 'let t = ', { limits: { max_tokens: 8, time_budget_ms: 1 } }));
    assert.equal(timed.done?.finish_reason, 'time');
    assert.equal(timed.done?.stats.generated_tokens, 0);
    s.send({ type: 'cancel', id: 'long' });
    assert.equal((await long.done).done?.finish_reason, 'cancelled');
    assert.equal((await queued[0])!.done?.finish_reason, 'length');
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_errors_total\{kind="overloaded"\} 2/);
    assert.match(metrics, /pronto_queue_timeouts_total 1/);
    assert.match(metrics, /pronto_queue_depth 0/);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('a long generation filling the KV cache while short requests keep arriving: every request completes', async () => {
  const { target } = await ensureTestModels();
  // 512 cells, 4 sequences: the chat alone grows to ~450 tokens; each completion needs ~60.
  const e = await startEngine({ model: target, args: ['--ctx', '512', '--parallel', '4'] });
  const s = await EngineSocket.open(e.url);
  try {
    const alone = await s.request(chat('alone', 'Tell me everything about KV caches.', 400));
    assert.equal(alone.done?.stats.generated_tokens, 400);
    let longDone = false;
    const long = s.request(chat('long', 'Tell me everything about KV caches.', 400)).then((r) => {
      longDone = true;
      return r;
    });
    const shorts: StreamResult[] = [];
    // Short completions, one after another, until the long one has finished (at least 12).
    for (let i = 0; i < 12 || !longDone; i++) {
      const prefix = `// file ${i % 3}\n${'function f(x) { return x + 1; }\n'.repeat(4 + (i % 5))}const v${i} = `;
      shorts.push(await s.request(fim(`short-${i}`, prefix)));
      assert.ok(i < 400, 'the long generation never finished');
    }
    const r = await long;
    assert.ok(r.done, `long: ${JSON.stringify(r.error)}`);
    assert.equal(r.done.stats.generated_tokens, 400);
    assert.equal(r.done.text, alone.done!.text, 'resumed after preemption where it stopped');
    for (const sr of shorts) assert.ok(sr.done, JSON.stringify(sr.error));
    assert.ok(shorts.every((x) => x.done!.stats.generated_tokens === 8));
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_errors_total\{kind="overloaded"\} 0/);
    assert.match(metrics, /pronto_errors_total\{kind="internal"\} 0/);
    // The pressure was real: the chat had to yield its sequence at least once.
    assert.ok((r.done.stats.preemptions ?? 0) >= 1, JSON.stringify(r.done.stats));
  } finally {
    await s.close();
    await e.stop();
  }
});
