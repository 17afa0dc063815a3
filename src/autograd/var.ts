// Reverse-mode autodiff, micrograd-sized: a Var is a lazy Tensor plus the local backward rule that made it.
// Backward rules are written with DSL ops too, so the whole backward pass is one more lazy graph that the
// scheduler fuses (and caches: every step has the same graph shape). Gradients land in Parameter.grad.
import type { Shape } from "../dsl/node.ts";
import { Tensor } from "../dsl/tensor.ts";
import type { Parameter } from "../nn/parameter.ts";

export type Vjp = (g: Tensor) => (Tensor | undefined)[];

export class Var {
  readonly needsGrad: boolean;
  constructor(
    readonly value: Tensor,
    readonly parents: readonly Var[] = [],
    readonly vjp?: Vjp,
    readonly param?: Parameter,
  ) {
    this.needsGrad = !!param || parents.some((p) => p.needsGrad);
  }
  get shape(): Shape {
    return this.value.shape;
  }
}

/** A trainable leaf: gradients flow into `p.grad`. */
export const leaf = (p: Parameter): Var => new Var(p.data, [], undefined, p);
/** A value that needs no gradient (inputs, masks). */
export const constant = (t: Tensor): Var => new Var(t);

/** Builds a Var from parents and a backward rule (skipped entirely when no parent needs a gradient). */
export function op(value: Tensor, parents: Var[], vjp: Vjp): Var {
  return new Var(value, parents, parents.some((p) => p.needsGrad) ? vjp : undefined);
}

/**
 * Back-propagates from a scalar loss: accumulates into every reachable parameter's `.grad` (added to an
 * existing gradient, as PyTorch does). Returns the gradients by parameter, still lazy.
 */
export function backward(loss: Var, seed?: Tensor): Map<Parameter, Tensor> {
  const order: Var[] = [];
  const seen = new Set<Var>();
  const visit = (v: Var) => {
    if (seen.has(v) || !v.needsGrad) return;
    seen.add(v);
    for (const p of v.parents) visit(p);
    order.push(v);
  };
  visit(loss);
  const grads = new Map<Var, Tensor>();
  // A literal 1, not loss * 0 + 1: that tied the backward graph to the forward loss expression (a loss not
  // yet realized was recomputed inside the backward program), and for an inf/NaN loss it is NaN in IEEE
  // arithmetic (0 * inf) unless the WGSL compiler happens to fold x * 0.
  grads.set(loss, seed ?? Tensor.const(1, loss.value.dtype).expand(loss.shape));
  const out = new Map<Parameter, Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const v = order[i];
    const g = grads.get(v);
    if (!g) continue;
    if (v.param) {
      const prev = out.get(v.param);
      out.set(v.param, prev ? prev.add(g) : g);
      continue;
    }
    if (!v.vjp) continue;
    const gs = v.vjp(g);
    v.parents.forEach((p, k) => {
      const gp = gs[k];
      if (!gp || !p.needsGrad) return;
      const prev = grads.get(p);
      grads.set(p, prev ? prev.add(gp) : gp);
    });
  }
  for (const [p, g] of out) p.grad = p.grad ? p.grad.add(g) : g.reshape(p.shape as number[]);
  return out;
}
