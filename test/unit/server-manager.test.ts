/** EngineManager with a fake launcher (process double) and an in-process engine double. */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { backoffDelay, protocolMismatch, EngineManager, type EngineManagerDeps, type EngineState } from '../../server/src/engine/manager';
import type { EngineLauncher, EngineProcess, ExitInfo, ReadyResult } from '../../server/src/engine/process';
import { parseSettings } from '../../server/src/settings';
import { ENGINE_PROTOCOL_VERSION } from '../../protocol/engine';
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
        async stop() {
          this.kill('SIGTERM');
          return exited;
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

test('remote engine: connects with the API key (not a setting); a refused key is an error without retries', async () => {
  const e = await startFakeEngine({ apiKey: 'k1', protocol: ENGINE_PROTOCOL_VERSION });
  engines.push(e);
  const rec = recorder();
  const { launcher, launched } = fakeLauncher(undefined);
  let key = 'k1';
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, remoteApiKey: () => key });
  await m.start(parseSettings({ engine: { url: e.url } }).settings);
  assert.equal(m.state.state, 'ready');
  assert.equal(m.state.backend, 'remote');
  const out = await m.client!.submit({ fim: { prefix: '/*fake:remote*/', suffix: '' } });
  assert.ok(out.kind === 'done' && out.text === 'remote');
  key = 'wrong';
  await m.restart(parseSettings({ engine: { url: e.url } }).settings);
  assert.equal(m.state.state, 'error');
  assert.match(m.state.message, /refused the API key.*Set Remote Engine API Key/);
  assert.equal(launched.length, 0);
  await m.stop();
});

test('protocolMismatch: what to update, for local and remote engines', () => {
  const local = { remote: false as const, binary: '/x/pronto-engine (1.0)' };
  const remote = { remote: true as const, url: 'https://gpu.example:8012' };
  assert.equal(protocolMismatch(ENGINE_PROTOCOL_VERSION, local), undefined);
  assert.equal(protocolMismatch(ENGINE_PROTOCOL_VERSION, remote), undefined);
  const cases: { reported: number | undefined; engine: typeof local | typeof remote; want: RegExp }[] = [
    { reported: undefined, engine: local, want: /speaks engine protocol version 1, .*needs version \d+.*older.*npm run build:native/ },
    { reported: ENGINE_PROTOCOL_VERSION + 1, engine: local, want: /newer than the extension\. Update the extension/ },
    {
      reported: undefined,
      engine: remote,
      want: /remote engine at https:\/\/gpu\.example:8012 speaks engine protocol version 1.*Update the engine deployment/,
    },
    { reported: ENGINE_PROTOCOL_VERSION + 1, engine: remote, want: /Update the Pronto extension/ },
  ];
  for (const c of cases) assert.match(protocolMismatch(c.reported, c.engine) ?? '', c.want);
});

test('a local engine with another protocol version is refused with what to do, not retried', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const rec = recorder();
  const { launched } = fakeLauncher(e);
  const launcher: EngineLauncher = {
    async launch(binary, args, options) {
      const { launcher: inner } = fakeLauncher(e);
      const proc = await inner.launch(binary, args, options);
      launched.push(proc as FakeProc);
      const ready = await proc.ready;
      return { ...proc, ready: Promise.resolve(ready.ok ? { ok: true, line: { ...ready.line, protocol: undefined } } : ready) };
    },
  };
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState });
  await m.start(settingsWith({}));
  assert.equal(m.state.state, 'error');
  assert.match(m.state.message, /speaks engine protocol version 1/);
  assert.equal(launched.length, 1, 'not retried');
  await m.stop();
});

test('a remote engine with another protocol version is refused with what to do', async () => {
  const e = await startFakeEngine({ protocol: ENGINE_PROTOCOL_VERSION + 1 });
  engines.push(e);
  const m = new EngineManager({ findBinary: okBinary, onState: () => undefined });
  await m.start(parseSettings({ engine: { url: e.url } }).settings);
  assert.equal(m.state.state, 'error');
  assert.match(m.state.message, /remote engine .* speaks engine protocol version \d+.*Update the Pronto extension/);
  assert.equal(m.client, undefined);
  await m.stop();
});

test('a local engine gets a fresh random API key in its environment at every start', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const envs: (NodeJS.ProcessEnv | undefined)[] = [];
  const { launcher: inner } = fakeLauncher(e);
  const launcher: EngineLauncher = {
    launch(binary, args, options) {
      envs.push(options.env);
      assert.ok(!args.some((a) => a.includes(options.env?.PRONTO_API_KEY ?? '\u0000')), 'the key is not an argument');
      return inner.launch(binary, args, options);
    },
  };
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: () => undefined });
  await m.start(settingsWith({}));
  await m.restart(settingsWith({}));
  const [k1, k2] = envs.map((env) => env?.PRONTO_API_KEY ?? '');
  assert.ok(k1!.length >= 32 && k2!.length >= 32);
  assert.notEqual(k1, k2);
  await m.stop();
});

/** A started manager on a fake engine, restarting fast, with these health-check options. */
async function watchedManager(healthCheck: EngineManagerDeps['healthCheck']) {
  const e = await startFakeEngine();
  engines.push(e);
  const rec = recorder();
  const { launcher, launched } = fakeLauncher(e);
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, backoff: { baseMs: 10 }, healthCheck });
  await m.start(settingsWith({}));
  return { e, rec, launched, m };
}

