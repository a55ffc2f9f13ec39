// The LSP server (spawned) on the real engine and the tiny test model, ready to answer: what the
// integration tests of typing and prefetch start from. Fails (never skips) without the engine binary.
import { strict as assert } from 'node:assert';
import { assertEngineBuilt } from './engine';
import { startLspServer, type LspHarness } from './lsp';
import { ensureTestModels } from './models';

export async function startLspOnTestModel(completion: Record<string, unknown>): Promise<LspHarness> {
  assertEngineBuilt();
  const { target } = await ensureTestModels();
  const h = startLspServer();
  await h.initialize({
    pronto: { model: { path: target }, engine: { threads: 1, contextSize: 8192, parallel: 2 }, completion },
  });
  const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
  assert.equal(s.state, 'ready', s.message);
  return h;
}
