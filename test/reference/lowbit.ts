// Plain-TS float64 oracle of the 4-bit and FP8 optimizer states (issue #10) and of one Adam/AdamW step over them.
// Independent of src/: the maps are the values torch prints (4-bit) or the E4M3 definition (FP8), the encoders are
// brute-force scans, the step is the textbook formula in float64. What it follows is written in lowbit.md.

/** torchao create_dynamic_map(True, 3, 4) as torch 1.13 prints it (float32 values, sorted). */
export const REF_SIGNED_4BIT = Float32Array.from([
  -0.887499988079071, -0.6625000238418579, -0.4375, -0.21249999105930328, -0.07750000059604645, -0.0325000025331974,
  -0.005499999970197678, 0, 0.005499999970197678, 0.0325000025331974, 0.07750000059604645, 0.21249999105930328, 0.4375,
  0.6625000238418579, 0.887499988079071, 1,
]);
/** torch.linspace(0, 1, 17)[1:]: k/16, no zero. */
export const REF_UNSIGNED_4BIT = Float32Array.from({ length: 16 }, (_, k) => (k + 1) / 16);

/** float8_e4m3fn value of code c (NaN at 0x7f, 0xff; no infinities). */
export function e4m3(c: number): number {
  const s = c & 0x80 ? -1 : 1;
  const e = (c >> 3) & 15;
  const m = c & 7;
  if (e === 15 && m === 7) return NaN;
  return e === 0 ? s * m * 2 ** -9 : s * (1 + m / 8) * 2 ** (e - 7);
}

/** Nearest code of a sorted map, an exact tie going to the lower index (torch's argmin); NaN -> `zero`. */
export function nearestSorted(x: number, map: ArrayLike<number>, zero: number): number {
  if (Number.isNaN(x)) return zero;
  if (!Number.isFinite(x)) return x > 0 ? map.length - 1 : 0; // every distance is infinite
  let best = 0;
  for (let k = 1; k < map.length; k++) if (Math.abs(x - map[k]) < Math.abs(x - map[best])) best = k;
  return best;
}

/** torch's x.to(float8_e4m3fn): nearest finite code, ties to the even code (|x| <= 448 here); NaN -> 0. */
export function nearestE4M3(x: number): number {
  if (Number.isNaN(x)) return 0;
  const a = Math.abs(x);
  let best = 0;
  for (let c = 1; c < 0x7f; c++) {
    const d = Math.abs(a - e4m3(c));
    const db = Math.abs(a - e4m3(best));
    if (d < db || (d === db && (c & 1) === 0)) best = c; // positive codes ascend with their value
  }
  return x < 0 || Object.is(x, -0) ? best | 0x80 : best;
}

/** One state's storage: per-element codes (unpacked) and a scale per block, or (rank-1) R row then C column maxima. */
export interface RefState {
  codes: Uint8Array;
  scales: Float64Array;
  rank1?: [number, number];
}

export interface RefFormat {
  name: "fourbit" | "fp8e4m3";
  decode(code: number, signed: boolean): number;
  /** Block scale from the block's max |value|. */
  scale(absmax: number): number;
  encode(x: number, signed: boolean): number;
}

export const REF_FORMATS: Record<RefFormat["name"], RefFormat> = {
  fourbit: {
    name: "fourbit",
    decode: (q, signed) => (signed ? REF_SIGNED_4BIT : REF_UNSIGNED_4BIT)[q],
    scale: (m) => m, // a zero block: 0, and x = 0/0 encodes as the zero code
    encode: (x, signed) => nearestSorted(x, signed ? REF_SIGNED_4BIT : REF_UNSIGNED_4BIT, signed ? 7 : 0),
  },
  fp8e4m3: {
    name: "fp8e4m3",
    decode: (q) => e4m3(q),
    scale: (m) => Math.max(m, 1e-12) / 448,
    encode: (x) => nearestE4M3(x),
  },
};

/** Element i's scale: its block's, or min(row max, column max) of its (row, column) for a rank-1 state. */
function scaleAt(s: RefState, i: number, blockSize: number): number {
  if (!s.rank1) return s.scales[Math.floor(i / blockSize)];
  const [R, C] = s.rank1;
  return Math.min(s.scales[Math.floor(i / C)], s.scales[R + (i % C)]);
}

export function dequantize(s: RefState, f: RefFormat, signed: boolean, blockSize: number): Float64Array {
  return Float64Array.from(s.codes, (q, i) => f.decode(q, signed) * scaleAt(s, i, blockSize));
}

