/**
 * Checks a model file BEFORE the engine is started on it, so a wrong pick (a README, a safetensors
 * checkpoint, a chat model without fill-in-the-middle tokens, a half-downloaded file) is named at
 * once, with what to pick instead, rather than after several failed engine starts.
 *
 * What is checked, in the order llama.cpp would trip over it:
 * 1. the file exists, is a file, can be read;
 * 2. its first bytes are the GGUF magic (else: what it looks like instead: text, safetensors,
 *    a PyTorch/zip checkpoint, the old GGML format);
 * 3. the GGUF version is 2 or 3 and the byte order little-endian;
 * 4. it holds weights (not a tokenizer-only vocab file, a LoRA adapter or a vision projector) and
 *    its tensors end inside the file (a truncated download is caught here);
 * 5. `general.architecture` is one the pinned llama.cpp knows, and one that generates text;
 * 6. it has fill-in-the-middle tokens (prefix, suffix, middle), from the `tokenizer.ggml.fim_*`
 *    metadata or, as llama.cpp does for older conversions, found by their text in the vocabulary.
 *
 * `assessGguf` is the pure rule (table-tested); `checkModelFile` reads the file's head
 * asynchronously (server/src/models/gguf.ts) and applies it.
 */
import type { ModelPurpose } from '../../../protocol/engine';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { GgufError, type GgufSummary, readGgufHead, summarizeGgufHead } from './gguf';

/**
 * `general.architecture` values the pinned llama.cpp (v0.5.0, src/llama-arch.cpp LLM_ARCH_NAMES)
 * loads, without its "clip" placeholder. test/unit/models-check.test.ts compares this list with
 * the vendored source, so a llama.cpp update that adds architectures fails until it is refreshed.
 */
export const KNOWN_ARCHITECTURES: ReadonlySet<string> = new Set([
  'llama',
  'llama4',
  'deci',
  'falcon',
  'grok',
  'gpt2',
  'gptj',
  'gptneox',
  'mpt',
  'baichuan',
  'starcoder',
  'refact',
  'bert',
  'modern-bert',
  'nomic-bert',
  'nomic-bert-moe',
  'neo-bert',
  'jina-bert-v2',
  'jina-bert-v3',
  'eurobert',
  'bloom',
  'stablelm',
  'qwen',
  'qwen2',
  'qwen2moe',
  'qwen2vl',
  'qwen3',
  'qwen3moe',
  'qwen3next',
  'qwen3vl',
  'qwen3vlmoe',
  'qwen35',
  'qwen35moe',
  'qwen4exp',
  'phi2',
  'phi3',
  'phimoe',
  'plamo',
  'plamo2',
  'plamo3',
  'codeshell',
  'orion',
  'internlm2',
  'minicpm',
  'minicpm3',
  'gemma',
  'gemma2',
  'gemma3',
  'gemma3n',
  'gemma4',
  'gemma4-assistant',
  'gemma-embedding',
  'starcoder2',
  'mamba',
  'mamba2',
  'maple',
  'jamba',
  'falcon-h1',
  'xverse',
  'command-r',
  'cohere2',
  'cohere2moe',
  'dbrx',
  'olmo',
  'olmo2',
  'olmoe',
  'muse-glimmer',
  'openelm',
  'arctic',
  'deepseek',
  'deepseek2',
  'deepseek2-ocr',
  'deepseek32',
  'deepseek4',
  'chatglm',
  'glm4',
  'glm4moe',
  'glm-dsa',
  'bitnet',
  't5',
  't5encoder',
  'jais',
  'jais2',
  'nemotron',
  'nemotron_h',
  'nemotron_h_moe',
  'exaone',
  'exaone4',
  'exaone-moe',
  'rwkv6',
  'rwkv6qwen2',
  'rwkv7',
  'arwkv7',
  'granite',
  'granitemoe',
  'granitehybrid',
  'graniteswitch',
  'granite_swa',
  'chameleon',
  'wavtokenizer-dec',
  'plm',
  'bailingmoe',
  'bailingmoe2',
  'bailingmoe3',
  'dots1',
  'dots3note',
  'arcee',
  'afmoe',
  'laguna',
  'ernie4_5',
  'ernie4_5-moe',
  'hunyuan-moe',
  'hunyuan-dense',
  'hunyuan_vl',
  'hy_v3',
  'hy_v4',
  'smollm3',
  'gpt-oss',
  'lfm2',
  'lfm2moe',
  'dream',
  'smallthinker',
  'llada',
  'llada-moe',
  'seed_oss',
  'grovemoe',
  'apertus',
  'minimax-01',
  'hrm_text',
  'minimax-m2',
  'minimax-m3',
  'cogvlm',
  'rnd1',
  'pangu-embedded',
  'mistral3',
  'eagle3',
  'dflash',
  'mistral4',
  'paddleocr',
  'mimo2',
  'step35',
  'spark2_5',
  'llama-embed',
  'maincoder',
  'kimi-linear',
  'kimi-k3',
  'talkie',
  'mellum',
  'nanbeige',
  'qwen3tts',
  'pockettts',
]);

