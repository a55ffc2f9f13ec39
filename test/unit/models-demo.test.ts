/**
 * The demo model: made by the build from the `demo` recipe (test/support/models.ts), read back with
 * llama.cpp's own Python GGUF reader (gguf-py from the pinned llama.cpp, an independent parser of
 * the format), and only looked up by the server (server/src/models/demoModel.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_MODEL_FILE, demoModelCandidates, findDemoModel } from '../../server/src/models/demoModel';
import { ensureModel } from '../support/models';

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

describe('the demo model recipe', () => {
  test('makes a llama-architecture model with the deepseek-coder tokenizer and FIM tokens, readable by gguf-py', async () => {
    const path = await ensureModel('demo');
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

  test('the product server bundle carries no model generator or GGUF writer', () => {
    // What issue 13 asked: the generator lives with the tests and the build, never in dist/server.js.
    const server = readFileSync(join(repo, 'dist', 'server.js'), 'utf8');
    for (const marker of ['writeRandomModel', 'writeGgufFile', 'encodeGgufHeader', 'quantizeQ8_0', 'mulberry32']) {
      assert.ok(!server.includes(marker), `dist/server.js contains ${marker}`);
    }
  });
});

describe('findDemoModel', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pronto-demo-find-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('looks in $PRONTO_DEMO_MODEL, the extension folder, next to the bundle, then dist/models/ upwards', () => {
    const candidates = demoModelCandidates('/ext/dist', { PRONTO_DEMO_MODEL: '/x/demo.gguf', PRONTO_EXTENSION_DIR: '/ext' });
    assert.deepEqual(candidates.slice(0, 4), [
      '/x/demo.gguf',
      `/ext/dist/models/${DEMO_MODEL_FILE}`,
      `/ext/dist/models/${DEMO_MODEL_FILE}`,
      `/ext/dist/dist/models/${DEMO_MODEL_FILE}`,
    ]);
    assert.ok(candidates.includes(`/ext/dist/models/${DEMO_MODEL_FILE}`));
    assert.ok(candidates.includes(`/dist/models/${DEMO_MODEL_FILE}`));
  });

  test('returns the first candidate that exists, undefined when none does', async () => {
    const present = join(dir, 'dist', 'models', DEMO_MODEL_FILE);
    await mkdir(join(dir, 'dist', 'models'), { recursive: true });
    await writeFile(present, 'x');
    assert.equal(findDemoModel([join(dir, 'nope.gguf'), present]), present);
    assert.equal(findDemoModel([join(dir, 'nope.gguf')]), undefined);
    assert.equal(findDemoModel(demoModelCandidates(join(dir, 'server', 'src', 'models'), {})), present);
  });
});
