// The generated test models are real models: the prebuilt llama.cpp (the libraries the engine links)
// loads each one, finds its FIM tokens, and greedy decoding produces varied tokens.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { ensureTestModels, repoRoot } from '../support/models';

const libDir = path.join(repoRoot, 'native/.deps/linux-x64-cuda/package/bins/linux-x64-cuda');
const llamaDir = path.join(repoRoot, 'native/.deps/llama.cpp');
const src = path.join(repoRoot, 'test/support/llama-check.cpp');
const bin = path.join(repoRoot, '.cache/llama-check/llama-check');

let models: { target: string; draft: string; starcoder: string };

before(async () => {
  models = await ensureTestModels();
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(path.dirname(bin), { recursive: true });
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
});

interface CheckResult {
  ok: boolean;
  n_vocab: number;
  n_prompt: number;
  fim: number[];
  arch_layers: number;
  n_embd: number;
  tokens: number[];
}

function check(model: string, prompt: string, nGen = 24): CheckResult {
  const r = spawnSync(bin, [libDir, model, prompt, String(nGen)], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `llama-check failed on ${model}: ${r.stderr.slice(-500)}`);
  const line = r.stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as CheckResult;
}

const distinct = (xs: number[]): number => new Set(xs).size;

test('target (llama, deepseek-coder vocab) loads with FIM tokens and generates varied text', () => {
  const a = check(models.target, '<｜fim▁begin｜>def fib(n):\n    <｜fim▁hole｜>\n<｜fim▁end｜>');
  assert.ok(a.ok);
  assert.equal(a.n_vocab, 32256);
  assert.deepEqual(a.fim.slice(0, 3), [32016, 32015, 32017]);
  assert.equal(a.arch_layers, 2);
  assert.ok(distinct(a.tokens) >= 12, `greedy output too repetitive: ${a.tokens.join(' ')}`);
  const b = check(models.target, 'import os\nclass Foo:\n    pass\n');
  assert.notDeepEqual(a.tokens, b.tokens, 'output depends on the prompt');
  assert.deepEqual(check(models.target, 'import os\nclass Foo:\n    pass\n').tokens, b.tokens, 'greedy is deterministic');
});

test("draft shares the target's vocabulary and is smaller", () => {
  const d = check(models.draft, 'const x = 1;\n');
  assert.ok(d.ok);
  assert.equal(d.n_vocab, 32256);
  assert.deepEqual(d.fim.slice(0, 3), [32016, 32015, 32017]);
  assert.equal(d.arch_layers, 1);
  assert.ok(d.n_embd < check(models.target, 'x').n_embd);
  assert.ok(distinct(d.tokens) >= 8, `greedy output too repetitive: ${d.tokens.join(' ')}`);
});

test('starcoder (starcoder2) has repo-level FIM tokens and generates varied text', () => {
  const s = check(models.starcoder, '<repo_name>pronto<file_sep>a.py\nimport os\n<fim_prefix>def f():\n<fim_suffix>\n<fim_middle>');
  assert.ok(s.ok);
  assert.equal(s.n_vocab, 49152);
  assert.deepEqual(s.fim, [1, 3, 2, 4, 5, 6]);
  assert.ok(distinct(s.tokens) >= 12, `greedy output too repetitive: ${s.tokens.join(' ')}`);
});
