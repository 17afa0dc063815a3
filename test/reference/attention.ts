// Float64 causal self-attention with its backward written out by hand (the textbook softmax gradient), for
// sequences too long for central differences of test/reference/nn.ts attentionRef (T = 1024 needs seconds
// per evaluation there). The tests check this backward against those central differences at small shapes
// before trusting it at large ones. Layout as attentionRef: qkv [B*T, 3C] packed q | k | v, head h in columns
// h*d .. (h+1)*d of each part, O and dO [B*T, C].
type Arr = ArrayLike<number>;

/** O = softmax(q k^T / sqrt(d), causal) v, and d qkv given dO (when passed). */
export function attentionGrad64(qkv: Arr, B: number, T: number, C: number, H: number, dO?: Arr): { o: Float64Array; dqkv?: Float64Array } {
  const d = C / H;
  const W = 3 * C;
  const scale = 1 / Math.sqrt(d);
  const o = new Float64Array(B * T * C);
  const dqkv = dO ? new Float64Array(B * T * W) : undefined;
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const q0 = h * d, k0 = C + h * d, v0 = 2 * C + h * d;
      for (let t = 0; t < T; t++) {
        const qi = (b * T + t) * W;
        let m = -Infinity;
        for (let u = 0; u <= t; u++) {
          const kj = (b * T + u) * W;
          let s = 0;
          for (let e = 0; e < d; e++) s += qkv[qi + q0 + e] * qkv[kj + k0 + e];
          p[u] = s * scale;
          if (p[u] > m) m = p[u];
        }
        let z = 0;
        for (let u = 0; u <= t; u++) z += p[u] = Math.exp(p[u] - m);
        for (let u = 0; u <= t; u++) p[u] /= z;
        const oi = (b * T + t) * C + h * d;
        for (let u = 0; u <= t; u++) {
          const vj = (b * T + u) * W + v0;
          for (let e = 0; e < d; e++) o[oi + e] += p[u] * qkv[vj + e];
        }
        if (!dO || !dqkv) continue;
        // dP_u = dO . v_u; dS_u = P_u (dP_u - sum_w P_w dP_w); dq = scale sum dS_u k_u, dk_u += scale dS_u q, dv_u += P_u dO
        let sum = 0;
        for (let u = 0; u <= t; u++) {
          const vj = (b * T + u) * W + v0;
          let s = 0;
          for (let e = 0; e < d; e++) s += dO[oi + e] * qkv[vj + e];
          dp[u] = s;
          sum += p[u] * s;
        }
        for (let u = 0; u <= t; u++) {
          const ds = p[u] * (dp[u] - sum) * scale;
          const kj = (b * T + u) * W;
          for (let e = 0; e < d; e++) {
            dqkv[qi + q0 + e] += ds * qkv[kj + k0 + e];
            dqkv[kj + k0 + e] += ds * qkv[qi + q0 + e];
            dqkv[kj + v0 + e] += p[u] * dO[oi + e];
          }
        }
      }
    }
  return { o, dqkv };
}
