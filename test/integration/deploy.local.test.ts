// Blue-green rollouts on the local platform, through the real parts: `pronto-deploy` as a child
// process, real engine processes on generated models (blue and green run different models, so
// every reply says which colour served it), real HAProxy switched through its runtime API, and a
// steady load of completions and streaming chats through the active port during every rollout,
// with every request's outcome counted.
//
//   (a) a healthy green is promoted: zero failed requests; streams begun on blue before the switch
//       finish on blue, requests started after it go to green
//   (d) a second rollout started during the first is refused by the lock, naming the holder
//   (b) a green that fails requests (a proxy in front of its engine answers 503, test/support/
//       fault-engine.mjs) fails its gates and is rolled back automatically, naming the gate and the
//       measured value; blue keeps serving; zero failed requests
//   (c) the controller SIGKILLed mid-analysis, then started again: it resumes and finishes;
//       zero failed requests
//   and: promote and abort from another process (autoPromote: false waits for a person)
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseShowStat, runtimeCommand } from '../../server/src/deploy/platform/local/haproxy';
import { engineBinary } from '../support/engine';
import {
  cleanupWorkspace,
  faultEngine,
  localConfig,
  makeWorkspace,
  runCli,
  SteadyLoad,
  startCli,
  waitForState,
  type Workspace,
} from '../support/deploy';
import { ensureModel } from '../support/models';

const BLUE_MODEL = 'pronto-test-chat';
const GREEN_MODEL = 'pronto-test-chat-green';

let ws: Workspace;
// Chat-capable models (test/support/models.ts: chat, chatGreen): the smoke test sends a real chat request.
let blueModel: string;
let greenModel: string;
const env = { PRONTO_ENGINE_PATH: engineBinary, FAULT_REAL_ENGINE: engineBinary };

before(async () => {
  blueModel = await ensureModel('chat');
  greenModel = await ensureModel('chatGreen');
  ws = await makeWorkspace();
});

after(async () => {
  if (ws) {
    await runCli(ws, ['down'], env).catch(() => undefined);
    cleanupWorkspace(ws);
  }
});

function summarise(outcomes: { ok: boolean; error?: string; kind: string }[]): string {
  const failed = outcomes.filter((o) => !o.ok);
  return `${outcomes.length} requests, ${failed.length} failed${
    failed.length
      ? `: ${failed
          .slice(0, 3)
          .map((f) => `${f.kind}: ${f.error}`)
          .join('; ')}`
      : ''
  }`;
}

test('first deploy: blue comes up behind HAProxy and serves', { timeout: 120_000 }, async () => {
  ws.write(localConfig(ws, { model: blueModel }));
  const r = await runCli(ws, ['rollout'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /rollout succeeded/);
  const s = ws.state();
  assert.equal(s.active, 'blue');
  assert.equal(s.rollout!.phase, 'succeeded');
  const res = await fetch(`http://127.0.0.1:${ws.activePort}/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ws.apiKey()}` },
    body: JSON.stringify({ prompt: 'x', max_tokens: 2 }),
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { model: string }).model, BLUE_MODEL);
  const unauthorised = await fetch(`http://127.0.0.1:${ws.activePort}/v1/completions`, { method: 'POST', body: '{"prompt":"x"}' });
  assert.equal(unauthorised.status, 401, 'the engines require the deployment’s API key');
  assert.match(
    readFileSync(path.join(ws.stateDir, '.gitignore'), 'utf8'),
    /^\*$/m,
    'the state folder (API key included) keeps out of version control',
  );
});

/** A streaming chat through `url`, opened and read up to its first token; `finish()` reads the rest. */
async function openStream(url: string, key: string) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell a long story.' }], max_tokens: 1500, ignore_eos: true, stream: true }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value, { stream: true });
  while (!text.includes('"model"')) text += decoder.decode((await reader.read()).value, { stream: true });
  const model = (/"model":"([^"]+)"/.exec(text) ?? [])[1];
  return {
    model,
    async finish(): Promise<{ done: boolean; lastChunkAt: number }> {
      let lastChunkAt = Date.now();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        lastChunkAt = Date.now();
        text += decoder.decode(value, { stream: true });
      }
      return { done: text.includes('data: [DONE]'), lastChunkAt };
    },
  };
}

