// Storage formats of optimizer state. The update math never mentions bits: it reads a state as f32 and
// returns its new f32 value; the format decides how that is stored. A new format is one entry here.
//   f32      : the value itself.
//   dynamic8 : bnb's blockwise dynamic 8-bit (signed map for signed states, unsigned map otherwise),
//              one f32 absmax per block, fast exact encoder.
//   linear8  : the same blockwise layout with a linear map (the paper's ablation).
//   fp8e4m3  : torchao AdamWFp8: a byte per element that is the float8_e4m3fn value of state / scale, one f32
//              scale = max(absmax, 1e-12) / 448 per block (the "absmax" slot holds that scale).
//   companded8: FlashOptim's companding (companded.ts): a byte per element on a linear grid over softsign(state /
//              absmax) for signed states and sqrt(state / max) for unsigned ones, decoded and encoded arithmetically
//              (no table), one f32 scale per block.
//   fourbit  : Li et al. 2023 / torchao AdamW4bit: two 4-bit codes per byte (8 per u32 word); first moments with the
//              signed dynamic-exponent map and one f32 absmax per block (default 128), second moments with the
//              zero-free linear map k/16 (lowbit-maps.ts), rank-1 normalized for 2-D tensors (the paper's §4.2:
//              each element's scale is min(its row's max, its column's max); the state keeps R + C f32 maxima)
//              and per block otherwise.
// Quantized formats are blockwise (a block is one row of the [blocks, blockSize] arena, its scale a per-row f32),
// except a state the format normalizes rank-1: its tensor has a bucket of its own, and the context says its shape.
import { Tensor } from "../dsl/tensor.ts";
import { dequantize, encodeByMidpoints, encodeDynamicFast, signFix, type Lookup } from "../ops/quantize.ts";
import { encodeE4M3, encodeSorted16, packNibbles, unpackNibbles } from "../ops/lowbit.ts";
import { SIGNED_ENCODER, UNSIGNED_ENCODER } from "./encoder.ts";
import { LINEAR_SIGNED_MAP, LINEAR_UNSIGNED_MAP, SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP } from "./maps.ts";
import { COMPANDED_SIGNED_MAP, COMPANDED_UNSIGNED_MAP, compandedZero, decodeCompanded, encodeCompanded } from "./companded.ts";
import { E4M3_MAP, E4M3_MAX, SIGNED_4BIT_MAP, UNSIGNED_4BIT_MAP, nearestThresholds } from "./lowbit-maps.ts";

export type FormatName = "f32" | "dynamic8" | "linear8" | "fp8e4m3" | "companded8" | "fourbit";
/** The default block size (bnb's since 0.44), and the granularity of every arena. */
export const BLOCK = 256;
/** The block sizes the `blockSize` option accepts (torchao: block_size; the 4-bit paper uses 2048 for its 8-bit runs). */
export const BLOCK_SIZES = [64, 128, 256, 2048] as const;
export type BlockSize = (typeof BLOCK_SIZES)[number];

/** A host array a kernel binds as a lookup table. */
export interface TableData {
  dtype: "f32" | "u32";
  data: Float32Array | Uint32Array;
}

/**
 * What a format reads for one state: its stored tensors (value, or codes + absmax) and its lookup tables by
 * name (1-D tensors, or windows of one packed table buffer: see optim/trace.ts).
 */
export type FormatInputs = { value?: Tensor; codes?: Tensor; absmax?: Tensor } & Record<string, Lookup | undefined>;

/**
 * What a format knows about the tensor behind a state beyond the arena: `rank1` is [R, C] when this state is
 * rank-1 normalized (the format's rank1(signed) and a 2-D parameter alone in its bucket); its stored `absmax`
 * is then [R + C, 1], the row maxima then the column maxima.
 */
export interface StateContext {
  rank1?: [number, number];
}

