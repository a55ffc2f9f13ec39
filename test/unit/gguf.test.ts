import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  dequantizeQ8_0,
  encodeGgufHeader,
  f16ToF32,
  f32ToF16,
  GgmlType,
  GgufError,
  GgufValueType,
  gv,
  parseGguf,
  quantizeQ8_0,
  readGgufFile,
  readTensorData,
  tensorByteSize,
  writeGgufFile,
  type GgufTensorSpec,
  type GgufValue,
} from '../support/gguf';
import { DEEPSEEK_CODER_FIM, QWEN25_SPECIAL_TOKENS, writeRandomModel } from '../support/randomModel';

const repoRoot = path.resolve(__dirname, '../..');
const vocabDir = path.join(repoRoot, 'native/.deps/llama.cpp/models');
const tmp = mkdtempSync(path.join(tmpdir(), 'gguf-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function floats(n: number, f: (i: number) => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return a;
}
const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer.slice(0));

describe('GGUF round trip', () => {
  const kv: Array<[string, GgufValue]> = [
    ['general.architecture', gv.str('llama')],
    ['test.u8', { type: GgufValueType.UINT8, value: 200 }],
    ['test.i8', { type: GgufValueType.INT8, value: -100 }],
    ['test.u16', { type: GgufValueType.UINT16, value: 60000 }],
    ['test.i16', { type: GgufValueType.INT16, value: -30000 }],
    ['test.u32', gv.u32(4000000000)],
    ['test.i32', gv.i32(-2000000000)],
    ['test.f32', gv.f32(0.5)],
    ['test.f64', { type: GgufValueType.FLOAT64, value: Math.PI }],
    ['test.u64', gv.u64(2n ** 63n + 5n)],
    ['test.i64', { type: GgufValueType.INT64, value: -(2n ** 62n) }],
    ['test.bool', gv.bool(true)],
    ['test.unicode', gv.str('<｜fim▁begin｜> ünï 🙂')],
    ['test.strings', gv.arr(GgufValueType.STRING, ['a', '', '<|file_sep|>'])],
    ['test.ints', gv.arr(GgufValueType.INT32, [1, -2, 3])],
    ['test.empty', gv.arr(GgufValueType.UINT8, [])],
  ];
  // Odd sizes so that tensor ends are not naturally aligned.
  const f32 = floats(3 * 5, (i) => i * 0.25 - 1);
  const f16 = floats(7, (i) => i - 3.5);
  const q8 = floats(64 * 3, (i) => Math.sin(i) * 3);
  const tensors: GgufTensorSpec[] = [
    { name: 'a.f32', shape: [3, 5], type: GgmlType.F32, data: () => bytesOf(f32) },
    { name: 'b.f16', shape: [7], type: GgmlType.F16, data: () => new Uint8Array(Uint16Array.from(f16, f32ToF16).buffer) },
    { name: 'c.q8_0', shape: [64, 3], type: GgmlType.Q8_0, data: () => quantizeQ8_0(q8) },
  ];

  for (const alignment of [32, 64]) {
    test(`metadata, tensor table and data survive write + read (alignment ${alignment})`, () => {
      const file = path.join(tmp, `rt-${alignment}.gguf`);
      const allKv = alignment === 32 ? kv : [...kv, ['general.alignment', gv.u32(alignment)] as [string, GgufValue]];
      writeGgufFile(file, allKv, tensors);
      const g = readGgufFile(file);
      assert.equal(g.version, 3);
      assert.equal(g.alignment, alignment);
      assert.deepEqual([...g.kv.entries()], allKv);
      assert.equal(g.dataOffset % alignment, 0);
      assert.deepEqual(
        g.tensors.map((t) => [t.name, t.shape, t.type]),
        tensors.map((t) => [t.name, t.shape, t.type]),
      );
      for (const [i, t] of g.tensors.entries()) {
        assert.equal(t.offset % alignment, 0, `${t.name} offset ${t.offset} aligned`);
        if (i > 0) {
          const prev = g.tensors[i - 1]!;
          assert.ok(t.offset >= prev.offset + prev.byteSize, 'tensors do not overlap');
          assert.ok(t.offset - (prev.offset + prev.byteSize) < alignment, 'padding is less than one alignment unit');
        }
        assert.deepEqual(new Uint8Array(readTensorData(file, t)), tensors[i]!.data());
      }
      const size = readFileSync(file).byteLength;
      assert.equal(size % alignment, 0, 'file ends padded to the alignment');
      assert.deepEqual(parseGguf(readFileSync(file)).tensors, g.tensors);
    });
  }

  test('tensorByteSize knows block sizes and rejects partial blocks', () => {
    assert.equal(tensorByteSize(GgmlType.F32, [3, 5]), 60);
    assert.equal(tensorByteSize(GgmlType.F16, [7]), 14);
    assert.equal(tensorByteSize(GgmlType.Q8_0, [64, 3]), 2 * 34 * 3);
    assert.throws(() => tensorByteSize(GgmlType.Q8_0, [48, 2]), /48 is not a multiple of the Q8_0 block size 32/);
  });

  test('bad input gives a GgufError naming the problem', () => {
    const good = path.join(tmp, 'rt-32.gguf');
    writeGgufFile(good, kv, tensors);
    const buf = readFileSync(good);
    const badMagic = Buffer.from(buf);
    badMagic.write('GGML', 0);
    assert.throws(
      () => parseGguf(badMagic),
      (e: unknown) => e instanceof GgufError && /not a GGUF file/.test(e.message),
    );
    assert.throws(() => parseGguf(buf.subarray(0, 100)), /truncated GGUF/);
    const cut = path.join(tmp, 'cut.gguf');
    writeFileSync(cut, buf.subarray(0, buf.length - 200));
    assert.throws(() => readGgufFile(cut), /past the end of the file/);
    assert.throws(() => writeGgufFile(path.join(tmp, 'x.gguf'), [['k', gv.u32(-1)]], []), /key k: value -1 does not fit type UINT32/);
    assert.throws(
      () =>
        writeGgufFile(
          path.join(tmp, 'x.gguf'),
          [
            ['k', gv.u32(1)],
            ['k', gv.u32(2)],
          ],
          [],
        ),
      /duplicate key k/,
    );
    assert.throws(
      () => writeGgufFile(path.join(tmp, 'x.gguf'), [], [{ name: 't', shape: [4], type: GgmlType.F32, data: () => new Uint8Array(8) }]),
      /tensor t: data is 8 bytes, expected 16/,
    );
  });

  test('header layout: magic, version, counts', () => {
    const { header } = encodeGgufHeader([['a', gv.u32(1)]], [{ name: 't', shape: [2], type: GgmlType.F32 }]);
    assert.equal(header.toString('latin1', 0, 4), 'GGUF');
    assert.equal(header.readUInt32LE(4), 3);
    assert.equal(header.readBigUInt64LE(8), 1n);
    assert.equal(header.readBigUInt64LE(16), 1n);
    assert.equal(header.length % 32, 0);
  });
});

