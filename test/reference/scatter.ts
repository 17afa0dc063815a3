// Plain-TS oracles for scatter-add (the embedding gradient) and for cross-entropy over long rows, independent
// of the DSL. scatterAddRef adds in f32 in position order, which is the order octet's deterministic scatter
// promises, so a GPU result must equal it exactly; the cross-entropy ones are float64 textbook formulas.
type Arr = ArrayLike<number>;

/**
 * out [V, D]: row v is the f32 sum, in increasing n, of rows n of src [N, D] with ids[n] = v; ids outside
 * [0, V) (negative included) add nothing.
 */
export function scatterAddRef(src: Arr, ids: Arr, V: number, D: number): Float32Array {
  const out = new Float32Array(V * D);
  for (let n = 0; n < ids.length; n++) {
    const v = ids[n];
    if (!(v >= 0 && v < V)) continue;
    for (let j = 0; j < D; j++) out[v * D + j] = Math.fround(out[v * D + j] + src[n * D + j]);
  }
  return out;
}

/** log(sum(exp(row))) of each row of x [R, L], in float64 (max subtracted). */
export function logsumexpRef(x: Arr, R: number, L: number): Float64Array {
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let c = 0; c < L; c++) m = Math.max(m, x[r * L + c]);
    let s = 0;
    for (let c = 0; c < L; c++) s += Math.exp(x[r * L + c] - m);
    out[r] = m + Math.log(s);
  }
  return out;
}

/**
 * PyTorch's F.cross_entropy(logits, targets, ignore_index, reduction="mean") and its gradient w.r.t. the
 * logits, in float64: loss = mean over kept rows of lse - logit[target]; d/dlogit = (softmax - onehot) / kept.
 */
export function crossEntropyWithGradRef(logits: Arr, N: number, V: number, targets: Arr, ignoreIndex = -100): { loss: number; grad: Float64Array } {
  const lse = logsumexpRef(logits, N, V);
  const grad = new Float64Array(N * V);
  let kept = 0, total = 0;
  for (let n = 0; n < N; n++) if (targets[n] !== ignoreIndex) kept++;
  for (let n = 0; n < N; n++) {
    if (targets[n] === ignoreIndex) continue;
    total += lse[n] - logits[n * V + targets[n]];
    for (let c = 0; c < V; c++) grad[n * V + c] = (Math.exp(logits[n * V + c] - lse[n]) - (c === targets[n] ? 1 : 0)) / kept;
  }
  return { loss: total / kept, grad };
}
