// GGUF writing, for the tests, the benchmarks and the build's demo model (never the product server,
// which only reads GGUF: server/src/models/gguf.ts). Also synchronous whole-file readers, which are
// fine in a test but would block the server's event loop.
//
// The writer streams tensors to disk one at a time, so a 500 MB model never has to sit in memory at
// once: tensor data is produced by a callback when it is written.

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgmlType,
  GgufError,
  type GgufFile,
  GgufNeedMoreBytes,
  type GgufTensorInfo,
  type GgufValue,
  GgufValueType,
  parseGgufHead,
  tensorByteSize,
} from '../../server/src/models/gguf';

export * from '../../server/src/models/gguf';

type ScalarType = Exclude<GgufValueType, GgufValueType.ARRAY>;

/** Constructors for metadata values. */
export const gv = {
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  u64: (value: bigint): GgufValue => ({ type: GgufValueType.UINT64, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  arr: (itemType: ScalarType, value: Array<number | bigint | boolean | string>): GgufValue => ({
    type: GgufValueType.ARRAY,
    itemType,
    value,
  }),
};

/** Reads a GGUF file's metadata and tensor table (not the tensor data). */
export function readGgufFile(path: string): GgufFile {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    let chunk = Math.min(fileSize, 1 << 20);
    for (;;) {
      const buf = Buffer.allocUnsafe(chunk);
      const n = readSync(fd, buf, 0, chunk, 0);
      try {
        return parseGgufHead(buf.subarray(0, n), fileSize);
      } catch (e) {
        if (!(e instanceof GgufNeedMoreBytes)) {
          if (e instanceof GgufError) e.message = `${path}: ${e.message}`;
          throw e;
        }
        chunk = Math.min(fileSize, chunk * 4);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's raw bytes from a file. */
export function readTensorData(path: string, tensor: GgufTensorInfo): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(tensor.byteSize); // not pooled: buf.buffer is exactly this tensor
    const n = readSync(fd, buf, 0, tensor.byteSize, tensor.fileOffset);
    if (n !== tensor.byteSize) throw new GgufError(`${path}: tensor ${tensor.name} truncated`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface GgufTensorSpec {
  name: string;
  /** ne[0] first. */
  shape: number[];
  type: GgmlType;
  /** Produces the tensor's bytes (exactly tensorByteSize(type, shape)) when it is written. */
  data: () => Uint8Array;
}

class ByteSink {
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(1 << 16);
  private pos = 0;
  length = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(Math.max(1 << 16, n));
    this.pos = 0;
  }
  u8(v: number): void {
    this.ensure(1);
    this.cur.writeUInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
  }
  i8(v: number): void {
    this.ensure(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.cur.writeUInt16LE(v, this.pos);
    this.pos += 2;
    this.length += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.cur.writeInt16LE(v, this.pos);
    this.pos += 2;
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.cur.writeUInt32LE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.cur.writeInt32LE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.cur.writeFloatLE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.cur.writeDoubleLE(v, this.pos);
    this.pos += 8;
    this.length += 8;
  }
  u64(v: bigint | number): void {
    this.ensure(8);
    this.cur.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    this.length += 8;
  }
  i64(v: bigint): void {
    this.ensure(8);
    this.cur.writeBigInt64LE(v, this.pos);
    this.pos += 8;
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.cur.set(b, this.pos);
    this.pos += b.length;
    this.length += b.length;
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number): void {
    this.bytes(new Uint8Array(n));
  }
  toBuffer(): Buffer {
    return Buffer.concat([...this.chunks, this.cur.subarray(0, this.pos)]);
  }
}

function writeScalar(s: ByteSink, key: string, type: number, v: unknown): void {
  const bad = (): never => {
    throw new GgufError(`key ${key}: value ${String(v)} does not fit type ${GgufValueType[type] ?? type}`);
  };
  switch (type) {
    case GgufValueType.UINT8:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) bad();
      s.u8(v as number);
      return;
    case GgufValueType.INT8:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80 || v > 0x7f) bad();
      s.i8(v as number);
      return;
    case GgufValueType.UINT16:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) bad();
      s.u16(v as number);
      return;
    case GgufValueType.INT16:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x8000 || v > 0x7fff) bad();
      s.i16(v as number);
      return;
    case GgufValueType.UINT32:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) bad();
      s.u32(v as number);
      return;
    case GgufValueType.INT32:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) bad();
      s.i32(v as number);
      return;
    case GgufValueType.FLOAT32:
      if (typeof v !== 'number') bad();
      s.f32(v as number);
      return;
    case GgufValueType.FLOAT64:
      if (typeof v !== 'number') bad();
      s.f64(v as number);
      return;
    case GgufValueType.UINT64:
      if (typeof v !== 'bigint' || v < 0n) bad();
      s.u64(v as bigint);
      return;
    case GgufValueType.INT64:
      if (typeof v !== 'bigint') bad();
      s.i64(v as bigint);
      return;
    case GgufValueType.BOOL:
      if (typeof v !== 'boolean') bad();
      s.u8(v ? 1 : 0);
      return;
    case GgufValueType.STRING:
      if (typeof v !== 'string') bad();
      s.str(v as string);
      return;
    default:
      throw new GgufError(`key ${key}: unknown value type ${type}`);
  }
}