export interface StateFormat {
  name: FormatName;
  quantized: boolean;
  /** Bits per stored element: 32 (f32 value), 8 (a code byte) or 4 (two codes per byte). */
  codeBits: 32 | 8 | 4;
  /** The block size when the `blockSize` option is not given. */
  defaultBlockSize: BlockSize;
  /** What kernel names say about the storage ("8bit", "4bit", ...). */
  kernelTag: string;
  /** Lookup tables this format's kernels read, for a signed or unsigned state. */
  tables(signed: boolean): Record<string, TableData>;
  /** The code map itself (state dicts record its checksum). */
  map(signed: boolean): Float32Array | undefined;
  /** The code an exact 0 gets: the last block's padded lanes hold it, as a step leaves them. */
  zeroCode(signed: boolean): number;
  /** Whether a 2-D tensor's state of this signedness is rank-1 normalized instead of per block (fourbit: second moments). */
  rank1?(signed: boolean): boolean;
  /** f32 value [blocks, blockSize] of the stored state. `t` holds the state's inputs (value, or codes + absmax) and tables. */
  read(t: FormatInputs, signed: boolean, ctx?: StateContext): Tensor;
  /** New stored form of an f32 value [blocks, blockSize]: value, or codes + absmax. */
  write(value: Tensor, t: FormatInputs, signed: boolean, ctx?: StateContext): Record<string, Tensor>;
}

const mids = (map: Float32Array) => Float32Array.from({ length: 256 }, (_, k) => (k < 255 ? Math.fround(Math.fround(map[k] + map[k + 1]) * 0.5) : Infinity));

/** The per-block absmax of new f32 states: 0 for a block whose states are all NaN (see dynamic8's note). */
function blockAbsmax(value: Tensor): Tensor {
  // A block whose states are all NaN (an Inf gradient, a step later, in the 1-state kernels) has no max: the
  // reduction's identity (-Inf) or a NaN would land in absmax. The running max starts at 0 (the oracle's
  // choice; CUDA's starts at -FLT_MAX, bnb-algorithms.md §9), so that block's state restarts at 0.
  const m = value.abs().max();
  return m.gt(0).where(m, 0).named("absmax");
}

interface Blockwise {
  name: FormatName;
  map: (signed: boolean) => Float32Array;
  extra: (signed: boolean) => Record<string, TableData>;
  encode: (x: Tensor, t: FormatInputs, signed: boolean) => Tensor;
  kernelTag: string;
}

/** bnb's 8-bit blockwise layout: new absmax, q = search(s / absmax), bnb's sign fix for signed maps. */
function blockwise8({ name, map, extra, encode, kernelTag }: Blockwise): StateFormat {
  return {
    name,
    quantized: true,
    codeBits: 8,
    defaultBlockSize: BLOCK,
    kernelTag,
    map,
    zeroCode: (signed) => map(signed).indexOf(0),
    tables: (signed) => ({ qmap: { dtype: "f32", data: map(signed) }, ...extra(signed) }),
    read: (t) => dequantize(t.codes!, t.absmax!, t.qmap!),
    write: (value, t, signed) => {
      // New absmax from the new f32 states (§2.3 step 4), then q = search(s / absmax) (+ sign fix).
      const absmax = blockAbsmax(value);
      const x = value.div(absmax).named("normed");
      let q = encode(x, t, signed);
      if (signed) q = signFix(q, value);
      return { codes: q.cast("u8"), absmax };
    },
  };
}

const fourbitMap = (signed: boolean) => (signed ? SIGNED_4BIT_MAP : UNSIGNED_4BIT_MAP);
const fourbitThresholds = { signed: nearestThresholds(SIGNED_4BIT_MAP), unsigned: nearestThresholds(UNSIGNED_4BIT_MAP) };
const fourbitZero = (signed: boolean) => (signed ? SIGNED_4BIT_MAP.indexOf(0) : 0); // unsigned: 1/16 is nearest to 0

/** Each element's flat index in a [blocks, blockSize] arena. */
const flatIndex = ([rows, L]: readonly number[]) => Tensor.iota([rows, L], 0, "u32").mul(L).add(Tensor.iota([rows, L], 1, "u32"));

