// Speculative decoding at its bounds: the same decode with no draft, with the target as its own draft
// (every draft token is accepted: the ceiling of acceptance) and with an unrelated draft model of the
// same vocabulary (nothing is accepted: what trying costs). Rounds alternate the order; medians.

import { fmt, median } from './stats';
import { type ProntoEngine, startProntoEngine, submit } from './prontoEngine';

export interface SpeculationOptions {
  engineBin: string;
  model: string;
  /** A model of the same vocabulary that shares nothing else with `model`; undefined: that row is skipped. */
  unrelatedDraft?: string;
  threads: number;
  decodeTokens: number;
  rounds: number;
  engineArgs: string[];
  prompt: string;
}

interface Variant {
  key: 'none' | 'self' | 'unrelated';
  label: string;
  draft?: string;
}

export interface SpeculationRow {
  key: Variant['key'];
  label: string;
  tokPerS: number;
  rounds: number[];
  /** Per round: this variant's tok/s over no speculation's in the same round (the load drifts between rounds). */
  vsNone: number[];
  drafted: number;
  accepted: number;
}

/** One decode of `n` tokens with the draft model on or off; client-side tokens/s after the first token. */
async function decode(e: ProntoEngine, prompt: string, n: number, draft: boolean) {
  const r = await submit(e, {
    prompt,
    sampling: { temperature: 0 },
    limits: { max_tokens: n, ignore_eos: true },
    speculative: { draft, ngram: false },
  });
  const s = r.done.stats;
  return { tokPerS: ((s.generated_tokens - 1) * 1000) / (r.tDone - r.tFirst), drafted: s.drafted_tokens, accepted: s.accepted_tokens };
}

export async function speculationBounds(o: SpeculationOptions, log: (s: string) => void): Promise<SpeculationRow[]> {
  const variants: Variant[] = [
    { key: 'none', label: 'no speculation' },
    { key: 'self', label: 'target as its own draft (ceiling)', draft: o.model },
  ];
  if (o.unrelatedDraft) variants.push({ key: 'unrelated', label: 'unrelated draft (cost of trying)', draft: o.unrelatedDraft });
  const engines = new Map<Variant['key'], ProntoEngine>();
  try {
    for (const v of variants) {
      log(`  starting pronto-engine (${v.label})`);
      const args = [...o.engineArgs, ...(v.draft ? ['--draft-model', v.draft] : [])];
      engines.set(v.key, await startProntoEngine({ bin: o.engineBin, model: o.model, threads: o.threads, ctx: 4096, parallel: 1, args }));
    }
    const runs = new Map<Variant['key'], Array<Awaited<ReturnType<typeof decode>>>>(variants.map((v) => [v.key, []]));
    for (const v of variants) await decode(engines.get(v.key)!, o.prompt, 8, v.key !== 'none'); // warm-up (prompt cached)
    for (let r = 0; r < o.rounds; r++) {
      const order = variants.map((_, j) => variants[(j + r) % variants.length]!);
      for (const v of order) {
        const d = await decode(engines.get(v.key)!, o.prompt, o.decodeTokens, v.key !== 'none');
        runs.get(v.key)!.push(d);
        log(`  speculation round ${r + 1} ${v.key}: ${fmt(d.tokPerS, 1)} tok/s, drafted ${d.drafted}, accepted ${d.accepted}`);
      }
    }
    const none = runs.get('none')!;
    return variants.map((v) => {
      const rs = runs.get(v.key)!;
      return {
        key: v.key,
        label: v.label,
        tokPerS: median(rs.map((x) => x.tokPerS)),
        rounds: rs.map((x) => x.tokPerS),
        vsNone: rs.map((x, i) => x.tokPerS / none[i]!.tokPerS),
        drafted: median(rs.map((x) => x.drafted)),
        accepted: median(rs.map((x) => x.accepted)),
      };
    });
  } finally {
    for (const e of engines.values()) await e.stop();
  }
}

export function speculationTable(rows: SpeculationRow[], decodeTokens: number, rounds: number): { header: string[]; rows: string[][] } {
  const range = (xs: number[]): string => `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}`;
  return {
    header: [
      `speculation (decode ${decodeTokens} tokens, greedy, ${rounds} rounds)`,
      'tok/s (median)',
      'vs none (median of rounds)',
      'range of rounds',
      'drafted',
      'accepted',
    ],
    rows: rows.map((r) => [
      `  ${r.label}`,
      fmt(r.tokPerS, 1),
      r.key === 'none' ? '1.00x' : `${fmt(median(r.vsNone), 2)}x`,
      r.key === 'none' ? '-' : range(r.vsNone),
      r.key === 'none' ? '-' : fmt(r.drafted, 0),
      r.key === 'none' ? '-' : r.drafted > 0 ? `${fmt((100 * r.accepted) / r.drafted, 0)}%` : 'n/a',
    ]),
  };
}
