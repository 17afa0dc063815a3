// Differentiable ops for a small GPT, each a forward written in the DSL plus its backward rule in the DSL.
// The scheduler fuses both directions: layer norm forward is one row kernel, its backward another; the
// embedding gradient is a deterministic scatter-add (sort, then segmented sums: codegen/lowerings/scatter.ts)
// and cross-entropy stands on a one-pass log-sum-exp (codegen/lowerings/logsumexp.ts).
import { Tensor } from "../dsl/tensor.ts";
import { numel, type Shape } from "../dsl/node.ts";
import { constant, op, type Var } from "../autograd/var.ts";
import { attention, attentionBackward } from "../dsl/attention.ts";

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

/** a - b (broadcasting as Tensor.sub; the gradient is summed back to each operand's shape). */
export const sub = (a: Var, b: Var): Var => op(a.value.sub(b.value), [a, b], (g) => [sumTo(g, a.shape), sumTo(g.neg(), b.shape)]);
/** a / b; d/da = g / b, d/db = -g a / b². */
export const div = (a: Var, b: Var): Var =>
  op(a.value.div(b.value), [a, b], (g) => {
    const gb = g.div(b.value);
    return [sumTo(gb, a.shape), sumTo(gb.mul(a.value).div(b.value).neg(), b.shape)];
  });
export const neg = (a: Var): Var => op(a.value.neg(), [a], (g) => [g.neg()]);

// Activations: the backward reuses the forward's value where it can (sigmoid, tanh, exp).
/** max(x, 0); the gradient at 0 is 0, as PyTorch's. */
export const relu = (x: Var): Var => op(x.value.maximum(0), [x], (g) => [x.value.gt(0).where(g, 0)]);
/** 1 / (1 + e^-x); d = y (1 - y). */
export function sigmoid(x: Var): Var {
  const y = x.value.neg().exp().add(1).recip();
  return op(y, [x], (g) => [g.mul(y).mul(y.neg().add(1))]);
}
/** d = 1 - y². */
export function tanh(x: Var): Var {
  const y = x.value.tanh();
  return op(y, [x], (g) => [g.mul(y.mul(y).neg().add(1))]);
}
export function exp(x: Var): Var {
  const y = x.value.exp();
  return op(y, [x], (g) => [g.mul(y)]);
}
/** Natural log; d = g / x. */
export const log = (x: Var): Var => op(x.value.log(), [x], (g) => [g.div(x.value)]);

/**
 * Σ x: over every element when no axis is given (a [1, 1] result, the shape octet's losses have), or over
 * `axis` as Tensor.sum does (the last axis, or leading/trailing runs; keepdim defaults to true, as octet's
 * reductions). The gradient is g broadcast back over the reduced axes.
 */
export function sum(x: Var, axis?: number | number[], keepdim = true): Var {
  const ones = x.shape.map(() => 1);
  if (axis === undefined) {
    const y = x.value.reshape([1, x.value.numel]).sum();
    return op(y, [x], (g) => [g.reshape(ones).expand(x.shape)]);
  }
  const y = x.value.sum(axis, true);
  const kept = y.shape;
  return op(keepdim ? y : x.value.sum(axis, false), [x], (g) => [g.reshape([...kept]).expand(x.shape)]);
}
/** The mean over every element ([1, 1]) or over `axis` (see sum). */
export function mean(x: Var, axis?: number | number[], keepdim = true): Var {
  const s = sum(x, axis, keepdim);
  return scale(s, s.value.numel / x.value.numel);
}

/** Softmax over the last axis: e^(x - logsumexp(x)); dx = y (g - Σ g y) per row. */
export function softmax(x: Var): Var {
  if (x.value.dtype !== "f32") throw new Error(`F.softmax: needs f32, got ${x.value.dtype}`);
  const y = x.value.sub(x.value.logsumexp()).exp();
  return op(y, [x], (g) => [y.mul(g.sub(g.mul(y).sum()))]);
}

/**
 * a [..., M, K] @ b [..., K, N] (Tensor.matmul: a 2-D b is shared by every batch). da = g b^T, db = a^T g
 * (for a shared b, summed over the batch by one product of the flattened rows).
 */
export function matmul(a: Var, b: Var): Var {
  const y = a.value.matmul(b.value);
  return op(y, [a, b], (g) => {
    const da = g.matmul(b.value, { transB: true });
    if (b.shape.length === 2 && a.shape.length > 2) {
      const K = a.shape[a.shape.length - 1], N = b.shape[1];
      return [da, a.value.reshape([a.value.numel / K, K]).matmul(g.reshape([g.numel / N, N]), { transA: true })];
    }
    return [da, a.value.matmul(g, { transA: true })];
  });
}

/** Mean squared error, PyTorch's mse_loss with reduction "mean": a [1, 1] loss. */
export function mseLoss(input: Var, target: Var | Tensor): Var {
  const t = target instanceof Tensor ? constant(target) : target;
  if (t.shape.length !== input.shape.length || t.shape.some((d, i) => d !== input.shape[i]))
    throw new Error(`F.mseLoss: input [${input.shape}] and target [${t.shape}] differ in shape`);
  const d = sub(input, t);
  return mean(mul(d, d));
}

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

