// clipGradNorm: torch.nn.utils.clip_grad_norm_ for octet Parameters, written in the DSL. Nothing runs here:
// the total norm and the scaled gradients are lazy tensors, realized with the optimizer's step (which reads the
// gradients) or when the caller reads the returned norm, so the whole clip fuses into the step's graph.
//
//   total = ‖(‖g_1‖_p, ..., ‖g_k‖_p)‖_p        over every parameter that has a gradient
//   coef  = maxNorm / (total + 1e-6)           (torch's epsilon)
//   g_i  <- g_i · coef   when coef < 1          (torch multiplies by min(coef, 1); ·1 is exact)
//
// Non-finite gradients (torch's error_if_nonfinite=False path, which is also its default): the returned total
// is NaN when any gradient holds a NaN and +Inf when one holds ±Inf, as in torch. Unlike torch, the gradients
// are then LEFT AS THEY ARE instead of being multiplied by maxNorm / NaN = NaN (or by 0 for an Inf total): torch
// turns one bad element into a model of NaN (or zero) gradients, octet keeps the damage where it is, so an
// optimizer with `skipNonFinite: true` sees it and skips the step, and bnb's 8-bit guard zeroes only the
// affected elements' state. To refuse instead, read the total (`await total.toArray()`) and throw.
import { Tensor } from "../dsl/tensor.ts";
import { countNaN, nanLike, totalMaxNonNegative, totalSum } from "../ops/total.ts";
import { Parameter } from "./parameter.ts";

/** torch's epsilon in the clip coefficient: maxNorm / (total + 1e-6). */
const EPS = 1e-6;

/**
 * Scales the gradients of `params` in place (lazily) so that their total `normType`-norm is at most `maxNorm`;
 * returns the total norm before clipping as a [1] tensor. `normType`: any p > 0, or Infinity (max |g|).
 */
export function clipGradNorm(params: Parameter | Iterable<Parameter>, maxNorm: number, normType = 2): Tensor {
  const who = "octet.nn.clipGradNorm";
  if (typeof maxNorm !== "number" || !(maxNorm >= 0) || !Number.isFinite(maxNorm)) throw new Error(`${who}: maxNorm must be a finite number >= 0, got ${maxNorm}`);
  if (typeof normType !== "number" || !(normType > 0)) throw new Error(`${who}: normType must be > 0 or Infinity, got ${normType}`);
  const list = params instanceof Parameter ? [params] : [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Parameter)) throw new TypeError(`${who}: params[${i}] is not an octet.nn.Parameter`);
  });
  const withGrad = list.filter((p) => p.grad !== null);
  if (withGrad.length === 0) return Tensor.const(0).expand([1]);

  let acc: Tensor | undefined;
  let nans: Tensor | undefined;
  for (const p of withGrad) {
    const a = p.grad!.cast("f32").abs();
    // Σ|g|^p per tensor then over tensors equals the norm of the per-tensor norms (torch stacks those): the
    // p-th root of a sum of p-th powers, taken once.
    const part = normType === Infinity ? totalMaxNonNegative(a) : totalSum(power(a, normType));
    acc = acc === undefined ? part : normType === Infinity ? acc.maximum(part) : acc.add(part);
    const n = countNaN(p.grad!);
    nans = nans === undefined ? n : nans.add(n);
  }
  let total = normType === Infinity ? acc! : root(acc!, normType);
  // WGSL's max may drop a NaN and a compiler may assume floats are finite: decide NaN on the bits, explicitly.
  total = nans!.gt(0).where(nanLike(nans!), total).reshape([1]).named("total_norm");
  const coef = Tensor.const(maxNorm).div(total.add(EPS));
  // Scale only when it shrinks and the total is finite (see the header): coef < 1 is false for NaN; an Inf total
  // gives coef = 0, excluded by the finiteness test.
  const scale = coef.lt(1).and(total.isfinite()).named("clip_scale");
  for (const p of withGrad) {
    const g = p.grad!;
    const s = scale.reshape(g.shape.map(() => 1));
    p.grad = s.where(g.mul(coef.reshape(g.shape.map(() => 1)).cast(g.dtype)), g);
  }
  return total;
}

/** |x|^p for x >= 0, with 0^p = 0 (WGSL's pow is undefined at 0) and the common powers as products. */
function power(a: Tensor, p: number): Tensor {
  if (p === 1) return a;
  if (p === 2) return a.mul(a);
  return a.eq(0).where(0, a.pow(p));
}

function root(s: Tensor, p: number): Tensor {
  if (p === 1) return s;
  if (p === 2) return s.sqrt();
  return s.eq(0).where(0, s.pow(1 / p));
}
