// Small random-weight models with real tokenizers, generated on demand into <repo>/.cache/models/.
// File names carry a hash of the generation options, so changing a recipe makes a new file instead of
// reusing a stale one. Safe when several test processes call at once: each writes to a temporary
// name and renames (the files are byte-identical, so whichever rename lands last is fine).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEEPSEEK_CODER_FIM,
  DEEPSEEK_CODER_INSTRUCT_TEMPLATE,
  QWEN25_FIM,
  QWEN25_SPECIAL_TOKENS,
  STARCODER_FIM,
  writeRandomModel,
  type RandomModelOptions,
} from './randomModel';
import { GgmlType } from '../../server/src/models/gguf';
import { readGgufFile } from './gguf';

export const repoRoot = path.resolve(__dirname, '../..');
export const modelCacheDir = path.join(repoRoot, '.cache', 'models');
const vocabDir = path.join(repoRoot, 'native', '.deps', 'llama.cpp', 'models');

/** Bump when the generator's output changes for the same options. */
const GENERATOR_VERSION = 1;

type Recipe = Omit<RandomModelOptions, 'outPath'>;

/** llama arch, deepseek-coder vocab (<｜fim▁begin｜> 32016, <｜fim▁hole｜> 32015, <｜fim▁end｜> 32017).
 * Head size 16. (With heads of 64, llama.cpp's CPU attention rounds one-token decodes differently
 * from draft-verification batches, and greedy speculation is no longer bit-exact: native/README.) */
const targetRecipe = {
  vocabPath: path.join(vocabDir, 'ggml-vocab-deepseek-coder.gguf'),
  arch: 'llama',
  nLayer: 2,
  nEmbd: 64,
  nHead: 4,
  nHeadKv: 2,
  nFf: 256,
  ctx: 4096,
  type: 'f16',
  seed: 1,
  fim: DEEPSEEK_CODER_FIM,
  name: 'pronto-test-target',
} satisfies Recipe;

export const recipes = {
  target: targetRecipe,
  /** The target with DeepSeek-Coder-Instruct's chat template (llama.cpp recognises it as its built-in
   * "deepseek" template): the model chat tests run on. The target itself has no chat template. */
  chat: { ...targetRecipe, seed: 6, name: 'pronto-test-chat', chatTemplate: DEEPSEEK_CODER_INSTRUCT_TEMPLATE },
  /** A second chat-capable model (other weights, other name): the deploy tests run blue and green on
   * `chat` and `chatGreen`, so every reply says which colour answered. */
  chatGreen: { ...targetRecipe, seed: 7, name: 'pronto-test-chat-green', chatTemplate: DEEPSEEK_CODER_INSTRUCT_TEMPLATE },
  /** Same vocab as target, 1 layer, narrower: a draft model for speculative decoding tests. */
  draft: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-deepseek-coder.gguf'),
    arch: 'llama',
    nLayer: 1,
    nEmbd: 32,
    nHead: 2,
    nHeadKv: 2,
    nFf: 128,
    ctx: 4096,
    type: 'f16',
    seed: 2,
    fim: DEEPSEEK_CODER_FIM,
    name: 'pronto-test-draft',
  },
  /** starcoder2 arch, starcoder vocab (<fim_prefix> 1 ... <repo_name> 5, <file_sep> 6). Head size 64,
   * as in real models: the one test model a q8_0 KV cache (--kv-type) can take. */
  starcoder: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-starcoder.gguf'),
    arch: 'starcoder2',
    nLayer: 2,
    nEmbd: 128,
    nHead: 2,
    nHeadKv: 1,
    nFf: 256,
    ctx: 4096,
    type: 'f16',
    seed: 3,
    fim: STARCODER_FIM,
    name: 'pronto-test-starcoder',
  },
  /** A draft for `starcoder` (same vocab) with 16-wide heads: its context must keep f16 when the
   * target's KV cache is q8_0. */
  starcoderDraft: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-starcoder.gguf'),
    arch: 'starcoder2',
    nLayer: 1,
    nEmbd: 32,
    nHead: 2,
    nHeadKv: 2,
    nFf: 128,
    ctx: 4096,
    type: 'f16',
    seed: 5,
    fim: STARCODER_FIM,
    name: 'pronto-test-starcoder-draft',
  },
  /** The third test vocabulary (qwen2, with Qwen2.5's special/FIM tokens) on a tiny model: tokenizer tests. */
  qwen2: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-qwen2.gguf'),
    arch: 'qwen2',
    nLayer: 1,
    nEmbd: 32,
    nHead: 2,
    nHeadKv: 1,
    nFf: 64,
    ctx: 4096,
    type: 'f16',
    seed: 6,
    extraTokens: QWEN25_SPECIAL_TOKENS,
    fim: QWEN25_FIM,
    name: 'pronto-test-qwen2',
  },
  /** The demo model shipped with the extension (dist/models/pronto-demo.gguf, made by
   * scripts/build-demo-model.ts): deepseek-coder's tokenizer, small random weights, and
   * DeepSeek-Coder-Instruct's chat template so the chat panel works on it offline. */
  demo: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-deepseek-coder.gguf'),
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
  },
  /** Qwen2.5-Coder-0.5B's shape at Q8_0 (~530 MB), qwen2 vocab + Qwen2.5 special/FIM tokens. */
  bench: {
    vocabPath: path.join(vocabDir, 'ggml-vocab-qwen2.gguf'),
    arch: 'qwen2',
    nLayer: 24,
    nEmbd: 896,
    nHead: 14,
    nHeadKv: 2,
    nFf: 4864,
    ctx: 32768,
    type: 'q8_0',
    seed: 4,
    tieEmbeddings: true,
    extraTokens: QWEN25_SPECIAL_TOKENS,
    fim: QWEN25_FIM,
    name: 'pronto-bench-qwen2.5-coder-0.5b-shape',
  },
} satisfies Record<string, Recipe>;

