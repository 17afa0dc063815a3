// Differentiable ops for a small GPT, each a forward written in the DSL plus its backward rule in the DSL.
// The scheduler fuses both directions: layer norm forward is one row kernel, its backward another; the
// embedding-gradient "scatter-add" is a one-hot matmul (deterministic: WGSL has no float atomics).
import { Tensor } from "../dsl/tensor.ts";
import { numel, type Shape } from "../dsl/node.ts";
import { op, type Var } from "../autograd/var.ts";

/** Column sums of g viewed as [rows, C]: a reduction over the leading axis (codegen/lowerings/reduce.ts). */
function colSum(g: Tensor, C: number): Tensor {
  return g.reshape([g.numel / C, C]).sum(0, false);
}

/** Reduces a broadcast gradient back to the operand's shape. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const n = numel(shape);
  if (n === g.numel) return g.reshape([...shape]);
  if (n === 1) return g.reshape([1, g.numel]).sum().reshape([...shape]);
  const last = g.shape[g.shape.length - 1];
  if (shape[shape.length - 1] === last && n === last) return colSum(g, last).reshape([...shape]);
  if (shape[shape.length - 1] === 1 && n * last === g.numel) return g.sum().reshape([...shape]);
  throw new Error(`octet autograd: cannot reduce a gradient of shape [${g.shape}] to [${shape}]`);
}

export const add = (a: Var, b: Var): Var => op(a.value.add(b.value), [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
export const mul = (a: Var, b: Var): Var => op(a.value.mul(b.value), [a, b], (g) => [sumTo(g.mul(b.value), a.shape), sumTo(g.mul(a.value), b.shape)]);
export const scale = (a: Var, s: number): Var => op(a.value.mul(s), [a], (g) => [g.mul(s)]);
export const reshape = (a: Var, shape: number[]): Var => op(a.value.reshape(shape), [a], (g) => [g.reshape([...a.shape])]);
/** Computes the value into its own buffer (see Tensor.contiguous); gradients pass through. */
export const contiguous = (a: Var): Var => op(a.value.contiguous(), [a], (g) => [g.contiguous()]);

/** x [N, in] @ w [in, out] + b [out]. */
export function linear(x: Var, w: Var, b?: Var): Var {
  const y = x.value.matmul(w.value);
  const out = b ? y.add(b.value) : y;
  const parents = b ? [x, w, b] : [x, w];
  return op(out, parents, (g) => [
    g.matmul(w.value, { transB: true }), //      dx = g w^T
    x.value.matmul(g, { transA: true }), //      dw = x^T g
    ...(b ? [colSum(g, b.shape[0])] : []), //     db = column sums of g
  ]);
}

const GELU_A = Math.sqrt(2 / Math.PI);
/** GELU, tanh approximation (GPT-2's). */
export function gelu(x: Var): Var {
  const v = x.value;
  const inner = v.add(v.mul(v).mul(v).mul(0.044715)).mul(GELU_A);
  const t = inner.tanh();
  return op(v.mul(0.5).mul(t.add(1)), [x], (g) => {
    const dInner = v.mul(v).mul(3 * 0.044715).add(1).mul(GELU_A);
    return [g.mul(t.add(1).mul(0.5).add(v.mul(0.5).mul(t.mul(t).neg().add(1)).mul(dInner)))];
  });
}

/** Layer norm over the last axis (biased variance, eps inside the root), optional gain and bias. */
export function layerNorm(x: Var, w?: Var, b?: Var, eps = 1e-5): Var {
  const C = x.shape[x.shape.length - 1];
  const v = x.value;
  const centered = v.sub(v.mean());
  const rstd = centered.square().mean().add(eps).rsqrt();
  const xhat = centered.mul(rstd);
  let y = xhat;
  if (w) y = y.mul(w.value);
  if (b) y = y.add(b.value);
  const parents = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return op(y, parents, (g) => {
    const dxhat = w ? g.mul(w.value) : g;
    // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)): one row kernel
    const dx = dxhat.sub(dxhat.mean()).sub(xhat.mul(dxhat.mul(xhat).mean())).mul(rstd);
    return [dx, ...(w ? [colSum(g.mul(xhat), C)] : []), ...(b ? [colSum(g, C)] : [])];
  });
}

/**
 * AdaNorm (Xu et al. 2019; bnb-algorithms.md §7): z = C (1 - k y) y with y the normalized input, the factor
 * C (1 - k y) detached from the gradient; no learnable gain or bias.
 */
export function adaNorm(x: Var, C = 1, k = 0.1, eps = 1e-5): Var {
  const v = x.value;
  const centered = v.sub(v.mean());
  const rstd = centered.square().mean().add(eps).rsqrt();
  const y = centered.mul(rstd);
  const factor = y.mul(-k).add(1).mul(C); // treated as a constant by the backward pass
  return op(y.mul(factor), [x], (g) => {
    const dy = g.mul(factor);
    return [dy.sub(dy.mean()).sub(y.mul(dy.mul(y).mean())).mul(rstd)];
  });
}

