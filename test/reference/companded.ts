// Plain-TS oracle of the companded 8-bit state format (FlashOptim, arXiv 2602.23349; companded.md says what it
// follows). Independent of src/: two views of the same definition.
// - The binary32 codec (fl = Math.fround after every operation, in the kernels' operand order): what the GPU
//   must produce bit for bit, and the Codec the optimizer oracle (optimizers.ts) runs with.
// - The float64 brute force: the companded value in float64 and the nearest grid point by scanning every code,
//   which the binary32 codec must agree with except where the companded value sits within rounding of a tie.
import type { Codec } from "./optimizers.ts";

const fl = Math.fround;

/** WGSL round() / CUDA __float2int_rn: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- the grid ----

/** The companded value of code k: (k - 127) / 127 signed (k = 0..254), k / 255 unsigned. */
export const gridPoint = (k: number, signed: boolean): number => (signed ? (k - 127) / 127 : k / 255);

/** FlashOptim's compander in float64: 2x / (1 + |x|) signed ("softsign"), sqrt(x) unsigned. */
export const compand = (x: number, signed: boolean): number => (signed ? (2 * x) / (1 + Math.abs(x)) : Math.sqrt(x));

/** Its inverse: y / (2 - |y|) signed, y² unsigned. */
export const expand = (y: number, signed: boolean): number => (signed ? y / (2 - Math.abs(y)) : y * y);

/** The value (at scale 1) code k stands for, in float64: expand(gridPoint(k)). */
export const decode64 = (k: number, signed: boolean): number => expand(gridPoint(k, signed), signed);

// ---- binary32, as the kernels compute ----

/** Code k at scale 1 in binary32: c / (254 - |c|) with c = k - 127 (signed), fl(k² · fl(1/65025)) (unsigned). */
export function decode32(k: number, signed: boolean): number {
  if (!signed) return fl(k * k * fl(1 / 65025)); // k² <= 65025 is exact
  const c = k - 127;
  return fl(c / (254 - Math.abs(c)));
}

/** The code of x = fl(state / scale): signed fl(fl(254 x) / fl(1 + |x|)) rounded, + 127; unsigned fl(255 · fl(√max(x, 0))) rounded. NaN -> the zero code. */
export function encode32(x: number, signed: boolean): number {
  if (Number.isNaN(x)) return signed ? 127 : 0;
  if (!signed) return roundHalfEven(fl(255 * fl(Math.sqrt(Math.max(x, 0)))));
  return roundHalfEven(fl(fl(254 * x) / fl(1 + Math.abs(x)))) + 127;
}

// ---- float64 brute force ----

/**
 * The nearest code to x's companded value over every code of the grid (signed: 0..254; 255 is never written),
 * and how far from a tie it sits: `margin` = |distance to the second nearest| - |distance to the nearest|, in
 * code steps (0 at an exact tie).
 */
export function nearest64(x: number, signed: boolean): { code: number; margin: number } {
  const y = compand(x, signed);
  const last = signed ? 254 : 255;
  const steps = signed ? 127 : 255;
  let best = 0;
  let second = 1;
  const d = (k: number) => Math.abs(y - gridPoint(k, signed)) * steps;
  for (let k = 1; k <= last; k++) {
    if (d(k) < d(best)) [second, best] = [best, k];
    else if (k !== best && d(k) < d(second)) second = k;
  }
  return { code: best, margin: d(second) - d(best) };
}

// ---- the codec the optimizer oracle runs ----

/** One state value <-> code, with the block's absmax (signed: max |m|; unsigned: max v), in binary32. */
export const COMPANDED: Codec = {
  decode: (q, absmax, signed) => fl(decode32(q, signed) * absmax),
  encode: (s, absmax, signed) => encode32(fl(s / absmax), signed),
  zeroCode: (signed) => (signed ? 127 : 0),
};
