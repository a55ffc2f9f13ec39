/**
 * The demo model is made from the real deepseek-coder vocab and read back with llama.cpp's own
 * Python GGUF reader (gguf-py from the pinned llama.cpp), an independent parser of the format.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { demoModelPath, demoVocabCandidates, ensureDemoModel, findDemoVocab } from '../../server/src/models/demoModel';

const repo = resolve(__dirname, '../..');
const ggufPy = join(repo, 'native', '.deps', 'llama.cpp', 'gguf-py');

const READ = `
import sys, json
sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader
r = GGUFReader(sys.argv[2])
def val(k):
    f = r.fields[k]
    v = f.parts[f.data[0]].tolist()
    return bytes(v).decode() if k == 'general.architecture' else v[0]
print(json.dumps({
  'arch': val('general.architecture'),
  'fim': [val('tokenizer.ggml.fim_pre_token_id'), val('tokenizer.ggml.fim_suf_token_id'), val('tokenizer.ggml.fim_mid_token_id')],
  'vocab': len(r.fields['tokenizer.ggml.tokens'].data),
  'blocks': val('llama.block_count'),
  'tensors': {t.name: t.shape.tolist() for t in r.tensors},
}))
`;

describe('ensureDemoModel', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pronto-demo-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('finds the vocab in the development tree', () => {
    assert.equal(findDemoVocab(), join(repo, 'native', '.deps', 'llama.cpp', 'models', 'ggml-vocab-deepseek-coder.gguf'));
  });

  test('makes a llama-architecture model with the deepseek-coder tokenizer and FIM tokens, readable by gguf-py', async () => {
    const path = await ensureDemoModel(dir);
    assert.equal(path, demoModelPath(dir));
    assert.ok(path.startsWith(join(dir, 'models')));
    const r = spawnSync('python3', ['-c', READ, ggufPy, path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { arch: string; fim: number[]; vocab: number; blocks: number; tensors: Record<string, number[]> };
    assert.equal(info.arch, 'llama');
    assert.deepEqual(info.fim, [32016, 32015, 32017]);
    assert.equal(info.vocab, 32256);
    assert.equal(info.blocks, 2);
    assert.deepEqual(info.tensors['token_embd.weight'], [128, 32256]);
    assert.deepEqual(info.tensors['blk.1.ffn_down.weight'], [384, 128]);
  });

  test('is cached: a second call returns the same file without rewriting it', async () => {
    const first = await ensureDemoModel(dir);
    const before = (await stat(first)).mtimeMs;
    const [a, b] = await Promise.all([ensureDemoModel(dir), ensureDemoModel(dir)]);
    assert.equal(a, first);
    assert.equal(b, first);
    assert.equal((await stat(first)).mtimeMs, before);
  });

  test('a missing vocab gives an error naming the file and where it looked', async () => {
    assert.throws(
      () => findDemoVocab(demoVocabCandidates('/nonexistent/dir')),
      /ggml-vocab-deepseek-coder\.gguf was not found; looked in: \/nonexistent\/dir\/vocab/,
    );
    const other = await mkdtemp(join(tmpdir(), 'pronto-demo-missing-'));
    try {
      await assert.rejects(ensureDemoModel(other, { vocabPath: '/nonexistent/vocab.gguf' }), /nonexistent\/vocab\.gguf/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
