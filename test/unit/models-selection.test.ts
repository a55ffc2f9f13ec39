/** Which model the engine starts on (server/src/models/selection.ts), table-driven with fake checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NEEDS_MODEL_MESSAGE, resolveModel } from '../../server/src/models/selection';
import type { ModelCheck } from '../../server/src/models/modelCheck';

const good: ModelCheck = { ok: true, info: { architecture: 'llama', vocabSize: 3, fimFrom: 'metadata', notes: [] } };
const bad = (problem: string): ModelCheck => ({ ok: false, problem, advice: 'Pick another.' });
const checks: Record<string, ModelCheck> = {
  '/m/good.gguf': good,
  '/m/readme.md': bad('readme.md is not a GGUF model: it is a text file.'),
  '/m/draft.gguf': good,
  '/m/bad-draft.gguf': bad('bad-draft.gguf has no fill-in-the-middle tokens.'),
  '/dist/models/pronto-demo.gguf': good,
};
const deps = (demo: string | null = '/dist/models/pronto-demo.gguf') => ({
  findDemo: () => demo ?? undefined,
  check: async (p: string) => checks[p] ?? bad(`${p} does not exist.`),
});
const settings = (path = '', demo = false, draftPath = '') => ({ 'model.path': path, 'model.demo': demo, 'model.draftPath': draftPath });

test('no model and no demo asked for: nothing starts, the status says a model is needed', async () => {
  const r = await resolveModel(settings(), deps());
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.state, { state: 'stopped', message: NEEDS_MODEL_MESSAGE, needsModel: true });
});

test('no model, demo asked for: the shipped demo model, flagged as demo', async () => {
  assert.deepEqual(await resolveModel(settings('', true), deps()), {
    ok: true,
    path: '/dist/models/pronto-demo.gguf',
    demo: true,
    notes: [],
  });
});

test('demo asked for but not in this build: an error naming pronto.model.demo and what to do', async () => {
  const r = await resolveModel(settings('', true), deps(null));
  assert.ok(!r.ok && r.state?.state === 'error');
  assert.equal(r.state.modelProblem?.setting, 'pronto.model.demo');
  assert.match(r.message, /no demo model .*npm run build:demo-model/);
});

test('a configured model wins over the demo switch, and is checked', async () => {
  assert.deepEqual(await resolveModel(settings('/m/good.gguf', true), deps()), { ok: true, path: '/m/good.gguf', demo: false, notes: [] });
});

test('a refused model file: state error with the problem, the advice and the setting that names it', async () => {
  const r = await resolveModel(settings('/m/readme.md'), deps());
  assert.ok(!r.ok);
  assert.deepEqual(r.state, {
    state: 'error',
    message: 'readme.md is not a GGUF model: it is a text file. Pick another.',
    modelProblem: {
      setting: 'pronto.model.path',
      path: '/m/readme.md',
      problem: 'readme.md is not a GGUF model: it is a text file.',
      advice: 'Pick another.',
    },
  });
});

test('the draft model is checked too and named by its own setting', async () => {
  const ok = await resolveModel(settings('/m/good.gguf', false, '/m/draft.gguf'), deps());
  assert.deepEqual(ok, { ok: true, path: '/m/good.gguf', demo: false, draftPath: '/m/draft.gguf', notes: [] });
  const r = await resolveModel(settings('/m/good.gguf', false, '/m/bad-draft.gguf'), deps());
  assert.ok(!r.ok);
  assert.equal(r.state?.modelProblem?.setting, 'pronto.model.draftPath');
  assert.match(r.message, /bad-draft\.gguf has no fill-in-the-middle tokens/);
});

test('a chat model is checked as a chat model and passed on; a refused one leaves completions running', async () => {
  const asked: [string, string | undefined][] = [];
  const d = {
    ...deps(),
    check: async (p: string, purpose?: 'completion' | 'chat') => {
      asked.push([p, purpose]);
      return checks[p] ?? bad(`${p} does not exist.`);
    },
  };
  const ok = await resolveModel({ ...settings('/m/good.gguf'), 'chat.modelPath': '/m/draft.gguf' }, d);
  assert.deepEqual(ok, { ok: true, path: '/m/good.gguf', demo: false, chatModelPath: '/m/draft.gguf', notes: [] });
  assert.deepEqual(asked.at(-1), ['/m/draft.gguf', 'chat']);
  const r = await resolveModel({ ...settings('/m/good.gguf'), 'chat.modelPath': '/m/readme.md' }, d);
  assert.ok(r.ok, 'the code model still starts');
  assert.equal(r.chatModelPath, undefined);
  assert.equal(r.chatModelProblem?.setting, 'pronto.chat.modelPath');
  assert.equal(r.chatModelProblem?.path, '/m/readme.md');
  assert.match(r.chatModelProblem?.problem ?? '', /readme\.md is not a GGUF model/);
  assert.match(r.chatModelProblem?.advice ?? '', /Chat uses the code model/);
});
