// Whole-tensor reductions built from row reductions: [blocks, 256] -> per-block partials -> one row.
import { Tensor } from "../dsl/tensor.ts";

/**
 * Sum of every element of a [blocks, 256] tensor, as a [1, 1] tensor: per-block sums fused with whatever
 * computes x, then one row of partials, which the scheduler splits into passes when it is long
 * (codegen/lowerings/reduce.ts), so any size works.
 */
export function sumAll(x: Tensor): Tensor {
  const partial = x.sum(); // [blocks, 1]
  return partial.reshape([1, partial.numel]).sum(); // [1, 1]
}