/**
 * Rank-1 normalization (Li et al. 2023, §4.2; lpmm's "rank1" scale type): element (r, c) of an [R, C] tensor is
 * scaled by min(rowMax[r], colMax[c]), the maxima of |v| over its row and its column. `maxima` is [R + C]: the row
 * maxima, then the column maxima. Arena lanes past R·C (the last block's padding) take row R-1's scales.
 */
function rank1Scale(maxima: Tensor, shape: readonly number[], [R, C]: [number, number]): Tensor {
  const e = flatIndex(shape);
  const flat = maxima.reshape([R + C]);
  return flat.gather(e.div(C).minimum(R - 1)).minimum(flat.gather(e.mod(C).add(R))).named("rank1_scale");
}

/** The [R + C, 1] maxima of |value| over each row and each column of the [R, C] tensor in the arena's first R·C lanes. */
function rank1Maxima(value: Tensor, [R, C]: [number, number]): Tensor {
  const m = value.reshape([value.numel]).gather(flatIndex([R, C])).abs().named("v_matrix");
  const rows = m.max(1, false).named("row_max"); // [R]
  const cols = m.max(0, false).named("col_max"); // [C] (a column reduction)
  const i = Tensor.iota([R + C, 1], 0, "u32");
  return i.lt(R).where(rows.gather(i.minimum(R - 1)), cols.gather(i.maximum(R).sub(R))).named("absmax");
}

export const FORMATS: Record<FormatName, StateFormat> = {
  f32: {
    name: "f32",
    quantized: false,
    codeBits: 32,
    defaultBlockSize: BLOCK,
    kernelTag: "32bit",
    tables: () => ({}),
    map: () => undefined,
    zeroCode: () => 0,
    read: (t) => t.value!,
    write: (value) => ({ value }),
  },
  dynamic8: blockwise8({
    name: "dynamic8",
    kernelTag: "8bit",
    map: (s) => (s ? SIGNED_DYNAMIC_MAP : UNSIGNED_DYNAMIC_MAP),
    extra: (s) => ({ thresholds: { dtype: "u32", data: (s ? SIGNED_ENCODER : UNSIGNED_ENCODER).thresholdBits } }),
    encode: (x, t, signed) => encodeDynamicFast(x, signed ? SIGNED_ENCODER : UNSIGNED_ENCODER, t.thresholds!, signed),
  }),
  linear8: blockwise8({
    name: "linear8",
    kernelTag: "8bit_linear",
    map: (s) => (s ? LINEAR_SIGNED_MAP : LINEAR_UNSIGNED_MAP),
    extra: (s) => ({ mids: { dtype: "f32", data: mids(s ? LINEAR_SIGNED_MAP : LINEAR_UNSIGNED_MAP) } }),
    encode: (x, t, signed) => {
      // code k = (k - 127) / 128 (signed) or k / 255 (unsigned): floor gives the code at or below x.
      const g = signed ? x.mul(128).floor().add(127) : x.mul(255).floor();
      const guess = g.maximum(0).minimum(254).cast("u32");
      return encodeByMidpoints(x, guess, t.mids!);
    },
  }),
  fp8e4m3: {
    name: "fp8e4m3",
    quantized: true,
    codeBits: 8,
    defaultBlockSize: BLOCK,
    kernelTag: "fp8",
    // One map for both signs, as torchao (the sign bit of a second moment is unused).
    map: () => E4M3_MAP,
    zeroCode: () => 0,
    tables: () => ({ qmap: { dtype: "f32", data: E4M3_MAP } }),
    read: (t) => dequantize(t.codes!, t.absmax!, t.qmap!), // codes.float() * scale
    write: (value) => {
      // torchao quantize_fp8: scale = absmax.clip(1e-12) / 448; codes = (x / scale).to(float8_e4m3fn).
      const scale = value.abs().max().maximum(1e-12).div(E4M3_MAX).named("absmax");
      return { codes: encodeE4M3(value.div(scale).named("normed")).cast("u8"), absmax: scale };
    },
  },
  companded8: {
    name: "companded8",
    quantized: true,
    codeBits: 8,
    defaultBlockSize: BLOCK,
    kernelTag: "8bit_companded",
    map: (signed) => (signed ? COMPANDED_SIGNED_MAP : COMPANDED_UNSIGNED_MAP), // value = map[code] · absmax
    zeroCode: compandedZero,
    tables: () => ({}), // nothing to look up
    read: (t, signed) => decodeCompanded(t.codes!, t.absmax!, signed),
    write: (value, _t, signed) => {
      const absmax = blockAbsmax(value); // signed: max |m|; unsigned: max v (decode squares the code, not the scale)
      return { codes: encodeCompanded(value.div(absmax).named("normed"), signed).cast("u8"), absmax };
    },
  },
  fourbit: {
    name: "fourbit",
    quantized: true,
    codeBits: 4,
    defaultBlockSize: 128,
    kernelTag: "4bit",
    map: fourbitMap,
    zeroCode: fourbitZero,
    tables: (signed) => ({ qmap: { dtype: "f32", data: fourbitMap(signed) } }),
    rank1: (signed) => !signed,
    read: (t, _signed, ctx) => {
      const codes = unpackNibbles(t.codes!);
      const scale = ctx?.rank1 ? rank1Scale(t.absmax!, codes.shape, ctx.rank1) : t.absmax!;
      return t.qmap!.gather(codes).mul(scale);
    },
    write: (value, _t, signed, ctx) => {
      // torchao quantize_4bit_with_qmap: x / absmax, nearest code (its reference implementation, argmin); rank-1:
      // x / min(row max, column max) (lpmm quant_scaling "rank1"). A zero scale gives NaN, which encodes as 0's code.
      const absmax = ctx?.rank1 ? rank1Maxima(value, ctx.rank1) : blockAbsmax(value);
      const scale = ctx?.rank1 ? rank1Scale(absmax, value.shape, ctx.rank1) : absmax;
      const x = value.div(scale).named("normed");
      const q = encodeSorted16(x, signed ? fourbitThresholds.signed : fourbitThresholds.unsigned, fourbitZero(signed)).named("q");
      return { codes: packNibbles(q), absmax };
    },
  },
};

