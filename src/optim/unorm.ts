// bnb's trust ratio for maxUnorm (bnb-algorithms §3.7; kOptimizer32bit{1,2}State): with N = ‖u‖ (u the
// would-be update without lr) and limit = maxUnorm·‖p‖ (+ eps in the 1-state kernels), the step is scaled by
// limit / N when N > limit, else 1: it only ever shrinks the step. The sums are whole-tensor reductions, so a
// kernel that uses it updates one tensor alone (OptimizerDef.perTensor).
import type { Tensor } from "../dsl/tensor.ts";
import { sumAll } from "../ops/reduce.ts";

/** min(1, limit / ‖u‖) as a [1, 1] tensor; `u2` is u·u elementwise, `eps` the 1-state kernels' term (or undefined). */
export function updateScale(u2: Tensor, p: Tensor, maxUnorm: Tensor, eps?: Tensor): Tensor {
  const uNorm = sumAll(u2).sqrt();
  const pNorm = sumAll(p.mul(p)).sqrt(); //                        before the step
  const limit = eps ? maxUnorm.mul(pNorm).add(eps) : maxUnorm.mul(pNorm);
  return uNorm.gt(limit).and(maxUnorm.gt(0)).where(limit.div(uNorm), 1).named("update_scale");
}