test('a hung engine (no /health answer) is killed, its pending requests end with that reason, and it restarts', async () => {
  const { e, rec, launched, m } = await watchedManager({ intervalMs: 30, timeoutMs: 100, failures: 2 });
  const client = m.client!;
  e.pause();
  const pending = client.submit({ fim: { prefix: '/*fake:x*/', suffix: '' } });
  const mark = rec.states.length;
  const degraded = await rec.waitFor((s) => s.state === 'degraded', mark);
  assert.match(degraded.message, /stopped responding \(no answer to \/health within 100 ms, 2 times in a row\)/);
  assert.deepEqual(launched[0]!.killed, ['SIGKILL']);
  const outcome = await pending;
  assert.equal(outcome.kind, 'cancelled');
  assert.match(outcome.kind === 'cancelled' ? outcome.reason : '', /stopped responding/);
  e.resume();
  await rec.waitFor((s) => s.state === 'ready', mark);
  assert.equal(launched.length, 2);
  await m.stop();
});

test('a request past its deadline ends as a timeout and the engine is checked, but a healthy engine is not killed', async () => {
  // /health keeps answering (the HTTP side is fine); the requests never finish within their deadline.
  const { e, rec, launched, m } = await watchedManager({ intervalMs: 0 });
  let healthChecks = 0;
  const client = m.client!;
  const health = client.health.bind(client);
  client.health = (timeoutMs?: number) => {
    healthChecks++;
    return health(timeoutMs);
  };
  const slow = { fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 4096 } };
  for (let i = 0; i < 3; i++) {
    const out = await client.submit(slow, { deadlineMs: 50 });
    assert.deepEqual(out.kind === 'error' && out.code, 'timeout');
  }
  assert.equal(healthChecks, 3, 'each missed deadline checks the engine at once');
  // The checks answer: no restart.
  assert.ok((await client.health()).ok);
  assert.equal(launched[0]!.killed.length, 0);
  assert.ok(!rec.states.some((s) => s.state === 'degraded'));
  assert.equal(e.cancelled.size, 3, 'each timed-out request was cancelled at the engine');
  await m.stop();
});

test('when the engine keeps dying, the message says what the last request contained', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const rec = recorder();
  const { launcher, launched } = fakeLauncher(e);
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, backoff: { baseMs: 1, maxFailures: 2 } });
  await m.start(settingsWith({}));
  const longLine = 'r'.repeat(60_000);
  void m.client!.submit({ fim: { prefix: `/*fake-slow*/\n${longLine}`, suffix: 'x' } });
  const mark = rec.states.length;
  launched[0]!.crash();
  await rec.waitFor((s) => s.state === 'ready', mark);
  launched[1]!.crash();
  const error = await rec.waitFor((s) => s.state === 'error');
  assert.match(error.message, /failed 2 times in a row/);
  assert.match(error.message, /last request it received had 60,015 characters, its longest line 60,000 characters \(very long lines/);
  assert.doesNotMatch(error.message, /Fix the cause/);
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

test('pronto.chat.modelPath goes to the engine as --chat-model; a chat model the engine cannot load is left out, completions start', async () => {
  const e = await startFakeEngine();
  engines.push(e);
  const chatPath = `${modelPath}.chat`;
  writeFileSync(chatPath, 'also not really a model');
  // The engine refuses the chat model the way pronto-engine does (exit 1, naming --chat-model).
  const launched: string[][] = [];
  const inner = fakeLauncher(e).launcher;
  const launcher: EngineLauncher = {
    async launch(binary, args, options) {
      launched.push(args);
      if (!args.includes('--chat-model')) return inner.launch(binary, args, options);
      const proc = await fakeLauncher(undefined).launcher.launch(binary, args, options);
      return {
        ...proc,
        ready: Promise.resolve({
          ok: false,
          exitCode: 1,
          message: `engine exited before it was ready (code 1): pronto-engine: error: --chat-model ${chatPath}: failed to load model (corrupt or unsupported GGUF): ${chatPath}`,
        }),
      };
    },
  };
  const rec = recorder();
  const m = new EngineManager({ launcher, findBinary: okBinary, onState: rec.onState, log: () => {} });
  await m.start(settingsWith({ chat: { modelPath: chatPath } }));
  assert.equal(m.state.state, 'ready', m.state.message);
  assert.deepEqual(
    launched.map((a) => a.slice(a.indexOf('--chat-model'), a.indexOf('--chat-model') + 2)),
    [['--chat-model', chatPath], []],
  );
  assert.equal(m.state.chatModelProblem?.setting, 'pronto.chat.modelPath');
  assert.match(m.state.chatModelProblem?.problem ?? '', /could not load the chat model .*corrupt or unsupported GGUF/);
  assert.match(m.state.message, /Chat model refused: .*Chat uses the code model/);
  assert.ok(!rec.states.some((s) => s.state === 'degraded' || s.state === 'error'), 'no retry, no error: completions just start');
  // A restart (or a settings change) tries the chat model again.
  await m.start(settingsWith({ chat: { modelPath: chatPath } }));
  assert.deepEqual(launched[2]?.slice(launched[2].indexOf('--chat-model'), launched[2].indexOf('--chat-model') + 2), [
    '--chat-model',
    chatPath,
  ]);
  await m.stop();
});
