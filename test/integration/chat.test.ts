/**
 * Chat through the real parts: a JSON-RPC client ↔ the LSP server (spawned) ↔ the real engine on a
 * generated model with a real tokenizer and DeepSeek-Coder-Instruct's chat template. Random weights
 * write random words, so the checks are on the flow and the engine's own numbers: tokens streamed as
 * `$/progress`, a cancel counted by the engine's /metrics, KV reuse across turns, context cut to a
 * budget counted by the engine's tokenizer, and the clear error of a model without a chat template.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { ChatContextReport, ChatParams, ChatProgress, ChatResult } from '../../protocol/chat';
import { EngineSocket, assertEngineBuilt, startEngine } from '../support/engine';
import { engineAuthHeaders, engineGet, engineUrlFromLogs, startLspServer, type LspHarness } from '../support/lsp';
import { ensureModel } from '../support/models';
import { metric as readMetric, metricsText, waitForMetric } from '../support/net';

// These tests exist to drive the real engine: a missing binary fails them (never a skip).
assertEngineBuilt();

const engineUrl = engineUrlFromLogs;
/** The key the server gave the engine it started (its /metrics and /tokenize need it). */
let auth: Record<string, string> = {};
/** A series of the engine's /metrics (test/support/net.ts reads it). */
const metric = async (url: string, series: string): Promise<number> => readMetric(await metricsText(url, auth), series);

async function tokenCount(url: string, content: string): Promise<number> {
  const r = (await (await fetch(`${url}/tokenize`, { method: 'POST', headers: auth, body: JSON.stringify({ content }) })).json()) as {
    tokens: number[];
  };
  return r.tokens.length;
}

