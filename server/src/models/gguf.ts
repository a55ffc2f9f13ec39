// GGUF reader, pure TypeScript, no dependencies. The product server only ever READS GGUF files:
// to check a model before the engine starts (modelCheck.ts). Writing GGUF files (the random-weight
// test, benchmark and demo models) lives with the tests: test/support/gguf.ts.
//
// Format (GGUF v3, little endian), as ggml/llama.cpp read it:
//   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count  x { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32), then the data section; every tensor's offset is
//   relative to the data section start and a multiple of the alignment.
// Strings are u64 byte length + UTF-8 bytes (no terminator). Arrays are u32 item type + u64 count + items.
// `ne[0]` is the fastest-moving dimension (a row); a matrix used as `y = W x` with x of size n_in and
// y of size n_out has shape [n_in, n_out].
//
// Two ways to read: `parseGgufHead` materialises every metadata value (tests, tools), and
// `summarizeGgufHead` walks the same bytes without building the big tokenizer arrays (a real
// model's vocabulary and merges are 300,000 strings: half a second of blocking work when
// materialised, a few milliseconds when skipped), which is what the server runs on its event loop.
// Both take the head of a file and throw `GgufNeedMoreBytes` when it is too short; `readGgufHead`
// and `readGgufSummary` read a file's head asynchronously, growing the read until it parses.

import { open } from 'node:fs/promises';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

type ScalarType = Exclude<GgufValueType, GgufValueType.ARRAY>;

/** One metadata value. 64-bit integers are bigint so they round-trip exactly. */
export type GgufValue =
  | {
      type:
        | GgufValueType.UINT8
        | GgufValueType.INT8
        | GgufValueType.UINT16
        | GgufValueType.INT16
        | GgufValueType.UINT32
        | GgufValueType.INT32
        | GgufValueType.FLOAT32
        | GgufValueType.FLOAT64;
      value: number;
    }
  | { type: GgufValueType.UINT64 | GgufValueType.INT64; value: bigint }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.ARRAY; itemType: ScalarType; value: Array<number | bigint | boolean | string> };

/**
 * ggml tensor types (`enum ggml_type` of the pinned llama.cpp). Every type a GGUF file may hold is
 * listed, so a model quantised with any of them (IQ4_XS, MXFP4, ...) is read, not refused.
 */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/**
 * [elements per block, bytes per block] for each type, as ggml_blck_size / ggml_type_size of the
 * pinned ggml report them (test/unit/gguf.test.ts compares against the library).
 */
export const TYPE_LAYOUT: Readonly<Record<number, readonly [number, number]>> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q4_0]: [32, 18],
  [GgmlType.Q4_1]: [32, 20],
  [GgmlType.Q5_0]: [32, 22],
  [GgmlType.Q5_1]: [32, 24],
  [GgmlType.Q8_0]: [32, 34],
  [GgmlType.Q8_1]: [32, 36],
  [GgmlType.Q2_K]: [256, 84],
  [GgmlType.Q3_K]: [256, 110],
  [GgmlType.Q4_K]: [256, 144],
  [GgmlType.Q5_K]: [256, 176],
  [GgmlType.Q6_K]: [256, 210],
  [GgmlType.Q8_K]: [256, 292],
  [GgmlType.IQ2_XXS]: [256, 66],
  [GgmlType.IQ2_XS]: [256, 74],
  [GgmlType.IQ3_XXS]: [256, 98],
  [GgmlType.IQ1_S]: [256, 50],
  [GgmlType.IQ4_NL]: [32, 18],
  [GgmlType.IQ3_S]: [256, 110],
  [GgmlType.IQ2_S]: [256, 82],
  [GgmlType.IQ4_XS]: [256, 136],
  [GgmlType.I8]: [1, 1],
  [GgmlType.I16]: [1, 2],
  [GgmlType.I32]: [1, 4],
  [GgmlType.I64]: [1, 8],
  [GgmlType.F64]: [1, 8],
  [GgmlType.IQ1_M]: [256, 56],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.TQ1_0]: [256, 54],
  [GgmlType.TQ2_0]: [256, 66],
  [GgmlType.MXFP4]: [32, 17],
  [GgmlType.NVFP4]: [64, 36],
  [GgmlType.Q1_0]: [128, 18],
  [GgmlType.Q2_0]: [64, 18],
};

export class GgufError extends Error {
  override name = 'GgufError';
}

