// `npm run build:demo-model`: makes the demo model that ships with the extension,
// dist/models/pronto-demo.gguf (deepseek-coder's tokenizer from the pinned llama.cpp + small random
// weights; recipe `demo` in test/support/models.ts). The product server only looks the file up
// (server/src/models/demoModel.ts); it never generates a model.
//
// Idempotent: the model is generated once into .cache/models/ (its name carries a hash of the
// recipe) and copied when dist/ lacks it or holds another one. Needs native/.deps (the llama.cpp
// vocab files), which `npm run build:native` prepares.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEMO_MODEL_FILE } from '../server/src/models/demoModel';
import { ensureModel, modelPath } from '../test/support/models';

const root = resolve(__dirname, '..');
const target = join(root, 'dist', 'models', DEMO_MODEL_FILE);
/** Names the cached file the copy in dist/ came from, so a changed recipe replaces it. */
const stamp = `${target}.source`;

async function main(): Promise<void> {
  if (process.argv.length > 2) {
    console.error('usage: npm run build:demo-model   (no options)');
    process.exit(2);
  }
  const source = modelPath('demo');
  const upToDate =
    existsSync(target) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === basename(source) &&
    existsSync(source) &&
    statSync(source).size === statSync(target).size;
  if (upToDate) {
    console.error(`[demo-model] ${target} is up to date`);
    return;
  }
  const t0 = Date.now();
  await ensureModel('demo');
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
  writeFileSync(stamp, `${basename(source)}\n`);
  console.error(
    `[demo-model] wrote ${target} (${(statSync(target).size / 1e6).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(`[demo-model] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
