// Blockwise 8-bit quantization written in the DSL (bnb-algorithms.md §1.3, §2.3). A block is one row of
// 256 elements; its scale (absmax) is a per-row f32. These functions are traced into the optimizer kernels,
// so dequantize -> update -> absmax -> requantize fuse into a single pass.
import { Tensor } from "../dsl/tensor.ts";
import type { DynamicEncoder } from "../optim/encoder.ts";

/**
 * A lookup table the quantizers index: a 1-D tensor, or a window of a packed table buffer (an optimizer binds
 * every table of a kernel as one buffer to stay within the storage-buffer budget).
 */
export interface Lookup {
  gather(index: Tensor): Tensor;
}

/** value = code[q] * absmax[block]: `codes` u8 [blocks, 256], `absmax` f32 [blocks, 1], `map` f32[256] table. */
export function dequantize(codes: Tensor, absmax: Tensor, map: Lookup): Tensor {
  return map.gather(codes.cast("u32")).mul(absmax);
}

/**
 * bnb's exact code search (§1.3): 7 halving steps over the sorted map, then a midpoint comparison, ties to the
 * even index, NaN -> 0. The textbook encoder, kept as the reference the fast one is measured against.
 */
export function encodeBinarySearch(x: Tensor, map: Lookup, signed: boolean): Tensor {
  const u = (v: number) => Tensor.const(v, "u32");
  let pivot: Tensor = u(127);
  let loP: Tensor = u(0);
  let hiP: Tensor = u(255);
  let lo: Tensor = Tensor.const(signed ? -1 : 0);
  let hi: Tensor = Tensor.const(1);
  for (const step of [64, 32, 16, 8, 4, 2, 1]) {
    const v = map.gather(pivot.expand(x.shape));
    const gt = x.gt(v);
    loP = gt.where(pivot, loP);
    lo = gt.where(v, lo);
    hiP = gt.where(hiP, pivot);
    hi = gt.where(hi, v);
    pivot = gt.where(pivot.add(step), pivot.sub(step));
  }
  const v = map.gather(pivot);
  const up = x.gt(hi.add(v).mul(0.5)).where(hiP, pivot);
  const down = x.lt(lo.add(v).mul(0.5)).where(loP, pivot);
  return x.gt(v).where(up, down);
}

/**
 * The O(1) exact encoder for the dynamic maps (src/optim/encoder.ts explains why it is exact): the decade from
 * 6 integer compares on the f32 bits, the code from one multiply-add and a floor, then one lookup in the
 * tie-aware threshold table `thresholds` (u32[256]) decides between that code and the next.
 */
export function encodeDynamicFast(x: Tensor, enc: DynamicEncoder, thresholds: Lookup, signed: boolean): Tensor {
  const bits = x.bitcast("u32").named("bits");
  const mag = bits.and(0x7fffffff).named("mag");
  const u = mag.minimum(0x40000000).named("clamped"); // |x| <= 2: everything above 1 encodes to 255
  const a = u.bitcast("f32");
  let decade: Tensor = Tensor.const(0, "u32");
  let scale: Tensor = Tensor.const(enc.decadeScale[0]);
  for (let i = 0; i < 6; i++) {
    const above = u.gt(enc.decadeBits[i]);
    decade = decade.add(above.where(Tensor.const(1, "u32"), Tensor.const(0, "u32")));
    scale = above.where(Tensor.const(enc.decadeScale[i + 1]), scale);
  }
  const K = Tensor.const(1, "u32").shl(decade.add(enc.shift)).named("codes_in_decade");
  const kf = K.cast("f32");
  const offset = kf.mul(Math.fround(1 / 9)).add(0.5);
  const y = a.mul(scale).sub(offset).named("y");
  const j = y.floor().maximum(-1).minimum(kf.sub(1)).named("j");
  const guess = j.cast("i32").add(K.cast("i32")).add(enc.zeroCode - enc.shift).cast("u32").named("guess");
  const up = u.gt(thresholds.gather(guess)).where(Tensor.const(1, "u32"), Tensor.const(0, "u32"));
  const q = guess.add(up).named("q");
  const negative = bits.shr(31).eq(1);
  const r = signed ? negative.where(Tensor.const(254, "u32").sub(q.minimum(254)), q) : negative.where(Tensor.const(0, "u32"), q);
  return mag.gt(0x7f800000).where(Tensor.const(0, "u32"), r); // NaN -> code 0, as bnb
}

/**
 * Nearest code of a strictly increasing map with a cheap arithmetic guess g (the code at or just below x) and
 * the f32 midpoints table `mids` (mids[k] between code k and k+1): ties go to the even index. Used by the
 * linear map, whose guess is exact up to one code.
 */
export function encodeByMidpoints(x: Tensor, guess: Tensor, mids: Lookup): Tensor {
  const m = mids.gather(guess);
  const oddGuess = guess.and(1).eq(1);
  const up = x.gt(m).or(x.eq(m).and(oddGuess));
  const q = guess.add(up.where(Tensor.const(1, "u32"), Tensor.const(0, "u32")));
  return x.isnan().where(Tensor.const(0, "u32"), q);
}

/** The optimizers' sign fix for signed maps (§1.3): keep a tiny negative state's sign, in uint8 arithmetic. */
export function signFix(q: Tensor, state: Tensor): Tensor {
  const sBits = state.bitcast("u32");
  // signbit() of a NaN state is that of CUDA's arithmetic NaN, 0x7fffffff: positive (§1.3). x86 (lavapipe) makes
  // 0·Inf = 0xffc00000, whose sign bit is set: taken as is, a state that became NaN after an Inf gradient (the
  // 1-state kernels have no guard) kept code 0 (-Inf next step) where bnb stores 255 (+Inf).
  const sNeg = sBits.shr(31).eq(1).and(sBits.and(0x7fffffff).le(0x7f800000));
  // Both signed maps (dynamic and linear) hold their negative codes below index 127 (c[127] = +0), so the
  // code's sign needs no lookup.
  const codeNeg = q.lt(127);
  const sPositive = state.gt(0);
  const stepped = q.add(sPositive.where(Tensor.const(1, "u32"), Tensor.const(255, "u32"))).and(255);
  return codeNeg.eq(sNeg).where(q, stepped);
}