describe('element encodings', () => {
  test('f32 -> f16 rounds to nearest even, handles subnormals and overflow', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next (non-existent) value: rounds to even = inf
      [1e9, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -25, 0x0002],
      [2 ** -14, 0x0400],
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: ties to even (down)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: ties to even (up)
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [x, h] of cases) assert.equal(f32ToF16(x), h, `f32ToF16(${x})`);
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
    for (let h = 0; h < 0x7c00; h += 37) assert.equal(f32ToF16(f16ToF32(h)), h, `round trip of half 0x${h.toString(16)}`);
  });

  test('Q8_0 block: f16 scale = max|x|/127, then 32 int8 = roundf(x/d), half away from zero', () => {
    // amax 127 -> d = 1 exactly, so the quants are the rounded values themselves.
    const x = floats(32, (j) => (j === 0 ? 127 : j === 1 ? -127 : j === 2 ? 2.5 : j === 3 ? -2.5 : j === 4 ? 0.49 : j - 16));
    const block = quantizeQ8_0(x);
    assert.equal(block.length, 34);
    const view = new DataView(block.buffer);
    assert.equal(view.getUint16(0, true), 0x3c00, 'd = 1.0 as f16');
    const q = Array.from({ length: 32 }, (_, j) => view.getInt8(2 + j));
    assert.deepEqual(q.slice(0, 5), [127, -127, 3, -3, 0]);
    assert.deepEqual(
      q.slice(5),
      Array.from({ length: 27 }, (_, k) => k + 5 - 16),
    );

    // A block of values j - 16: amax 16, d = 16/127, q = round((j - 16) * 127 / 16).
    const y = floats(32, (j) => j - 16);
    const yb = quantizeQ8_0(y);
    const yv = new DataView(yb.buffer);
    assert.equal(yv.getUint16(0, true), f32ToF16(16 / 127));
    assert.equal(yv.getInt8(2), -127);
    assert.equal(yv.getInt8(2 + 31), 119);
    assert.equal(yv.getInt8(2 + 16), 0);
  });

  test('Q8_0 of zeros has d = 0 and q = 0; dequantised error stays within half a step', () => {
    const z = quantizeQ8_0(new Float32Array(64));
    assert.deepEqual(z, new Uint8Array(68));
    const x = floats(32 * 50, (i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const back = dequantizeQ8_0(quantizeQ8_0(x));
    for (let b = 0; b < 50; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      const step = amax / 127;
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        assert.ok(Math.abs(back[i]! - x[i]!) <= step * 0.5 + amax * 1e-3, `element ${i}: ${back[i]} vs ${x[i]}`);
      }
    }
    assert.throws(() => quantizeQ8_0(new Float32Array(33)), /multiple of 32/);
  });
});

