/** EngineManager with a fake launcher (process double) and an in-process engine double. */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { backoffDelay, EngineManager, type EngineState } from '../../server/src/engine/manager';
import type { EngineLauncher, EngineProcess, ExitInfo, ReadyResult } from '../../server/src/engine/process';
import { parseSettings } from '../../server/src/settings';
import { readyLineFor, startFakeEngine, type FakeEngine } from '../support/lsp';

const modelPath = path.join(os.tmpdir(), `pronto-manager-test-${process.pid}.gguf`);
writeFileSync(modelPath, 'not really a model');
const engines: FakeEngine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

interface FakeProc extends EngineProcess {
  crash(): void;
  args: string[];
  killed: NodeJS.Signals[];
}

/** Each launch either serves `engine` or fails at start. */
function fakeLauncher(engine: FakeEngine | undefined, failStart = () => false) {
  const launched: FakeProc[] = [];
  const launcher: EngineLauncher = {
    async launch(_binary, args) {
      let exit!: (e: ExitInfo) => void;
      const exited = new Promise<ExitInfo>((r) => (exit = r));
      const fails = failStart() || !engine;
      const ready: Promise<ReadyResult> = fails
        ? Promise.resolve({ ok: false, message: 'fake engine exited with code 3' })
        : Promise.resolve({ ok: true, line: readyLineFor(engine.port, args[1]!) });
      if (fails) exit({ code: 3, signal: null });
      const proc: FakeProc = {
        pid: 1000 + launched.length,
        ready,
        exited,
        args,
        killed: [],
        kill(signal = 'SIGTERM') {
          this.killed.push(signal);
          exit({ code: null, signal });
        },
        crash() {
          engine?.dropSockets();
          exit({ code: null, signal: 'SIGKILL' });
        },
        stderrTail: () => '',
      };
      launched.push(proc);
      return proc;
    },
  };
  return { launcher, launched };
}

function recorder() {
  const states: EngineState[] = [];
  const waiters: { pred: (s: EngineState) => boolean; resolve: (s: EngineState) => void }[] = [];
  return {
    states,
    onState(s: EngineState) {
      states.push(s);
      for (const w of [...waiters])
        if (w.pred(s)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(s);
        }
    },
    waitFor(pred: (s: EngineState) => boolean, from = 0) {
      const found = states.slice(from).find(pred);
      return found ? Promise.resolve(found) : new Promise<EngineState>((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

const okBinary = async () => ({ ok: true as const, path: '/fake/pronto-engine', version: 'fake', source: 'test' });
const settingsWith = (extra: object) => parseSettings({ model: { path: modelPath }, ...extra }).settings;

test('backoffDelay doubles up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => backoffDelay(n, { baseMs: 100, maxMs: 500 })),
    [100, 200, 400, 500, 500],
  );
});

test('starts the engine with the settings as arguments and becomes ready', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const { launcher, launched } = fakeLauncher(e);
  const rec = recorder();
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState });
  await m.start(
    parseSettings({ model: { path: modelPath, draftPath: modelPath }, engine: { gpuLayers: 0, contextSize: 4096, parallel: 3 } }).settings,
  );
  assert.equal(m.state.state, 'ready');
  assert.ok(m.client);
  assert.deepEqual(launched[0]!.args, [
    '--model',
    modelPath,
    '--draft-model',
    modelPath,
    '--gpu-layers',
    '0',
    '--ctx',
    '4096',
    '--parallel',
    '3',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--exit-with-stdin',
  ]);
  await m.start(parseSettings({ model: { path: modelPath }, engine: { threads: 1 } }).settings);
  assert.deepEqual(launched[1]!.args, [
    '--model',
    modelPath,
    '--ctx',
    '8192',
    '--parallel',
    '2',
    '--threads',
    '1',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--exit-with-stdin',
  ]);
  await m.stop();
  assert.equal(m.state.state, 'stopped');
  assert.deepEqual(launched[0]!.killed, ['SIGTERM']);
  assert.equal(m.client, undefined);
});

test('a crash drains pending requests as cancelled, then the engine restarts', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const { launcher, launched } = fakeLauncher(e);
  const rec = recorder();
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, backoff: { baseMs: 10 } });
  await m.start(settingsWith({}));
  const pending = m.client!.submit({ fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 1000 } });
  await e.waitFor((msg) => msg.type === 'submit');
  const mark = rec.states.length;
  launched[0]!.crash();
  const out = await pending;
  assert.equal(out.kind, 'cancelled');
  assert.match(out.kind === 'cancelled' ? out.reason : '', /exited unexpectedly|closed/);
  await rec.waitFor((s) => s.state === 'degraded', mark);
  await rec.waitFor((s) => s.state === 'ready', mark);
  assert.equal(launched.length, 2);
  assert.equal(m.startsCompleted, 2);
  const next = await m.client!.submit({ fim: { prefix: '/*fake:ok*/', suffix: '' } });
  assert.equal(next.kind, 'done');
  await m.stop();
});

test('repeated start failures stop retrying with a clear message', async () => {
  const { launcher, launched } = fakeLauncher(undefined);
  const rec = recorder();
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, backoff: { baseMs: 5, maxFailures: 3 } });
  await m.start(settingsWith({}));
  const err = await rec.waitFor((s) => s.state === 'error');
  assert.match(err.message, /failed 3 times/);
  assert.equal(err.gaveUp, true, 'flagged, so the client can say it once with its actions');
  assert.equal(launched.length, 3);
  assert.equal(rec.states.filter((s) => s.state === 'degraded').length, 2);
  await m.stop();
});

