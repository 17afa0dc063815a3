// The fused attention kernels on host arrays, for OCTET_VALIDATE: the same algorithm as attention-wgsl.ts,
// in f32 (every operation rounded), in the same summation order (dot products per vector lane over the head,
// lanes added as (x + y) + (z + w); keys and queries in increasing order; the online softmax's rescaling once
// per tile). Workgroups and barriers do not change any value, so they are left out.
import type { HostArray } from "../interpret.ts";
import type { Kernel } from "../kernel.ts";

const f = Math.fround;
const exp = (x: number) => f(Math.exp(x));

/** dot(a[ao .. ao + d], b[bo .. bo + d]) as the kernel sums it with vectors of `vec` lanes. */
function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number, vec: number): number {
  const lanes = [0, 0, 0, 0];
  for (let e = 0; e < d; e++) lanes[e % vec] = f(lanes[e % vec] + f(a[ao + e] * b[bo + e]));
  return vec === 4 ? f(f(lanes[0] + lanes[1]) + f(lanes[2] + lanes[3])) : lanes[0];
}

export function interpretAttention(k: Kernel, _rows: number, slots: HostArray[], u: Record<string, number>): void {
  const { pass, d, vec, tile } = k.attention!;
  const { T, H } = u;
  const arr = k.bindings.map((b) => slots[b.slot]);
  const X = arr[0];
  const C = H * d;
  const B = X.length / (T * 3 * C);
  const scale = f(1 / Math.sqrt(d));
  // Element e of head h, part p (0 q, 1 k, 2 v) of packed row (b, t); of a [B*T, C] row.
  const xAt = (b: number, t: number, p: number, h: number) => ((b * T + t) * 3 + p) * C + h * d;
  const cAt = (b: number, t: number, h: number) => (b * T + t) * C + h * d;
  const scaledQ = (b: number, t: number, h: number) => Float32Array.from({ length: d }, (_, e) => f(X[xAt(b, t, 0, h) + e] * scale));

  /** The online softmax over keys 0..i of query row i: running max and sum, and (forward) the weighted values. */
  const rowSoftmax = (b: number, h: number, i: number, q: Float32Array, acc?: Float32Array) => {
    let m = f(-3.0e38), l = 0;
    for (let j0 = 0; j0 <= i; j0 += tile) {
      const n = Math.min(tile, i + 1 - j0);
      const s: number[] = [];
      let mNew = m;
      for (let j = 0; j < n; j++) {
        s.push(dot(q, 0, X, xAt(b, j0 + j, 1, h), d, vec));
        mNew = Math.max(mNew, s[j]);
      }
      const alpha = exp(f(m - mNew));
      l = f(l * alpha);
      if (acc) for (let e = 0; e < d; e++) acc[e] = f(acc[e] * alpha);
      for (let j = 0; j < n; j++) {
        const p = exp(f(s[j] - mNew));
        l = f(l + p);
        if (acc) for (let e = 0; e < d; e++) acc[e] = f(acc[e] + f(p * X[xAt(b, j0 + j, 2, h) + e]));
      }
      m = mNew;
    }
    return { m, l };
  };

  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      if (pass === "forward") {
        const O = arr[1];
        for (let i = 0; i < T; i++) {
          const acc = new Float32Array(d);
          const { l } = rowSoftmax(b, h, i, scaledQ(b, i, h), acc);
          const inv = f(1 / l);
          for (let e = 0; e < d; e++) O[cAt(b, i, h) + e] = f(acc[e] * inv);
        }
      } else if (pass === "dq") {
        const [, O, G, DX, S] = arr;
        for (let i = 0; i < T; i++) {
          const q = scaledQ(b, i, h);
          const Di = dot(G, cAt(b, i, h), O, cAt(b, i, h), d, vec);
          const { m, l } = rowSoftmax(b, h, i, q);
          const lse = f(m + f(Math.log(l)));
          const dq = new Float32Array(d);
          for (let j = 0; j <= i; j++) {
            const p = exp(f(dot(q, 0, X, xAt(b, j, 1, h), d, vec) - lse));
            const ds = f(p * f(dot(G, cAt(b, i, h), X, xAt(b, j, 2, h), d, vec) - Di));
            for (let e = 0; e < d; e++) dq[e] = f(dq[e] + f(ds * X[xAt(b, j, 1, h) + e]));
          }
          for (let e = 0; e < d; e++) DX[xAt(b, i, 0, h) + e] = f(dq[e] * scale);
          S[2 * (bh * T + i)] = lse;
          S[2 * (bh * T + i) + 1] = Di;
        }
      } else {
        const [, G, S, DX] = arr;
        for (let j = 0; j < T; j++) {
          const dk = new Float32Array(d), dv = new Float32Array(d);
          for (let i = j; i < T; i++) {
            const q = scaledQ(b, i, h);
            const p = exp(f(dot(q, 0, X, xAt(b, j, 1, h), d, vec) - S[2 * (bh * T + i)]));
            const ds = f(p * f(dot(G, cAt(b, i, h), X, xAt(b, j, 2, h), d, vec) - S[2 * (bh * T + i) + 1]));
            for (let e = 0; e < d; e++) {
              dv[e] = f(dv[e] + f(p * G[cAt(b, i, h) + e]));
              dk[e] = f(dk[e] + f(ds * q[e]));
            }
          }
          for (let e = 0; e < d; e++) {
            DX[xAt(b, j, 1, h) + e] = dk[e];
            DX[xAt(b, j, 2, h) + e] = dv[e];
          }
        }
      }
    }
}