/** Bytes a tensor of `shape` and `type` occupies. Throws if a row is not a whole number of blocks. */
export function tensorByteSize(type: GgmlType, shape: readonly number[]): number {
  const layout = TYPE_LAYOUT[type];
  if (!layout) throw new GgufError(`unknown ggml tensor type ${type} (made by a newer llama.cpp than this build's)`);
  const [blockElems, blockBytes] = layout;
  const ne0 = shape[0] ?? 1;
  if (ne0 % blockElems !== 0) {
    throw new GgufError(`row length ${ne0} is not a multiple of the ${GgmlType[type]} block size ${blockElems}`);
  }
  let rows = 1;
  for (let i = 1; i < shape.length; i++) rows *= shape[i]!;
  return (ne0 / blockElems) * blockBytes * rows;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface GgufTensorInfo {
  name: string;
  /** ne[0] first. */
  shape: number[];
  type: GgmlType;
  /** Offset relative to the data section. */
  offset: number;
  /** Absolute offset in the file. */
  fileOffset: number;
  byteSize: number;
}

export interface GgufFile {
  version: number;
  /** Metadata in file order. */
  kv: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
}

/** The buffer ended before the metadata did: read more of the file and try again. */
export class GgufNeedMoreBytes extends Error {}

/** Byte width of the fixed-size value types. */
const SCALAR_WIDTH: Partial<Record<number, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly complete: boolean,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.byteLength) {
      if (this.complete) throw new GgufError(`truncated GGUF: need ${n} bytes at offset ${this.pos}, file has ${this.buf.byteLength}`);
      throw new GgufNeedMoreBytes();
    }
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  i8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** u64 that must fit a JS number (counts, sizes, offsets). Two u32 reads: no BigInt on the hot path. */
  size(what: string): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    if (hi > 0x1fffff) throw new GgufError(`${what} ${(BigInt(hi) << 32n) | BigInt(lo)} is too large`);
    return hi * 0x100000000 + lo;
  }
  str(): string {
    const len = this.size('string length');
    this.need(len);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  /**
   * Skips `count` strings; calls `visit(index, start, length)` for those whose byte length is in
   * `lengths`, or for every one when `lengths` is undefined (one tight loop: a vocabulary has
   * 150,000 of them).
   */
  skipStrings(count: number, lengths?: ReadonlySet<number>, visit?: (index: number, start: number, length: number) => void): void {
    const view = this.view;
    const end = this.buf.byteLength;
    let pos = this.pos;
    for (let i = 0; i < count; i++) {
      if (pos + 8 > end) {
        this.pos = pos;
        this.need(8);
      }
      const lo = view.getUint32(pos, true);
      const hi = view.getUint32(pos + 4, true);
      if (hi !== 0) {
        this.pos = pos;
        this.size('string length');
      }
      pos += 8;
      if (pos + lo > end) {
        this.pos = pos;
        this.need(lo);
      }
      if (visit && (!lengths || lengths.has(lo))) visit(i, pos, lo);
      pos += lo;
    }
    this.pos = pos;
  }
  scalar(type: number): number | bigint | boolean | string {
    switch (type) {
      case GgufValueType.UINT8:
        return this.u8();
      case GgufValueType.INT8:
        return this.i8();
      case GgufValueType.UINT16:
        return this.u16();
      case GgufValueType.INT16:
        return this.i16();
      case GgufValueType.UINT32:
        return this.u32();
      case GgufValueType.INT32:
        return this.i32();
      case GgufValueType.FLOAT32:
        return this.f32();
      case GgufValueType.FLOAT64:
        return this.f64();
      case GgufValueType.UINT64:
        return this.u64();
      case GgufValueType.INT64:
        return this.i64();
      case GgufValueType.BOOL: {
        const b = this.u8();
        if (b > 1) throw new GgufError(`invalid bool byte ${b} at offset ${this.pos - 1}`);
        return b === 1;
      }
      case GgufValueType.STRING:
        return this.str();
      default:
        throw new GgufError(`unknown GGUF value type ${type} at offset ${this.pos - 4}`);
    }
  }
  value(key: string): GgufValue {
    const type = this.u32();
    if (type === GgufValueType.ARRAY) {
      const itemType = this.u32();
      if (itemType === GgufValueType.ARRAY) throw new GgufError(`key ${key}: nested arrays are not supported`);
      if (!(itemType in GgufValueType)) throw new GgufError(`key ${key}: unknown array item type ${itemType}`);
      const count = this.size(`key ${key}: array length`);
      // Every item takes at least its width (a string at least its 8-byte length), so a count the
      // bytes cannot hold is found before anything is allocated.
      this.need(count * (SCALAR_WIDTH[itemType] ?? 8));
      const value: Array<number | bigint | boolean | string> = new Array(count);
      for (let i = 0; i < count; i++) value[i] = this.scalar(itemType);
      return { type: GgufValueType.ARRAY, itemType: itemType as ScalarType, value };
    }
    return { type, value: this.scalar(type) } as GgufValue;
  }
}

