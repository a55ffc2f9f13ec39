/**
 * The demo model (recipe `demo` in test/support/models.ts; the build ships it as
 * dist/models/pronto-demo.gguf) is a real model: the prebuilt llama.cpp libraries
 * the engine links load it, find its FIM tokens, and greedy decoding produces varied tokens that
 * depend on the prompt. Uses test/support/llama-check.cpp, built here into its own folder.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, test } from 'node:test';
import { ensureModel } from '../support/models';

const repo = resolve(__dirname, '../..');
const libDir = join(repo, 'native/.deps/linux-x64-cuda/package/bins/linux-x64-cuda');
const llamaDir = join(repo, 'native/.deps/llama.cpp');
const src = join(repo, 'test/support/llama-check.cpp');
const bin = join(repo, '.cache/llama-check-demo/llama-check');

let model: string;

before(async () => {
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(repo, '.cache/llama-check-demo'), { recursive: true });
    execFileSync(
      'g++',
      [
        '-O1',
        '-std=c++17',
        src,
        `-I${llamaDir}/include`,
        `-I${llamaDir}/ggml/include`,
        `-L${libDir}`,
        '-l:libllama.cuda.v0.5.0.so',
        '-l:libggml.cuda.v0.5.0.so',
        '-l:libggml-base.so',
        `-Wl,-rpath,${libDir}`,
        '-o',
        bin,
      ],
      { stdio: 'inherit' },
    );
  }
  model = await ensureModel('demo');
});

interface CheckResult {
  ok: boolean;
  n_vocab: number;
  fim: number[];
  arch_layers: number;
  n_embd: number;
  tokens: number[];
}

function check(prompt: string, nGen = 24): CheckResult {
  const r = spawnSync(bin, [libDir, model, prompt, String(nGen)], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `llama-check failed on the demo model: ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as CheckResult;
}

test('llama.cpp loads the demo model with the deepseek-coder tokenizer and FIM tokens, and it generates', () => {
  const a = check('<｜fim▁begin｜>def fib(n):\n    <｜fim▁hole｜>\n<｜fim▁end｜>');
  assert.ok(a.ok);
  assert.equal(a.n_vocab, 32256);
  assert.deepEqual(a.fim.slice(0, 3), [32016, 32015, 32017]);
  assert.equal(a.arch_layers, 2);
  assert.equal(a.n_embd, 128);
  assert.equal(a.tokens.length, 24);
  assert.ok(new Set(a.tokens).size >= 8, `greedy output too repetitive: ${a.tokens.join(' ')}`);
  const b = check('import os\nclass Foo:\n    pass\n');
  assert.notDeepEqual(a.tokens, b.tokens, 'output depends on the prompt');
});