test('configuration errors are reported without retrying', async () => {
  const { launcher, launched } = fakeLauncher(undefined);
  const rec = recorder();
  const missingBinary = new EngineManager({
    launcher,
    findBinary: async () => ({ ok: false, message: 'The engine binary from setting pronto.engine.path does not exist: /nope' }),
    onState: rec.onState,
  });
  await missingBinary.start(settingsWith({}));
  assert.equal(missingBinary.state.state, 'error');
  assert.match(missingBinary.state.message, /pronto\.engine\.path/);

  const missingModel = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState });
  await missingModel.start(parseSettings({ model: { path: '/no/such/model.gguf' } }).settings);
  assert.match(missingModel.state.message, /pronto\.model\.path/);

  const noModel = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState });
  await noModel.start(parseSettings().settings);
  assert.equal(noModel.state.state, 'error');
  assert.match(noModel.state.message, /No model configured/);
  assert.equal(launched.length, 0);
});

test("the model resolver's verdict is reported as it is, before the engine binary is even looked for", async () => {
  const { launcher, launched } = fakeLauncher(undefined);
  const rec = recorder();
  let binaryLookups = 0;
  const m = new EngineManager({
    launcher,
    findBinary: async () => {
      binaryLookups++;
      return okBinary();
    },
    onState: rec.onState,
    resolveModel: async () => ({
      ok: false,
      message: 'm.gguf is not a GGUF model: it is a text file.',
      state: {
        state: 'error',
        message: 'm.gguf is not a GGUF model: it is a text file.',
        modelProblem: { setting: 'pronto.model.path', path: '/m.gguf', problem: 'p', advice: 'a' },
      },
    }),
  });
  await m.start(parseSettings().settings);
  assert.equal(m.state.state, 'error');
  assert.equal(m.state.modelProblem?.path, '/m.gguf');
  assert.equal(launched.length, 0, 'no engine process');
  assert.equal(binaryLookups, 0);
});

test('no model configured: the demo model is used and flagged', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const { launcher, launched } = fakeLauncher(e);
  const rec = recorder();
  const m = new EngineManager({
    launcher,
    findBinary: okBinary,
    onState: rec.onState,
    resolveModel: async () => ({ ok: true, path: modelPath, demo: true }),
  });
  await m.start(parseSettings().settings);
  assert.equal(m.state.state, 'ready');
  assert.equal(m.state.demoModel, true);
  assert.match(m.state.message, /meaningless/);
  assert.equal(launched[0]!.args[1], modelPath);
  await m.stop();
});

test('remote engine: connects with the API key; a refused key is an error without retries', async () => {
  const e = await startFakeEngine({ apiKey: 'k1' });
  engines.push(e);
  const rec = recorder();
  const { launcher, launched } = fakeLauncher(undefined);
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState });
  await m.start(parseSettings({ engine: { url: e.url, apiKey: 'k1' } }).settings);
  assert.equal(m.state.state, 'ready');
  assert.equal(m.state.backend, 'remote');
  const out = await m.client!.submit({ fim: { prefix: '/*fake:remote*/', suffix: '' } });
  assert.ok(out.kind === 'done' && out.text === 'remote');
  await m.start(parseSettings({ engine: { url: e.url, apiKey: 'wrong' } }).settings);
  assert.equal(m.state.state, 'error');
  assert.match(m.state.message, /API key/);
  assert.equal(launched.length, 0);
  await m.stop();
});

test('remote engine: a dropped connection is retried', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const rec = recorder();
  const m = new EngineManager({ findBinary: okBinary, onState: rec.onState, backoff: { baseMs: 10 } });
  await m.start(parseSettings({ engine: { url: e.url } }).settings);
  const mark = rec.states.length;
  e.dropSockets();
  await rec.waitFor((s) => s.state === 'degraded', mark);
  await rec.waitFor((s) => s.state === 'ready', mark);
  assert.ok(m.client);
  await m.stop();
});

test('a lost socket to a live engine process is reconnected without a restart', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const { launcher, launched } = fakeLauncher(e);
  const rec = recorder();
  const logs: string[] = [];
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, log: (l) => logs.push(l) });
  await m.start(settingsWith({}));
  const first = m.client!;
  const pending = first.submit({ fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 1000 } });
  await e.waitFor((msg) => msg.type === 'submit');
  e.dropSockets();
  assert.equal((await pending).kind, 'cancelled');
  // Wait for the reconnect: a request through the manager's (new) client succeeds.
  const second = await new Promise<NonNullable<typeof m.client>>((resolve) => {
    const check = (): void => {
      const c = m.client;
      if (c && c !== first) resolve(c);
      else setImmediate(check);
    };
    check();
  });
  const out = await second.submit({ fim: { prefix: '/*fake:again*/', suffix: '' } });
  assert.ok(out.kind === 'done' && out.text === 'again');
  assert.equal(launched.length, 1, 'no restart');
  assert.ok(logs.some((l) => /reconnecting/.test(l)));
  await m.stop();
});