/** Magic, version and the two counts every GGUF starts with. */
function readPreamble(r: Reader): { version: number; tensorCount: number; kvCount: number } {
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) throw new GgufError(`not a GGUF file (magic 0x${magic.toString(16).padStart(8, '0')})`);
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new GgufError(`unsupported GGUF version ${version} (expected 3)`);
  return { version, tensorCount: r.size('tensor count'), kvCount: r.size('kv count') };
}

function parse(buf: Uint8Array, complete: boolean, fileSize: number): GgufFile {
  const r = new Reader(buf, complete);
  const { version, tensorCount, kvCount } = readPreamble(r);
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.str();
    if (kv.has(key)) throw new GgufError(`duplicate key ${key}`);
    kv.set(key, r.value(key));
  }
  const alignValue = kv.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue) {
    if (alignValue.type !== GgufValueType.UINT32 || alignValue.value === 0 || (alignValue.value & (alignValue.value - 1)) !== 0) {
      throw new GgufError(`general.alignment must be a power-of-two u32`);
    }
    alignment = alignValue.value;
  }
  const infos: Array<Omit<GgufTensorInfo, 'fileOffset'>> = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.str();
    const nDims = r.u32();
    if (nDims < 1 || nDims > 4) throw new GgufError(`tensor ${name}: ${nDims} dimensions (1-4 allowed)`);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) shape.push(r.size(`tensor ${name}: dimension`));
    const type = r.u32() as GgmlType;
    const offset = r.size(`tensor ${name}: offset`);
    if (offset % alignment !== 0) throw new GgufError(`tensor ${name}: offset ${offset} is not aligned to ${alignment}`);
    infos.push({ name, shape, type, offset, byteSize: tensorByteSize(type, shape) });
  }
  const dataOffset = alignUp(r.pos, alignment);
  const tensors = infos.map((t) => ({ ...t, fileOffset: dataOffset + t.offset }));
  for (const t of tensors) {
    if (t.fileOffset + t.byteSize > fileSize) {
      throw new GgufError(`tensor ${t.name}: data ends at ${t.fileOffset + t.byteSize}, past the end of the file (${fileSize})`);
    }
  }
  return { version, kv, tensors, alignment, dataOffset };
}

/** Parses a complete GGUF held in memory. */
export function parseGguf(buf: Uint8Array): GgufFile {
  return parse(buf, true, buf.byteLength);
}
/**
 * Parses the head of a file that is `fileSize` bytes long. Throws `GgufNeedMoreBytes` when `head`
 * ends before the tensor table does (read more and call again), `GgufError` when the bytes are not
 * a GGUF file this reader understands.
 */
export function parseGgufHead(head: Uint8Array, fileSize: number): GgufFile {
  return parse(head, head.byteLength >= fileSize, fileSize);
}

/** What a model check needs from a GGUF header, without the vocabulary materialised. */
export interface GgufSummary {
  version: number;
  tensorCount: number;
  /** Scalar metadata values (numbers, 64-bit integers, booleans, strings). */
  scalars: Map<string, number | bigint | boolean | string>;
  /** Item count of each array value (`tokenizer.ggml.tokens` = the vocabulary size). */
  arrayLengths: Map<string, number>;
  /** Those of the `lookForTokens` strings that occur in `tokenizer.ggml.tokens`, with their ids. */
  tokensFound: Map<string, number>;
  /** The texts of the `tokenTextsAt` token ids that exist in `tokenizer.ggml.tokens`. */
  tokenTexts: Map<number, string>;
  /** Tensors per ggml type (the file's quantization mix). */
  tensorTypes: Map<GgmlType, number>;
  /** Byte offset where the last tensor's data ends: beyond the file size means a truncated file. */
  dataEnd: number;
}

/**
 * Walks a GGUF head like `parseGgufHead` but keeps only scalars, array lengths, the listed token
 * strings and the texts of the listed token ids; arrays are skipped without decoding. Same errors
 * as `parseGgufHead`.
 */
