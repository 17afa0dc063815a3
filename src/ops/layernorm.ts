// Layer norm over the last axis in the DSL: mean, variance, normalize, per-column gain and bias. The whole
// thing fuses into one row kernel (two reductions through workgroup memory).
import type { Tensor } from "../dsl/tensor.ts";

export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const mean = x.mean().named("mean");
  const centered = x.sub(mean).named("centered");
  const variance = centered.square().mean().named("variance");
  let y = centered.mul(variance.add(eps).rsqrt()).named("normed");
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}
