/**
 * Prompt templates through the real parts. (1) The default FIM template, rendered by the sidecar
 * from the model's FIM tokens, is token for token the prompt the engine builds itself (the engine
 * reuses all but the last token of one for the other). (2) Through the LSP server and the real
 * engine: writing `.pronto/templates.json` changes the prompt the engine receives on the very next
 * completion (its token count is that of the rendered template, as the engine's tokenizer counts
 * it); an invalid edit keeps the last valid template in force and the status says so; removing the
 * file brings the default back.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { StatsResult } from '../../protocol/lsp';
import type { TemplatesState } from '../../protocol/templates';
import { defaultFimTemplateText } from '../../server/src/templates/defaults';
import { renderFimTemplate } from '../../server/src/templates/fim';
import { readFimTokens } from '../../server/src/templates/fimTokens';
import { EngineSocket, assertEngineBuilt, startEngine } from '../support/engine';
import { engineAuthHeaders, engineUrlFromLogs, startLspServer, type LspHarness } from '../support/lsp';
import { ensureModel } from '../support/models';

// These tests exist to drive the real engine: a missing binary fails them (never a skip).
assertEngineBuilt();

const noBudget = { prefix_tokens: 100000, suffix_tokens: 100000, extra_tokens: 100000 };

/** The key the server gave the engine it started (its /tokenize needs it). */
let auth: Record<string, string> = {};

async function tokenize(url: string, content: string): Promise<number[]> {
  const r = await fetch(`${url}/tokenize`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ content, add_special: true, parse_special: true }),
  });
  return ((await r.json()) as { tokens: number[] }).tokens;
}

describe('the default FIM template is the engine’s own prompt', { timeout: 120_000 }, () => {
  for (const name of ['target', 'starcoder'] as const) {
    test(`${name}: rendering it gives the tokens the engine builds`, async () => {
      const model = await ensureModel(name);
      const engine = await startEngine({ model });
      const socket = await EngineSocket.open(engine.url);
      try {
        const tokens = await readFimTokens(model);
        assert.ok(tokens, 'FIM tokens read from the GGUF');
        const fimModel = { tokens, order: engine.ready.fim.order };
        // Repo-level models (starcoder: <file_sep>) get extra chunks too; without that token the
        // engine tokenizes each chunk on its own, so only repo-level rendering can match it exactly.
        const extra = engine.ready.fim.repo_level ? [{ filename: 'util.py', text: 'def helper():\n    return 42' }] : [];
        const parts = {
          prefix: 'import os\n\ndef main():\n    path = os.getcwd()\n    print(pa',
          suffix: ')\n\nif __name__ == "__main__":\n    main()\n',
          filename: 'main.py',
          languageId: 'python',
          extra,
          budget: noBudget,
        };
        const viaEngine = await socket.request({
          type: 'submit',
          id: 'fim',
          fim: { prefix: parts.prefix, suffix: parts.suffix, filename: parts.filename, extra },
          limits: { max_tokens: 1 },
        });
        assert.ok(viaEngine.done, JSON.stringify(viaEngine.error));
        const rendered = renderFimTemplate(defaultFimTemplateText(fimModel), parts, fimModel);
        const renderedTokens = await tokenize(engine.url, rendered);
        assert.equal(renderedTokens.length, viaEngine.done.stats.prompt_tokens);
        // Same tokens: submitted as a raw prompt, the engine reuses everything but the last token.
        const viaTemplate = await socket.request({ type: 'submit', id: 'tpl', prompt: rendered, limits: { max_tokens: 1 } });
        assert.ok(viaTemplate.done, JSON.stringify(viaTemplate.error));
        assert.equal(viaTemplate.done.stats.prompt_tokens, viaEngine.done.stats.prompt_tokens);
        assert.equal(viaTemplate.done.stats.reused_tokens, viaTemplate.done.stats.prompt_tokens - 1);
        assert.equal(viaTemplate.done.text, viaEngine.done.text, 'same prompt, same greedy token');
      } finally {
        await socket.close();
        await engine.stop();
      }
    });
  }
});

