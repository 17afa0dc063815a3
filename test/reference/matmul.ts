// Plain-TS oracles for matrix products (float64 accumulation over f32 inputs) and their test data.

/** Deterministic values in [-0.5, 0.5) (an LCG), so failures reproduce. */
export function rnd(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32 - 0.5));
}

/** C[z] = op(A[z]) @ op(B[z]) in float64 over the f32 inputs. */
export function matmulReference(a: Float32Array, b: Float32Array, M: number, K: number, N: number, ta: boolean, tb: boolean, batch: number, sharedB: boolean): Float64Array {
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++)
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0;
        const bb = sharedB ? 0 : z * K * N;
        for (let k = 0; k < K; k++) acc += a[z * M * K + (ta ? k * M + m : m * K + k)] * b[bb + (tb ? n * K + k : k * N + n)];
        out[z * M * N + m * N + n] = acc;
      }
  return out;
}
