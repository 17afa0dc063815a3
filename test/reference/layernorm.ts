// Plain-TS layer norm over the last axis of a row-major [rows, D] array, in f64: the oracle for the fused
// DSL layer norm (independent of the DSL). Biased variance, as torch.nn.LayerNorm.
export function layerNormRef(x: ArrayLike<number>, rows: number, D: number, gain: ArrayLike<number>, bias: ArrayLike<number>, eps = 1e-5): Float64Array {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < D; j++) mean += x[r * D + j];
    mean /= D;
    let v = 0;
    for (let j = 0; j < D; j++) v += (x[r * D + j] - mean) ** 2;
    v /= D;
    const inv = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < D; j++) out[r * D + j] = (x[r * D + j] - mean) * inv * gain[j] + bias[j];
  }
  return out;
}