export function summarizeGgufHead(
  head: Uint8Array,
  fileSize: number,
  lookForTokens: readonly string[] = [],
  tokenTextsAt: readonly number[] = [],
): GgufSummary {
  const r = new Reader(head, head.byteLength >= fileSize);
  const { version, tensorCount, kvCount } = readPreamble(r);
  const wanted = new Map<number, Array<{ text: string; bytes: Buffer }>>();
  for (const text of lookForTokens) {
    const bytes = Buffer.from(text, 'utf8');
    wanted.set(bytes.length, [...(wanted.get(bytes.length) ?? []), { text, bytes }]);
  }
  const scalars = new Map<string, number | bigint | boolean | string>();
  const arrayLengths = new Map<string, number>();
  const tokensFound = new Map<string, number>();
  const idsWanted = new Set(tokenTextsAt);
  const tokenTexts = new Map<number, string>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.str();
    if (scalars.has(key) || arrayLengths.has(key)) throw new GgufError(`duplicate key ${key}`);
    const type = r.u32();
    if (type !== GgufValueType.ARRAY) {
      scalars.set(key, r.scalar(type));
      continue;
    }
    const itemType = r.u32();
    if (!(itemType in GgufValueType) || itemType === GgufValueType.ARRAY)
      throw new GgufError(`key ${key}: unsupported array item type ${itemType}`);
    const count = r.size(`key ${key}: array length`);
    arrayLengths.set(key, count);
    const width = SCALAR_WIDTH[itemType];
    if (width !== undefined) {
      r.skip(count * width);
    } else if (key === 'tokenizer.ggml.tokens' && (wanted.size > 0 || idsWanted.size > 0)) {
      // Ids wanted: every string is visited; otherwise only those of a wanted length.
      const lengths = idsWanted.size > 0 ? undefined : new Set(wanted.keys());
      const firstBytes = new Set([...wanted.values()].flat().map((c) => c.bytes[0]));
      r.skipStrings(count, lengths, (id, start, length) => {
        if (idsWanted.has(id)) tokenTexts.set(id, Buffer.from(head.subarray(start, start + length)).toString('utf8'));
        if (!firstBytes.has(head[start])) return;
        const bytes = head.subarray(start, start + length);
        const hit = wanted.get(length)?.find((c) => c.bytes.equals(bytes));
        if (hit && !tokensFound.has(hit.text)) tokensFound.set(hit.text, id);
      });
    } else {
      r.skipStrings(count);
    }
  }
  const alignValue = scalars.get('general.alignment');
  const alignment =
    typeof alignValue === 'number' && alignValue > 0 && (alignValue & (alignValue - 1)) === 0 ? alignValue : GGUF_DEFAULT_ALIGNMENT;
  if (alignValue !== undefined && alignment !== alignValue) throw new GgufError('general.alignment must be a power-of-two u32');
  const tensorTypes = new Map<GgmlType, number>();
  let lastEnd = 0;
  for (let i = 0; i < tensorCount; i++) {
    r.skip(r.size('tensor name length'));
    const nDims = r.u32();
    if (nDims < 1 || nDims > 4) throw new GgufError(`tensor ${i}: ${nDims} dimensions (1-4 allowed)`);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) shape.push(r.size(`tensor ${i}: dimension`));
    const type = r.u32() as GgmlType;
    const offset = r.size(`tensor ${i}: offset`);
    tensorTypes.set(type, (tensorTypes.get(type) ?? 0) + 1);
    lastEnd = Math.max(lastEnd, offset + tensorByteSize(type, shape));
  }
  const dataOffset = alignUp(r.pos, alignment);
  return { version, tensorCount, scalars, arrayLengths, tokensFound, tokenTexts, tensorTypes, dataEnd: dataOffset + lastEnd };
}

/**
 * Reads the head of `path` (1 MiB first, four times more whenever the metadata goes on) and hands
 * it to `parseHead`, asynchronously: the caller's event loop keeps running between reads.
 * A header longer than `maxHeadBytes` is refused (a real model's metadata is a few MB).
 */
export async function readGgufHead<T>(
  path: string,
  parseHead: (head: Uint8Array, fileSize: number) => T,
  maxHeadBytes = 256 * 1024 * 1024,
): Promise<T> {
  const file = await open(path, 'r');
  try {
    const fileSize = (await file.stat()).size;
    let want = Math.min(fileSize, 1 << 20);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await file.read(buf, 0, want, 0);
      try {
        return parseHead(buf.subarray(0, bytesRead), fileSize);
      } catch (err) {
        if (!(err instanceof GgufNeedMoreBytes)) throw err;
        if (want >= fileSize || bytesRead < want)
          throw new GgufError(`truncated GGUF: the metadata goes past the end of the file (${fileSize} bytes)`);
        if (want >= maxHeadBytes) throw new GgufError(`the GGUF metadata is larger than ${maxHeadBytes} bytes`);
        want = Math.min(fileSize, maxHeadBytes, want * 4);
      }
    }
  } finally {
    await file.close();
  }
}

/** Typed accessors for metadata, with errors naming the key. */
export function kvNumber(file: GgufFile, key: string): number {
  const v = file.kv.get(key);
  if (!v) throw new GgufError(`missing key ${key}`);
  if (typeof v.value === 'number') return v.value;
  if (typeof v.value === 'bigint') return Number(v.value);
  throw new GgufError(`key ${key} is not a number`);
}
export function kvString(file: GgufFile, key: string): string {
  const v = file.kv.get(key);
  if (!v) throw new GgufError(`missing key ${key}`);
  if (v.type !== GgufValueType.STRING) throw new GgufError(`key ${key} is not a string`);
  return v.value;
}
