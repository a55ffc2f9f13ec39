// Hostile text through the real engine, for each test vocabulary (deepseek-coder, starcoder, qwen2):
// 60,000 letters / CJK characters / dashes / digits / spaces, a base64 data URI and a minified line in
// /tokenize, a FIM prefix, a chat message and a raw prompt. llama.cpp's std::regex pre-tokenizer
// overflowed the stack on such runs (deepseek-coder: SIGSEGV from ~25,000 letters); the engine cuts
// them first (native/src/tokenize_split.h). Ordinary text must keep exactly the tokens llama.cpp gives
// it unsplit (pronto-tokenizer-test --unsplit prints those).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureModel, repoRoot } from '../support/models';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';
import { nativeBuildDir } from '../support/nativeTests';

const N = 60_000;
function dataUri(): string {
  // Mostly zero bytes, as in a PNG: base64 runs of "A" thousands long, with noise between them.
  const bytes = Buffer.alloc((N * 3) / 4);
  for (let i = 0; i < bytes.length; i++) if (Math.floor(i / 4096) % 2 === 1) bytes[i] = (i * 2654435761) >>> 24;
  return `const icon = "data:image/png;base64,${bytes.toString('base64')}";\n`;
}
const hostile: Array<[string, string]> = [
  ['letters', `x = ${'r'.repeat(N)}`],
  ['CJK', `// ${'中'.repeat(N)}`],
  ['dashes', `/*${'-'.repeat(N)}*/`],
  ['digits', `n = ${'7'.repeat(N)}`],
  ['spaces', `a${' '.repeat(N)}b`],
  ['base64 data URI', dataUri()],
  ['minified line', 'function a(b,c){return b+c}var d=a(1,2);'.repeat(N / 40)],
];
const ordinaryFiles = ['native/src/fim.cpp', 'native/README.md', 'protocol/engine.ts', 'server/src/completion/postprocess.ts'];

for (const model of ['target', 'starcoder', 'qwen2'] as const) {
  describe(`tokenizer (${model} vocabulary)`, () => {
    let engine: RunningEngine;
    let modelFile: string;
    let exitedEarly = false;
    before(async () => {
      modelFile = await ensureModel(model);
      engine = await startEngine({ model: modelFile, args: ['--ctx', '1024', '--parallel', '2'] });
      void engine.exited.then(() => {
        exitedEarly = true;
      });
    });
    after(async () => {
      await engine?.stop();
    });
    const post = async (route: string, body: unknown) => {
      const res = await fetch(`${engine.url}${route}`, { method: 'POST', body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as { tokens?: number[]; error?: { code: string; message: string } } };
    };

    test('hostile text in /tokenize, a FIM prefix, a chat message and a prompt: answered, no crash', async () => {
      const s = await EngineSocket.open(engine.url);
      try {
        for (const [name, text] of hostile) {
          const tok = await post('/tokenize', { content: text });
          assert.equal(tok.status, 200, `${name}: /tokenize ${JSON.stringify(tok.json.error)}`);
          assert.ok((tok.json.tokens?.length ?? 0) > 100, `${name}: tokens`);
          const fim = await s.request({
            type: 'submit',
            id: `fim-${name}`,
            fim: { prefix: text, suffix: text.slice(0, 5000), budget: { prefix_tokens: 256, suffix_tokens: 64 } },
            limits: { max_tokens: 2 },
          });
          assert.ok(fim.done, `${name}: FIM ${JSON.stringify(fim.error)}`);
          const chat = await post('/v1/chat/completions', {
            messages: [{ role: 'user', content: text }],
            chat_template: 'chatml', // the test models have no template of their own
            max_tokens: 1,
          });
          // Too long for --ctx 1024 (or answered): a clear answer either way, never a dead engine.
          assert.ok(chat.status === 200 || chat.json.error?.code === 'prompt_too_long', `${name}: chat ${chat.status}`);
          const prompt = await s.request({ type: 'submit', id: `prompt-${name}`, prompt: text, limits: { max_tokens: 1 } });
          assert.ok(prompt.done || prompt.error?.error.code === 'prompt_too_long', `${name}: prompt ${JSON.stringify(prompt.error)}`);
        }
      } finally {
        await s.close();
      }
      assert.equal(exitedEarly, false, 'the engine is still running');
      assert.equal((await fetch(`${engine.url}/health`)).status, 200);
    });

    test('ordinary text gets exactly the tokens of llama.cpp unsplit', async () => {
      for (const file of ordinaryFiles) {
        const abs = path.join(repoRoot, file);
        const ref = spawnSync(path.join(nativeBuildDir, 'pronto-tokenizer-test'), ['--unsplit', modelFile, abs], { encoding: 'utf8' });
        assert.equal(ref.status, 0, ref.stderr);
        const expected = JSON.parse(ref.stdout) as number[];
        const got = await post('/tokenize', { content: readFileSync(abs, 'utf8') });
        assert.equal(got.status, 200);
        assert.ok(expected.length > 500, `${file}: reference tokens`);
        assert.deepEqual(got.json.tokens, expected, file);
      }
    });
  });
}