export function modelPath(name: keyof typeof recipes): string {
  const recipe = recipes[name];
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, ...recipe, vocabPath: path.basename(recipe.vocabPath) }))
    .digest('hex')
    .slice(0, 10);
  return path.join(modelCacheDir, `${name}-${hash}.gguf`);
}

const pending = new Map<string, Promise<string>>();

/** Generates the model if its file is missing; returns its path. */
export function ensureModel(name: keyof typeof recipes): Promise<string> {
  const out = modelPath(name);
  let p = pending.get(out);
  if (!p) {
    p = (async () => {
      if (existsSync(out)) return out;
      mkdirSync(modelCacheDir, { recursive: true });
      await writeRandomModel({ ...recipes[name], outPath: out });
      return out;
    })();
    pending.set(out, p);
    p.catch(() => pending.delete(out));
  }
  return p;
}

export async function ensureTestModels(): Promise<{ target: string; draft: string; starcoder: string }> {
  return {
    target: await ensureModel('target'),
    draft: await ensureModel('draft'),
    starcoder: await ensureModel('starcoder'),
  };
}

/**
 * The test target with corrupt weights: `output_norm.weight` is all NaN, so every logit is NaN. It
 * loads (llama.cpp does not look at weight values) and must fail each request, not the engine.
 */
export function ensureNanModel(): Promise<string> {
  const out = path.join(modelCacheDir, `nan-${path.basename(modelPath('target'))}`);
  let p = pending.get(out);
  if (!p) {
    p = (async () => {
      if (existsSync(out)) return out;
      const source = await ensureModel('target');
      const file = readGgufFile(source);
      const norm = file.tensors.find((t) => t.name === 'output_norm.weight');
      if (!norm || norm.type !== GgmlType.F32) throw new Error(`${source}: no F32 output_norm.weight to corrupt`);
      const bytes = readFileSync(source);
      const nan = new Float32Array(norm.byteSize / 4).fill(Number.NaN);
      Buffer.from(nan.buffer).copy(bytes, norm.fileOffset);
      const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, out);
      return out;
    })();
    pending.set(out, p);
    p.catch(() => pending.delete(out));
  }
  return p;
}

/** The engine benchmark's model (takes ~20-60 s to generate the first time). */
export function ensureBenchModel(): Promise<string> {
  return ensureModel('bench');
}
