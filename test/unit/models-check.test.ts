/**
 * The model file check (server/src/models/modelCheck.ts) on real files: GGUFs written by the test
 * writer (each with one thing wrong), the real vocab files of the pinned llama.cpp, the generated test
 * models, and files that are not GGUF at all. Plus its tables against the vendored llama.cpp source.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkModelFile, describeNonGguf, FIM_TOKEN_TEXTS, KNOWN_ARCHITECTURES } from '../../server/src/models/modelCheck';
import { GgmlType, type GgufValue, GgufValueType, gv, writeGgufFile } from '../support/gguf';
import { ensureModel } from '../support/models';

const repo = resolve(__dirname, '../..');
const llama = join(repo, 'native', '.deps', 'llama.cpp');
const tmp = mkdtempSync(join(tmpdir(), 'pronto-check-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const tokens = (extra: string[] = []) => gv.arr(GgufValueType.STRING, ['<unk>', 'a', 'b', ...extra]);
const fimKeys: Array<[string, GgufValue]> = [
  ['tokenizer.ggml.fim_pre_token_id', gv.u32(0)],
  ['tokenizer.ggml.fim_suf_token_id', gv.u32(1)],
  ['tokenizer.ggml.fim_mid_token_id', gv.u32(2)],
];

/** A small GGUF: `kv` (defaults: llama, a 3-token vocab with FIM ids) and one 32-float tensor. */
function gguf(name: string, kv: Record<string, GgufValue | undefined> = {}, tensorCount = 1): string {
  const file = join(tmp, name);
  const all = new Map<string, GgufValue>([['general.architecture', gv.str('llama')], ['tokenizer.ggml.tokens', tokens()], ...fimKeys]);
  for (const [k, v] of Object.entries(kv)) {
    if (v === undefined) all.delete(k);
    else all.set(k, v);
  }
  const tensors = Array.from({ length: tensorCount }, (_, i) => ({
    name: `t${i}`,
    shape: [32],
    type: GgmlType.F32,
    data: () => new Uint8Array(128),
  }));
  writeGgufFile(file, all, tensors);
  return file;
}

function raw(name: string, content: string | Buffer): string {
  const file = join(tmp, name);
  writeFileSync(file, content);
  return file;
}