describe('writeRandomModel', () => {
  const base = {
    vocabPath: path.join(vocabDir, 'ggml-vocab-deepseek-coder.gguf'),
    arch: 'llama' as const,
    nLayer: 1,
    nEmbd: 32,
    nHead: 2,
    nHeadKv: 1,
    nFf: 64,
    ctx: 1024,
    type: 'f16' as const,
    seed: 7,
    fim: DEEPSEEK_CODER_FIM,
  };

  test('copies the tokenizer, writes hparams and the llama tensor set; same seed gives the same bytes', async () => {
    const a = path.join(tmp, 'a.gguf');
    const b = path.join(tmp, 'b.gguf');
    const c = path.join(tmp, 'c.gguf');
    await writeRandomModel({ ...base, outPath: a });
    await writeRandomModel({ ...base, outPath: b });
    await writeRandomModel({ ...base, seed: 8, outPath: c });
    assert.deepEqual(readFileSync(a), readFileSync(b));
    assert.notDeepEqual(readFileSync(a), readFileSync(c));

    const vocab = readGgufFile(base.vocabPath);
    const g = readGgufFile(a);
    for (const [k, v] of vocab.kv) if (k.startsWith('tokenizer.')) assert.deepEqual(g.kv.get(k), v, k);
    assert.deepEqual(g.kv.get('general.architecture'), gv.str('llama'));
    assert.deepEqual(g.kv.get('llama.block_count'), gv.u32(1));
    assert.deepEqual(g.kv.get('llama.context_length'), gv.u32(1024));
    assert.deepEqual(g.kv.get('llama.attention.head_count_kv'), gv.u32(1));
    assert.equal(g.kv.has('llama.rope.scaling.type'), false, "the vocab file's hparams are not copied");
    assert.deepEqual(g.kv.get('tokenizer.ggml.fim_pre_token_id'), gv.u32(32016));
    assert.deepEqual(g.kv.get('tokenizer.ggml.fim_suf_token_id'), gv.u32(32015));
    assert.deepEqual(g.kv.get('tokenizer.ggml.fim_mid_token_id'), gv.u32(32017));
    const names = g.tensors.map((t) => t.name).sort();
    assert.deepEqual(names, [
      'blk.0.attn_k.weight',
      'blk.0.attn_norm.weight',
      'blk.0.attn_output.weight',
      'blk.0.attn_q.weight',
      'blk.0.attn_v.weight',
      'blk.0.ffn_down.weight',
      'blk.0.ffn_gate.weight',
      'blk.0.ffn_norm.weight',
      'blk.0.ffn_up.weight',
      'output.weight',
      'output_norm.weight',
      'token_embd.weight',
    ]);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    assert.deepEqual(byName.get('token_embd.weight')!.shape, [32, 32256]);
    assert.deepEqual(byName.get('blk.0.attn_k.weight')!.shape, [32, 16]);
    assert.deepEqual(byName.get('blk.0.ffn_down.weight')!.shape, [64, 32]);
    assert.equal(byName.get('blk.0.attn_q.weight')!.type, GgmlType.F16);
    assert.equal(byName.get('output_norm.weight')!.type, GgmlType.F32);
    const norm = new Float32Array(readTensorData(a, byName.get('output_norm.weight')!).buffer.slice(0));
    assert.ok(norm.every((x) => x === 1));
    // Weights are spread out (not all equal) and scaled near std 1/sqrt(fan_in).
    const q = new Uint16Array(readTensorData(a, byName.get('blk.0.attn_q.weight')!).buffer.slice(0));
    const vals = Array.from(q, f16ToF32);
    const std = Math.sqrt(vals.reduce((s, x) => s + x * x, 0) / vals.length);
    assert.ok(Math.abs(std - 1 / Math.sqrt(32)) < 0.03, `std ${std}`);
  });

  test('qwen2 at Q8_0 with extra tokens, tied embeddings and q/k/v biases', async () => {
    const out = path.join(tmp, 'q.gguf');
    await writeRandomModel({
      vocabPath: path.join(vocabDir, 'ggml-vocab-deepseek-coder.gguf'),
      outPath: out,
      arch: 'qwen2',
      nLayer: 1,
      nEmbd: 64,
      nHead: 4,
      nHeadKv: 2,
      nFf: 96,
      ctx: 2048,
      type: 'q8_0',
      seed: 1,
      tieEmbeddings: true,
      fim: { pre: 32100, sep: 32105 },
      extraTokens: [
        { id: 32100, text: '<|fim_prefix|>', type: 3 },
        { id: 32105, text: '<|file_sep|>', type: 3 },
      ],
    });
    const g = readGgufFile(out);
    const tokens = g.kv.get('tokenizer.ggml.tokens');
    const types = g.kv.get('tokenizer.ggml.token_type');
    assert.ok(tokens?.type === GgufValueType.ARRAY && types?.type === GgufValueType.ARRAY);
    assert.equal(tokens.value[32100], '<|fim_prefix|>');
    assert.equal(tokens.value[32105], '<|file_sep|>');
    assert.equal(tokens.value[32101], '[PAD32101]');
    assert.equal(types.value[32100], 3);
    assert.equal(types.value[32101], 4);
    assert.deepEqual(g.kv.get('tokenizer.ggml.fim_sep_token_id'), gv.u32(32105));
    assert.deepEqual(g.kv.get('general.file_type'), gv.u32(7));
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    assert.equal(byName.has('output.weight'), false);
    assert.equal(byName.get('token_embd.weight')!.type, GgmlType.Q8_0);
    assert.equal(byName.get('blk.0.ffn_up.weight')!.type, GgmlType.Q8_0);
    assert.equal(byName.get('blk.0.ffn_down.weight')!.type, GgmlType.Q8_0, '96 is a multiple of 32');
    assert.deepEqual(byName.get('blk.0.attn_k.bias')!.shape, [32]);
  });

  test("the Qwen2.5 special tokens fill exactly the qwen2 vocab's [PAD] placeholders 151646-151664", () => {
    assert.equal(QWEN25_SPECIAL_TOKENS.length, 151664 - 151646 + 1);
    assert.deepEqual(
      QWEN25_SPECIAL_TOKENS.map((t) => t.id),
      Array.from({ length: 19 }, (_, i) => 151646 + i),
    );
    const byId = new Map(QWEN25_SPECIAL_TOKENS.map((t) => [t.id, t.text]));
    assert.equal(byId.get(151659), '<|fim_prefix|>');
    assert.equal(byId.get(151660), '<|fim_middle|>');
    assert.equal(byId.get(151661), '<|fim_suffix|>');
    assert.equal(byId.get(151662), '<|fim_pad|>');
    assert.equal(byId.get(151663), '<|repo_name|>');
    assert.equal(byId.get(151664), '<|file_sep|>');
    assert.ok(QWEN25_SPECIAL_TOKENS.every((t) => t.type === 3));
  });

  test('rejects bad options with a message naming the problem', async () => {
    await assert.rejects(
      writeRandomModel({ ...base, outPath: path.join(tmp, 'x.gguf'), nHead: 3 }),
      /nEmbd 32 is not divisible by nHead 3/,
    );
    await assert.rejects(
      writeRandomModel({ ...base, outPath: path.join(tmp, 'x.gguf'), fim: { pre: 99999 } }),
      /fim.pre token id 99999 is outside/,
    );
    await assert.rejects(
      writeRandomModel({ ...base, outPath: path.join(tmp, 'x.gguf'), vocabPath: path.join(tmp, 'missing.gguf') }),
      /ENOENT/,
    );
    await assert.rejects(
      writeRandomModel({ ...base, outPath: path.join(tmp, 'x.gguf'), extraTokens: [{ id: 5, text: '<｜fim▁begin｜>', type: 3 }] }),
      /already exists with id 32016/,
    );
  });

  test("gguf-py (llama.cpp's own reader) agrees with our tensor table", async () => {
    const out = path.join(tmp, 'py.gguf');
    await writeRandomModel({ ...base, outPath: out, type: 'q8_0', nEmbd: 64, nFf: 96 });
    const script = [
      'import sys, json',
      'from gguf import GGUFReader',
      'r = GGUFReader(sys.argv[1])',
      "print(json.dumps({'tensors': [[t.name, [int(x) for x in t.shape], int(t.tensor_type), int(t.data_offset)] for t in r.tensors],",
      "  'arch': r.fields['general.architecture'].contents(), 'n_tokens': len(r.fields['tokenizer.ggml.tokens'].data)}))",
    ].join('\n');
    const res = spawnSync('python3', ['-c', script, out], {
      env: { ...process.env, PYTHONPATH: path.join(repoRoot, 'native/.deps/llama.cpp/gguf-py') },
      encoding: 'utf8',
    });
    assert.equal(res.status, 0, `python3 gguf-py failed: ${res.error?.message ?? res.stderr}`);
    const py = JSON.parse(res.stdout) as { tensors: Array<[string, number[], number, number]>; arch: string; n_tokens: number };
    const g = readGgufFile(out);
    assert.equal(py.arch, 'llama');
    assert.equal(py.n_tokens, 32256);
    assert.deepEqual(
      py.tensors,
      g.tensors.map((t) => [t.name, t.shape, t.type, t.fileOffset]),
    );
  });
});
