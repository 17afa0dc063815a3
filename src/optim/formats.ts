// Storage formats of optimizer state. The update math never mentions bits: it reads a state as f32 and
// returns its new f32 value; the format decides how that is stored. A new format is one entry here.
//   f32      : the value itself.
//   dynamic8 : bnb's blockwise dynamic 8-bit (signed map for signed states, unsigned map otherwise),
//              one f32 absmax per 256-block, fast exact encoder.
//   linear8  : the same blockwise layout with a linear map (the paper's ablation).
import { Tensor } from "../dsl/tensor.ts";
import { dequantize, encodeByMidpoints, encodeDynamicFast, signFix, type Lookup } from "../ops/quantize.ts";
import { SIGNED_ENCODER, UNSIGNED_ENCODER } from "./encoder.ts";
import { LINEAR_SIGNED_MAP, LINEAR_UNSIGNED_MAP, SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP } from "./maps.ts";

export type FormatName = "f32" | "dynamic8" | "linear8";
export const BLOCK = 256;

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

export interface StateFormat {
  name: FormatName;
  quantized: boolean;
  /** Lookup tables this format's kernels read, for a signed or unsigned state. */
  tables(signed: boolean): Record<string, TableData>;
  /** The code map itself (state dicts record its checksum). */
  map(signed: boolean): Float32Array | undefined;
  /** f32 value of the stored state. `t` holds the state's inputs (value, or codes + absmax) and tables. */
  read(t: FormatInputs, signed: boolean): Tensor;
  /** New stored form of an f32 value [blocks, 256]: value, or codes + absmax. */
  write(value: Tensor, t: FormatInputs, signed: boolean): Record<string, Tensor>;
}

const mids = (map: Float32Array) => Float32Array.from({ length: 256 }, (_, k) => (k < 255 ? Math.fround(Math.fround(map[k] + map[k + 1]) * 0.5) : Infinity));

function blockwise(name: FormatName, map: (signed: boolean) => Float32Array, extra: (signed: boolean) => Record<string, TableData>, encode: (x: Tensor, t: FormatInputs, signed: boolean) => Tensor): StateFormat {
  return {
    name,
    quantized: true,
    map,
    tables: (signed) => ({ qmap: { dtype: "f32", data: map(signed) }, ...extra(signed) }),
    read: (t) => dequantize(t.codes!, t.absmax!, t.qmap!),
    write: (value, t, signed) => {
      // New absmax from the new f32 states (§2.3 step 4), then q = search(s / absmax) (+ sign fix).
      // A block whose states are all NaN (an Inf gradient, a step later, in the 1-state kernels) has no max: the
      // reduction's identity (-Inf) or a NaN would land in absmax. The running max starts at 0 (the oracle's
      // choice; CUDA's starts at -FLT_MAX, bnb-algorithms.md §9), so that block's state restarts at 0.
      const m = value.abs().max();
      const absmax = m.gt(0).where(m, 0).named("absmax");
      const x = value.div(absmax).named("normed");
      let q = encode(x, t, signed);
      if (signed) q = signFix(q, value);
      return { codes: q.cast("u8"), absmax };
    },
  };
}

export const FORMATS: Record<FormatName, StateFormat> = {
  f32: {
    name: "f32",
    quantized: false,
    tables: () => ({}),
    map: () => undefined,
    read: (t) => t.value!,
    write: (value) => ({ value }),
  },
  dynamic8: blockwise(
    "dynamic8",
    (s) => (s ? SIGNED_DYNAMIC_MAP : UNSIGNED_DYNAMIC_MAP),
    (s) => ({ thresholds: { dtype: "u32", data: (s ? SIGNED_ENCODER : UNSIGNED_ENCODER).thresholdBits } }),
    (x, t, signed) => encodeDynamicFast(x, signed ? SIGNED_ENCODER : UNSIGNED_ENCODER, t.thresholds!, signed),
  ),
  linear8: blockwise(
    "linear8",
    (s) => (s ? LINEAR_SIGNED_MAP : LINEAR_UNSIGNED_MAP),
    (s) => ({ mids: { dtype: "f32", data: mids(s ? LINEAR_SIGNED_MAP : LINEAR_UNSIGNED_MAP) } }),
    (x, t, signed) => {
      // code k = (k - 127) / 128 (signed) or k / 255 (unsigned): floor gives the code at or below x.
      const g = signed ? x.mul(128).floor().add(127) : x.mul(255).floor();
      const guess = g.maximum(0).minimum(254).cast("u32");
      return encodeByMidpoints(x, guess, t.mids!);
    },
  ),
};
