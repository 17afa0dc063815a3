// bfloat16 in the DSL. WGSL has no bf16 type: a bf16 value is the top half of an f32, stored as a u16 code
// (two to a u32 word, dsl/dtype.ts). Reading widens exactly; writing rounds to nearest even, or
// stochastically with a counter-based random stream keyed by (seed, step, element), so that a run is
// reproducible and the rounding is unbiased: E[round(x)] = x (Gupta et al. 2015; torchao's
// bf16_stochastic_round adds 16 random bits below the kept mantissa and truncates, as here).
// test/reference/bf16.ts is the plain-TS oracle of every function in this file.
import { Tensor } from "../dsl/tensor.ts";

/** f32 value of u16 bf16 codes: the code is the high half of the f32's bits (exact). */
export function bf16ToF32(codes: Tensor): Tensor {
  return codes.cast("u32").shl(16).bitcast("f32");
}

/** NaN stays a (quiet) NaN: adding rounding bits to a NaN's payload could carry it into Inf. */
const QUIET_NAN = 0x7fc0;

/** bf16 codes of x, rounded to nearest, ties to even (bits + 0x7fff + lsb, then the high half). */
export function f32ToBf16(x: Tensor): Tensor {
  const bits = x.bitcast("u32");
  const lsb = bits.shr(16).and(1);
  const rounded = bits.add(lsb.add(0x7fff)).shr(16);
  return x.isnan().where(QUIET_NAN, rounded).cast("u16");
}

/**
 * bf16 codes of x, rounded stochastically: `random` holds 16 uniform bits per element (in [0, 65536)); adding
 * them below the kept mantissa and truncating rounds up with probability (x - down) / ulp. +-Inf stays
 * (its low bits are 0, so the carry never reaches the sign); values within an ulp of the largest bf16 may
 * round to Inf, as they may to nearest.
 */
export function f32ToBf16Stochastic(x: Tensor, random: Tensor): Tensor {
  const bits = x.bitcast("u32");
  const rounded = bits.add(random).shr(16);
  return x.isnan().where(QUIET_NAN, rounded).cast("u16");
}

/** PCG's output hash of a u32 (O'Neill 2014, the RXS-M-XS permutation as in Jarzynski & Olano 2020). */
export function pcgHash(v: Tensor): Tensor {
  const state = v.mul(747796405).add(2891336453);
  const word = state.shr(state.shr(28).add(4)).xor(state).mul(277803737);
  return word.shr(22).xor(word);
}

/**
 * 16 random bits for (seed, step, element), each a u32 tensor broadcastable to the element's shape: a
 * counter-based stream (no state to carry), so the same run rounds the same way and an element's bits do
 * not depend on how the work is cut into kernels.
 */
export function counterRandom16(seed: Tensor, step: Tensor, element: Tensor): Tensor {
  return pcgHash(element.xor(pcgHash(step.xor(pcgHash(seed))))).shr(16);
}
