/**
 * The demo model: a tiny model with DeepSeek-Coder's real tokenizer and random weights, so the
 * whole path (FIM prompt, engine, streaming, post-processing) can be tried offline while its text is
 * meaningless. It is used only when asked for (`pronto.model.demo`: `npm start`, the tests, or a user
 * who picks "Try the demo model"); with no model configured Pronto offers no completions at all.
 *
 * The server does not make it: the build does (`npm run build:demo-model`, the generator lives with
 * the tests in test/support/), and it ships in the extension as `dist/models/pronto-demo.gguf`. This
 * module only finds that file.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEMO_MODEL_FILE = 'pronto-demo.gguf';

/**
 * Where the demo model may be, in order: `$PRONTO_DEMO_MODEL`, the extension folder the client
 * passes (`$PRONTO_EXTENSION_DIR/dist/models/`), then next to the running bundle (`dist/models/`)
 * and `dist/models/` in the ancestors of this file (the source tree during development and tests).
 */
export function demoModelCandidates(from: string = __dirname, env: NodeJS.ProcessEnv = process.env): string[] {
  const candidates: string[] = [];
  const override = env.PRONTO_DEMO_MODEL?.trim();
  if (override) candidates.push(override);
  if (env.PRONTO_EXTENSION_DIR) candidates.push(join(env.PRONTO_EXTENSION_DIR, 'dist', 'models', DEMO_MODEL_FILE));
  candidates.push(join(from, 'models', DEMO_MODEL_FILE));
  let dir = from;
  for (let i = 0; i < 5; i++) {
    candidates.push(join(dir, 'dist', 'models', DEMO_MODEL_FILE));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return candidates;
}

/** The demo model's path, or undefined when this build has none. */
export function findDemoModel(candidates: string[] = demoModelCandidates()): string | undefined {
  return candidates.find((p) => existsSync(p));
}
