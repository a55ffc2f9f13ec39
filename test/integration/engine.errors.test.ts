// Faults on the inference thread end the offending request with an error and the engine keeps
// serving. The model here has NaN weights (test/support/models.ts ensureNanModel): every logit is
// NaN; sampling from it used to return token -1 and abort the process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureNanModel, ensureTestModels } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';

let engine: RunningEngine;
let exitedEarly = false;
before(async () => {
  engine = await startEngine({ model: await ensureNanModel(), args: ['--ctx', '512', '--parallel', '2'] });
  void engine.exited.then(() => {
    exitedEarly = true;
  });
});
after(async () => {
  await engine?.stop();
});

test('a model with NaN weights: each request ends with an error naming the cause, the engine keeps serving', async () => {
  const s = await EngineSocket.open(engine.url);
  try {
    for (const sampling of [{ temperature: 0 }, { temperature: 0.8, seed: 1 }, { temperature: 0.8, top_k: 40 }]) {
      const r = await s.request({
        type: 'submit',
        id: `nan-${JSON.stringify(sampling)}`,
        prompt: 'def f(x):',
        sampling,
        limits: { max_tokens: 4 },
      });
      assert.equal(r.error?.error.code, 'internal', JSON.stringify(r));
      assert.match(r.error?.error.message ?? '', /non-finite logits/);
    }
    const fim = await s.request({ type: 'submit', id: 'nan-fim', fim: { prefix: 'a = ', suffix: '\n' }, limits: { max_tokens: 4 } });
    assert.match(fim.error?.error.message ?? '', /non-finite logits/);
  } finally {
    await s.close();
  }
  const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'x', max_tokens: 2 }) });
  assert.equal(res.status, 500);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /non-finite logits/);
  assert.equal(exitedEarly, false, 'the engine is still running');
  assert.equal((await fetch(`${engine.url}/health`)).status, 200);
  const metrics = await (await fetch(`${engine.url}/metrics`)).text();
  assert.match(metrics, /pronto_errors_total\{kind="internal"\} [5-9]/);
  assert.match(metrics, /pronto_busy_sequences 0/);
});

test('an error escaping an iteration of the inference loop ends the requests in it; the engine serves on', async () => {
  const e = await startEngine({
    model: (await ensureTestModels()).target,
    args: ['--ctx', '512', '--parallel', '2'],
    env: { ...process.env, PRONTO_FAILPOINT: 'iteration-once' },
  });
  const s = await EngineSocket.open(e.url);
  try {
    const first = await s.request({ type: 'submit', id: 'a', prompt: 'def f(x):', limits: { max_tokens: 4 } });
    assert.equal(first.error?.error.code, 'internal');
    assert.match(first.error?.error.message ?? '', /engine error: failpoint/);
    const second = await s.request({ type: 'submit', id: 'b', prompt: 'def f(x):', limits: { max_tokens: 4 } });
    assert.equal(second.done?.stats.generated_tokens, 4);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('when the inference loop keeps failing, the engine exits with status 70 (the sidecar restarts it)', async () => {
  const e = await startEngine({
    model: (await ensureTestModels()).target,
    args: ['--ctx', '512', '--parallel', '2'],
    env: { ...process.env, PRONTO_FAILPOINT: 'iteration-always' },
  });
  const s = await EngineSocket.open(e.url);
  try {
    for (const id of ['a', 'b', 'c']) {
      const r = await s.request({ type: 'submit', id, prompt: 'x', limits: { max_tokens: 2 } });
      assert.equal(r.error?.error.code, 'internal');
    }
    assert.equal((await e.exited).code, 70);
    assert.match(e.stderr(), /the inference loop failed 3 times in a row/);
  } finally {
    await s.close();
    await e.stop();
  }
});