/** The implementation F.embedding's backward, F.crossEntropy and F.causalSelfAttention use when a call does not name one. */
export interface Implementations {
  embeddingBackward: "scatter" | "onehot";
  crossEntropy: "fused" | "unfused";
  attention: "fused" | "matmul";
}
const defaults: Implementations = { embeddingBackward: "scatter", crossEntropy: "fused", attention: "fused" };
const choices: { [K in keyof Implementations]: readonly Implementations[K][] } = { embeddingBackward: ["scatter", "onehot"], crossEntropy: ["fused", "unfused"], attention: ["fused", "matmul"] };

/** The implementation a call asked for (its `option`), or the current default; anything else is refused by name. */
function chosen<K extends keyof Implementations>(kind: K, given: Implementations[K] | undefined, where: string, option: string): Implementations[K] {
  const v = given ?? defaults[kind];
  if (!choices[kind].includes(v)) throw new Error(`${where}: ${option} must be ${choices[kind].map((c) => `"${c}"`).join(" or ")}, got ${JSON.stringify(given)}`);
  return v;
}

/**
 * Builds a graph (model.loss(...), synchronously) with other default implementations, restored afterwards:
 * how a benchmark runs the old and new paths through a whole model in one process, as PyTorch's
 * sdpa_kernel context picks attention backends. Each op keeps the implementation it was built with.
 */