/**
 * Rank-1 normalization (Li et al. 2023 §4.2, lpmm quant_scaling "rank1") of an [R, C] tensor: the maxima of |v|
 * over each row and each column; element (r, c) is encoded as v / min(rowMax[r], colMax[c]).
 */
export function quantizeRank1(values: ArrayLike<number>, f: RefFormat, signed: boolean, [R, C]: [number, number]): RefState {
  const scales = new Float64Array(R + C);
  for (let r = 0; r < R; r++)
    for (let c = 0; c < C; c++) {
      const a = Math.abs(values[r * C + c]);
      scales[r] = Math.max(scales[r], a);
      scales[R + c] = Math.max(scales[R + c], a);
    }
  const s: RefState = { codes: new Uint8Array(R * C), scales, rank1: [R, C] };
  for (let i = 0; i < R * C; i++) s.codes[i] = f.encode(values[i] / scaleAt(s, i, 0), signed);
  return s;
}

/** Blockwise quantization of n values (the last block padded with zeros, which take part in its max). */
export function quantize(values: ArrayLike<number>, f: RefFormat, signed: boolean, blockSize: number): RefState {
  const n = values.length;
  const blocks = Math.max(1, Math.ceil(n / blockSize));
  const scales = new Float64Array(blocks);
  const codes = new Uint8Array(n);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * blockSize; i < Math.min(n, (b + 1) * blockSize); i++) m = Math.max(m, Math.abs(values[i]));
    scales[b] = f.scale(m);
    for (let i = b * blockSize; i < Math.min(n, (b + 1) * blockSize); i++) codes[i] = f.encode(values[i] / scales[b], signed);
  }
  return { codes, scales };
}

/** Two codes per byte as torchao stores them: element 2k in the high nibble, 2k+1 in the low one. */
export function packNibbles(codes: Uint8Array, pad: number): Uint8Array {
  return Uint8Array.from({ length: Math.ceil(codes.length / 2) }, (_, k) => (codes[2 * k] << 4) | (2 * k + 1 < codes.length ? codes[2 * k + 1] : pad));
}

export interface AdamHp {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/**
 * One Adam(W) step with quantized states, as torchao's single-tensor step and bnb's 8-bit kernel: dequantize,
 * m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, p <- (p - lr/c1 · m / (sqrt(v)/sqrt(c2) + eps)) · (1 - lr wd)
 * (decay after the update, bnb's order), then quantize the new states. A non-finite gradient zeroes the element's
 * states and leaves p (bnb's 8-bit kernels; octet's quantized formats all follow them).
 */
export function adamStep(p: Float64Array, g: ArrayLike<number>, m: RefState, v: RefState, hp: AdamHp, t: number, f: RefFormat, blockSize: number, rank1?: [number, number]): { m: RefState; v: RefState } {
  // The hyper-parameters as the kernels receive them, C floats (bnb passes floats): fl(0.999) is 1.3e-8 above
  // 0.999, which moves 1 - b2 by 1.3e-5 relative. Everything after is float64.
  const [b1, b2] = hp.betas.map(Math.fround);
  const [lr, eps, wd] = [hp.lr, hp.eps, hp.weightDecay].map(Math.fround);
  const c1 = 1 - b1 ** t;
  const c2 = Math.sqrt(1 - b2 ** t);
  const m0 = dequantize(m, f, true, blockSize);
  const v0 = dequantize(v, f, false, blockSize);
  const m1 = new Float64Array(p.length);
  const v1 = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(g[i])) continue;
    m1[i] = b1 * m0[i] + (1 - b1) * g[i];
    v1[i] = b2 * v0[i] + (1 - b2) * g[i] * g[i];
    p[i] = (p[i] - ((lr * c2) / c1) * (m1[i] / (Math.sqrt(v1[i]) + eps * c2))) * (1 - lr * wd);
  }
  // The second moment of a 2-D tensor is rank-1 normalized in the 4-bit format (the first moment never is).
  return { m: quantize(m1, f, true, blockSize), v: rank1 && f.name === "fourbit" ? quantizeRank1(v1, f, false, rank1) : quantize(v1, f, false, blockSize) };
}

/** Fresh (step 0) state: every code decodes to 0 because every scale is 0. */
export function zeroState(n: number, blockSize: number, rank1?: [number, number]): RefState {
  if (rank1) return { codes: new Uint8Array(n), scales: new Float64Array(rank1[0] + rank1[1]), rank1 };
  return { codes: new Uint8Array(n), scales: new Float64Array(Math.max(1, Math.ceil(n / blockSize))) };
}
