// Muon's orthogonalization in the DSL: the quintic Newton-Schulz iteration of torch.optim.Muon
// (torch/optim/_muon.py _zeropower_via_newtonschulz, from Keller Jordan's Muon): normalize by the Frobenius
// norm, then `steps` times X <- a X + (b A + c A A) X with A = X X^T. For a tall matrix (rows > cols) torch
// works on X^T so that A is the smaller Gram matrix; here the same products are taken with the matmul's
// transpose flags instead of a transposed copy: with Y = X^T, A = Y Y^T = X^T X and Y <- a Y + B Y becomes
// X <- a X + X B^T. torch runs the iteration in bf16; octet in f32 (test/reference/muon.ts is the float64 oracle).
import type { Tensor } from "../dsl/tensor.ts";
import { totalSum } from "./total.ts";

export const NS_COEFFICIENTS: readonly [number, number, number] = [3.4445, -4.775, 2.0315];

/** The approximate orthogonal factor of a 2-D x (its U V^T, up to the iteration's spread of singular values). */
export function newtonSchulz(x: Tensor, steps = 5, [a, b, c]: readonly [number, number, number] = NS_COEFFICIENTS, eps = 1e-7): Tensor {
  if (x.ndim !== 2) throw new Error(`newtonSchulz: needs a 2-D matrix, got shape [${x.shape.join(", ")}]`);
  const tall = x.shape[0] > x.shape[1];
  // X / max(||X||_F, eps): the spectral norm is then at most 1, inside the iteration's basin.
  let X = x.div(totalSum(x.mul(x)).sqrt().maximum(eps)).named("ns_x0");
  for (let k = 0; k < steps; k++) {
    const A = (tall ? X.matmul(X, { transA: true }) : X.matmul(X, { transB: true })).named(`ns_gram${k}`);
    const B = A.mul(b).add(A.matmul(A).mul(c)).named(`ns_poly${k}`);
    X = X.mul(a).add(tall ? X.matmul(B, { transB: true }) : B.matmul(X)).named(`ns_x${k + 1}`);
  }
  return X;
}
