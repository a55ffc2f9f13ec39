// Random-weight models with real tokenizers.
//
// A model file is a tokenizer (copied, all `tokenizer.*` keys, from a vocab-only GGUF such as
// llama.cpp's models/ggml-vocab-deepseek-coder.gguf) plus hyperparameters plus tensors of the
// architecture's shapes. The tensors here are seeded pseudo-random numbers, scaled like a fresh
// initialisation (std 1/sqrt(fan_in)) so activations stay around unit size and greedy outputs vary
// with the context instead of repeating one token. Same options + seed => byte-identical file.
//
// Used for tests, the engine benchmark (a model of Qwen2.5-Coder-0.5B's shape) and the demo model
// the build ships with the extension (scripts/build-demo-model.ts). Never by the product server.

import { renameSync, rmSync, statSync } from 'node:fs';
import {
  encodeTensor,
  GgmlType,
  GgufError,
  type GgufValue,
  GgufValueType,
  gv,
  readGgufFile,
  tensorByteSize,
  writeGgufFile,
  type GgufTensorSpec,
} from './gguf';

export type RandomModelArch = 'llama' | 'qwen2' | 'starcoder2';
export type RandomModelType = 'f32' | 'f16' | 'q8_0';

/** Token types as llama.cpp's `enum llama_token_type`. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface ExtraToken {
  /** Existing id to overwrite (must be < vocab size), e.g. a `[PAD151659]` placeholder. */
  id: number;
  text: string;
  type: number;
}

/** FIM token ids written as tokenizer.ggml.fim_*_token_id. */
export interface FimTokenIds {
  pre?: number;
  suf?: number;
  mid?: number;
  pad?: number;
  rep?: number;
  sep?: number;
}

export interface RandomModelOptions {
  /** Vocab-only (or any) GGUF whose tokenizer.* keys are copied. */
  vocabPath: string;
  outPath: string;
  arch: RandomModelArch;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  /** Training context length written as {arch}.context_length. */
  ctx: number;
  /** Matrix storage type; 1-D tensors (norms, biases) are always F32. Q8_0 falls back to F16 for rows not a multiple of 32. */
  type: RandomModelType;
  seed: number;
  extraTokens?: ExtraToken[];
  fim?: FimTokenIds;
  /** general.name; defaults to a description of the shape. */
  name?: string;
  /** Reuse token_embd as the output matrix (no output.weight), as Qwen2.5-Coder-0.5B does. Default false:
   * with tied random weights the greedy next token is mostly the current token. */
  tieEmbeddings?: boolean;
  /** Standard deviation of the logits for a unit-RMS hidden state. Default 3. */
  logitScale?: number;
  /** Written as tokenizer.chat_template (replacing the vocab file's, if any); absent: the vocab's own. */
  chatTemplate?: string;
}

export interface RandomModelInfo {
  path: string;
  bytes: number;
  tensorCount: number;
  nVocab: number;
}

const FILE_TYPE: Record<RandomModelType, number> = { f32: 0, f16: 1, q8_0: 7 }; // llama_ftype