/** Architectures that encode or embed but do not generate text: no completions possible. */
const NON_GENERATIVE = (arch: string) => /^bert|bert$|-bert-|embedding$|-embed$|^t5encoder$|^wavtokenizer/.test(arch);

/**
 * FIM token texts llama.cpp recognises when a file has no `tokenizer.ggml.fim_*_token_id` keys
 * (src/llama-vocab.cpp, "find FIM_PRE token" and the two after it).
 */
export const FIM_TOKEN_TEXTS = {
  pre: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'],
  suf: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'],
  mid: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'],
} as const;

const ALL_FIM_TEXTS = [...FIM_TOKEN_TEXTS.pre, ...FIM_TOKEN_TEXTS.suf, ...FIM_TOKEN_TEXTS.mid];

/** What to pick instead, said the same way everywhere. */
export const PICK_INSTEAD =
  'Pick a .gguf base code model with fill-in-the-middle tokens instead (Qwen2.5-Coder, DeepSeek-Coder, StarCoder2), or download one.';

export interface ModelInfo {
  architecture: string;
  /** `general.name`, when the file has one. */
  name?: string;
  /** Vocabulary size. */
  vocabSize: number;
  /** Where the FIM tokens were found. */
  fimFrom: 'metadata' | 'vocabulary';
  /** Things that work but are worth knowing (an instruct model, for instance). */
  notes: string[];
}

export type ModelCheck = { ok: true; info: ModelInfo } | { ok: false; problem: string; advice: string };

const refuse = (problem: string, advice = PICK_INSTEAD): ModelCheck => ({ ok: false, problem, advice });

