// Whole-tensor reductions of any shape, written in the DSL (lazy and fusible): the tensor is laid out as
// [blocks, 256] rows (zero-padded through a gather when its length is not a multiple of 256) and reduced by
// sumAll's two row passes. Used by clipGradNorm and by the optimizers' skipNonFinite check.
import { Tensor } from "../dsl/tensor.ts";
import { sumAll } from "./reduce.ts";

const ROW = 256;

/** x flattened into [blocks, 256]; the padded tail holds `pad`, which must not change the reduction. */
export function asBlocks(x: Tensor, pad = 0): Tensor {
  const n = x.numel;
  const blocks = Math.max(1, Math.ceil(n / ROW));
  if (n === blocks * ROW) return x.reshape([blocks, ROW]);
  const shape = [blocks, ROW];
  const i = Tensor.iota(shape, 0).mul(ROW).add(Tensor.iota(shape, 1));
  const valid = i.lt(n);
  if (n === 0) return Tensor.const(pad, x.dtype).expand(shape);
  return valid.where(x.reshape([n]).gather(valid.where(i, 0)), pad);
}

/** Σ x over every element, as a [1, 1] tensor. */
export function totalSum(x: Tensor): Tensor {
  return sumAll(asBlocks(x));
}

/**
 * max x over every element of a NON-NEGATIVE x (e.g. |g|: the padding is 0), as [1, 1]. WGSL's max does not
 * promise to propagate NaN: test for NaN with countNaN.
 */
export function totalMaxNonNegative(x: Tensor): Tensor {
  const partial = asBlocks(x).max(); // [blocks, 1]
  return partial.reshape([1, partial.numel]).max();
}

/** How many elements are NaN, as an f32 [1, 1] (exact up to 2^24; what matters is whether it is 0). */
export function countNaN(x: Tensor): Tensor {
  return totalSum(x.isnan().cast("f32"));
}

/** How many elements are NaN or ±Inf, as an f32 [1, 1]. */
export function countNonFinite(x: Tensor): Tensor {
  return totalSum(x.isfinite().not().cast("f32"));
}

/**
 * An f32 NaN of x's shape, for a finite runtime x. WGSL has no NaN literal and Tint refuses a constant bitcast
 * to NaN ("value nan cannot be represented as 'f32'"), so the bits are set on a runtime value (x·0).
 */
export function nanLike(x: Tensor): Tensor {
  return x.mul(0).bitcast("u32").or(0x7fc00000).bitcast("f32");
}
