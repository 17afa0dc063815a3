// Plain-TS float64 oracles for the differentiable ops of src/nn/functional.ts, independent of the DSL: each
// forward written the textbook way over row-major arrays, plus a central-difference gradient. Gradients are
// never derived here by hand (except AdaNorm's detached factor, which is an input to its forward): the tests
// compare octet's backward rules against finite differences of these forwards.
import { layerNormRef } from "./layernorm.ts";

export { layerNormRef };
type Arr = ArrayLike<number>;

/** y [N, out] = x [N, in] @ w [in, out] (+ b [out]). */
export function linearRef(x: Arr, w: Arr, N: number, In: number, Out: number, b?: Arr): Float64Array {
  const y = new Float64Array(N * Out);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < In; i++) s += x[n * In + i] * w[i * Out + o];
      y[n * Out + o] = s;
    }
  return y;
}

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2). */
export function geluRef(x: Arr): Float64Array {
  const a = Math.sqrt(2 / Math.PI);
  return Float64Array.from(x, (v) => 0.5 * v * (1 + Math.tanh(a * (v + 0.044715 * v * v * v))));
}

/** Rows normalized over D: (x - mean) / sqrt(var_biased + eps), no gain or bias. */
export function normalizeRef(x: Arr, rows: number, D: number, eps = 1e-5): Float64Array {
  return layerNormRef(x, rows, D, new Float64Array(D).fill(1), new Float64Array(D), eps);
}

/** AdaNorm's factor C (1 - k y) for y = normalize(x) (bnb-algorithms.md §7). */
export function adaNormFactorRef(x: Arr, rows: number, D: number, C = 1, k = 0.1, eps = 1e-5): Float64Array {
  return Float64Array.from(normalizeRef(x, rows, D, eps), (y) => C * (1 - k * y));
}

/**
 * AdaNorm z = factor ⊙ y. With `factor` omitted it is computed from x (the forward); passing a fixed factor
 * (computed once from the point of linearization) gives the function whose finite differences are AdaNorm's
 * gradient with the factor detached, as the paper's stop-gradient prescribes.
 */
export function adaNormRef(x: Arr, rows: number, D: number, factor?: Arr, C = 1, k = 0.1, eps = 1e-5): Float64Array {
  const y = normalizeRef(x, rows, D, eps);
  const f = factor ?? adaNormFactorRef(x, rows, D, C, k, eps);
  return y.map((v, i) => f[i] * v);
}

/** Rows of table [V, D] picked by idx: [idx.length, D]. */
export function embeddingRef(table: Arr, D: number, idx: Arr): Float64Array {
  const out = new Float64Array(idx.length * D);
  for (let n = 0; n < idx.length; n++) for (let j = 0; j < D; j++) out[n * D + j] = table[idx[n] * D + j];
  return out;
}

/** Mean over rows of logsumexp(logits[n]) - logits[n, target[n]]. */
export function crossEntropyRef(logits: Arr, N: number, V: number, targets: Arr): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v] - m);
    total += m + Math.log(s) - logits[n * V + targets[n]];
  }
  return total / N;
}

/**
 * Causal multi-head self-attention on packed rows qkv [B*T, 3C] (q | k | v) -> [B*T, C]. Head h reads columns
 * h*hd .. (h+1)*hd of each of q, k, v and writes those columns of the output; scores q.k / sqrt(hd), position t
 * attends to positions 0..t of its own sequence.
 */
export function attentionRef(qkv: Arr, B: number, T: number, C: number, H: number): Float64Array {
  const hd = C / H;
  const out = new Float64Array(B * T * C);
  const at = (b: number, t: number, part: number, h: number, e: number) => qkv[(b * T + t) * 3 * C + part * C + h * hd + e];
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const s = new Float64Array(t + 1);
        for (let u = 0; u <= t; u++) {
          let d = 0;
          for (let e = 0; e < hd; e++) d += at(b, t, 0, h, e) * at(b, u, 1, h, e);
          s[u] = d / Math.sqrt(hd);
        }
        const m = Math.max(...s);
        let z = 0;
        for (let u = 0; u <= t; u++) z += (s[u] = Math.exp(s[u] - m));
        for (let e = 0; e < hd; e++) {
          let o = 0;
          for (let u = 0; u <= t; u++) o += (s[u] / z) * at(b, u, 2, h, e);
          out[(b * T + t) * C + h * hd + e] = o;
        }
      }
  return out;
}

/** sum(out ⊙ R): the random linear functional whose gradient the tests compare. */
export function dot(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * d f / d x by central differences in float64: (f(x + h e_i) - f(x - h e_i)) / 2h, error O(h^2 f''').
 * With `indices`, only those coordinates (the result is then indices.length long, in that order).
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Arr, h = 1e-5, indices?: number[]): Float64Array {
  const xx = Float64Array.from(x);
  const at = indices ?? Array.from(xx, (_, i) => i);
  const g = new Float64Array(at.length);
  for (let j = 0; j < at.length; j++) {
    const i = at[j];
    const x0 = xx[i];
    xx[i] = x0 + h;
    const fp = f(xx);
    xx[i] = x0 - h;
    const fm = f(xx);
    xx[i] = x0;
    g[j] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max |a - b| / max |b| (relative to the reference's largest magnitude; absolute when b is all zero). */
export function maxRelErr(a: Arr, b: Arr): number {
  if (a.length !== b.length) throw new Error(`maxRelErr: lengths ${a.length} vs ${b.length}`);
  let err = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / (scale || 1);
}