/** Bytes of codes n elements take in a format (two 4-bit codes per byte, the last one half used when n is odd). */
export const codeBytes = (f: StateFormat, n: number): number => Math.ceil((n * f.codeBits) / 8);

/** One code per element from a format's stored bytes (4-bit: even element in the high nibble). */
export function unpackCodes(f: StateFormat, bytes: Uint8Array, n: number): Uint8Array {
  if (f.codeBits === 8) return bytes.subarray(0, n);
  return Uint8Array.from({ length: n }, (_, e) => (e & 1 ? bytes[e >> 1] & 15 : bytes[e >> 1] >> 4));
}

/** A format's stored bytes from one code per element (the inverse of unpackCodes; an odd tail nibble gets `pad`). */
export function packCodes(f: StateFormat, codes: Uint8Array, pad = 0): Uint8Array {
  if (f.codeBits === 8) return codes;
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let k = 0; k < out.length; k++) out[k] = (codes[2 * k] << 4) | (2 * k + 1 < codes.length ? codes[2 * k + 1] : pad);
  return out;
}

/** The block size a parameter's quantized state uses: the option, or its format's default. */
export function blockSizeOf(format: StateFormat, option: unknown): BlockSize {
  if (!format.quantized) return BLOCK;
  return (option as BlockSize | undefined) ?? format.defaultBlockSize;
}

/** The f32 scales a quantized state keeps: one per block, or R + C maxima when it is rank-1 normalized. */
export function scaleCount(format: StateFormat, signed: boolean, blocks: number, rank1?: [number, number]): number {
  return rank1 && format.rank1?.(signed) ? rank1[0] + rank1[1] : blocks;
}
