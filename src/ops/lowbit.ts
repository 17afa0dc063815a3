// Encoders and packing of the 4-bit and FP8 optimizer states, written in the DSL (traced into the update kernels
// with the rest of the step). The maps themselves are data: src/optim/lowbit-maps.ts.
import { Tensor } from "../dsl/tensor.ts";

const u32 = (v: number) => Tensor.const(v, "u32");

/**
 * Nearest code of a sorted 16-entry map for x already divided by its block's scale: the number of `thresholds`
 * (lowbit-maps.ts nearestThresholds: the largest f32 of each code, ties to the lower index) below x, as 15
 * compares against literals, no lookup. NaN (a block whose scale is 0 or not finite) -> `zero`, the code of 0.
 */
export function encodeSorted16(x: Tensor, thresholds: Float32Array, zero: number): Tensor {
  let q: Tensor = u32(0);
  for (const t of thresholds) q = q.add(x.gt(t).where(u32(1), u32(0)));
  return x.isnan().where(u32(zero), q);
}

/**
 * E4M3 (fn) code of x, rounding to nearest even as torch's .to(float8_e4m3fn). |x| is clamped to 448 first (the
 * caller divides by absmax / 448, so only a rounding of that division lands above it; torch would round it back
 * to 448 too) and NaN gives code 0. Worked on the f32 bits:
 *   normal (|x| >= 2^-6): keep 3 of the 23 mantissa bits with round-half-even on the integer bits, then re-bias
 *     the exponent from 127 to 7: code = (rounded bits >> 20) - (120 << 3); a carry moves into the exponent.
 *   subnormal: the code is the mantissa m of m * 2^-9, m = round-half-even(|x| * 512) in 0..8 (8 is 2^-6's code).
 */
export function encodeE4M3(x: Tensor): Tensor {
  const bits = x.bitcast("u32").named("bits");
  const mag = bits.and(0x7fffffff).named("mag");
  const a = mag.minimum(0x43e00000).named("clamped"); // 448.0
  const lsb = a.shr(20).and(1);
  const normal = a.add(0x7ffff).add(lsb).shr(20).sub(960);
  const sub = a.bitcast("f32").mul(512).round().cast("u32");
  const code = a.ge(0x3c800000).where(normal, sub).or(bits.shr(31).shl(7)); // 2^-6; the sign bit
  return mag.gt(0x7f800000).where(u32(0), code);
}

/**
 * Two 4-bit codes per byte, as torchao packs them ((codes[::2] << 4) | codes[1::2]): byte k of a block holds
 * element 2k in its high nibble and 2k+1 in its low one; the u8 buffer packs 4 bytes (8 codes) per u32 word.
 * `q` is [rows, L] u32 codes; the result is [rows, L/2] u8. The kernel that writes it reads q through a table
 * (the scheduler computes q into a temporary first: a byte needs two neighbouring elements' codes).
 */
export function packNibbles(q: Tensor): Tensor {
  const [rows, L] = q.shape;
  const k = Tensor.iota([rows, L / 2], 0, "u32").mul(L / 2).add(Tensor.iota([rows, L / 2], 1, "u32")).shl(1);
  const flat = q.reshape([rows * L]);
  return flat.gather(k).shl(4).or(flat.gather(k.add(1))).cast("u8");
}

/** The codes [rows, L] (u32) of bytes [rows, L/2] packed by packNibbles. */
export function unpackNibbles(bytes: Tensor): Tensor {
  const [rows, half] = bytes.shape;
  const L = half * 2;
  const e = Tensor.iota([rows, L], 0, "u32").mul(L).add(Tensor.iota([rows, L], 1, "u32"));
  const byte = bytes.reshape([rows * half]).gather(e.shr(1)).cast("u32");
  return byte.shr(u32(4).sub(e.and(1).shl(2))).and(15); // even element: high nibble
}