describe('.pronto/templates.json drives the completion prompt', { timeout: 240_000 }, () => {
  let h: LspHarness;
  let workspace: string;
  let url: string;
  const uri = 'file:///ws/calc.py';
  const text = 'def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return \n';
  const templatesFile = () => path.join(workspace, '.pronto', 'templates.json');
  const writeTemplates = (templates: unknown[]) => {
    mkdirSync(path.dirname(templatesFile()), { recursive: true });
    writeFileSync(templatesFile(), JSON.stringify({ version: 1, templates }, null, 2));
  };
  /** Completes at the end of `return ` and returns the prompt tokens the engine reported. */
  const promptTokens = async (): Promise<number> => {
    await h.inline(uri, 4, 11);
    const rec = ((await h.connection.sendRequest('pronto/stats')) as StatsResult).recent.at(-1)!;
    assert.equal(rec.fromCache, false, 'not served from the cache');
    assert.ok(rec.outcome === 'shown' || rec.outcome === 'empty', rec.outcome);
    return rec.promptTokens;
  };
  const custom = '<｜fim▁begin｜># file: {filename} ({language})\n{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>';

  before(async () => {
    workspace = mkdtempSync(path.join(os.tmpdir(), 'pronto-templates-ws-'));
    h = startLspServer();
    await h.initialize(
      {
        pronto: {
          model: { path: await ensureModel('target') },
          engine: { threads: 1, contextSize: 2048, parallel: 1 },
          completion: { debounceMs: 0, prefetch: false, maxTokens: 4, multiline: 'never' },
          context: { ringChunks: 0 },
        },
        storageDir: path.join(workspace, '.user-storage'),
      },
      false,
      pathToFileURL(workspace).href,
    );
    const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
    assert.equal(s.state, 'ready', s.message);
    url = engineUrlFromLogs(h);
    auth = engineAuthHeaders(h);
    await h.open(uri, text, 'python');
  });
  after(async () => {
    await h?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  test('a custom FIM template changes the prompt on the next completion; invalid edits keep the last valid one', async () => {
    const byDefault = await promptTokens();
    const prefix = text.slice(0, text.indexOf('return \n', 40) + 'return '.length);
    const suffix = text.slice(prefix.length);

    // A custom template (workspace scope overrides the default by id).
    writeTemplates([{ id: 'fim-default', kind: 'fim', family: '*', template: custom }]);
    const withCustom = await promptTokens();
    const expected = await tokenize(url, `<｜fim▁begin｜># file: calc.py (python)\n${prefix}<｜fim▁hole｜>${suffix}<｜fim▁end｜>`);
    assert.equal(withCustom, expected.length, 'the engine evaluated the rendered template');
    assert.notEqual(withCustom, byDefault);

    // A typo: never used; the last valid template stays in force, and the status says so.
    const statusIndex = h.statuses.length;
    writeTemplates([{ id: 'fim-default', kind: 'fim', family: '*', template: custom.replace('{prefix}', '{prefx}') }]);
    assert.equal(await promptTokens(), withCustom);
    const status = await h.waitForStatus((s) => /Templates:.*fim-default.*invalid/.test(s.message), statusIndex);
    assert.match(status.message, /unknown variable \{prefx\}.*last valid version stays in force/);
    const state = (await h.connection.sendRequest('pronto/templates/list')) as TemplatesState;
    const entry = state.entries.find((e) => e.template.id === 'fim-default')!;
    assert.equal(entry.template.template, custom, 'in force: the last valid version');
    assert.equal(entry.invalid?.problems[0]?.field, 'template');

    // Broken JSON: the same.
    writeFileSync(templatesFile(), '{ "version": 1, "templates": [ {');
    assert.equal(await promptTokens(), withCustom);

    // File removed: the default (the engine's own FIM layout) is back.
    rmSync(templatesFile());
    assert.equal(await promptTokens(), byDefault);
    const cleared = await h.waitForStatus((s) => !s.message.includes('Templates:'), h.statuses.length - 1);
    assert.doesNotMatch(cleared.message, /Templates:/);
  });

  test('templates can be saved, previewed with a token count, exported, imported, and reset over LSP', async () => {
    const saved = (await h.connection.sendRequest('pronto/templates/save', {
      scope: 'workspace',
      template: { id: 'slash-review', kind: 'slash', name: 'review', description: 'Review', template: 'Review {selection}\n{input}' },
    })) as { ok: boolean; state: TemplatesState };
    assert.ok(saved.ok);
    assert.ok(existsSync(templatesFile()));
    const commands = (await h.connection.sendRequest('pronto/chat/commands')) as { name: string }[];
    assert.ok(commands.some((c) => c.name === 'review'));
    const invalid = (await h.connection.sendRequest('pronto/templates/save', {
      scope: 'workspace',
      template: { id: 'Bad Id', kind: 'slash', name: 'x', template: '{nope}' },
    })) as { ok: boolean; problems: { field: string }[] };
    assert.equal(invalid.ok, false);
    assert.deepEqual(invalid.problems.map((p) => p.field).sort(), ['id']);
    const preview = (await h.connection.sendRequest('pronto/templates/preview', {
      template: { id: 'x', kind: 'fim', family: '*', template: custom },
      editor: { uri, languageId: 'python', text, offset: 10 },
    })) as { rendered: string; tokens: number; appendOnly: { appendOnly: boolean }; fimPath: string };
    assert.equal(
      preview.rendered,
      `<｜fim▁begin｜># file: calc.py (python)\n${text.slice(0, 10)}<｜fim▁hole｜>${text.slice(10)}<｜fim▁end｜>`,
    );
    assert.equal(preview.tokens, (await tokenize(url, preview.rendered)).length);
    assert.equal(preview.appendOnly.appendOnly, false, 'prefix-suffix-middle: the suffix follows the cursor text');
    assert.equal(preview.fimPath, 'rendered');
    const exported = (await h.connection.sendRequest('pronto/templates/export', { scope: 'workspace' })) as { text: string };
    await h.connection.sendRequest('pronto/templates/reset', { scope: 'workspace' });
    assert.ok(!((await h.connection.sendRequest('pronto/chat/commands')) as { name: string }[]).some((c) => c.name === 'review'));
    const imported = (await h.connection.sendRequest('pronto/templates/import', { scope: 'user', text: exported.text })) as {
      ok: boolean;
      imported: number;
    };
    assert.deepEqual([imported.ok, imported.imported], [true, 1]);
    assert.ok(((await h.connection.sendRequest('pronto/chat/commands')) as { name: string }[]).some((c) => c.name === 'review'));
    const bad = (await h.connection.sendRequest('pronto/templates/import', {
      scope: 'user',
      text: '{"version":1,"templates":[{"id":"q","kind":"slash","name":"q","template":"{oops}"}]}',
    })) as {
      ok: boolean;
      message: string;
    };
    assert.equal(bad.ok, false);
    assert.match(bad.message, /Nothing was imported.*unknown variable \{oops\}/);
  });
});
