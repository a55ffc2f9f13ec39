/**
 * The model's FIM tokens as text, read from the GGUF file's metadata the way llama.cpp reads them:
 * `tokenizer.ggml.fim_{pre,suf,mid,sep}_token_id` first, then the token texts llama.cpp recognises
 * (llama-vocab.cpp) for models converted without those keys. The default FIM template is written
 * with these texts, so rendering it gives the engine's own prompt. Only a local model file can be
 * read; for a remote engine the tokens are unknown (the engine still builds the default itself).
 */
import { GgufValueType, readGgufFile, type GgufFile } from '../models/gguf';

export interface FimTokenTexts {
  pre: string;
  suf: string;
  mid: string;
  /** `<file_sep>`-style token for repo-level context, when the model has one. */
  sep?: string;
}

/** As llama.cpp's vocabulary loader recognises them, in its order. */
const KNOWN: Record<'pre' | 'suf' | 'mid' | 'sep', string[]> = {
  pre: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'],
  suf: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'],
  mid: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'],
  sep: ['<|file_sep|>'],
};

function tokenTexts(file: GgufFile): string[] {
  const v = file.kv.get('tokenizer.ggml.tokens');
  if (!v || v.type !== GgufValueType.ARRAY) return [];
  return v.value.map(String);
}

/** FIM token texts of a GGUF file; undefined when the model has no complete FIM set. */
export function fimTokensFromGguf(file: GgufFile): FimTokenTexts | undefined {
  const tokens = tokenTexts(file);
  const find = (which: 'pre' | 'suf' | 'mid' | 'sep'): string | undefined => {
    const idValue = file.kv.get(`tokenizer.ggml.fim_${which}_token_id`)?.value;
    const id = typeof idValue === 'bigint' ? Number(idValue) : idValue;
    if (typeof id === 'number' && id >= 0 && id < tokens.length) return tokens[id];
    const known = new Set(KNOWN[which]);
    return tokens.find((t) => known.has(t));
  };
  const pre = find('pre');
  const suf = find('suf');
  const mid = find('mid');
  if (!pre || !suf || !mid) return undefined;
  const sep = find('sep');
  return { pre, suf, mid, ...(sep ? { sep } : {}) };
}

/** Reads a model file's FIM tokens (metadata only); undefined when unreadable or without FIM tokens. */
export function readFimTokens(modelPath: string): FimTokenTexts | undefined {
  try {
    return fimTokensFromGguf(readGgufFile(modelPath));
  } catch {
    return undefined;
  }
}
