import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CATALOG,
  type CatalogEntry,
  DEFAULT_MODEL_BASE_URL,
  downloadUrl,
  draftModelFor,
  findModel,
  resolveBaseUrl,
  validateCatalog,
} from '../../server/src/models/catalog';

const entry = (over: Partial<CatalogEntry>): CatalogEntry => ({
  id: 'm',
  model: 'm',
  modelLabel: 'M',
  label: 'M',
  family: 'qwen2.5-coder',
  paramsB: 1,
  quant: 'Q8_0',
  repo: 'owner/repo',
  file: 'm.gguf',
  revision: 'main',
  sizeBytes: 1000,
  sha256: null,
  sha256Source: 'test',
  kvBytesPerToken: 1,
  ...over,
});

describe('catalog', () => {
  test('the shipped catalog is sound (unique ids/files, base models, hashes well-formed, drafts of the same family)', () => {
    assert.deepEqual(validateCatalog(CATALOG), []);
  });

  test('lists the Qwen2.5-Coder 0.5/1.5/3/7B and DeepSeek-Coder 1.3/6.7B base models, in the quantizations their publishers offer', () => {
    assert.deepEqual(
      CATALOG.map((m) => [m.model, m.quant]),
      [
        ['qwen2.5-coder-0.5b', 'Q8_0'],
        ['qwen2.5-coder-1.5b', 'Q8_0'],
        ['qwen2.5-coder-1.5b', 'IQ3_XXS'],
        ['qwen2.5-coder-3b', 'Q8_0'],
        ['qwen2.5-coder-7b', 'Q8_0'],
        ['deepseek-coder-1.3b', 'Q4_K_M'],
        ['deepseek-coder-1.3b', 'Q8_0'],
        ['deepseek-coder-6.7b', 'Q4_K_M'],
        ['deepseek-coder-6.7b', 'Q8_0'],
      ],
    );
  });

  test('the 0.5B drafts for every bigger Qwen model; DeepSeek 1.3B drafts for 6.7B', () => {
    for (const id of ['qwen2.5-coder-1.5b', 'qwen2.5-coder-3b', 'qwen2.5-coder-7b']) {
      assert.equal(draftModelFor(id)?.id, 'qwen2.5-coder-0.5b', id);
    }
    assert.equal(draftModelFor('deepseek-coder-6.7b')?.id, 'deepseek-coder-1.3b');
    assert.equal(draftModelFor('qwen2.5-coder-0.5b'), undefined);
  });

  const problems: Array<[string, CatalogEntry[], RegExp]> = [
    ['duplicate id', [entry({}), entry({ file: 'other.gguf' })], /duplicate id m/],
    ['instruct model', [entry({ repo: 'Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF' })], /not a base model/],
    ['bad sha', [entry({ sha256: 'abc' })], /sha256 is not 64/],
    ['bad repo', [entry({ repo: 'no-slash' })], /not owner\/name/],
    ['file with a path', [entry({ file: '../evil.gguf' })], /not a plain \.gguf name/],
    ['unknown draft target', [entry({ draftFor: ['nope'] })], /unknown model nope/],
    [
      'draft across families',
      [entry({ draftFor: ['d'] }), entry({ id: 'd', file: 'd.gguf', family: 'deepseek-coder', paramsB: 7 })],
      /another family/,
    ],
    ['draft not smaller', [entry({ draftFor: ['b'] }), entry({ id: 'b', file: 'b.gguf', paramsB: 0.5 })], /not bigger/],
    ['unknown quantization', [entry({ quant: 'Q9_X' as CatalogEntry['quant'] })], /unknown quantization Q9_X/],
    ['one model listing a quantization twice', [entry({}), entry({ id: 'm2', file: 'm2.gguf' })], /m lists Q8_0 twice/],
    [
      'versions of one model that disagree',
      [entry({}), entry({ id: 'm4', file: 'm4.gguf', quant: 'Q4_K_M', paramsB: 2 })],
      /model m has versions that disagree/,
    ],
  ];
  for (const [name, catalog, expected] of problems) {
    test(`validateCatalog reports: ${name}`, () => {
      const found = validateCatalog(catalog);
      assert.ok(
        found.some((p) => expected.test(p)),
        `expected ${expected} in ${JSON.stringify(found)}`,
      );
    });
  }

  test('findModel', () => {
    assert.equal(findModel('qwen2.5-coder-3b')?.file, 'qwen2.5-coder-3b-q8_0.gguf');
    assert.equal(findModel('nope'), undefined);
  });
});

describe('download URL and mirror', () => {
  const qwen = findModel('qwen2.5-coder-0.5b')!;
  const cases: Array<[string, string | undefined, NodeJS.ProcessEnv, string]> = [
    ['default is Hugging Face', undefined, {}, DEFAULT_MODEL_BASE_URL],
    ['env var', undefined, { PRONTO_MODEL_MIRROR: 'http://127.0.0.1:8080/hf/' }, 'http://127.0.0.1:8080/hf'],
    ['setting wins over env', 'https://mirror.example/x', { PRONTO_MODEL_MIRROR: 'http://other' }, 'https://mirror.example/x'],
    ['blank setting falls through', '  ', { PRONTO_MODEL_MIRROR: 'http://env.example' }, 'http://env.example'],
  ];
  for (const [name, setting, env, expected] of cases) {
    test(`resolveBaseUrl: ${name}`, () => assert.equal(resolveBaseUrl(setting, env), expected));
  }

  test('resolveBaseUrl names the bad source', () => {
    assert.throws(() => resolveBaseUrl('not a url', {}), /setting pronto\.model\.mirror is not a valid URL/);
    assert.throws(() => resolveBaseUrl(undefined, { PRONTO_MODEL_MIRROR: 'ftp://x' }), /PRONTO_MODEL_MIRROR must be an http/);
  });

  test('downloadUrl follows the resolve/<revision>/<file> layout', () => {
    assert.equal(
      downloadUrl(qwen),
      'https://huggingface.co/ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF/resolve/ecdd60b1c25ab158bec6e1ab084aeebf9eae0af4/qwen2.5-coder-0.5b-q8_0.gguf',
    );
    assert.equal(
      downloadUrl(entry({ repo: 'a/b', revision: 'main', file: 'x y.gguf' }), 'http://127.0.0.1:9/'),
      'http://127.0.0.1:9/a/b/resolve/main/x%20y.gguf',
    );
  });
});
