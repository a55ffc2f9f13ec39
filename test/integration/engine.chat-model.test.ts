// --chat-model through the real engine: a code model (starcoder vocabulary) and an instruct model
// (deepseek vocabulary, with a chat template) in one process on one scheduler. Checks are on what the
// engine reports (ready line, /health, /v1/models, each answer's model and stats), and the priority of
// completions over chat decoding is bounded in decode steps (stats.engine_steps), never in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureModel, ensureTestModels } from '../support/models';
import { EngineSocket, runEngine, startEngine, type RunningEngine, type StreamResult } from '../support/engine';
import { modelsResultSchema, type SubmitMessage } from '../../protocol/engine';

/** Kept in step with kChatStepEvery in native/src/scheduler.h. */
const CHAT_STEP_EVERY = 8;

/** The parts of the engine's HTTP replies these tests read. */
interface Reply {
  model?: string;
  tokens?: number[];
  error?: { code: string; message: string };
}
const post = async (e: RunningEngine, route: string, body: unknown) => {
  const res = await fetch(`${e.url}${route}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Reply };
};
const chatMsg = (id: string, content: string, maxTokens: number, extra: Partial<SubmitMessage> = {}): SubmitMessage => ({
  type: 'submit',
  id,
  messages: [{ role: 'user', content }],
  limits: { max_tokens: maxTokens, ignore_eos: true },
  speculative: { draft: false, ngram: false },
  ...extra,
});
const fimMsg = (id: string, prefix: string, maxTokens = 8): SubmitMessage => ({
  type: 'submit',
  id,
  fim: { prefix, suffix: '\n}\n' },
  limits: { max_tokens: maxTokens, ignore_eos: true },
  speculative: { draft: false, ngram: false },
});

async function twoModels(extra: string[] = []): Promise<{ e: RunningEngine; code: string; chat: string }> {
  const { starcoder } = await ensureTestModels();
  const chat = await ensureModel('chat');
  const e = await startEngine({ model: starcoder, args: ['--chat-model', chat, '--ctx', '2048', '--parallel', '2', ...extra] });
  return { e, code: starcoder, chat };
}

test('two models: the ready line, /health and /v1/models list both with their purposes; requests go where they belong', async () => {
  const { e, code, chat } = await twoModels();
  const s = await EngineSocket.open(e.url);
  try {
    assert.equal(e.ready.model.path, code);
    assert.equal(e.ready.chat_model?.path, chat);
    assert.deepEqual(
      e.ready.models?.map((m) => [m.id, m.purpose]),
      [
        ['pronto-test-starcoder', ['completion']],
        ['pronto-test-chat', ['chat']],
      ],
    );
    const health = (await (await fetch(`${e.url}/health`)).json()) as { models: { id: string; purpose: string[] }[] };
    assert.deepEqual(health.models, [
      { id: 'pronto-test-starcoder', purpose: ['completion'] },
      { id: 'pronto-test-chat', purpose: ['chat'] },
    ]);
    const models = modelsResultSchema.parse(await (await fetch(`${e.url}/v1/models`)).json());
    assert.deepEqual(
      models.data.map((m) => [m.id, m.purpose, m.meta?.arch]),
      [
        ['pronto-test-starcoder', ['completion'], 'starcoder2'],
        ['pronto-test-chat', ['chat'], 'llama'],
      ],
    );

    // HTTP: chat without `model` goes to the chat model (it has the template; the code model has none),
    // a completion to the code model; `model` by id or by purpose overrides.
    const chatReply = await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(chatReply.status, 200, JSON.stringify(chatReply.body));
    assert.equal(chatReply.body.model, 'pronto-test-chat');
    const completion = await post(e, '/v1/completions', { prompt: 'def add(a, b):', max_tokens: 3 });
    assert.equal(completion.body.model, 'pronto-test-starcoder');
    const onChat = await post(e, '/v1/completions', { prompt: 'def add(a, b):', max_tokens: 3, model: 'chat' });
    assert.equal(onChat.body.model, 'pronto-test-chat');
    const onCode = await post(e, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
      model: 'pronto-test-starcoder',
    });
    assert.equal(onCode.status, 400, 'the code model has no chat template: the request really went there');
    assert.equal(onCode.body.error?.code, 'no_chat_template');

    // Each model tokenizes with its own vocabulary (/tokenize follows `model` too).
    const text = 'function add(a, b) { return a + b; }';
    const codeTokens = (await post(e, '/tokenize', { content: text })).body.tokens as number[];
    const chatTokens = (await post(e, '/tokenize', { content: text, model: 'chat' })).body.tokens as number[];
    assert.notDeepEqual(codeTokens, chatTokens);
    const chatById = (await post(e, '/tokenize', { content: text, model: 'pronto-test-chat' })).body.tokens as number[];
    assert.deepEqual(chatById, chatTokens);

    // WebSocket: the same rules; the prompt is counted in the chosen model's tokens.
    const wsChat = await s.request(chatMsg('c1', 'hi', 3));
    assert.equal(wsChat.done?.stats.generated_tokens, 3, JSON.stringify(wsChat.error));
    const wsPrompt = await s.request({ type: 'submit', id: 'p1', prompt: text, model: 'chat', limits: { max_tokens: 2 } });
    assert.equal(
      wsPrompt.done?.stats.prompt_tokens,
      (await post(e, '/tokenize', { content: text, model: 'chat', add_special: true, parse_special: true })).body.tokens!.length,
    );

    // An unknown model: 404 not_found naming the field and what is loaded; the engine goes on.
    const unknown = await post(e, '/v1/completions', { prompt: 'x', model: 'gpt-4' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'not_found');
    assert.match(
      unknown.body.error?.message ?? '',
      /completions\.model "gpt-4" is not a loaded model.*"pronto-test-starcoder" \(completion\), "pronto-test-chat" \(chat\)/,
    );
    const wsUnknown = await s.request(chatMsg('u1', 'hi', 2, { model: 'nope' }));
    assert.equal(wsUnknown.error?.error.code, 'not_found');
    assert.match(wsUnknown.error?.error.message ?? '', /submit\.model "nope"/);
    const tokUnknown = await post(e, '/tokenize', { content: 'x', model: 'nope' });
    assert.equal(tokUnknown.status, 404);
    const badType = await post(e, '/v1/completions', { prompt: 'x', model: 42 });
    assert.equal(badType.status, 400);
    assert.match(badType.body.error?.message ?? '', /model/);
    const huge = await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], model: 'm'.repeat(60_000) });
    assert.equal(huge.status, 400, 'a 60,000-character model name is refused by its length, not looked up');
    assert.match(huge.body.error?.message ?? '', /model/);
    assert.ok((huge.body.error?.message.length ?? 0) < 1000, 'the error does not echo the whole name');
    assert.equal((await post(e, '/v1/completions', { prompt: 'x', max_tokens: 2 })).status, 200);

    // /metrics counts both models' work in one place.
    const metrics = await (await fetch(`${e.url}/metrics`)).text();
    assert.match(metrics, /pronto_models_loaded 2/);
  } finally {
    await s.close();
    await e.stop();
  }
});

test('without --chat-model the one model serves both purposes, and "chat" selects it', async () => {
  const chat = await ensureModel('chat');
  const e = await startEngine({ model: chat, args: ['--ctx', '1024', '--parallel', '1'] });
  try {
    assert.equal(e.ready.chat_model, null);
    assert.deepEqual(
      e.ready.models?.map((m) => m.purpose),
      [['completion', 'chat']],
    );
    const r = await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, model: 'chat' });
    assert.equal(r.body.model, 'pronto-test-chat');
  } finally {
    await e.stop();
  }
});

test('a bad --chat-model: the engine refuses to start with a message naming the flag and the file', async () => {
  const { starcoder } = await ensureTestModels();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-chat-model-'));
  const missing = path.join(dir, 'missing.gguf');
  const r1 = await runEngine(['--model', starcoder, '--chat-model', missing, '--port', '0']);
  assert.equal(r1.code, 1);
  assert.match(
    r1.stderr,
    new RegExp(`--chat-model ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: model file not found or not readable`),
  );
  const text = path.join(dir, 'notes.gguf');
  writeFileSync(text, 'these are notes, not a model\n');
  const r2 = await runEngine(['--model', starcoder, '--chat-model', text, '--port', '0']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /--chat-model .*notes\.gguf: model file is not a GGUF model \(bad magic\)/);
  const r3 = await runEngine(['--model', starcoder, '--chat-model']);
  assert.equal(r3.code, 2, r3.stderr);
});

/** Streams a long chat; resolves `running` at its first token. */
function longChat(s: EngineSocket, msg: SubmitMessage): { running: Promise<void>; done: Promise<StreamResult>; tokens: () => number } {
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  let n = 0;
  const done = s.request(msg, () => {
    n++;
    started();
  });
  void done.then(() => started());
  return { running, done, tokens: () => n };
}

for (const setup of ['two models (--chat-model)', 'one model']) {
  test(`priority, ${setup}: completions submitted while a long chat streams finish within their own steps, not behind the chat`, async () => {
    const { e } =
      setup === 'one model'
        ? { e: await startEngine({ model: await ensureModel('chat'), args: ['--ctx', '2048', '--parallel', '2'] }) }
        : await twoModels();
    const s = await EngineSocket.open(e.url);
    try {
      const CHAT_TOKENS = 600;
      const chat = longChat(s, chatMsg('chat', 'Write a very long story about a lighthouse keeper.', CHAT_TOKENS));
      await chat.running;
      const MAX = 8;
      const results: StreamResult[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await s.request(fimMsg(`k${i}`, `function f${i}(a, b) {\n  return `, MAX));
        assert.ok(r.done, JSON.stringify(r.error));
        results.push(r);
      }
      const chatStillRunning = chat.tokens() < CHAT_TOKENS;
      const c = await chat.done;
      assert.ok(chatStillRunning, 'the chat was still streaming while the completions ran (else the test proves nothing)');
      assert.equal(c.done?.stats.generated_tokens, CHAT_TOKENS, 'the chat is slowed down, never starved or cut');
      // The chat sat out the completions' steps but about one in CHAT_STEP_EVERY (on one model: left
      // out of their batches; with two: the chat model not decoded).
      const completionSteps = results.reduce((n, r) => n + r.done!.stats.decode_steps, 0);
      const satOut = c.done!.stats.engine_steps! - c.done!.stats.decode_steps;
      assert.ok(
        satOut >= completionSteps - Math.ceil(completionSteps / (CHAT_STEP_EVERY - 1)) - results.length,
        `the chat sat out ${satOut} of the completions' ${completionSteps} steps`,
      );
      for (const r of results) {
        const st = r.done!.stats;
        assert.ok(st.engine_steps !== undefined);
        // Its own decodes (prompt + MAX tokens) plus, with two models, one chat decode per
        // CHAT_STEP_EVERY of them, plus the decode that was running when it arrived. Behind the chat
        // (alternating steps) it would be about twice its own.
        const own = st.decode_steps;
        const bound = own + (setup === 'one model' ? 0 : Math.ceil(own / (CHAT_STEP_EVERY - 1))) + 2;
        // (On one model the chat joins the completion's steps instead of adding steps.)
        assert.ok(own <= MAX + 1, `own steps ${own}`);
        assert.ok(st.engine_steps <= bound, `${r.done!.id}: engine_steps ${st.engine_steps} <= ${bound} (own ${own})`);
      }
      console.log(
        `# ${setup}: completion engine_steps ${results.map((r) => r.done!.stats.engine_steps).join(', ')} (own ${results.map((r) => r.done!.stats.decode_steps).join(', ')}); chat ${c.done!.stats.generated_tokens} tokens in ${c.done!.stats.engine_steps} engine steps`,
      );
    } finally {
      await s.close();
      await e.stop();
    }
  });
}