/** Collects the `$/progress` values sent for one token. */
function progressOf(h: LspHarness, token: string): { values: ChatProgress[]; waitForText(n: number): Promise<void> } {
  const values: ChatProgress[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  h.connection.onNotification('$/progress', (p: { token: string; value: ChatProgress }) => {
    if (p.token !== token) return;
    values.push(p.value);
    const texts = values.filter((v) => v.kind === 'text').length;
    for (const w of [...waiters]) if (texts >= w.n) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  });
  return {
    values,
    waitForText: (n) =>
      values.filter((v) => v.kind === 'text').length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

function chat(h: LspHarness, params: ChatParams, token?: CancellationTokenSource): Promise<ChatResult> {
  return token ? h.connection.sendRequest('pronto/chat', params, token.token) : h.connection.sendRequest('pronto/chat', params);
}

describe('pronto/chat with the real engine', { timeout: 240_000 }, () => {
  let h: LspHarness;
  let url: string;
  let workspace: string;
  before(async () => {
    const model = await ensureModel('chat');
    workspace = mkdtempSync(path.join(os.tmpdir(), 'pronto-chat-ws-'));
    h = startLspServer();
    await h.initialize(
      {
        pronto: {
          model: { path: model },
          engine: { threads: 1, contextSize: 4096, parallel: 2 },
          completion: { prefetch: false },
          chat: { temperature: 0, contextTokens: 300 },
        },
        storageDir: path.join(workspace, '.user-storage'),
      },
      false,
      pathToFileURL(workspace).href,
    );
    const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
    assert.equal(s.state, 'ready', s.message);
    url = engineUrl(h);
    auth = engineAuthHeaders(h);
  });
  after(async () => {
    await h?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  test('an answer streams as $/progress, and a cancel mid-way reaches the engine (its /metrics counts it)', async () => {
    const cancelsBefore = await metric(url, 'pronto_cancellations_total');
    const progress = progressOf(h, 'p-cancel');
    const source = new CancellationTokenSource();
    const pending = chat(h, { message: 'Write a long story about compilers.', maxTokens: 1000, partialResultToken: 'p-cancel' }, source);
    await progress.waitForText(3);
    source.cancel();
    const result = await pending;
    assert.equal(result.finishReason, 'cancelled', JSON.stringify(result.error));
    const streamed = progress.values.flatMap((v) => (v.kind === 'text' ? [v.text] : [])).join('');
    assert.ok(streamed.length > 0, 'tokens were streamed');
    assert.ok(result.text.startsWith(streamed) || streamed.startsWith(result.text), 'the result holds the text streamed so far');
    assert.equal(progress.values[0]?.kind, 'context', 'the context report comes first');
    // The engine counted the cancel (its own counter, read from /metrics; it lands within a step).
    await waitForMetric(url, 'pronto_cancellations_total', (v) => v > cancelsBefore, { headers: auth });
    assert.ok(!h.logs.some((l) => /unhandled|TypeError/.test(l)), h.logs.join('\n'));
  });

  test('the second turn reuses the first turn’s KV: reused > 0, evaluated ≈ the new message', async () => {
    const first = await chat(h, { message: 'Write a function that adds two numbers.', maxTokens: 24 });
    assert.ok(first.stats, JSON.stringify(first.error));
    assert.ok(first.text.length > 0);
    const next = 'Now make it subtract instead, please.';
    const second = await chat(h, {
      history: [
        { role: 'user', content: first.userMessage },
        { role: 'assistant', content: first.text },
      ],
      message: next,
      maxTokens: 8,
    });
    assert.ok(second.stats, JSON.stringify(second.error));
    const s = second.stats;
    const messageTokens = await tokenCount(url, next);
    // The first turn's whole prompt is reused (its last token may merge with the answer's first
    // characters), and usually its answer too: the answer's generated tokens are in the KV cache, and
    // they are reused as far as the answer's text tokenizes back to them (random-weight text does
    // not always; a real model's mostly does).
    assert.ok(s.reusedTokens >= first.stats.promptTokens - 1, `reused ${s.reusedTokens} >= first prompt ${first.stats.promptTokens} - 1`);
    assert.equal(s.reusedTokens + s.evaluatedTokens, s.promptTokens);
    // Evaluated: the new message plus the template's markup (role headers, <|EOT|>), and at most the
    // part of the first answer that did not tokenize back to the generated tokens.
    const answerNotReused = Math.max(0, first.stats.promptTokens + first.stats.generatedTokens - s.reusedTokens);
    assert.ok(s.evaluatedTokens >= messageTokens, `evaluated ${s.evaluatedTokens} >= message ${messageTokens}`);
    assert.ok(
      s.evaluatedTokens <= messageTokens + 20 + answerNotReused,
      `evaluated ${s.evaluatedTokens} <= message ${messageTokens} + markup 20 + answer not reused ${answerNotReused}`,
    );
    console.log(
      `# KV reuse, second turn: prompt ${s.promptTokens}, reused ${s.reusedTokens}, evaluated ${s.evaluatedTokens} (new message ${messageTokens} tokens; first turn ${first.stats.promptTokens} + ${first.stats.generatedTokens})`,
    );
  });

  test('context is cut to the budget counted by the engine’s tokenizer, and the report says what was cut', async () => {
    const big = Array.from({ length: 400 }, (_, i) => `const value${i} = compute(${i}, "item ${i}");`).join('\n');
    const selection = 'function add(a, b) {\n  return a + b;\n}\n';
    const context = [
      { kind: 'file' as const, uri: 'file:///ws/big.ts', text: big, languageId: 'typescript', current: true },
      {
        kind: 'selection' as const,
        uri: 'file:///ws/add.ts',
        text: selection,
        languageId: 'typescript',
        range: { startLine: 4, endLine: 6 },
      },
      { kind: 'file' as const, uri: 'file:///ws/other.ts', text: big, languageId: 'typescript' },
    ];
    const report = (await h.connection.sendRequest('pronto/chat/context', { context })) as ChatContextReport;
    assert.equal(report.budgetTokens, 300, 'pronto.chat.contextTokens');
    const [file, sel, other] = report.items;
    // The selection first (whole), then the current file (cut to what is left), then the other with what remains.
    assert.equal(sel!.cut, 'none');
    assert.equal(sel!.sentTokens, await tokenCount(url, selection));
    assert.equal(file!.cut, 'truncated');
    assert.equal(file!.tokens, await tokenCount(url, big));
    assert.ok(file!.sentTokens <= 300 - sel!.sentTokens && file!.sentTokens > 200, JSON.stringify(file));
    assert.match(file!.note ?? '', /first \d+ of 400 lines/);
    assert.notEqual(other!.cut, 'none');
    assert.match(other!.note ?? '', /budget/);
    assert.ok(report.sentTokens <= report.budgetTokens, `${report.sentTokens} <= ${report.budgetTokens}`);
    assert.equal(report.sentTokens, sel!.sentTokens + file!.sentTokens + other!.sentTokens);
    // pronto/chat attaches exactly that: the cut file's text is in the message, the dropped one's not.
    const r = await chat(h, { message: 'What does this do?', context, maxTokens: 4 });
    assert.deepEqual(r.context.items, report.items);
    assert.ok(r.userMessage.includes('Selected code from add.ts:5-7'), r.userMessage.slice(0, 200));
    assert.ok(r.userMessage.includes('value0 = compute(0'));
    assert.ok(!r.userMessage.includes('value399 = compute(399'), 'the end of the cut files is not sent');
    assert.ok(r.userMessage.endsWith('What does this do?'));
  });

  test('a 60,000-character line (a minified bundle) is cut within the budget, not sent whole', async () => {
    const minified = 'var a=1;'.repeat(7500);
    const report = (await h.connection.sendRequest('pronto/chat/context', {
      context: [{ kind: 'file', uri: 'file:///ws/bundle.min.js', text: minified, languageId: 'javascript', current: true }],
    })) as ChatContextReport;
    const item = report.items[0]!;
    assert.equal(item.cut, 'truncated');
    assert.ok(item.tokens > 300 && item.sentTokens <= 300 && item.sentTokens > 200, JSON.stringify(item));
    const r = await chat(h, {
      message: 'What is this?',
      maxTokens: 2,
      context: [{ kind: 'file', uri: 'file:///ws/bundle.min.js', text: minified, current: true }],
    });
    assert.ok(r.stats, JSON.stringify(r.error));
    assert.ok(r.userMessage.length < 3000, `sent ${r.userMessage.length} characters`);
  });

  test('a slash command renders its template with the selection; an unknown one is a clear error', async () => {
    const selection = 'def mul(a, b):\n    return a * b\n';
    const r = await chat(h, {
      message: 'focus on types',
      command: 'explain',
      context: [{ kind: 'selection', uri: 'file:///ws/m.py', text: selection, languageId: 'python', range: { startLine: 0, endLine: 1 } }],
      maxTokens: 4,
    });
    assert.ok(r.stats, JSON.stringify(r.error));
    assert.match(r.userMessage, /^Explain what this python code from m\.py does/);
    assert.ok(r.userMessage.includes('```python\ndef mul(a, b):\n    return a * b\n```'));
    assert.ok(r.userMessage.endsWith('focus on types'));
    const bad = await chat(h, { message: 'x', command: 'nope' });
    assert.equal(bad.error?.code, 'unknown_command');
    assert.match(bad.error!.message, /\/explain/);
    const commands = (await h.connection.sendRequest('pronto/chat/commands')) as { name: string }[];
    assert.deepEqual(
      commands.map((c) => c.name),
      ['doc', 'explain', 'fix', 'tests'],
    );
  });

  test('malformed params get a clear error result, not a crash', async () => {
    const r = (await h.connection.sendRequest('pronto/chat', { message: 42, context: 'x' })) as ChatResult;
    assert.equal(r.error?.code, 'bad_request');
    assert.match(r.error!.message, /message/);
    const ok = await chat(h, { message: 'still answering?', maxTokens: 2 });
    assert.ok(ok.stats, JSON.stringify(ok.error));
  });
});

describe('a model without a chat template', { timeout: 120_000 }, () => {
  test('the demo model (pronto.model.demo) has one, so chat can be tried offline through the sidecar', async () => {
    // The recipe the build ships as dist/models/pronto-demo.gguf (scripts/build-demo-model.ts).
    const h = startLspServer({ PRONTO_DEMO_MODEL: await ensureModel('demo') });
    try {
      await h.initialize({ pronto: { model: { demo: true }, engine: { threads: 1 }, completion: { prefetch: false } } });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      assert.equal(s.demoModel, true);
      const r = await chat(h, { message: 'hi', maxTokens: 2 });
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.notEqual(r.finishReason, 'error');
      assert.ok(r.stats, 'the engine answered with its figures');
    } finally {
      await h.stop();
    }
  });

  test('the engine answers 400 no_chat_template (HTTP and WebSocket); a built-in template given by the request works', async () => {
    const engine = await startEngine({ model: await ensureModel('target') });
    try {
      const messages = [{ role: 'user', content: 'hi' }];
      const res = await fetch(`${engine.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages, max_tokens: 2 }) });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'no_chat_template');
      assert.match(body.error.message, /no chat template.*chat_template/);
      const ok = await fetch(`${engine.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ messages, max_tokens: 2, chat_template: 'chatml' }),
      });
      assert.equal(ok.status, 200);
      const socket = await EngineSocket.open(engine.url);
      const ws = await socket.request({ type: 'submit', id: 'a', messages: [{ role: 'user', content: 'hi' }], limits: { max_tokens: 2 } });
      assert.equal(ws.error?.error.code, 'no_chat_template');
      const unknown = await socket.request({
        type: 'submit',
        id: 'b',
        messages: [{ role: 'user', content: 'hi' }],
        chat_template: 'no-such-template',
        limits: { max_tokens: 2 },
      });
      assert.equal(unknown.error?.error.code, 'no_chat_template');
      assert.match(unknown.error!.error.message, /"no-such-template" is not a template llama\.cpp supports/);
      const misplaced = await socket.request({ type: 'submit', id: 'c', prompt: 'x', chat_template: 'chatml', limits: { max_tokens: 2 } });
      assert.equal(misplaced.error?.error.code, 'bad_request');
      await socket.close();
    } finally {
      await engine.stop();
    }
  });

  test('through the sidecar: a no_chat_template result naming the setting; pronto.chat.template fixes it', async () => {
    const h = startLspServer();
    try {
      await h.initialize(
        {
          pronto: { model: { path: await ensureModel('target') }, engine: { threads: 1, contextSize: 2048, parallel: 1 } },
        },
        true,
      );
      h.workspaceSettings.pronto = { model: { path: await ensureModel('target') }, engine: { threads: 1, contextSize: 2048, parallel: 1 } };
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const r = await chat(h, { message: 'hi', maxTokens: 2 });
      assert.equal(r.finishReason, 'error');
      assert.equal(r.error?.code, 'no_chat_template');
      assert.match(r.error!.message, /pronto\.chat\.template/);
      // The setting takes a built-in template; it applies to the next message, no restart.
      h.workspaceSettings.pronto = { ...(h.workspaceSettings.pronto as object), chat: { template: 'chatml' } };
      await h.connection.sendNotification('workspace/didChangeConfiguration', { settings: {} });
      const deadline = Date.now() + 20_000;
      for (;;) {
        const again = await chat(h, { message: 'hi', maxTokens: 2 });
        if (again.stats) break;
        assert.ok(Date.now() < deadline, `the setting took effect: ${JSON.stringify(again.error)}`);
        await new Promise((r) => setTimeout(r, 100)); // the configuration is re-read asynchronously
      }
    } finally {
      await h.stop();
    }
  });
});

describe('pronto.chat.modelPath: a chat model next to the code model', { timeout: 240_000 }, () => {
  const start = async (chatModelPath: string, codeModel: string) => {
    const h = startLspServer();
    const settings = {
      pronto: {
        model: { path: codeModel },
        engine: { threads: 1, contextSize: 2048, parallel: 1 },
        completion: { prefetch: false },
        chat: { modelPath: chatModelPath, temperature: 0 },
      },
    };
    await h.initialize(settings, true);
    h.workspaceSettings.pronto = settings.pronto;
    const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
    return { h, s };
  };

  test('the engine loads both; pronto/chat answers from the chat model (the code model has no template)', async () => {
    const { h, s } = await start(await ensureModel('chat'), await ensureModel('target'));
    try {
      assert.equal(s.state, 'ready', s.message);
      assert.match(s.message, /Chat: chat-[0-9a-f]+\.gguf\./);
      const models = (await (await engineGet(h, '/v1/models')).json()) as { data: { id: string; purpose?: string[] }[] };
      assert.deepEqual(
        models.data.map((m) => [m.id, m.purpose]),
        [
          ['pronto-test-target', ['completion']],
          ['pronto-test-chat', ['chat']],
        ],
      );
      // The target alone answers no_chat_template (the test above): an answer proves the chat model served it.
      const r = await chat(h, { message: 'Write a function that adds two numbers.', maxTokens: 4 });
      assert.ok(r.stats, JSON.stringify(r.error));
      assert.ok(r.stats.generatedTokens > 0);
      // Completions still come from the code model.
      const uri = 'file:///tmp/pronto-chat-model/a.ts';
      await h.open(uri, 'function add(a: number, b: number) {\n  return ', 'typescript');
      const c = await h.inline(uri, 1, 9);
      assert.ok(Array.isArray(c.items));
    } finally {
      await h.stop();
    }
  });

  test('a chat model file that is not a model: completions keep working, the status names the setting, chat uses the code model', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-chat-model-'));
    const notes = path.join(dir, 'notes.gguf');
    writeFileSync(notes, 'not a model\n');
    const { h, s } = await start(notes, await ensureModel('chat'));
    try {
      assert.equal(s.state, 'ready', s.message);
      assert.equal(s.chatModelProblem?.setting, 'pronto.chat.modelPath');
      assert.equal(s.chatModelProblem?.path, notes);
      assert.match(s.message, /Chat model refused: notes\.gguf is not a GGUF model.*Chat uses the code model/);
      const models = (await (await engineGet(h, '/v1/models')).json()) as { data: { id: string; purpose?: string[] }[] };
      assert.deepEqual(
        models.data.map((m) => m.purpose),
        [['completion', 'chat']],
      );
      const r = await chat(h, { message: 'hi', maxTokens: 2 });
      assert.ok(r.stats, JSON.stringify(r.error));
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pronto/chat with a remote engine and an API key', { timeout: 120_000 }, () => {
  test('the answer, the token counts (/tokenize) and the cancel all go through with the key', async () => {
    const engine = await startEngine({ model: await ensureModel('chat'), env: { ...process.env, PRONTO_API_KEY: 'sekrit-key' } });
    const h = startLspServer();
    try {
      const denied = await fetch(`${engine.url}/tokenize`, { method: 'POST', body: JSON.stringify({ content: 'x' }) });
      assert.equal(denied.status, 401, 'the engine does require the key');
      // The remote engine's key comes from the client (VS Code: its secret storage), not a setting.
      await h.initialize({ pronto: { engine: { url: engine.url }, chat: { temperature: 0 } }, engineApiKey: 'sekrit-key' });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const r = await chat(h, {
        message: 'hello',
        maxTokens: 4,
        context: [{ kind: 'selection', uri: 'file:///r.ts', text: 'let x = 1;', range: { startLine: 0, endLine: 0 } }],
      });
      assert.ok(r.stats, JSON.stringify(r.error));
      assert.ok(r.context.items[0]!.sentTokens > 0, 'counted by the remote tokenizer');
      const progress = progressOf(h, 'remote');
      const source = new CancellationTokenSource();
      const pending = chat(h, { message: 'Write a long story.', maxTokens: 1000, partialResultToken: 'remote' }, source);
      await progress.waitForText(2);
      source.cancel();
      assert.equal((await pending).finishReason, 'cancelled');
    } finally {
      await h.stop();
      await engine.stop();
    }
  });
});
