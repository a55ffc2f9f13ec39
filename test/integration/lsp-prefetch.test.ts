/**
 * Prefetch through the real thing: a JSON-RPC client ↔ the LSP server (spawned) ↔ the real
 * pronto-engine on a generated GGUF. Random weights give random text, so the tests count requests
 * (the sidecar's `pronto/stats` and the engine's own `/metrics`), not words.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { StatsResult } from '../../protocol/lsp';
import { engineMetric, type LspHarness } from '../support/lsp';
import { startLspOnTestModel } from '../support/realLsp';

async function stats(h: LspHarness): Promise<StatsResult> {
  return (await h.connection.sendRequest('pronto/stats')) as StatsResult;
}

/**
 * Waits until the engine has received every request the sidecar says it sent (bounded: a guard
 * against hangs), then returns the engine's count.
 */
async function engineRequestsReach(h: LspHarness, base: number, expected: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const n = (await engineMetric(h, 'pronto_requests_total')) - base;
    if (n >= expected || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The document with `text` inserted at (line, character). */
function insertAt(doc: string, line: number, character: number, text: string): string {
  const lines = doc.split('\n');
  const l = lines[line]!;
  lines[line] = l.slice(0, character) + text + l.slice(character);
  return lines.join('\n');
}

describe('prefetch with the real engine', { timeout: 240_000 }, () => {
  let h: LspHarness;
  before(async () => {
    h = await startLspOnTestModel({ debounceMs: 0, prefetch: true, maxTokens: 24, timeBudgetMs: 30000, multiline: 'never' });
  });
  after(async () => {
    await h?.stop();
  });

  test('after an accept, the request at the new position is answered from the prefetch, with no engine request of its own', async () => {
    const uri = 'file:///work/accept.py';
    const doc = 'def add(a, b):\n    return \n\nprint(add(1, 2))\n';
    await h.open(uri, doc);
    const m0 = await engineMetric(h, 'pronto_requests_total');
    const s0 = await stats(h);
    const first = await h.inline(uri, 1, 11);
    const shown = first.items[0]?.insertText ?? '';
    assert.ok(shown.length > 0 && !shown.includes('\n'), `a single-line suggestion was shown: ${JSON.stringify(shown)}`);
    // Tab: the editor inserts the suggestion, reports the accept, and asks at the new position.
    await h.change(uri, 2, insertAt(doc, 1, 11, shown));
    await h.connection.sendNotification('pronto/didAcceptCompletion', { uri, text: shown, kind: 'full' });
    await h.inline(uri, 1, 11 + shown.length);
    const s1 = await stats(h);
    const rec = s1.recent.at(-1)!;
    assert.equal(rec.fromPrefetch, true, `answered from the prefetch: ${JSON.stringify(rec)}`);
    assert.equal(rec.generatedTokens, 0, 'no engine work of its own');
    assert.equal(s1.prefetch.answered - s0.prefetch.answered, 1);
    // Every engine request after the first one was a prefetch (the one for the accepted position, and
    // the one after the answer there): none was made for the request itself.
    const sent = s1.engineRequests - s0.engineRequests;
    const prefetches = s1.prefetch.started - s0.prefetch.started;
    assert.equal(sent, 1 + prefetches, JSON.stringify({ sent, prefetches }));
    assert.ok(prefetches >= 1);
    // The engine's own count agrees.
    assert.equal(await engineRequestsReach(h, m0, sent), sent);
  });

  test('typing through a suggestion starts no duplicate prefetch (the engine’s /metrics)', async () => {
    const uri = 'file:///work/typing.ts';
    const doc = 'export function scale(value: number) {\n  const factor = \n}\n';
    await h.open(uri, doc);
    const m0 = await engineMetric(h, 'pronto_requests_total');
    const c0 = await engineMetric(h, 'pronto_cancellations_total');
    const s0 = await stats(h);
    const first = await h.inline(uri, 1, 17);
    const shown = first.items[0]?.insertText ?? '';
    const chars = [...shown];
    assert.ok(chars.length >= 2, `a suggestion of two characters or more was shown: ${JSON.stringify(shown)}`);
    // Type it character by character, except the last (which would reach the prefetched position).
    let version = 2;
    for (let k = 1; k < chars.length; k++) {
      const typed = chars.slice(0, k).join('');
      await h.change(uri, version++, insertAt(doc, 1, 17, typed));
      const r = await h.inline(uri, 1, 17 + typed.length);
      assert.equal((await stats(h)).recent.at(-1)!.fromCache, true, `keystroke ${k} was served from the cache`);
      assert.ok(r.items.length <= 1);
    }
    const s1 = await stats(h);
    assert.equal(s1.prefetch.started - s0.prefetch.started, 1, 'one prefetch for the anticipated position');
    assert.equal(s1.prefetch.aborted - s0.prefetch.aborted, 0, 'never restarted');
    // The engine saw the request and one prefetch, and no cancel.
    assert.equal(await engineRequestsReach(h, m0, 2), 2);
    assert.equal((await engineMetric(h, 'pronto_cancellations_total')) - c0, 0);
  });
});
