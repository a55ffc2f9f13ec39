/**
 * The catalog of recommended code models: real GGUF files on Hugging Face, chosen for fill-in-the-middle
 * (FIM) completion. Only BASE models are listed: instruct/chat fine-tunes are worse at FIM.
 *
 * Where the values come from, and what is NOT verified:
 * - Repository and file names of the Qwen2.5-Coder entries are the ones llama.cpp's own presets use
 *   (`--fim-qwen-*-default` in `common/arg.cpp` of the pinned llama.cpp, v0.5.0 bundle).
 * - `revision`, `sha256` and `sizeBytes` were copied from stored copies of the Hugging Face file pages
 *   ("Git LFS Details: SHA256 …, Size of remote file …"); this machine cannot reach Hugging Face, so
 *   none of them was checked by downloading the file. `sizeBytes` is the page's rounded figure, used
 *   only for sizing suggestions and disk checks; the exact size comes from the server at download time.
 * - A `sha256` of `null` means no value was found: the download is then verified against the SHA-256
 *   that Hugging Face reports for its LFS files in the `X-Linked-ETag` header. When both are known they
 *   must agree. A file with neither is refused: nothing is used before it is verified.
 * - A `revision` that is a commit hash pins the exact file the `sha256` describes; `main` follows the
 *   repository, so a re-upload there makes the pinned `sha256` fail safely (mismatch, file deleted).
 */

export type ModelFamily = 'qwen2.5-coder' | 'deepseek-coder';

export interface CatalogEntry {
  /** Stable id used by the protocol (`pronto/downloadModel { id }`) and settings. */
  id: string;
  label: string;
  /** The model this file is a version of (one row in the picker; its files are its quantizations). */
  model: string;
  /** The model's name without the quantization, e.g. "Qwen2.5-Coder 1.5B". */
  modelLabel: string;
  family: ModelFamily;
  /** Parameters in billions. */
  paramsB: number;
  /** Quantization of the GGUF file, a key of QUANTS. */
  quant: QuantName;
  /** Hugging Face repository, `owner/name`. */
  repo: string;
  /** File name inside the repository; also the local file name. */
  file: string;
  /** Commit hash that pins the file, or a branch name (`main`). */
  revision: string;
  /** Approximate size in bytes (rounded figure from the file page; see the file comment). */
  sizeBytes: number;
  /** Expected SHA-256 (lowercase hex), or null when unknown: then the server's X-Linked-ETag is used. */
  sha256: string | null;
  /** Where `sha256` came from, for people reading the catalog. */
  sha256Source: string;
  /**
   * KV-cache bytes per token of context at F16 (layers × 2 × KV heads × head size × 2 bytes), from the
   * model's published architecture; used to size the memory a model needs.
   */
  kvBytesPerToken: number;
  /** Ids of bigger models of the same family (same tokenizer) this one can draft for. */
  draftFor?: string[];
}

export const DEFAULT_MODEL_BASE_URL = 'https://huggingface.co';

/**
 * What each quantization offered costs. Bits per weight and the perplexity figures are llama.cpp's
 * own (tools/quantize/quantize.cpp of the pinned release: "+0.0026 ppl @ Llama-3-8B" for Q8_0,
 * "+0.1754 ppl" for Q4_K_M; for IQ3_XXS it gives only "3.06 bpw"); the sentences are ours.
 */
export const QUANTS = {
  F16: { bits: 16, label: '16-bit (F16)', quality: 'Full quality: the reference the others are measured against.' },
  Q8_0: { bits: 8, label: '8-bit (Q8_0)', quality: 'Practically full quality (+0.003 perplexity on Llama-3-8B, per llama.cpp).' },
  Q4_K_M: {
    bits: 4,
    label: '4-bit (Q4_K_M)',
    quality: 'Small quality cost (+0.18 perplexity on Llama-3-8B, per llama.cpp); half the memory of 8-bit.',
  },
  IQ3_XXS: { bits: 3, label: '3-bit (IQ3_XXS)', quality: 'Clear quality cost: for machines that fit nothing bigger.' },
} as const;
export type QuantName = keyof typeof QUANTS;

const MB = 1_000_000;
const GB = 1_000_000_000;