test('(a) healthy green promoted under load: zero failures, streams in flight at the switch finish on blue, new requests go to green; (d) a second rollout is refused naming the holder; promote from another process', {
  timeout: 180_000,
}, async () => {
  ws.write(localConfig(ws, { model: greenModel, extra: 'autoPromote: false\n' }));
  const active = `http://127.0.0.1:${ws.activePort}`;
  const load = new SteadyLoad(active, ws.apiKey());
  const first = startCli(ws, ['rollout'], env);
  await waitForState(ws, (s) => s.rollout?.phase === 'awaitingPromotion');
  // (d) the lock refuses a second rollout and names the holder.
  const second = await runCli(ws, ['rollout'], env);
  assert.equal(second.code, 3, `a second rollout must be refused (exit 3): ${second.stderr}`);
  assert.match(
    second.stderr,
    new RegExp(`held by ${os.userInfo().username}@${os.hostname()} \\(pronto-deploy rollout, pid ${first.child.pid}\\)`),
  );
  assert.match(second.stderr, /phase awaitingPromotion/);
  // Streams begun on blue before the switch; read again only after it.
  const streams = await Promise.all([0, 1, 2].map(() => openStream(active, ws.apiKey())));
  assert.deepEqual(
    streams.map((x) => x.model),
    [BLUE_MODEL, BLUE_MODEL, BLUE_MODEL],
  );
  const promote = await runCli(ws, ['promote'], env);
  assert.equal(promote.code, 0, promote.stderr);
  assert.match(promote.stdout, /promote handed to .*pronto-deploy rollout, pid \d+/);
  await waitForState(ws, (s) => s.rollout?.phase === 'watching' || s.rollout?.phase === 'scalingDown' || s.rollout?.phase === 'succeeded');
  const switchedAt = ws.state().rollout!.history.find((h) => h.phase === 'watching')!.at;
  const finished = await Promise.all(streams.map((x) => x.finish()));
  for (const f of finished) {
    assert.ok(f.done, 'a stream begun on blue before the switch ends with [DONE]');
    assert.ok(f.lastChunkAt > switchedAt, 'its end was read after the switch');
  }
  const r = await first.done;
  const outcomes = await load.stop();
  assert.equal(r.code, 0, r.stderr);
  const s = ws.state();
  assert.equal(s.active, 'green');
  assert.equal(s.rollout!.phase, 'succeeded');
  assert.ok(s.rollout!.history.some((h) => /promoted by .*pronto-deploy promote/.test(h.note)));
  assert.deepEqual(load.failures(), [], summarise(outcomes));
  assert.ok(outcomes.length >= 20, `a steady load ran through the rollout (${outcomes.length} requests)`);

  const switchStart = s.rollout!.history.find((h) => h.phase === 'switching')!.at;
  const after = outcomes.filter((o) => o.start > switchedAt + 50);
  assert.ok(after.length >= 5, 'requests were sent after the switch');
  assert.deepEqual(
    after.filter((o) => o.model !== GREEN_MODEL).map((o) => `${o.kind} at +${o.start - switchedAt} ms: ${o.model}`),
    [],
    'every request started after the switch went to green',
  );
  assert.ok(
    outcomes.some((o) => o.start < switchStart && o.model === BLUE_MODEL),
    'requests before the switch were served by blue',
  );
  console.log(`(a) ${summarise(outcomes)}`);
  // The gates were measured on real requests.
  const gates = s.rollout!.gates;
  assert.ok(gates.some((g) => g.name === 'requests' && g.source === 'green /metrics' && g.passed));
  // Blue was scaled down after the delay: its engine process is gone.
  const table = JSON.parse(readFileSync(path.join(ws.stateDir, 'processes.json'), 'utf8'));
  assert.deepEqual(table.blue, []);
});

test('(b) a green that fails requests is rolled back automatically, naming the gate and its value; blue keeps serving', {
  timeout: 180_000,
}, async () => {
  // The candidate is now blue (green is active): the faulty version goes to blue.
  ws.write(localConfig(ws, { model: blueModel, binary: faultEngine }));
  const load = new SteadyLoad(`http://127.0.0.1:${ws.activePort}`, ws.apiKey());
  const r = await runCli(ws, ['rollout'], { ...env, FAULT_PASS_FIRST: '2', FAULT_FAIL_EVERY: '2' });
  const outcomes = await load.stop();
  assert.equal(r.code, 1, `a rolled-back rollout exits 1: ${r.stderr}`);
  const s = ws.state();
  assert.equal(s.rollout!.phase, 'rolledBack');
  assert.equal(s.active, 'green', 'the stable colour still serves');
  assert.match(
    s.rollout!.reason!,
    /gate "success rate" \(analysis requests through preview\) failed: measured \d+\.\d% \(\d+ of \d+ failed\)/,
  );
  assert.match(s.rollout!.reason!, /needs ≥ 99\.0%/);
  assert.match(r.stdout, /rolledBack: gate "success rate"/);
  assert.deepEqual(load.failures(), [], summarise(outcomes));
  assert.ok(
    outcomes.every((o) => o.model === GREEN_MODEL),
    'users only ever reached the stable colour',
  );
  const table = JSON.parse(readFileSync(path.join(ws.stateDir, 'processes.json'), 'utf8'));
  assert.deepEqual(table.blue, [], 'the failed candidate was scaled down');
  console.log(`(b) ${summarise(outcomes)}; reason: ${s.rollout!.reason}`);
});