describe('checkModelFile', () => {
  test('accepts the generated test models (FIM ids in the metadata)', async () => {
    for (const name of ['target', 'starcoder'] as const) {
      const r = await checkModelFile(await ensureModel(name));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.info.fimFrom, 'metadata');
    }
  });

  test('accepts FIM tokens found by their text in the vocabulary, as llama.cpp does for older conversions', async () => {
    for (const [pre, suf, mid] of [
      ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'],
      ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'],
      ['▁<PRE>', '▁<SUF>', '▁<MID>'],
    ]) {
      const file = gguf(`vocab-fim-${pre!.length}.gguf`, {
        'tokenizer.ggml.fim_pre_token_id': undefined,
        'tokenizer.ggml.fim_suf_token_id': undefined,
        'tokenizer.ggml.fim_mid_token_id': undefined,
        'tokenizer.ggml.tokens': tokens([pre!, suf!, mid!]),
      });
      const r = await checkModelFile(file);
      assert.ok(r.ok, `${pre}: ${JSON.stringify(r)}`);
      assert.equal(r.info.fimFrom, 'vocabulary');
    }
  });

  const refusals: Array<{ what: string; file: () => string; problem: RegExp; advice?: RegExp }> = [
    {
      what: 'a README',
      file: () => raw('README.md', '# Hello\n\nThis is a readme.\n'),
      problem: /README\.md is not a GGUF model: it is a text file/,
    },
    { what: 'an empty file', file: () => raw('empty.gguf', ''), problem: /is not a GGUF model: it is empty/ },
    {
      what: 'a safetensors checkpoint',
      file: () => {
        const header = Buffer.from('{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}');
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(header.length));
        return raw('model.safetensors', Buffer.concat([len, header, Buffer.alloc(2)]));
      },
      problem: /safetensors checkpoint; it must be converted to GGUF/,
    },
    {
      what: 'a zip (PyTorch) file',
      file: () => raw('pytorch_model.bin', Buffer.from('PK\x03\x04rest-of-zip', 'latin1')),
      problem: /zip archive/,
    },
    { what: 'an old GGML file', file: () => raw('old.bin', Buffer.from('tjgg\x01\x00\x00\x00', 'latin1')), problem: /old GGML format/ },
    {
      what: 'a big-endian GGUF',
      file: () => raw('be.gguf', Buffer.concat([Buffer.from('GGUF'), Buffer.from([0, 0, 0, 3]), Buffer.alloc(16)])),
      problem: /big-endian GGUF/,
    },
    {
      what: 'GGUF version 1',
      file: () => raw('v1.gguf', Buffer.concat([Buffer.from('GGUF'), Buffer.from([1, 0, 0, 0]), Buffer.alloc(16)])),
      problem: /GGUF version 1/,
    },
    {
      what: 'a vocab-only file',
      file: () => join(llama, 'models', 'ggml-vocab-qwen2.gguf'),
      problem: /holds only a tokenizer \(a vocab file\), no model weights/,
    },
    { what: 'a LoRA adapter', file: () => gguf('lora.gguf', { 'general.type': gv.str('adapter') }), problem: /LoRA adapter, not a model/ },
    {
      what: 'a vision projector',
      file: () => gguf('mmproj.gguf', { 'general.architecture': gv.str('clip') }),
      problem: /vision projector/,
    },
    {
      what: 'no architecture',
      file: () => gguf('noarch.gguf', { 'general.architecture': undefined }),
      problem: /has no general\.architecture/,
    },
    {
      what: 'an architecture this llama.cpp does not know',
      file: () => gguf('future.gguf', { 'general.architecture': gv.str('llama9') }),
      problem: /"llama9" model, an architecture the llama\.cpp in this Pronto build does not know/,
      advice: /newer Pronto may support "llama9"/,
    },
    {
      what: 'an embedding model',
      file: () => gguf('bert.gguf', { 'general.architecture': gv.str('bert') }),
      problem: /"bert" embedding\/encoder model/,
    },
    { what: 'no tokenizer', file: () => gguf('notok.gguf', { 'tokenizer.ggml.tokens': undefined }), problem: /has no tokenizer/ },
    {
      what: 'no FIM tokens (a chat model)',
      file: () =>
        gguf('chat.gguf', {
          'tokenizer.ggml.fim_pre_token_id': undefined,
          'tokenizer.ggml.fim_suf_token_id': undefined,
          'tokenizer.ggml.fim_mid_token_id': undefined,
        }),
      problem: /has no fill-in-the-middle tokens: it cannot complete code at the cursor/,
    },
    {
      what: 'FIM ids outside the vocabulary',
      file: () => gguf('badfim.gguf', { 'tokenizer.ggml.fim_mid_token_id': gv.u32(99) }),
      problem: /no fill-in-the-middle tokens/,
    },
    {
      what: 'a truncated download',
      file: () => {
        const f = gguf('cut.gguf', {}, 8);
        truncateSync(f, readFileSync(f).length - 300);
        return f;
      },
      problem: /cut\.gguf is incomplete: its weights end at byte \d+ but the file has \d+ \(\d+%\)/,
      advice: /Download it again/,
    },
    {
      what: 'damaged metadata',
      file: () => {
        const f = gguf('damaged.gguf');
        const b = readFileSync(f);
        b.writeUInt32LE(77, 24 + 8 + 'general.architecture'.length); // the first value's type
        return raw('damaged.gguf', b);
      },
      problem: /damaged\.gguf is a damaged GGUF file: unknown GGUF value type 77/,
    },
    { what: 'a missing file', file: () => join(tmp, 'missing.gguf'), problem: /missing\.gguf does not exist/ },
    {
      what: 'a folder',
      file: () => {
        mkdirSync(join(tmp, 'folder.gguf'), { recursive: true });
        return join(tmp, 'folder.gguf');
      },
      problem: /folder\.gguf is a folder/,
    },
  ];
  for (const c of refusals) {
    test(`refuses ${c.what}, saying what is wrong and what to pick`, async () => {
      const r = await checkModelFile(c.file());
      assert.equal(r.ok, false, JSON.stringify(r));
      if (r.ok) return;
      assert.match(r.problem, c.problem);
      assert.match(r.advice, c.advice ?? /^Pick a \.gguf base code model with fill-in-the-middle tokens instead .*, or download one\.$/);
    });
  }

  test('generative architectures whose names look like embedding ones are accepted', async () => {
    for (const arch of ['pangu-embedded', 'starcoder2', 'qwen2']) {
      const r = await checkModelFile(gguf(`arch-${arch}.gguf`, { 'general.architecture': gv.str(arch) }));
      assert.ok(r.ok, `${arch}: ${JSON.stringify(r)}`);
    }
    for (const arch of ['nomic-bert-moe', 'jina-bert-v2', 'gemma-embedding', 'llama-embed', 't5encoder']) {
      const r = await checkModelFile(gguf(`arch-${arch}.gguf`, { 'general.architecture': gv.str(arch) }));
      assert.ok(!r.ok && /embedding\/encoder model/.test(r.problem), arch);
    }
  });

  test('an instruct model is accepted with a note', async () => {
    const r = await checkModelFile(gguf('qwen2.5-coder-1.5b-instruct-q8_0.gguf'));
    assert.ok(r.ok);
    assert.match(r.info.notes.join(' '), /instruct\/chat model; base models complete code/);
  });

  test('as a chat model (pronto.chat.modelPath) a file without FIM tokens is accepted, other faults are not', async () => {
    const noFim = gguf('chat-nofim.gguf', {
      'tokenizer.ggml.fim_pre_token_id': undefined,
      'tokenizer.ggml.fim_suf_token_id': undefined,
      'tokenizer.ggml.fim_mid_token_id': undefined,
    });
    assert.equal((await checkModelFile(noFim)).ok, false);
    const r = await checkModelFile(noFim, 'chat');
    assert.ok(r.ok);
    assert.deepEqual(r.info.notes, []);
    const bert = await checkModelFile(gguf('chat-bert.gguf', { 'general.architecture': gv.str('bert') }), 'chat');
    assert.ok(!bert.ok && /embedding\/encoder model/.test(bert.problem));
  });

  test('a huge array count in a damaged header is refused without allocating it', async () => {
    const f = gguf('count.gguf');
    const b = readFileSync(f);
    const at = b.indexOf(Buffer.from('tokenizer.ggml.tokens')) + 'tokenizer.ggml.tokens'.length + 8;
    b.writeBigUInt64LE(2n ** 52n, at); // array length of the token list
    const r = await checkModelFile(raw('count.gguf', b));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.problem, /damaged GGUF file/);
  });
});