test('multi-turn chat on the chat model reuses turn 1 (prompt and answer) in turn 2; the stats say reused vs evaluated', async () => {
  const { e } = await twoModels();
  const s = await EngineSocket.open(e.url);
  try {
    const user1 = 'Write a function that adds two numbers.';
    const t1 = await s.request(chatMsg('t1', user1, 24, { limits: { max_tokens: 24 } }));
    assert.ok(t1.done, JSON.stringify(t1.error));
    const st1 = t1.done.stats;
    const user2 = 'Now make it subtract instead, please.';
    const t2 = await s.request({
      type: 'submit',
      id: 't2',
      messages: [
        { role: 'user', content: user1 },
        { role: 'assistant', content: t1.done.text },
        { role: 'user', content: user2 },
      ],
      limits: { max_tokens: 4 },
      speculative: { draft: false, ngram: false },
    });
    assert.ok(t2.done, JSON.stringify(t2.error));
    const st2 = t2.done.stats;
    assert.equal(st2.reused_tokens + st2.evaluated_tokens, st2.prompt_tokens);
    // Turn 1's prompt and answer are in the chat model's KV: all of it is reused but the template's
    // boundary (the generation prompt's last token may merge differently with the answer's start).
    const TEMPLATE_BOUNDARY = 2;
    assert.ok(
      st2.reused_tokens >= st1.prompt_tokens + st1.generated_tokens - TEMPLATE_BOUNDARY,
      `turn 2 reused ${st2.reused_tokens} >= turn 1 prompt ${st1.prompt_tokens} + answer ${st1.generated_tokens} - ${TEMPLATE_BOUNDARY}`,
    );
    const newTokens = (await post(e, '/tokenize', { content: user2, model: 'chat' })).body.tokens!.length as number;
    assert.ok(st2.evaluated_tokens <= newTokens + 20, `evaluated ${st2.evaluated_tokens} <= new message ${newTokens} + markup 20`);
    console.log(
      `# turn 2: prompt ${st2.prompt_tokens}, reused ${st2.reused_tokens}, evaluated ${st2.evaluated_tokens} (turn 1: ${st1.prompt_tokens} + ${st1.generated_tokens})`,
    );
  } finally {
    await s.close();
    await e.stop();
  }
});
