// Plain-TS float64 reference of torch.optim.Muon (torch/optim/_muon.py, read for this file): the momentum
// buffer B <- lerp(B, g, 1 - mu), the update lerp(g, B, mu) (Nesterov) or B, the quintic Newton-Schulz
// iteration on the update (normalized by max(||X||_F, eps); on X^T when rows > cols), decoupled weight decay
// p <- p (1 - lr wd), then p <- p - lr_adj O with torch's shape rule. torch runs Newton-Schulz in bf16; this
// oracle runs it in float64, so the GPU's f32 is compared to the exact iteration.

export type Matrix = { rows: number; cols: number; data: Float64Array };

const mat = (rows: number, cols: number, data = new Float64Array(rows * cols)): Matrix => ({ rows, cols, data });

export function matmul(x: Matrix, y: Matrix): Matrix {
  if (x.cols !== y.rows) throw new Error("matmul: inner dims");
  const out = mat(x.rows, y.cols);
  for (let i = 0; i < x.rows; i++)
    for (let k = 0; k < x.cols; k++) {
      const v = x.data[i * x.cols + k];
      for (let j = 0; j < y.cols; j++) out.data[i * y.cols + j] += v * y.data[k * y.cols + j];
    }
  return out;
}

export function transpose(x: Matrix): Matrix {
  const out = mat(x.cols, x.rows);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) out.data[j * x.rows + i] = x.data[i * x.cols + j];
  return out;
}

const lin = (x: Matrix, s: number, y: Matrix, t: number): Matrix => mat(x.rows, x.cols, x.data.map((v, i) => s * v + t * y.data[i]));

/** torch's _zeropower_via_newtonschulz in float64. */
export function newtonSchulz(g: Matrix, steps = 5, [a, b, c]: readonly number[] = [3.4445, -4.775, 2.0315], eps = 1e-7): Matrix {
  const tall = g.rows > g.cols;
  let X = tall ? transpose(g) : mat(g.rows, g.cols, g.data.slice());
  const norm = Math.max(Math.sqrt(X.data.reduce((s, v) => s + v * v, 0)), eps);
  X = mat(X.rows, X.cols, X.data.map((v) => v / norm));
  for (let k = 0; k < steps; k++) {
    const A = matmul(X, transpose(X));
    const B = lin(A, b, matmul(A, A), c);
    X = lin(X, a, matmul(B, X), 1);
  }
  return tall ? transpose(X) : X;
}

export interface MuonHp {
  lr: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  nsSteps: number;
  eps: number;
  adjustLrFn: "original" | "match_rms_adamw";
}

/** torch's _adjust_lr for a parameter whose shape (as torch holds it) is [A, B]. */
export function adjustLr(lr: number, fn: MuonHp["adjustLrFn"], A: number, B: number): number {
  return lr * (fn === "original" ? Math.sqrt(Math.max(1, A / B)) : 0.2 * Math.sqrt(Math.max(A, B)));
}

/** One Muon step on p (in place) with gradient g and momentum buffer buf (in place); [A, B] is torch's shape. */
export function muonStep(p: Float64Array, g: Float64Array, buf: Float64Array, rows: number, cols: number, hp: MuonHp, torchShape: [number, number] = [rows, cols]): void {
  const mu = hp.momentum;
  for (let i = 0; i < buf.length; i++) buf[i] += (g[i] - buf[i]) * (1 - mu); // buf.lerp_(grad, 1 - momentum)
  const update = hp.nesterov ? g.map((v, i) => v + (buf[i] - v) * mu) : buf.slice(); // grad.lerp(buf, momentum)
  const O = newtonSchulz(mat(rows, cols, update), hp.nsSteps, undefined, hp.eps);
  const lr = adjustLr(hp.lr, hp.adjustLrFn, ...torchShape);
  for (let i = 0; i < p.length; i++) p[i] = p[i] * (1 - hp.lr * hp.weightDecay) - lr * O.data[i];
}
