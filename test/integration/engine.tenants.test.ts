// Tenants on a shared engine: each API key of --api-keys-file names a tenant, and KV prefix reuse
// must not cross tenants, or `reused_tokens` tells a client how much of its prompt matches what
// another client sent (issue 8: a correct guess of a secret line reused 30 of 31 tokens, a wrong one
// 16 of 32). Within one tenant reuse keeps working. The isolation is the engine's slot choice
// (native/src/kv_reuse.h, keyed by Request.tenant, which the network layer sets from the API key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine } from '../support/engine';

const keys = { alice: 'alice-0123456789abcdef', bob: 'bob-0123456789abcdef00', carol: 'carol-0123456789abcdef' };

interface Stats {
  prompt_tokens: number;
  reused_tokens: number;
}

test("a tenant cannot learn another tenant's prompt from reused_tokens; reuse within a tenant still works", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pronto-tenants-'));
  const file = path.join(dir, 'keys');
  writeFileSync(
    file,
    Object.entries(keys)
      .map(([t, k]) => `${t} ${k}\n`)
      .join(''),
    { mode: 0o600 },
  );
  const e = await startEngine({
    model: (await ensureTestModels()).target,
    args: ['--ctx', '2048', '--parallel', '4', '--api-keys-file', file],
  });
  const complete = async (tenant: keyof typeof keys, prompt: string): Promise<Stats> => {
    const r = await fetch(`${e.url}/v1/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${keys[tenant]}` },
      body: JSON.stringify({ prompt, max_tokens: 1 }),
    });
    assert.equal(r.status, 200);
    return ((await r.json()) as { stats: Stats }).stats;
  };
  try {
    const head = '# deploy/settings.py\nimport os\n\nDATABASE_HOST = "db.internal"\n';
    const secret = 'DATABASE_PASSWORD = "hunter2-correct-horse-battery-staple"\n';
    const wrong = 'DATABASE_PASSWORD = "letmein-wrong-guess-for-the-password"\n';
    await complete('alice', `${head}${secret}connect(DATABASE_HOST, DATABASE_PASSWORD)\n`);
    // Two other tenants guess; each guess is its tenant's first request.
    const right = await complete('bob', head + secret);
    const guess = await complete('carol', head + wrong);
    assert.equal(right.reused_tokens, guess.reused_tokens, `right guess reused ${right.reused_tokens}, wrong ${guess.reused_tokens}`);
    // Within one tenant, reuse works: over HTTP and over a WebSocket authenticated as the same tenant.
    const again = await complete('bob', `${head}${secret}# more\n`);
    assert.ok(again.reused_tokens >= right.prompt_tokens - 2, `bob reused ${again.reused_tokens} of ${right.prompt_tokens}`);
    const s = await EngineSocket.open(e.url, { Authorization: `Bearer ${keys.alice}` });
    const ws = await s.request({ type: 'submit', id: 'a', prompt: `${head}${secret}connect(`, limits: { max_tokens: 1 } });
    await s.close();
    assert.ok(ws.done && ws.done.stats.reused_tokens >= right.prompt_tokens - 2, `alice reused ${ws.done?.stats.reused_tokens}`);
  } finally {
    await e.stop();
  }
});
