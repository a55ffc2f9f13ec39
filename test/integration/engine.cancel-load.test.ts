// Many clients with cancels on one engine (issue 8: "under 32 clients with cancels, 2 internal
// errors"). Cause found: chunk reuse shifted KV cells that another sequence shared (a prefix copied with
// seq_cp); that sequence's positions moved too, and llama_decode then refused every batch containing it
// ("inconsistent sequence positions", code -1). The workload below makes that happen: clients editing
// one file with insertions after a shared header, while other sequences are busy. Bound by request
// counts, never by time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine } from '../support/engine';

const header = `// header\n${'import { a } from "b";\n'.repeat(30)}`;
const body = 'function g(x) { return x * 2; }\n'.repeat(30);

test('32 clients editing shared text with cancels: no internal error, every request ends', async () => {
  const { target } = await ensureTestModels();
  const e = await startEngine({ model: target, args: ['--ctx', '4096', '--parallel', '4'] });
  const outcomes = new Map<string, number>();
  const bump = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  try {
    await Promise.all(
      Array.from({ length: 32 }, async (_, c) => {
        const s = await EngineSocket.open(e.url);
        try {
          for (let i = 0; i < 8; i++) {
            const id = `c${c}-${i}`;
            const inserted = '// ins\n'.repeat((c + i) % 6);
            const cancel = (c + i) % 2 === 0;
            let sent = false;
            const r = await s.request(
              {
                type: 'submit',
                id,
                fim: { prefix: `${header}${inserted}${body}const y = `, suffix: '\n}\n' },
                limits: { max_tokens: 8 + ((c * 7 + i) % 24), ignore_eos: true },
              },
              () => {
                if (cancel && !sent) {
                  sent = true;
                  s.send({ type: 'cancel', id });
                }
              },
            );
            if (r.error) bump(`error ${r.error.error.code}: ${r.error.error.message}`);
            else bump(`done ${r.done!.finish_reason}`);
          }
        } finally {
          await s.close();
        }
      }),
    );
    const summary = [...outcomes].map(([k, v]) => `${v} ${k}`).join('\n');
    const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
    assert.equal(total, 32 * 8, summary);
    assert.ok(![...outcomes.keys()].some((k) => k.startsWith('error')), summary);
    assert.doesNotMatch(e.stderr(), /inconsistent sequence positions/);
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_errors_total\{kind="internal"\} 0/);
  } finally {
    await e.stop();
  }
});
