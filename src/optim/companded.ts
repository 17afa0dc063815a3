// The companded 8-bit state format (FlashOptim, Gonzalez Ortiz et al. 2026, arXiv 2602.23349): a state is
// divided by its block's scale, passed through a compander that spreads its heavy-tailed values over [-1, 1]
// (or [0, 1]), and the companded value is rounded to a linear grid of integer codes. Decoding inverts the
// compander. Both directions are a few ALU operations per element and read no table: no map gather, no threshold
// lookup (on lavapipe a storage load with a computed index costs about 12 instructions per float per lane).
//
//   signed states (first moments):   scale = max |m| of the block;       x = m / scale in [-1, 1]
//     compander  φ(x) = 2x / (1 + |x|)          (FlashOptim's "softsign"; maps [-1, 1] onto itself)
//     code       c = round(127 · φ(x)) in -127..127, stored as the byte k = c + 127 (0..254; 127 is 0)
//     decode     φ⁻¹(c / 127) · scale = c / (254 - |c|) · scale   (one division, exact at c = 0 and ±127)
//   unsigned states (second moments): scale = max v of the block (the absmax slot keeps v's max, not its root)
//     compander  √x, x = v / scale in [0, 1]
//     code       k = round(255 · √x) in 0..255
//     decode     (k / 255)² · scale = k² · fl(1/65025) · scale
//
// Rounding is to nearest, ties to even (WGSL round(); CUDA's __float2int_rn in FlashOptim). A NaN (a block whose
// scale is 0: 0/0, or a state that became NaN) takes the zero code, as the 4-bit and FP8 formats do.
// What differs from FlashOptim, and why: the scale is an f32 per block of blockSize (256 by default, 64..2048;
// FlashOptim: an f16 per group of 32), and it is octet's blockwise absmax (0 for an all-zero block, FlashOptim
// clamps it to 1e-12), so the stored form keeps octet's layout and every host path (state dicts, migration)
// reads it as `map[code] · absmax`. test/reference/companded.md is what the oracle follows.
import { Tensor } from "../dsl/tensor.ts";

const u32 = (v: number) => Tensor.const(v, "u32");

/** fl(1/65025): the unsigned decode's 1/255² as an f32 multiplier (255² · it rounds to exactly 1). */
const INV_255_SQ = Math.fround(1 / 65025);

/** The f32 value each code decodes to at scale 1, computed as the kernels compute it (the map state dicts check). */
export const COMPANDED_SIGNED_MAP: Float32Array = Float32Array.from({ length: 256 }, (_, k) => Math.fround((k - 127) / (254 - Math.abs(k - 127))));
export const COMPANDED_UNSIGNED_MAP: Float32Array = Float32Array.from({ length: 256 }, (_, k) => Math.fround(k * k * INV_255_SQ));

/** The code of an exact 0: 127 signed (c = 0), 0 unsigned. */
export const compandedZero = (signed: boolean): number => (signed ? 127 : 0);

/** value = φ⁻¹(code) · scale: `codes` u8 [blocks, L], `scale` f32 [blocks, 1]. */
export function decodeCompanded(codes: Tensor, scale: Tensor, signed: boolean): Tensor {
  const k = codes.cast("u32");
  // k² in u32, then one f32 rounding: squaring in f32 gave (k · fl(k · c)) on lavapipe, whose NIR reassociates
  // a product by a constant, one ulp off the map for 351 of the 1536 codes x scales of the test.
  if (!signed) return k.mul(k).cast("f32").mul(INV_255_SQ).mul(scale);
  const c = k.cast("f32").sub(127).named("c");
  return c.div(Tensor.const(254).sub(c.abs())).mul(scale); // c / (254 - |c|)
}

/** The code (u32) of x = state / scale: the nearest point of the companded grid, ties to even; NaN -> the zero code. */
export function encodeCompanded(x: Tensor, signed: boolean): Tensor {
  if (!signed) {
    // sqrt of a negative is indeterminate in WGSL: an unsigned state is >= 0, and max() keeps -0 and rounding out.
    const y = x.maximum(0).sqrt().mul(255).round();
    return x.isnan().where(u32(0), y.cast("u32"));
  }
  const y = x.mul(254).div(x.abs().add(1)).named("companded"); // 127 · 2x / (1 + |x|), in [-127, 127]
  return x.isnan().where(u32(127), y.round().add(127).cast("u32"));
}