/** Serializes the header, kv table and tensor table, padded to the alignment (data section start). */
export function encodeGgufHeader(
  kv: Iterable<[string, GgufValue]>,
  tensors: ReadonlyArray<Omit<GgufTensorSpec, 'data'>>,
): {
  header: Buffer;
  offsets: number[];
  alignment: number;
} {
  const entries = [...kv];
  const seen = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [key, v] of entries) {
    if (seen.has(key)) throw new GgufError(`duplicate key ${key}`);
    seen.add(key);
    if (key === 'general.alignment') {
      if (v.type !== GgufValueType.UINT32 || v.value === 0 || (v.value & (v.value - 1)) !== 0) {
        throw new GgufError('general.alignment must be a power-of-two u32');
      }
      alignment = v.value;
    }
  }
  const s = new ByteSink();
  s.u32(GGUF_MAGIC);
  s.u32(GGUF_VERSION);
  s.u64(tensors.length);
  s.u64(entries.length);
  for (const [key, v] of entries) {
    s.str(key);
    s.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      s.u32(v.itemType);
      s.u64(v.value.length);
      for (const item of v.value) writeScalar(s, key, v.itemType, item);
    } else {
      writeScalar(s, key, v.type, v.value);
    }
  }
  const offsets: number[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(`duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4) throw new GgufError(`tensor ${t.name}: ${t.shape.length} dimensions (1-4 allowed)`);
    for (const d of t.shape) {
      if (!Number.isInteger(d) || d < 1) throw new GgufError(`tensor ${t.name}: bad dimension ${d}`);
    }
    s.str(t.name);
    s.u32(t.shape.length);
    for (const d of t.shape) s.u64(d);
    s.u32(t.type);
    s.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + tensorByteSize(t.type, t.shape), alignment);
  }
  s.zeros(alignUp(s.length, alignment) - s.length);
  return { header: s.toBuffer(), offsets, alignment };
}

/**
 * Writes a GGUF file. Tensors are produced and written one at a time. Writes straight to `path`;
 * callers that need atomicity write to a temporary name and rename.
 */
export function writeGgufFile(path: string, kv: Iterable<[string, GgufValue]>, tensors: readonly GgufTensorSpec[]): void {
  const { header, offsets, alignment } = encodeGgufHeader(kv, tensors);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, header);
    let pos = 0; // relative to the data section
    tensors.forEach((t, i) => {
      const target = offsets[i]!;
      if (target > pos) writeAll(fd, new Uint8Array(target - pos));
      const bytes = t.data();
      const expected = tensorByteSize(t.type, t.shape);
      if (bytes.byteLength !== expected) {
        throw new GgufError(`tensor ${t.name}: data is ${bytes.byteLength} bytes, expected ${expected}`);
      }
      writeAll(fd, bytes);
      pos = target + expected;
    });
    const end = alignUp(pos, alignment);
    if (end > pos) writeAll(fd, new Uint8Array(end - pos));
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

// ---------------------------------------------------------------------------------------------
// Element encodings

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half from float, round to nearest even (as ggml's GGML_FP32_TO_FP16 on x86 F16C). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is correct rounding
  return sign | half;
}

/** Float from IEEE half bits. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

export function encodeF16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return new Uint8Array(out.buffer);
}

export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

/**
 * Q8_0 as ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 stored as f16,
 * q[j] = roundf(x[j] / d) as int8 (half away from zero).
 */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK !== 0) throw new GgufError(`Q8_0 needs a multiple of 32 values, got ${values.length}`);
  const nBlocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(nBlocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const a = Math.abs(values[base + j]!);
      if (a > amax) amax = a;
    }
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const x = values[base + j]! * id;
      const q = x < 0 ? -Math.round(-x) : Math.round(x);
      view.setInt8(o + 2 + j, q);
    }
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % Q8_0_BLOCK_BYTES !== 0) throw new GgufError(`Q8_0 data length ${bytes.byteLength} is not a multiple of 34`);
  const nBlocks = bytes.byteLength / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(nBlocks * Q8_0_BLOCK);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(view.getUint16(o, true));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(o + 2 + j);
  }
  return out;
}

/** Encodes float values as `type` (F32, F16 or Q8_0). */
export function encodeTensor(type: GgmlType, values: Float32Array): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return encodeF32(values);
    case GgmlType.F16:
      return encodeF16(values);
    case GgmlType.Q8_0:
      return quantizeQ8_0(values);
    default:
      throw new GgufError(`encoding to ${GgmlType[type] ?? type} is not supported (F32, F16, Q8_0 are)`);
  }
}
