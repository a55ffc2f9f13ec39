/**
 * The model's FIM tokens as text, read from the GGUF file's metadata the way llama.cpp reads them:
 * `tokenizer.ggml.fim_{pre,suf,mid,sep}_token_id` first, then the token texts llama.cpp recognises
 * (llama-vocab.cpp) for models converted without those keys. The default FIM template is written
 * with these texts, so rendering it gives the engine's own prompt. Only a local model file can be
 * read; for a remote engine the tokens are unknown (the engine still builds the default itself).
 */
import { type GgufSummary, readGgufHead, summarizeGgufHead } from '../models/gguf';
import { FIM_TOKEN_TEXTS } from '../models/modelCheck';

export interface FimTokenTexts {
  pre: string;
  suf: string;
  mid: string;
  /** `<file_sep>`-style token for repo-level context, when the model has one. */
  sep?: string;
}

type Which = 'pre' | 'suf' | 'mid' | 'sep';
const WHICH: readonly Which[] = ['pre', 'suf', 'mid', 'sep'];

/** As llama.cpp's vocabulary loader recognises them, in its order (models/modelCheck.ts has the FIM three). */
const KNOWN: Record<Which, readonly string[]> = { ...FIM_TOKEN_TEXTS, sep: ['<|file_sep|>'] };
const ALL_KNOWN = WHICH.flatMap((w) => KNOWN[w]);

/** The id a file's metadata gives the token (`fim_*_token_id`, or the older `prefix/suffix/middle_token_id`). */
function metadataId(summary: GgufSummary, which: Which): number | undefined {
  const older = { pre: 'prefix', suf: 'suffix', mid: 'middle', sep: undefined }[which];
  for (const key of [`tokenizer.ggml.fim_${which}_token_id`, ...(older ? [`tokenizer.ggml.${older}_token_id`] : [])]) {
    const v = summary.scalars.get(key);
    const id = typeof v === 'bigint' ? Number(v) : v;
    if (typeof id === 'number' && id >= 0 && id < (summary.arrayLengths.get('tokenizer.ggml.tokens') ?? 0)) return id;
  }
  return undefined;
}

/**
 * FIM token texts from a header summary (made with `lookForTokens` = the known texts and, when the
 * metadata names ids none of those has, `tokenTextsAt` = those ids); undefined when the model has
 * no complete FIM set.
 */
export function fimTokensFromSummary(summary: GgufSummary): FimTokenTexts | undefined {
  const byId = new Map<number, string>(summary.tokenTexts);
  for (const [text, id] of summary.tokensFound) if (!byId.has(id)) byId.set(id, text);
  const find = (which: Which): string | undefined => {
    const id = metadataId(summary, which);
    if (id !== undefined) return byId.get(id);
    return KNOWN[which].find((t) => summary.tokensFound.has(t));
  };
  const pre = find('pre');
  const suf = find('suf');
  const mid = find('mid');
  if (!pre || !suf || !mid) return undefined;
  const sep = find('sep');
  return { pre, suf, mid, ...(sep ? { sep } : {}) };
}

/**
 * Reads a model file's FIM tokens from its header without decoding the vocabulary (a second walk
 * only when the metadata names tokens whose texts are not among the known ones); undefined when
 * unreadable or without FIM tokens.
 */
export async function readFimTokens(modelPath: string): Promise<FimTokenTexts | undefined> {
  try {
    const summary = await readGgufHead(modelPath, (head, size) => summarizeGgufHead(head, size, ALL_KNOWN));
    const known = new Set(summary.tokensFound.values());
    const missing = WHICH.map((w) => metadataId(summary, w)).filter((id): id is number => id !== undefined && !known.has(id));
    if (!missing.length) return fimTokensFromSummary(summary);
    return fimTokensFromSummary(await readGgufHead(modelPath, (head, size) => summarizeGgufHead(head, size, ALL_KNOWN, missing)));
  } catch {
    return undefined;
  }
}