const HF_PAGE = 'copied from a stored copy of the Hugging Face file page (not checked by download)';

export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'qwen2.5-coder-0.5b',
    model: 'qwen2.5-coder-0.5b',
    modelLabel: 'Qwen2.5-Coder 0.5B',
    label: 'Qwen2.5-Coder 0.5B (base, Q8_0)',
    family: 'qwen2.5-coder',
    paramsB: 0.5,
    quant: 'Q8_0',
    repo: 'ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF',
    file: 'qwen2.5-coder-0.5b-q8_0.gguf',
    revision: 'ecdd60b1c25ab158bec6e1ab084aeebf9eae0af4',
    sizeBytes: 531 * MB,
    sha256: 'd0f8cd6c49bab52a0abdbe47948518b1f4d9b1a8a2a6825099cea31cea10ac56',
    sha256Source: HF_PAGE,
    kvBytesPerToken: 24 * 2 * 2 * 64 * 2,
    draftFor: ['qwen2.5-coder-1.5b', 'qwen2.5-coder-3b', 'qwen2.5-coder-7b'],
  },
  {
    id: 'qwen2.5-coder-1.5b',
    model: 'qwen2.5-coder-1.5b',
    modelLabel: 'Qwen2.5-Coder 1.5B',
    label: 'Qwen2.5-Coder 1.5B (base, Q8_0)',
    family: 'qwen2.5-coder',
    paramsB: 1.5,
    quant: 'Q8_0',
    repo: 'ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF',
    file: 'qwen2.5-coder-1.5b-q8_0.gguf',
    revision: 'main',
    sizeBytes: 1.65 * GB,
    sha256: null,
    sha256Source: 'unknown: verified against the X-Linked-ETag header at download time',
    kvBytesPerToken: 28 * 2 * 2 * 128 * 2,
  },
  {
    id: 'qwen2.5-coder-1.5b-iq3_xxs',
    model: 'qwen2.5-coder-1.5b',
    modelLabel: 'Qwen2.5-Coder 1.5B',
    label: 'Qwen2.5-Coder 1.5B (base, IQ3_XXS)',
    family: 'qwen2.5-coder',
    paramsB: 1.5,
    quant: 'IQ3_XXS',
    // The repository and file llama.cpp's own FIM test downloads (tools/server/tests/unit/test_infill.py).
    repo: 'ggml-org/Qwen2.5-Coder-1.5B-IQ3_XXS-GGUF',
    file: 'qwen2.5-coder-1.5b-iq3_xxs-imat.gguf',
    revision: 'main',
    // Estimate: 1.54 B weights at ~3.06 bits plus the 151,936 x 1,536 embedding kept at higher precision.
    sizeBytes: 0.71 * GB,
    sha256: null,
    sha256Source: 'unknown: verified against the X-Linked-ETag header at download time',
    kvBytesPerToken: 28 * 2 * 2 * 128 * 2,
  },
  {
    id: 'qwen2.5-coder-3b',
    model: 'qwen2.5-coder-3b',
    modelLabel: 'Qwen2.5-Coder 3B',
    label: 'Qwen2.5-Coder 3B (base, Q8_0)',
    family: 'qwen2.5-coder',
    paramsB: 3,
    quant: 'Q8_0',
    repo: 'ggml-org/Qwen2.5-Coder-3B-Q8_0-GGUF',
    file: 'qwen2.5-coder-3b-q8_0.gguf',
    revision: 'main',
    sizeBytes: 3.29 * GB,
    sha256: 'a522a906e299ed34db738b9626b2cd0da9e446c14674468a22fc2eae3dbd344d',
    sha256Source: HF_PAGE,
    kvBytesPerToken: 36 * 2 * 2 * 128 * 2,
  },
  {
    id: 'qwen2.5-coder-7b',
    model: 'qwen2.5-coder-7b',
    modelLabel: 'Qwen2.5-Coder 7B',
    label: 'Qwen2.5-Coder 7B (base, Q8_0)',
    family: 'qwen2.5-coder',
    paramsB: 7,
    quant: 'Q8_0',
    repo: 'ggml-org/Qwen2.5-Coder-7B-Q8_0-GGUF',
    file: 'qwen2.5-coder-7b-q8_0.gguf',
    revision: 'main',
    sizeBytes: 8.1 * GB,
    sha256: null,
    sha256Source: 'unknown: verified against the X-Linked-ETag header at download time',
    kvBytesPerToken: 28 * 2 * 4 * 128 * 2,
  },
  {
    id: 'deepseek-coder-1.3b',
    model: 'deepseek-coder-1.3b',
    modelLabel: 'DeepSeek-Coder 1.3B',
    label: 'DeepSeek-Coder 1.3B (base, Q4_K_M)',
    family: 'deepseek-coder',
    paramsB: 1.3,
    quant: 'Q4_K_M',
    repo: 'TheBloke/deepseek-coder-1.3b-base-GGUF',
    file: 'deepseek-coder-1.3b-base.Q4_K_M.gguf',
    revision: 'c90e28c4a822d27c2a2f011fcc47a3dd6bf0cdfb',
    sizeBytes: 874 * MB,
    sha256: '2ad96fe419b897dab9da8c8d0503047dd3ad9b30b7c11f65e0d69bba821e3a9c',
    sha256Source: HF_PAGE,
    kvBytesPerToken: 24 * 2 * 16 * 128 * 2,
    draftFor: ['deepseek-coder-6.7b', 'deepseek-coder-6.7b-q8_0'],
  },
  {
    id: 'deepseek-coder-1.3b-q8_0',
    model: 'deepseek-coder-1.3b',
    modelLabel: 'DeepSeek-Coder 1.3B',
    label: 'DeepSeek-Coder 1.3B (base, Q8_0)',
    family: 'deepseek-coder',
    paramsB: 1.3,
    quant: 'Q8_0',
    repo: 'TheBloke/deepseek-coder-1.3b-base-GGUF',
    file: 'deepseek-coder-1.3b-base.Q8_0.gguf',
    revision: 'c90e28c4a822d27c2a2f011fcc47a3dd6bf0cdfb',
    // Estimate from 1.35 B weights at 8.5 bits (Q8_0); the exact size comes from the server.
    sizeBytes: 1.43 * GB,
    sha256: null,
    sha256Source: 'unknown: verified against the X-Linked-ETag header at download time',
    kvBytesPerToken: 24 * 2 * 16 * 128 * 2,
    draftFor: ['deepseek-coder-6.7b', 'deepseek-coder-6.7b-q8_0'],
  },
  {
    id: 'deepseek-coder-6.7b',
    model: 'deepseek-coder-6.7b',
    modelLabel: 'DeepSeek-Coder 6.7B',
    label: 'DeepSeek-Coder 6.7B (base, Q4_K_M)',
    family: 'deepseek-coder',
    paramsB: 6.7,
    quant: 'Q4_K_M',
    repo: 'TheBloke/deepseek-coder-6.7B-base-GGUF',
    file: 'deepseek-coder-6.7b-base.Q4_K_M.gguf',
    revision: '460342b8afb89c7ff7c7d479e46b20481f051b76',
    sizeBytes: 4.08 * GB,
    sha256: '5580d4dc049ce08c5be06a2de3bff8004e67c2e919662f50b1fa3c07c5dbed63',
    sha256Source: HF_PAGE,
    kvBytesPerToken: 32 * 2 * 32 * 128 * 2,
  },
  {
    id: 'deepseek-coder-6.7b-q8_0',
    model: 'deepseek-coder-6.7b',
    modelLabel: 'DeepSeek-Coder 6.7B',
    label: 'DeepSeek-Coder 6.7B (base, Q8_0)',
    family: 'deepseek-coder',
    paramsB: 6.7,
    quant: 'Q8_0',
    repo: 'TheBloke/deepseek-coder-6.7B-base-GGUF',
    file: 'deepseek-coder-6.7b-base.Q8_0.gguf',
    revision: '460342b8afb89c7ff7c7d479e46b20481f051b76',
    // Estimate from 6.74 B weights at 8.5 bits (Q8_0); the exact size comes from the server.
    sizeBytes: 7.16 * GB,
    sha256: null,
    sha256Source: 'unknown: verified against the X-Linked-ETag header at download time',
    kvBytesPerToken: 32 * 2 * 32 * 128 * 2,
  },
];
export function findModel(id: string, catalog: readonly CatalogEntry[] = CATALOG): CatalogEntry | undefined {
  return catalog.find((m) => m.id === id);
}