/** Rows of weight [V, D] picked by idx (i32 [N]); the padding row gets no gradient. */
export function embedding(weight: Var, idx: Tensor, paddingIdx?: number): Var {
  const [V] = weight.shape;
  const N = idx.numel;
  const flat = idx.reshape([N]);
  return op(weight.value.gather(flat), [weight], (g) => {
    let rows = flat.reshape([N, 1]);
    let onehot = Tensor.iota([N, V], 1, flat.dtype).eq(rows).cast("f32"); // ids are i32 or u32
    if (paddingIdx !== undefined) onehot = onehot.mul(rows.ne(paddingIdx).cast("f32"));
    return [onehot.matmul(g.reshape([N, g.numel / N]), { transA: true })]; // scatter-add as onehot^T g
  });
}

/** Mean cross entropy of logits [N, V] against i32 targets [N]; returns a [1, 1] loss. */
export function crossEntropy(logits: Var, targets: Tensor): Var {
  const [N, V] = logits.shape;
  const l = logits.value;
  const m = l.max();
  const e = l.sub(m).exp();
  const s = e.sum();
  const onehot = Tensor.iota([N, V], 1, targets.dtype).eq(targets.reshape([N, 1])).cast("f32"); // i32 or u32 ids
  const lossRows = m.add(s.log()).sub(onehot.mul(l).sum()); // logsumexp - logit[target]
  const loss = lossRows.reshape([1, N]).sum().div(N);
  return op(loss, [logits], (g) => [e.div(s).sub(onehot).mul(g.reshape([1, 1]).div(N))]);
}

/** Flat index tensor [rows, cols] (i32) built from row/col coordinates. */
function indexMap(rows: number, cols: number, f: (r: Tensor, c: Tensor) => Tensor): Tensor {
  return f(Tensor.iota([rows, cols], 0), Tensor.iota([rows, cols], 1));
}

/**
 * Causal multi-head self-attention on packed q|k|v rows: qkv [B*T, 3C] -> [B*T, C]. Heads are split and
 * merged by index arithmetic fused into gathers; scores and probabilities are batched matmuls over B*H.
 */
export function causalSelfAttention(qkv: Var, B: number, T: number, H: number): Var {
  const C = qkv.shape[1] / 3;
  const hd = C / H;
  const BH = B * H;
  const scaleQK = 1 / Math.sqrt(hd);
  // [B*T, 3C] part p -> [B*H*T, hd]
  const split = (x: Tensor, width: number, offset: number) =>
    x.flatten().gather(indexMap(BH * T, hd, (r, c) => {
      const b = r.div(H * T), h = r.div(T).mod(H), t = r.mod(T);
      return b.mul(T).add(t).mul(width).add(h.mul(hd)).add(c).add(offset);
    })).reshape([BH, T, hd]);
  // [B*H*T, hd] -> [B*T, C]
  const merge = (x: Tensor) =>
    x.flatten().gather(indexMap(B * T, C, (r, c) => {
      const b = r.div(T), t = r.mod(T), h = c.div(hd), e = c.mod(hd);
      return b.mul(H).add(h).mul(T).add(t).mul(hd).add(e);
    }));
  const q = split(qkv.value, 3 * C, 0), k = split(qkv.value, 3 * C, C), v = split(qkv.value, 3 * C, 2 * C);
  const scores = q.matmul(k, { transB: true }).mul(scaleQK).reshape([BH * T, T]);
  const future = indexMap(BH * T, T, (r, c) => c.gt(r.mod(T)));
  const masked = future.where(-1e30, scores);
  const ex = masked.sub(masked.max()).exp();
  const P = ex.div(ex.sum()).contiguous().reshape([BH, T, T]);
  const O = P.matmul(v);
  return op(merge(O), [qkv], (gy) => {
    const dO = split(gy, C, 0);
    const dV = P.matmul(dO, { transA: true });
    const dP = dO.matmul(v, { transB: true }).reshape([BH * T, T]);
    const P2 = P.reshape([BH * T, T]);
    const dS = P2.mul(dP.sub(dP.mul(P2).sum())).mul(scaleQK).reshape([BH, T, T]);
    const dQ = dS.matmul(k);
    const dK = dS.matmul(q, { transA: true });
    const dqkv = indexMap(B * T, 3 * C, (r, j) => {
      const part = j.div(C), h = j.mod(C).div(hd), e = j.mod(hd), b = r.div(T), t = r.mod(T);
      const src = b.mul(H).add(h).mul(T).add(t).mul(hd).add(e);
      return part.eq(0).where(dQ.flatten().gather(src), part.eq(1).where(dK.flatten().gather(src), dV.flatten().gather(src)));
    });
    return [dqkv];
  });
}
