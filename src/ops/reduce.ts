// Whole-tensor reductions built from row reductions: [blocks, 256] -> per-block partials -> one row.
import { DslError, Tensor } from "../dsl/tensor.ts";

/** Sum of every element of a [blocks, 256] tensor, as a [1, 1] tensor (two fused row reductions). */
export function sumAll(x: Tensor): Tensor {
  const partial = x.sum(); // [blocks, 1]
  const blocks = partial.numel;
  if (blocks > 16384) throw new DslError("sumAll", `tensor of ${blocks} blocks is too large for a two-level reduction (max 16384 blocks = 4M elements)`);
  return partial.reshape([1, blocks]).sum(); // [1, 1]
}