export function withImplementations<T>(impl: Partial<Implementations>, build: () => T): T {
  for (const [k, v] of Object.entries(impl)) {
    const allowed = choices[k as keyof Implementations] as readonly string[] | undefined;
    if (!allowed) throw new Error(`F.withImplementations: unknown implementation "${k}"; known: ${Object.keys(choices).join(", ")}`);
    if (!allowed.includes(v as string)) throw new Error(`F.withImplementations: ${k} must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
  }
  const saved = { ...defaults };
  Object.assign(defaults, impl);
  try {
    const out = build();
    if (out instanceof Promise) throw new Error("F.withImplementations: build must be synchronous (graphs are built synchronously; across an await the defaults would already be restored)");
    return out;
  } finally {
    Object.assign(defaults, saved);
  }
}

export interface EmbeddingOptions {
  /**
   * How the table's gradient is computed. "scatter" (the default, see withImplementations): a deterministic scatter-add
   * (Tensor.scatterAdd: sort the positions by id, then sum each id's run of rows), memory O(N*D).
   * "onehot": the product onehot^T @ g with a materialized [N, V] one-hot (N*V*D work; kept to compare).
   */
  backward?: "scatter" | "onehot";
}

/**
 * Rows of weight [V, D] picked by idx (i32 or u32, any shape of N elements); the padding row gets no
 * gradient. An id outside [0, V) (a negative i32 included) looks up a row of NaN, so a bad id shows in the
 * loss instead of reading whatever lies past the table, and adds nothing to the table's gradient.
 */
export function embedding(weight: Var, idx: Tensor, paddingIdx?: number, opts: EmbeddingOptions = {}): Var {
  if (weight.shape.length !== 2) throw new Error(`F.embedding: weight must be [V, D], got [${weight.shape}]`);
  const V = weight.shape[0];
  const N = idx.numel;
  const backwardKind = chosen("embeddingBackward", opts.backward, "F.embedding", "backward");
  if (idx.dtype !== "i32" && idx.dtype !== "u32") throw new Error(`F.embedding: ids must be i32 or u32, got ${idx.dtype}`);
  const flat = idx.reshape([N]);
  const inTable = flat.bitcast("u32").lt(V).reshape([N, 1]); // negative i32 ids read as u32 >= 2^31
  const rows = inTable.where(weight.value.gather(flat), NaN);
  return op(rows, [weight], (g) => {
    const gRows = g.reshape([N, g.numel / N]);
    if (backwardKind === "onehot") {
      const ids = flat.reshape([N, 1]);
      let onehot = Tensor.iota([N, V], 1, idx.dtype).eq(ids).cast("f32");
      if (paddingIdx !== undefined) onehot = onehot.mul(ids.ne(paddingIdx).cast("f32"));
      return [onehot.matmul(gRows, { transA: true })]; // scatter-add as onehot^T g
    }
    // The padding id becomes V, which lies outside the table and so adds to no row.
    const ids = paddingIdx === undefined ? flat : flat.eq(paddingIdx).where(V, flat);
    return [gRows.scatterAdd(ids, V).reshape([...weight.shape])];
  });
}

export interface CrossEntropyOptions {
  /**
   * "fused" (the default, see withImplementations): one online log-sum-exp pass over each row (Tensor.logsumexp, rows of any length)
   * for the loss, and the gradient (softmax - onehot) / count in one elementwise pass in the backward: no
   * [N, V] buffer besides the logits and their gradient. "unfused": max, sum of exp and the target's logit
   * as row reductions (kept to compare; no ignoreIndex).
   */
  impl?: "fused" | "unfused";
  /**
   * Rows whose target equals this add no loss and no gradient (default -100, as PyTorch; u32 targets are
   * compared as i32, so -100 is 0xffffff9c there).
   */
  ignoreIndex?: number;
}

/**
 * Mean cross entropy of logits [N, V] against i32 or u32 targets [N]; returns a [1, 1] loss. The mean is
 * over the rows not ignored (PyTorch's reduction="mean"; NaN if all are). A target outside [0, V) that is
 * not ignoreIndex makes the loss NaN: a wrong label is never silently a zero-probability class.
 */
export function crossEntropy(logits: Var, targets: Tensor, opts: CrossEntropyOptions = {}): Var {
  if (chosen("crossEntropy", opts.impl, "F.crossEntropy", "impl") === "unfused") {
    if (opts.ignoreIndex !== undefined) throw new Error(`F.crossEntropy: ignoreIndex is only supported by impl "fused"`);
    return crossEntropyUnfused(logits, targets);
  }
  const [N, V] = logits.shape;
  if (targets.dtype !== "i32" && targets.dtype !== "u32") throw new Error(`F.crossEntropy: targets must be i32 or u32, got ${targets.dtype}`);
  if (targets.numel !== N) throw new Error(`F.crossEntropy: ${targets.numel} targets for ${N} rows of logits`);
  if (N * V >= 2 ** 32) throw new Error(`F.crossEntropy: logits [${N}, ${V}] have 2^32 elements or more; split the rows`);
  const l = logits.value;
  const t = targets.reshape([N, 1]).bitcast("u32"); // a negative i32 reads as u32 >= 2^31: out of range
  const lse = l.logsumexp(); // [N, 1], one pass per row
  const inRange = t.lt(V);
  const ignore = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignore) || ignore < -(2 ** 31) || ignore >= 2 ** 31) throw new Error(`F.crossEntropy: ignoreIndex ${ignore} is not an i32`);
  const kept = t.bitcast("i32").ne(ignore);
  // The target's logit, read straight from the logits (one element per row, never a one-hot row sum).
  const at = Tensor.iota([N, 1], 0, "u32").mul(V).add(inRange.where(t, 0));
  const picked = l.reshape([N * V]).gather(at.reshape([N])).reshape([N, 1]);
  const lossRows = kept.where(inRange.where(lse.sub(picked), NaN), 0);
  const count = kept.cast("f32").reshape([1, N]).sum(); // rows not ignored
  const loss = lossRows.reshape([1, N]).sum().div(count);
  return op(loss, [logits], (g) => {
    // d loss / d logits = (softmax - onehot) / count on kept rows, 0 on ignored ones, NaN for a bad target:
    // one elementwise pass over [N, V] with the scale fused, so the gradient is the only [N, V] buffer the
    // backward writes (the one-hot is an iota comparison inside that pass).
    const w = kept.where(inRange.where(g.reshape([1, 1]).div(count), NaN), 0);
    const onehot = Tensor.iota([N, V], 1, "u32").eq(t).cast("f32");
    return [l.sub(lse).exp().sub(onehot).mul(w)];
  });
}

/** The cross entropy before the fused one: max, sum of exp and the target's logit as row reductions. */
function crossEntropyUnfused(logits: Var, targets: Tensor): Var {
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

export interface AttentionOptions {
  /**
   * "fused" (the default, see withImplementations): the FlashAttention-style `attention` op
   * (dsl/attention.ts), one kernel forward and two backward, no [T, T] buffer. "matmul": the earlier
   * composition of gathers, batched matmuls and a masked softmax, which keeps four [B*H, T, T] buffers per
   * layer; kept as the baseline benchmarks compare against.
   */
  impl?: "fused" | "matmul";
}

/**
 * Causal multi-head self-attention on packed q|k|v rows: qkv [B*T, 3C] -> [B*T, C], head h in columns
 * h*C/H .. (h+1)*C/H of each part, scores scaled by 1/sqrt(C/H).
 */
export function causalSelfAttention(qkv: Var, B: number, T: number, H: number, opts: AttentionOptions = {}): Var {
  const impl = opts.impl ?? defaults.attention;
  if (impl !== "fused" && impl !== "matmul") throw new Error(`F.causalSelfAttention: impl "${impl}" is not "fused" or "matmul"`);
  if (qkv.shape[0] !== B * T) throw new Error(`F.causalSelfAttention: qkv has ${qkv.shape[0]} rows, not B*T = ${B}*${T}`);
  if (impl === "matmul") return matmulAttention(qkv, B, T, H);
  const o = attention(qkv.value, T, H);
  return op(o, [qkv], (dO) => [attentionBackward(qkv.value, o, dO, T, H)]);
}

/**
 * The baseline: heads split and merged by index arithmetic fused into gathers; scores and probabilities are
 * batched matmuls over B*H.
 */
function matmulAttention(qkv: Var, B: number, T: number, H: number): Var {
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