/** The draft model for `id` (a smaller model of the same family that lists it in `draftFor`), if any. */
export function draftModelFor(id: string, catalog: readonly CatalogEntry[] = CATALOG): CatalogEntry | undefined {
  return catalog.find((m) => m.draftFor?.includes(id));
}

/**
 * The base URL models are fetched from: the `pronto.model.mirror` setting, else the
 * `PRONTO_MODEL_MIRROR` environment variable, else Hugging Face. Throws a message naming the
 * source when the value is not an http(s) URL. A trailing slash is removed.
 */
export function resolveBaseUrl(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const candidates: Array<[string, string | undefined]> = [
    ['setting pronto.model.mirror', setting],
    ['environment variable PRONTO_MODEL_MIRROR', env['PRONTO_MODEL_MIRROR']],
  ];
  for (const [source, raw] of candidates) {
    const value = raw?.trim();
    if (!value) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Error(`${source} is not a valid URL: "${value}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`${source} must be an http:// or https:// URL, got "${value}"`);
    }
    return value.replace(/\/+$/, '');
  }
  return DEFAULT_MODEL_BASE_URL;
}

/** `<base>/<repo>/resolve/<revision>/<file>`, the Hugging Face download URL layout (mirrors use it too). */
export function downloadUrl(entry: CatalogEntry, baseUrl: string = DEFAULT_MODEL_BASE_URL): string {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return `${baseUrl.replace(/\/+$/, '')}/${enc(entry.repo)}/resolve/${enc(entry.revision)}/${enc(entry.file)}`;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

/** Problems with a catalog, as sentences; empty when it is sound. Used by tests and at start-up. */
export function validateCatalog(catalog: readonly CatalogEntry[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const files = new Set<string>();
  for (const m of catalog) {
    if (ids.has(m.id)) problems.push(`duplicate id ${m.id}`);
    ids.add(m.id);
    if (files.has(m.file)) problems.push(`duplicate file ${m.file}`);
    files.add(m.file);
    if (!/^[\w.-]+\/[\w.-]+$/.test(m.repo)) problems.push(`${m.id}: repo "${m.repo}" is not owner/name`);
    if (!/^[\w.-]+\.gguf$/.test(m.file)) problems.push(`${m.id}: file "${m.file}" is not a plain .gguf name`);
    if (m.sha256 !== null && !isSha256Hex(m.sha256)) problems.push(`${m.id}: sha256 is not 64 lowercase hex digits`);
    if (!(m.sizeBytes > 0)) problems.push(`${m.id}: sizeBytes must be positive`);
    if (!(m.paramsB > 0)) problems.push(`${m.id}: paramsB must be positive`);
    if (!(m.kvBytesPerToken > 0)) problems.push(`${m.id}: kvBytesPerToken must be positive`);
    if (!(m.quant in QUANTS)) problems.push(`${m.id}: unknown quantization ${m.quant}`);
    const sibling = catalog.find((o) => o.model === m.model && o !== m);
    if (sibling && (sibling.family !== m.family || sibling.paramsB !== m.paramsB || sibling.modelLabel !== m.modelLabel))
      problems.push(`${m.id}: model ${m.model} has versions that disagree on family, size or name`);
    if (catalog.some((o) => o !== m && o.model === m.model && o.quant === m.quant))
      problems.push(`${m.id}: ${m.model} lists ${m.quant} twice`);
    if (/instruct|chat/i.test(m.repo + m.file)) problems.push(`${m.id}: not a base model (FIM needs base models)`);
  }
  for (const m of catalog) {
    for (const target of m.draftFor ?? []) {
      const t = catalog.find((c) => c.id === target);
      if (!t) problems.push(`${m.id}: draftFor names unknown model ${target}`);
      else if (t.family !== m.family) problems.push(`${m.id}: draftFor ${target} is another family (tokenizers differ)`);
      else if (t.paramsB <= m.paramsB) problems.push(`${m.id}: draftFor ${target} is not bigger than the draft`);
    }
  }
  return problems;
}