test('(c) the controller SIGKILLed mid-rollout resumes when started again and finishes; zero failures', { timeout: 180_000 }, async () => {
  ws.write(localConfig(ws, { model: blueModel, parallel: 3 }));
  const load = new SteadyLoad(`http://127.0.0.1:${ws.activePort}`, ws.apiKey());
  const first = startCli(ws, ['rollout'], env);
  await waitForState(ws, (s) => s.rollout?.phase === 'analysing');
  first.child.kill('SIGKILL');
  const killed = await first.done;
  assert.equal(killed.signal, 'SIGKILL');
  // The deployment outlives its controller: the lock names a dead process, both colours still run.
  const lock = JSON.parse(readFileSync(path.join(ws.stateDir, 'lock.json'), 'utf8'));
  assert.equal(lock.pid, first.child.pid);
  const status = await runCli(ws, ['status'], env);
  assert.match(status.stdout, /interrupted: nobody drives it/);
  const again = await runCli(ws, ['rollout'], env);
  const outcomes = await load.stop();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /resuming the interrupted rollout/);
  const s = ws.state();
  assert.equal(s.rollout!.phase, 'succeeded');
  assert.equal(s.active, 'blue');
  assert.ok(s.rollout!.history.some((h) => /controller restarted/.test(h.note)));
  assert.ok(!existsSync(path.join(ws.stateDir, 'lock.json')), 'the lock is released at the end');
  assert.deepEqual(load.failures(), [], summarise(outcomes));
  console.log(`(c) ${summarise(outcomes)}`);
});

test('Scale: engine processes of the active colour added and removed behind HAProxy under load, zero failures', {
  timeout: 120_000,
}, async () => {
  const load = new SteadyLoad(`http://127.0.0.1:${ws.activePort}`, ws.apiKey());
  try {
    const up = await runCli(ws, ['scale', '2'], env);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /blue: 2 replica/);
    const socket = path.join(ws.stateDir, 'haproxy.sock');
    const servers = async () =>
      parseShowStat(await runtimeCommand(socket, 'show stat'))
        .filter((x) => x.backend === 'be_active')
        .map((x) => `${x.server}:${x.status}`)
        .sort();
    for (let i = 0; i < 100 && (await servers()).join() !== 'blue-0:UP,blue-1:UP'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await servers(), ['blue-0:UP', 'blue-1:UP']);
    const down = await runCli(ws, ['scale', '1'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await servers(), ['blue-0:UP']);
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.failures(), [], summarise(load.outcomes));
  const table = JSON.parse(readFileSync(path.join(ws.stateDir, 'processes.json'), 'utf8'));
  assert.equal(table.blue.length, 1);
});

test('a new colour whose engine cannot load its model never becomes ready: rolled back at once, naming the engine and its error', {
  timeout: 120_000,
}, async () => {
  const broken = path.join(ws.dir, 'broken.gguf');
  writeFileSync(broken, 'GGUF but not really a model');
  ws.write(localConfig(ws, { model: broken }));
  const load = new SteadyLoad(`http://127.0.0.1:${ws.activePort}`, ws.apiKey());
  const r = await runCli(ws, ['rollout'], env);
  const outcomes = await load.stop();
  assert.equal(r.code, 1);
  const s = ws.state();
  assert.equal(s.rollout!.phase, 'rolledBack');
  assert.match(s.rollout!.reason!, /^error while waitingReady: engine green-0 \(pid \d+\) exited: .+/);
  assert.equal(s.active, 'blue');
  assert.deepEqual(load.failures(), [], summarise(outcomes));
});

test('abort from another process rolls back to the stable colour; then nothing is left to promote', { timeout: 180_000 }, async () => {
  // A long window: the abort lands in it however slow the machine is, and ends it at once.
  ws.write(localConfig(ws, { model: greenModel, parallel: 2, window: '120s' }));
  const first = startCli(ws, ['rollout'], env);
  await waitForState(ws, (s) => s.rollout?.phase === 'analysing');
  const abort = await runCli(ws, ['abort'], env);
  assert.equal(abort.code, 0, abort.stderr);
  const r = await first.done;
  assert.equal(r.code, 1);
  const s = ws.state();
  assert.equal(s.rollout!.phase, 'aborted');
  assert.match(s.rollout!.reason!, /^aborted by .*pronto-deploy abort/);
  assert.equal(s.active, 'blue');
  const nothing = await runCli(ws, ['promote'], env);
  assert.equal(nothing.code, 3);
  assert.match(nothing.stderr, /No rollout is in progress/);
});
