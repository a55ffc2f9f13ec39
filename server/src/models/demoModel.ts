/**
 * The demo model: what Pronto runs when no model is configured and none can be downloaded.
 * It is DeepSeek-Coder's real tokenizer (the vocab-only `ggml-vocab-deepseek-coder.gguf` that
 * ships with the extension, FIM tokens included) plus small random weights, so the whole path
 * (FIM prompt, engine, streaming, post-processing) works offline, while its text is meaningless;
 * the server says so in its status.
 *
 * Made once per storage folder (a few MB, about a second) and cached under a name that carries a
 * hash of the recipe, so a changed recipe makes a new file instead of reusing a stale one.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEEPSEEK_CODER_FIM, DEEPSEEK_CODER_INSTRUCT_TEMPLATE, type RandomModelOptions, writeRandomModel } from './randomModel';

export const DEMO_VOCAB_FILE = 'ggml-vocab-deepseek-coder.gguf';

/** Bump when the demo model's recipe or generator output changes. */
const DEMO_VERSION = 1;

const DEMO_RECIPE: Omit<RandomModelOptions, 'vocabPath' | 'outPath'> = {
  arch: 'llama',
  nLayer: 2,
  nEmbd: 128,
  nHead: 4,
  nHeadKv: 2,
  nFf: 384,
  ctx: 16384,
  type: 'f16',
  seed: 20240,
  fim: DEEPSEEK_CODER_FIM,
  name: 'pronto-demo (random weights: output is meaningless)',
  // So the chat can be tried offline too (its answers are as meaningless as the completions).
  chatTemplate: DEEPSEEK_CODER_INSTRUCT_TEMPLATE,
};

/**
 * Where the vocab file may be: next to the bundle (`dist/vocab/`, put there by packaging), or in
 * the llama.cpp checkout of a development tree (`native/.deps/llama.cpp/models/`), seen from both
 * the bundled `dist/server.js` and the source `server/src/models/`.
 */
export function demoVocabCandidates(baseDir: string = __dirname): string[] {
  return [
    join(baseDir, 'vocab', DEMO_VOCAB_FILE),
    join(baseDir, '..', 'vocab', DEMO_VOCAB_FILE),
    join(baseDir, '..', 'dist', 'vocab', DEMO_VOCAB_FILE),
    join(baseDir, '..', 'native', '.deps', 'llama.cpp', 'models', DEMO_VOCAB_FILE),
    join(baseDir, '..', '..', '..', 'dist', 'vocab', DEMO_VOCAB_FILE),
    join(baseDir, '..', '..', '..', 'native', '.deps', 'llama.cpp', 'models', DEMO_VOCAB_FILE),
  ];
}

export function findDemoVocab(candidates: string[] = demoVocabCandidates()): string {
  const env = process.env['PRONTO_DEMO_VOCAB']?.trim();
  const all = env ? [env, ...candidates] : candidates;
  const found = all.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`the demo model's tokenizer ${DEMO_VOCAB_FILE} was not found; looked in: ${all.join(', ')}`);
  }
  return found;
}

export function demoModelPath(storageDir: string): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: DEMO_VERSION, ...DEMO_RECIPE }))
    .digest('hex')
    .slice(0, 10);
  return join(storageDir, 'models', `pronto-demo-${hash}.gguf`);
}

const pending = new Map<string, Promise<string>>();

/** Path of the demo model in `storageDir`, generating it first when it is missing. */
export function ensureDemoModel(storageDir: string, options: { vocabPath?: string } = {}): Promise<string> {
  const out = demoModelPath(storageDir);
  let p = pending.get(out);
  if (!p) {
    p = (async () => {
      if (existsSync(out)) return out;
      const vocabPath = options.vocabPath ?? findDemoVocab();
      await mkdir(join(storageDir, 'models'), { recursive: true });
      // writeRandomModel writes to a temporary name and renames: a crash never leaves half a model.
      await writeRandomModel({ ...DEMO_RECIPE, vocabPath, outPath: out });
      return out;
    })();
    pending.set(out, p);
    p.then(
      () => pending.delete(out),
      () => pending.delete(out),
    );
  }
  return p;
}