/** Writes a random-weight model. Writes to `${outPath}.tmp-<pid>-<rand>` first, then renames. */
export async function writeRandomModel(opts: RandomModelOptions): Promise<RandomModelInfo> {
  validate(opts);
  const vocab = readGgufFile(opts.vocabPath);
  const tokenizerKv = [...vocab.kv].filter(([k]) => k.startsWith('tokenizer.'));
  const tokensValue = vocab.kv.get('tokenizer.ggml.tokens');
  if (!tokensValue || tokensValue.type !== GgufValueType.ARRAY || tokensValue.itemType !== GgufValueType.STRING) {
    throw new GgufError(`${opts.vocabPath}: no tokenizer.ggml.tokens string array`);
  }
  const nVocab = tokensValue.value.length;

  const kv = new Map<string, GgufValue>();
  const a = opts.arch;
  const headDim = opts.nEmbd / opts.nHead;
  kv.set('general.architecture', gv.str(a));
  kv.set('general.name', gv.str(opts.name ?? `random-${a}-${opts.nLayer}x${opts.nEmbd}-${opts.type}-seed${opts.seed}`));
  kv.set('general.file_type', gv.u32(FILE_TYPE[opts.type]));
  kv.set(`${a}.context_length`, gv.u32(opts.ctx));
  kv.set(`${a}.embedding_length`, gv.u32(opts.nEmbd));
  kv.set(`${a}.block_count`, gv.u32(opts.nLayer));
  kv.set(`${a}.feed_forward_length`, gv.u32(opts.nFf));
  kv.set(`${a}.attention.head_count`, gv.u32(opts.nHead));
  kv.set(`${a}.attention.head_count_kv`, gv.u32(opts.nHeadKv));
  kv.set(`${a}.rope.freq_base`, gv.f32(a === 'llama' ? 100000 : a === 'qwen2' ? 1000000 : 100000));
  kv.set(`${a}.rope.dimension_count`, gv.u32(headDim));
  if (a === 'starcoder2') kv.set(`${a}.attention.layer_norm_epsilon`, gv.f32(1e-5));
  else kv.set(`${a}.attention.layer_norm_rms_epsilon`, gv.f32(1e-6));
  if (a === 'llama') kv.set(`${a}.vocab_size`, gv.u32(nVocab));

  for (const [k, v] of tokenizerKv) kv.set(k, v);
  if (opts.extraTokens?.length) applyExtraTokens(kv, opts.extraTokens, nVocab);
  if (opts.chatTemplate !== undefined) kv.set('tokenizer.chat_template', gv.str(opts.chatTemplate));
  if (opts.fim) {
    const names: Array<keyof FimTokenIds> = ['pre', 'suf', 'mid', 'pad', 'rep', 'sep'];
    for (const n of names) {
      const id = opts.fim[n];
      if (id === undefined) continue;
      if (!Number.isInteger(id) || id < 0 || id >= nVocab)
        throw new GgufError(`fim.${n} token id ${id} is outside the vocabulary (0..${nVocab - 1})`);
      kv.set(`tokenizer.ggml.fim_${n}_token_id`, gv.u32(id));
    }
  }

  const tensors = buildTensors(opts, nVocab);
  const tmp = `${opts.outPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeGgufFile(tmp, kv, tensors);
    renameSync(tmp, opts.outPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { path: opts.outPath, bytes: statSync(opts.outPath).size, tensorCount: tensors.length, nVocab };
}

function validate(o: RandomModelOptions): void {
  const pos = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new GgufError(`${name} must be a positive integer, got ${v}`);
  };
  if (!['llama', 'qwen2', 'starcoder2'].includes(o.arch)) throw new GgufError(`unsupported arch "${o.arch}" (llama, qwen2, starcoder2)`);
  if (!['f32', 'f16', 'q8_0'].includes(o.type)) throw new GgufError(`unsupported type "${o.type}" (f32, f16, q8_0)`);
  pos('nLayer', o.nLayer);
  pos('nEmbd', o.nEmbd);
  pos('nHead', o.nHead);
  pos('nHeadKv', o.nHeadKv);
  pos('nFf', o.nFf);
  pos('ctx', o.ctx);
  if (!Number.isInteger(o.seed)) throw new GgufError(`seed must be an integer, got ${o.seed}`);
  if (o.nEmbd % o.nHead !== 0) throw new GgufError(`nEmbd ${o.nEmbd} is not divisible by nHead ${o.nHead}`);
  if (o.nHead % o.nHeadKv !== 0) throw new GgufError(`nHead ${o.nHead} is not divisible by nHeadKv ${o.nHeadKv}`);
  if ((o.nEmbd / o.nHead) % 2 !== 0) throw new GgufError(`head size ${o.nEmbd / o.nHead} must be even (RoPE)`);
}

function applyExtraTokens(kv: Map<string, GgufValue>, extra: ExtraToken[], nVocab: number): void {
  const tokens = kv.get('tokenizer.ggml.tokens');
  const types = kv.get('tokenizer.ggml.token_type');
  if (tokens?.type !== GgufValueType.ARRAY || types?.type !== GgufValueType.ARRAY) {
    throw new GgufError('vocab has no tokenizer.ggml.tokens / token_type arrays to add tokens to');
  }
  const newTokens = [...tokens.value];
  const newTypes = [...types.value];
  const existing = new Map<string, number>();
  for (const [i, t] of newTokens.entries()) existing.set(String(t), i);
  for (const t of extra) {
    if (!Number.isInteger(t.id) || t.id < 0 || t.id >= nVocab)
      throw new GgufError(`extra token "${t.text}": id ${t.id} is outside the vocabulary (0..${nVocab - 1})`);
    const dup = existing.get(t.text);
    if (dup !== undefined && dup !== t.id) throw new GgufError(`extra token "${t.text}" already exists with id ${dup}`);
    newTokens[t.id] = t.text;
    newTypes[t.id] = t.type;
    existing.set(t.text, t.id);
  }
  kv.set('tokenizer.ggml.tokens', { type: GgufValueType.ARRAY, itemType: tokens.itemType, value: newTokens });
  kv.set('tokenizer.ggml.token_type', { type: GgufValueType.ARRAY, itemType: types.itemType, value: newTypes });
}

type Init = { kind: 'uniform'; std: number } | { kind: 'const'; value: number };

function buildTensors(o: RandomModelOptions, nVocab: number): GgufTensorSpec[] {
  const headDim = o.nEmbd / o.nHead;
  const nEmbdKv = headDim * o.nHeadKv;
  const matType: GgmlType = o.type === 'f32' ? GgmlType.F32 : o.type === 'f16' ? GgmlType.F16 : GgmlType.Q8_0;
  const specs: GgufTensorSpec[] = [];
  const mat = (name: string, nIn: number, nOut: number, std = 1 / Math.sqrt(nIn)): void => {
    const type = matType === GgmlType.Q8_0 && nIn % 32 !== 0 ? GgmlType.F16 : matType;
    specs.push(tensor(name, [nIn, nOut], type, { kind: 'uniform', std }, o.seed));
  };
  const vec = (name: string, n: number, init: Init): void => {
    specs.push(tensor(name, [n], GgmlType.F32, init, o.seed));
  };
  const ones: Init = { kind: 'const', value: 1 };
  const bias: Init = { kind: 'uniform', std: 0.02 };
  const sc2 = o.arch === 'starcoder2';

  mat('token_embd.weight', o.nEmbd, nVocab, 1);
  vec('output_norm.weight', o.nEmbd, ones);
  if (sc2) vec('output_norm.bias', o.nEmbd, bias);
  if (!o.tieEmbeddings) mat('output.weight', o.nEmbd, nVocab, (o.logitScale ?? 3) / Math.sqrt(o.nEmbd));

  for (let i = 0; i < o.nLayer; i++) {
    const p = `blk.${i}.`;
    vec(`${p}attn_norm.weight`, o.nEmbd, ones);
    if (sc2) vec(`${p}attn_norm.bias`, o.nEmbd, bias);
    mat(`${p}attn_q.weight`, o.nEmbd, o.nEmbd);
    mat(`${p}attn_k.weight`, o.nEmbd, nEmbdKv);
    mat(`${p}attn_v.weight`, o.nEmbd, nEmbdKv);
    if (o.arch !== 'llama') {
      vec(`${p}attn_q.bias`, o.nEmbd, bias);
      vec(`${p}attn_k.bias`, nEmbdKv, bias);
      vec(`${p}attn_v.bias`, nEmbdKv, bias);
    }
    mat(`${p}attn_output.weight`, o.nEmbd, o.nEmbd);
    if (sc2) vec(`${p}attn_output.bias`, o.nEmbd, bias);
    vec(`${p}ffn_norm.weight`, o.nEmbd, ones);
    if (sc2) vec(`${p}ffn_norm.bias`, o.nEmbd, bias);
    if (!sc2) mat(`${p}ffn_gate.weight`, o.nEmbd, o.nFf);
    mat(`${p}ffn_up.weight`, o.nEmbd, o.nFf);
    if (sc2) vec(`${p}ffn_up.bias`, o.nFf, bias);
    mat(`${p}ffn_down.weight`, o.nFf, o.nEmbd);
    if (sc2) vec(`${p}ffn_down.bias`, o.nEmbd, bias);
  }
  return specs;
}

/** A tensor whose data is generated (in row chunks, to bound memory) when it is written. */
function tensor(name: string, shape: number[], type: GgmlType, init: Init, seed: number): GgufTensorSpec {
  return {
    name,
    shape,
    type,
    data: () => {
      const total = shape.reduce((x, y) => x * y, 1);
      const out = new Uint8Array(tensorByteSize(type, shape));
      if (init.kind === 'const') {
        out.set(encodeTensor(type, new Float32Array(total).fill(init.value)));
        return out;
      }
      const rng = new Rng(hashSeed(seed, name));
      const half = Math.sqrt(3) * init.std; // uniform(-h, h) has std h/sqrt(3)
      const rowLen = shape[0]!;
      const rowsPerChunk = Math.max(1, Math.floor((1 << 20) / rowLen));
      const nRows = total / rowLen;
      const chunk = new Float32Array(rowsPerChunk * rowLen);
      let written = 0;
      for (let r = 0; r < nRows; r += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, nRows - r);
        const vals = rows === rowsPerChunk ? chunk : chunk.subarray(0, rows * rowLen);
        for (let j = 0; j < vals.length; j++) vals[j] = (rng.next() * 2 - 1) * half;
        const bytes = encodeTensor(type, vals);
        out.set(bytes, written);
        written += bytes.byteLength;
      }
      return out;
    },
  };
}

/** FNV-1a of the tensor name mixed with the seed: each tensor's stream is independent of write order. */
function hashSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: small, fast, deterministic. Returns floats in [0, 1). */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Qwen2.5 (Coder) added tokens 151646-151664, written over ggml-vocab-qwen2.gguf's [PAD] placeholders. */
export const QWEN25_SPECIAL_TOKENS: ExtraToken[] = [
  '<|object_ref_start|>',
  '<|object_ref_end|>',
  '<|box_start|>',
  '<|box_end|>',
  '<|quad_start|>',
  '<|quad_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|vision_pad|>',
  '<|image_pad|>',
  '<|video_pad|>',
  '<tool_call>',
  '</tool_call>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|fim_pad|>',
  '<|repo_name|>',
  '<|file_sep|>',
].map((text, i) => ({ id: 151646 + i, text, type: TokenType.CONTROL }));

export const QWEN25_FIM: FimTokenIds = { pre: 151659, mid: 151660, suf: 151661, pad: 151662, rep: 151663, sep: 151664 };
export const DEEPSEEK_CODER_FIM: FimTokenIds = { pre: 32016, suf: 32015, mid: 32017 };

/**
 * deepseek-ai/deepseek-coder-*-instruct's tokenizer.chat_template (its default system prompt left
 * out); llama.cpp recognises it as its built-in "deepseek" template. Given to the demo model and the
 * chat test model so chat works on them.
 */
export const DEEPSEEK_CODER_INSTRUCT_TEMPLATE =
  '{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}' +
  "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}" +
  "{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n' }}" +
  "{% else %}{{ '### Response:\\n' + message['content'] + '\\n<|EOT|>\\n' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '### Response:' }}{% endif %}";
export const STARCODER_FIM: FimTokenIds = { pre: 1, mid: 2, suf: 3, pad: 4, rep: 5, sep: 6 };