/** The pure rule: steps 3-6 above, on a header summary of a file of `fileSize` bytes called `file`. */
export function assessGguf(summary: GgufSummary, fileSize: number, file: string, purpose: ModelPurpose = 'completion'): ModelCheck {
  const s = summary.scalars;
  const str = (key: string): string | undefined => {
    const v = s.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const num = (key: string): number | undefined => {
    const v = s.get(key);
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
  };
  const type = str('general.type');
  if (type === 'adapter') return refuse(`${file} is a LoRA adapter, not a model: it only works on top of its base model.`);
  if (type === 'mmproj' || str('general.architecture') === 'clip')
    return refuse(`${file} is a vision projector (mmproj), not a language model.`);
  const arch = str('general.architecture');
  if (!arch) return refuse(`${file} has no general.architecture: it is not a model llama.cpp can load.`);
  if (summary.tensorCount === 0) return refuse(`${file} holds only a tokenizer (a vocab file), no model weights.`);
  const splits = num('split.count') ?? 1;
  // A split model's tensors live in its sibling files too; only a single file can be measured.
  if (splits <= 1 && summary.dataEnd > fileSize) {
    const pct = Math.max(0, Math.min(99, Math.floor((100 * fileSize) / summary.dataEnd)));
    return refuse(
      `${file} is incomplete: its weights end at byte ${summary.dataEnd} but the file has ${fileSize} (${pct}%); the download or copy was probably interrupted.`,
      'Download it again (Pronto: Download a Model… resumes and verifies), or copy the whole file.',
    );
  }
  if (!KNOWN_ARCHITECTURES.has(arch))
    return refuse(
      `${file} is a "${arch}" model, an architecture the llama.cpp in this Pronto build does not know.`,
      `${PICK_INSTEAD} A newer Pronto may support "${arch}".`,
    );
  if (NON_GENERATIVE(arch)) return refuse(`${file} is a "${arch}" embedding/encoder model: it cannot generate code.`);
  const vocabSize = summary.arrayLengths.get('tokenizer.ggml.tokens') ?? 0;
  if (vocabSize === 0) return refuse(`${file} has no tokenizer (no tokenizer.ggml.tokens).`);
  const fimIds = (['pre', 'suf', 'mid'] as const).map(
    (k) => num(`tokenizer.ggml.fim_${k}_token_id`) ?? num(`tokenizer.ggml.${{ pre: 'prefix', suf: 'suffix', mid: 'middle' }[k]}_token_id`),
  );
  const fromMetadata = fimIds.every((id) => id !== undefined && id >= 0 && id < vocabSize);
  const fromVocabulary = (['pre', 'suf', 'mid'] as const).every((k) => FIM_TOKEN_TEXTS[k].some((t) => summary.tokensFound.has(t)));
  const name = str('general.name');
  // A chat model (pronto.chat.modelPath) answers in the chat panel: it needs no FIM tokens.
  if (purpose === 'chat')
    return {
      ok: true,
      info: { architecture: arch, ...(name ? { name } : {}), vocabSize, fimFrom: fromMetadata ? 'metadata' : 'vocabulary', notes: [] },
    };
  if (!fromMetadata && !fromVocabulary)
    return refuse(
      `${file} has no fill-in-the-middle tokens: it cannot complete code at the cursor (chat and general models usually lack them).`,
    );
  const notes: string[] = [];
  if (/instruct|chat/i.test(`${name ?? ''} ${file}`))
    notes.push('This looks like an instruct/chat model; base models complete code at the cursor better.');
  return {
    ok: true,
    info: { architecture: arch, ...(name ? { name } : {}), vocabSize, fimFrom: fromMetadata ? 'metadata' : 'vocabulary', notes },
  };
}

/** What a non-GGUF file looks like, from its first bytes (for a message people recognise). */
export function describeNonGguf(head: Uint8Array): string {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length === 0) return 'it is empty';
  const ascii = b.subarray(0, 4).toString('latin1');
  if (ascii === 'lmgg' || ascii === 'fmgg' || ascii === 'tjgg' || ascii === 'ggml' || ascii === 'ggjt')
    return 'it is in the old GGML format, which llama.cpp no longer reads (look for the .gguf version)';
  if (b[0] === 0x50 && b[1] === 0x4b) return 'it is a zip archive (a PyTorch checkpoint?), not a GGUF model';
  if (b[0] === 0x80 && b[1] !== undefined && b[1] <= 5) return 'it is a Python pickle (a PyTorch checkpoint?), not a GGUF model';
  if (b.length >= 9) {
    const headerLen = b.readBigUInt64LE(0);
    if (headerLen > 0n && headerLen < 100_000_000n && b[8] === 0x7b)
      return 'it is a safetensors checkpoint; it must be converted to GGUF first';
  }
  const sample = b.subarray(0, Math.min(b.length, 512));
  const printable = [...sample].filter((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127)).length;
  if (printable >= sample.length * 0.95) return 'it is a text file';
  return `its first bytes (${[...b.subarray(0, 4)].map((c) => c.toString(16).padStart(2, '0')).join(' ')}) are not the GGUF signature`;
}

/** Reads the head of `path` and applies `assessGguf`. Never throws. */
/** `purpose`: `chat` for pronto.chat.modelPath (no FIM tokens needed). */
export async function checkModelFile(path: string, purpose: ModelPurpose = 'completion'): Promise<ModelCheck> {
  const file = basename(path);
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) return refuse(`${path} is a folder, not a model file.`);
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return refuse(`The model file ${path} does not exist.`);
    return refuse(
      `The model file ${path} cannot be read (${code ?? (err as Error).message}).`,
      'Check its permissions, or pick another file.',
    );
  }
  let head: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      head = Buffer.alloc(Math.min(size, 512));
      await handle.read(head, 0, head.length, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    return refuse(
      `The model file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
      'Check its permissions, or pick another file.',
    );
  }
  if (head.length < 8 || head.toString('latin1', 0, 4) !== 'GGUF') return refuse(`${file} is not a GGUF model: ${describeNonGguf(head)}.`);
  const version = head.readUInt32LE(4);
  if (version !== 2 && version !== 3) {
    if (head.readUInt32BE(4) === 2 || head.readUInt32BE(4) === 3)
      return refuse(`${file} is a big-endian GGUF (made for s390x machines); this machine needs the little-endian file.`);
    return refuse(`${file} is GGUF version ${version}; this Pronto build reads versions 2 and 3.`);
  }
  try {
    const summary = await readGgufHead(path, (buf, fileSize) => summarizeGgufHead(buf, fileSize, ALL_FIM_TEXTS));
    return assessGguf(summary, size, file, purpose);
  } catch (err) {
    if (err instanceof GgufError) return refuse(`${file} is a damaged GGUF file: ${err.message}.`);
    return refuse(
      `The model file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
      'Check its permissions, or pick another file.',
    );
  }
}
