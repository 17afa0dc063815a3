// torch.optim.SGD's update (torch/optim/sgd.py, _single_tensor_sgd), in plain binary32 TS: the reference for
// octet's nesterov and dampening, which bitsandbytes accepts and ignores.
//   d_p = g + wd·p
//   buf = d_p (first step) | momentum·buf + (1 - dampening)·d_p
//   d_p = d_p + momentum·buf (nesterov) | buf
//   p   = p - lr·d_p
// One rounding per operation (torch's CPU add with alpha may fuse a multiply-add: ulp-level differences, which the
// tests' tolerance allows). alpha = 1 - dampening is rounded to f32 as torch casts the scalar.
const fl = Math.fround;

export interface TorchSgdHp {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One step: p and buf (zeros before the first step) updated in place; `step` is 1 on the first call. */
export function torchSgd(p: Float32Array, g: Float32Array, buf: Float32Array, step: number, hp: TorchSgdHp): void {
  const lr = fl(hp.lr), m = fl(hp.momentum), wd = fl(hp.weightDecay), alpha = fl(1 - hp.dampening);
  for (let i = 0; i < p.length; i++) {
    let d = wd !== 0 ? fl(g[i] + fl(wd * p[i])) : g[i];
    buf[i] = step === 1 ? d : fl(fl(buf[i] * m) + fl(alpha * d));
    d = hp.nesterov ? fl(d + fl(m * buf[i])) : buf[i];
    p[i] = fl(p[i] - fl(lr * d));
  }
}