describe('describeNonGguf', () => {
  test('names what unknown binary bytes are not', () => {
    assert.match(describeNonGguf(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2])), /first bytes \(de ad be ef\) are not the GGUF signature/);
  });
});

describe("the check's tables agree with the pinned llama.cpp", () => {
  test('KNOWN_ARCHITECTURES is exactly LLM_ARCH_NAMES of src/llama-arch.cpp (without its placeholders)', () => {
    const source = readFileSync(join(llama, 'src', 'llama-arch.cpp'), 'utf8');
    const block = /LLM_ARCH_NAMES = \{([\s\S]*?)\n\};/.exec(source)?.[1] ?? '';
    const names = [...block.matchAll(/\{\s*LLM_ARCH_\w+,\s*"([^"]+)"\s*\}/g)]
      .map((m) => m[1]!)
      .filter((n) => n !== 'clip' && n !== '(unknown)');
    assert.ok(names.length > 100, `parsed ${names.length} names`);
    assert.deepEqual([...KNOWN_ARCHITECTURES].sort(), names.sort());
  });

  test('FIM_TOKEN_TEXTS are the texts src/llama-vocab.cpp looks for', () => {
    const source = readFileSync(join(llama, 'src', 'llama-vocab.cpp'), 'utf8');
    for (const [kind, label] of [
      ['pre', 'FIM_PRE'],
      ['suf', 'FIM_SUF'],
      ['mid', 'FIM_MID'],
    ] as const) {
      const block = new RegExp(`// find ${label} token[\\s\\S]*?special_fim_${kind}_id = t\\.second`).exec(source)?.[0] ?? '';
      const texts = [...block.matchAll(/t\.first == "([^"]+)"/g)].map((m) => m[1]!);
      assert.deepEqual([...FIM_TOKEN_TEXTS[kind]].sort(), texts.sort(), kind);
    }
  });

  test('GgmlType numbers are those of enum ggml_type in ggml.h', () => {
    const header = readFileSync(join(llama, 'ggml', 'include', 'ggml.h'), 'utf8');
    const enumBody = /enum ggml_type \{([\s\S]*?)\};/.exec(header)?.[1] ?? '';
    const fromHeader = new Map([...enumBody.matchAll(/^\s*GGML_TYPE_(\w+)\s*=\s*(\d+),/gm)].map((m) => [m[1]!, Number(m[2])]));
    fromHeader.delete('COUNT');
    for (const [name, value] of fromHeader) assert.equal(GgmlType[name as keyof typeof GgmlType], value, name);
  });
});
