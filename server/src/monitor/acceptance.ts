/**
 * Acceptance analytics that are not inflated by partial accepts: every suggestion shown ends as
 * exactly one of accepted in full, accepted in part, or dismissed (counted per language).
 *
 * One suggestion per document is on screen at a time. It stays the same suggestion while the user
 * types through it or accepts words/lines of it (VS Code then asks again and the sidecar answers
 * from its cache: a `shown` record with `fromCache`). It ends when:
 *   - the user accepts it in full (Tab)                                → acceptedFull
 *   - a new, different suggestion is shown, or a request comes back empty:
 *       after one or more word/line accepts                            → acceptedPartial
 *       otherwise                                                      → dismissed
 *   - its document is closed                                          → as above
 * Cancelled and failed requests end nothing (the suggestion may still be on screen).
 */
import type { CompletionRecord, DidAcceptParams } from '../../../protocol/lsp';
import type { AcceptanceCounts, AcceptanceSummary } from '../../../protocol/monitorData';

interface Outstanding {
  language: string;
  partial: boolean;
}

const zero = (): AcceptanceCounts => ({ shown: 0, acceptedFull: 0, acceptedPartial: 0, dismissed: 0, pending: 0 });

export class AcceptanceTracker {
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly total = zero();
  private readonly byLanguage = new Map<string, AcceptanceCounts>();

  /** `languageOf` names a document's language ("unknown" when the document is not known). */
  constructor(private readonly languageOf: (uri: string) => string | undefined) {}

  private counts(language: string): AcceptanceCounts {
    let c = this.byLanguage.get(language);
    if (!c) {
      c = zero();
      this.byLanguage.set(language, c);
    }
    return c;
  }

  private bump(language: string, key: keyof AcceptanceCounts, by = 1): void {
    this.total[key] += by;
    this.counts(language)[key] += by;
  }

  private end(uri: string, how: 'acceptedFull' | 'dismissed'): void {
    const o = this.outstanding.get(uri);
    if (!o) return;
    this.outstanding.delete(uri);
    this.bump(o.language, 'pending', -1);
    this.bump(o.language, how === 'dismissed' && o.partial ? 'acceptedPartial' : how);
  }

  /** A completion request ended (CompletionStats' record). */
  onRecord(r: Pick<CompletionRecord, 'uri' | 'outcome' | 'fromCache'>): void {
    if (r.outcome === 'cancelled' || r.outcome === 'error') return;
    if (r.outcome === 'empty') {
      this.end(r.uri, 'dismissed');
      return;
    }
    // shown: a cache hit while a suggestion is out is that suggestion, typed through or partly accepted.
    if (r.fromCache && this.outstanding.has(r.uri)) return;
    this.end(r.uri, 'dismissed');
    const language = this.languageOf(r.uri) || 'unknown';
    this.outstanding.set(r.uri, { language, partial: false });
    this.bump(language, 'shown');
    this.bump(language, 'pending');
  }

  /** `pronto/didAcceptCompletion`. An accept with no suggestion out (e.g. after a restart) is ignored. */
  onAccept(p: Pick<DidAcceptParams, 'uri' | 'kind'>): void {
    const o = this.outstanding.get(p.uri);
    if (!o) return;
    if (p.kind === 'full') this.end(p.uri, 'acceptedFull');
    else o.partial = true;
  }

  /** The document was closed: its suggestion is gone. */
  onClose(uri: string): void {
    this.end(uri, 'dismissed');
  }

  summary(): AcceptanceSummary {
    return {
      total: { ...this.total },
      byLanguage: Object.fromEntries([...this.byLanguage].sort((a, b) => b[1].shown - a[1].shown).map(([k, v]) => [k, { ...v }])),
    };
  }
}
