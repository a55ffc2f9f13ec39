/**
 * Which model file the engine starts on, decided before it starts (EngineManager calls
 * `resolveModel` on every start):
 *
 * - `pronto.model.path` set: that file, if it passes `checkModelFile`;
 * - empty, and `pronto.model.demo` on: the demo model the build ships (meaningless output; for
 *   `npm start`, the tests and a user who picked "Try the demo model");
 * - empty otherwise: nothing. The engine is not started, completions are off, and the status says
 *   a model is needed (`needsModel`), so the client can open the walkthrough. An installed extension
 *   never offers random-weight suggestions in a user's files unasked.
 *
 * A draft model (`pronto.model.draftPath`) is checked the same way. A chat model
 * (`pronto.chat.modelPath`) too, without the FIM rule; a refused one is left out (the engine starts
 * without `--chat-model`, chat uses the code model) and reported as `chatModelProblem`. A refused file ends as state
 * `error` with a `modelProblem` naming the setting, the problem and what to pick instead.
 */
import type { ModelProblem } from '../../../protocol/lsp';
import type { EngineState, ModelResolution } from '../engine/manager';
import type { Settings } from '../settings';
import { findDemoModel } from './demoModel';
import { checkModelFile, type ModelCheck } from './modelCheck';

export interface SelectionDeps {
  findDemo?: () => string | undefined;
  check?: (path: string, purpose?: 'completion' | 'chat') => Promise<ModelCheck>;
}

export const NEEDS_MODEL_MESSAGE =
  'No model chosen: completions are off. Download a model or select a GGUF file (Pronto menu → Choose a model…).';

type SelectionSettings = Pick<Settings, 'model.path' | 'model.draftPath' | 'model.demo'> & Partial<Pick<Settings, 'chat.modelPath'>>;

function refused(setting: ModelProblem['setting'], path: string, check: Extract<ModelCheck, { ok: false }>): ModelResolution {
  const modelProblem: ModelProblem = { setting, path, problem: check.problem, advice: check.advice };
  const state: EngineState = { state: 'error', message: `${check.problem} ${check.advice}`, modelProblem };
  return { ok: false, message: state.message, state };
}

export async function resolveModel(settings: SelectionSettings, deps: SelectionDeps = {}): Promise<ModelResolution> {
  const check = deps.check ?? checkModelFile;
  let path = settings['model.path'];
  let demo = false;
  if (!path) {
    if (!settings['model.demo']) {
      const state: EngineState = { state: 'stopped', message: NEEDS_MODEL_MESSAGE, needsModel: true };
      return { ok: false, message: state.message, state };
    }
    const found = (deps.findDemo ?? findDemoModel)();
    if (!found) {
      const modelProblem: ModelProblem = {
        setting: 'pronto.model.demo',
        path: '',
        problem: 'pronto.model.demo is on, but this build of Pronto has no demo model (dist/models/pronto-demo.gguf).',
        advice: 'Run "npm run build:demo-model" in a development tree, or choose a real model.',
      };
      const state: EngineState = { state: 'error', message: `${modelProblem.problem} ${modelProblem.advice}`, modelProblem };
      return { ok: false, message: state.message, state };
    }
    path = found;
    demo = true;
  }
  const model = await check(path);
  if (!model.ok) return refused(demo ? 'pronto.model.demo' : 'pronto.model.path', path, model);
  const draftPath = settings['model.draftPath'];
  if (draftPath) {
    const draft = await check(draftPath);
    if (!draft.ok) return refused('pronto.model.draftPath', draftPath, draft);
  }
  // A refused chat model does not stop completions: the engine starts without it, chat uses the code
  // model, and the status says what is wrong with the file.
  const chatPath = settings['chat.modelPath'];
  let chat: { chatModelPath?: string; chatModelProblem?: ModelProblem } = {};
  if (chatPath) {
    const c = await check(chatPath, 'chat');
    chat = c.ok
      ? { chatModelPath: chatPath }
      : {
          chatModelProblem: {
            setting: 'pronto.chat.modelPath',
            path: chatPath,
            problem: c.problem,
            advice: 'Chat uses the code model until pronto.chat.modelPath names a GGUF instruct model (Pronto: Select Chat Model File…).',
          },
        };
  }
  return { ok: true, path, demo, ...(draftPath ? { draftPath } : {}), ...chat, notes: model.info.notes };
}
