// Plain-TS binary32 reference of bnb's code search and blockwise (de)quantization (bnb-algorithms.md §1.3, §1.4, §2.3).
// It is an oracle: slow and literal on purpose, independent of src/optim/encoder.ts and of the DSL. Every arithmetic
// result goes through Math.fround, which models one IEEE binary32 rounding (§9).

/** One binary32 rounding, fl(·) in the spec. */
export const fl: (x: number) => number = Math.fround;

/** The 8-bit optimizers' block size since bnb 0.44.0 (§2.1). */
export const BLOCK = 256;

// ---- binary32 bit helpers (also used by the encoder tests) ----

const bitsBuf = new DataView(new ArrayBuffer(4));

/** The binary32 bit pattern of x (after rounding x to f32). */
export function f32Bits(x: number): number {
  bitsBuf.setFloat32(0, x);
  return bitsBuf.getUint32(0);
}

/** The binary32 value with bit pattern u. */
export function f32FromBits(u: number): number {
  bitsBuf.setUint32(0, u >>> 0);
  return bitsBuf.getFloat32(0);
}

/** The next binary32 value above x (x a finite f32; nextUp(-0) is the smallest positive subnormal). */
export function nextUp(x: number): number {
  if (x === 0) return f32FromBits(1);
  const u = f32Bits(x);
  return f32FromBits(x > 0 ? u + 1 : u - 1);
}

/** The next binary32 value below x. */
export function nextDown(x: number): number {
  return -nextUp(-x);
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1), so oracle tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** C's signbit() for a state value. NaN counts as positive: CUDA's arithmetic NaN is 0x7fffffff (§1.3 sign fix). */
export function signbit(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

// ---- code search (§1.3) ----

const midpointCache = new WeakMap<Float32Array, Float32Array>();

/**
 * The f32 decision points of a map: mid[k] = fl(fl(c[k] + c[k+1]) · 0.5), k = 0..254. bnb's search compares the
 * input with exactly these rounded values (quantize_2D's `(upper + val) * 0.5f`), not with the real midpoints.
 */
export function midpoints(map: Float32Array): Float32Array {
  let mid = midpointCache.get(map);
  if (!mid) {
    mid = new Float32Array(255);
    for (let k = 0; k < 255; k++) mid[k] = fl(fl(map[k] + map[k + 1]) * 0.5);
    midpointCache.set(map, mid);
  }
  return mid;
}

/**
 * Brute-force nearest code of x (already normalised by absmax): a linear scan over all 255 f32 midpoints.
 * q = #{k : x > mid[k]}; an exact tie x = mid[q] goes to the even index of {q, q+1} (§1.3: the binary search always
 * ends on an even pivot and keeps it on a tie). Consequences, all from the comparisons alone: NaN -> 0 (every
 * comparison is false), x > 1 and +Inf -> 255, x below c[0] and -Inf -> 0, -0 behaves as +0.
 */
export function quantizeNearest(x: number, map: Float32Array): number {
  const mid = midpoints(map);
  let q = 0;
  while (q < 255 && x > mid[q]) q++;
  if (q < 255 && x === mid[q] && (q & 1) === 1) q++;
  return q;
}

/**
 * bnb's own search, transcribed from `quantize_2D<SIGNED>` (kernels.cu @95f9af30): a 7-step binary search from pivot
 * 127, then one comparison with the f32 midpoint on the side x fell. `lower` starts at -1 (signed) or 0 (unsigned);
 * it is only read when the search ends at pivot 0, where both outcomes are 0. Kept to cross-check quantizeNearest.
 */
export function quantizeBinarySearch(x: number, map: Float32Array, signed: boolean): number {
  let pivot = 127;
  let upperPivot = 255;
  let lowerPivot = 0;
  let lower = signed ? -1 : 0;
  let upper = 1;
  let val = map[pivot];
  for (let i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lowerPivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upperPivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = map[pivot];
  }
  if (x > val) return x > fl(fl(upper + val) * 0.5) ? upperPivot : pivot;
  return x < fl(fl(lower + val) * 0.5) ? lowerPivot : pivot;
}

/**
 * The optimizers' sign fix for signed states (§1.3): if the chosen code's sign bit differs from the state's, step one
 * code towards the state's side (+1 if s > 0, else -1) in uint8 arithmetic. Tiny negative states thus land on -c[128]
 * instead of +0; with absmax 0 (x = NaN, q = 0) a +0 state wraps to 255 and a -0 state stays at 0.
 */
export function signFix(q: number, s: number, map: Float32Array): number {
  if (signbit(map[q]) === signbit(s)) return q;
  return (q + (s > 0 ? 1 : -1)) & 0xff;
}

/**
 * Re-quantize one optimizer state value (§2.3 step 6): search fl(s / absmax), then the sign fix for signed states.
 * bnb uses `__fdividef`; the exact reference divides correctly rounded (§9).
 */
export function quantizeState(s: number, absmax: number, map: Float32Array, signed: boolean): number {
  const q = quantizeNearest(fl(s / absmax), map);
  return signed ? signFix(q, s, map) : q;
}

/** Dequantize one code: fl(c[q] · absmax) (§2.2). */
export function dequantizeCode(q: number, absmax: number, map: Float32Array): number {
  return fl(map[q] * absmax);
}

// ---- blockwise tensors ----

export interface Blockwise {
  codes: Uint8Array;
  /** float32, one per block of `blockSize` (§2.2: absmax is stored unquantized). */
  absmax: Float32Array;
}

/**
 * max |a| over each block's elements (§1.4: valid elements only). Like CUDA's fmaxf, NaN is skipped; the running max
 * starts at 0 where CUDA starts at -FLT_MAX, which differs only for an all-NaN block.
 */
export function blockAbsmax(a: Float32Array, blockSize = BLOCK): Float32Array {
  const out = new Float32Array(Math.ceil(a.length / blockSize));
  for (let i = 0; i < a.length; i++) {
    const b = Math.floor(i / blockSize);
    const m = Math.abs(a[i]);
    if (m > out[b]) out[b] = m;
  }
  return out;
}

/**
 * Standalone `quantize_blockwise` (§1.4, kQuantizeBlockwise): r = fl(1/absmax), x = fl(a · r), nearest code,
 * NO sign fix. Multiplying by the reciprocal can pick another code than dividing (see quantizeStateBlockwise).
 */
export function quantizeBlockwise(a: Float32Array, map: Float32Array, blockSize = BLOCK): Blockwise {
  const absmax = blockAbsmax(a, blockSize);
  const codes = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const r = fl(1 / absmax[Math.floor(i / blockSize)]);
    codes[i] = quantizeNearest(fl(a[i] * r), map);
  }
  return { codes, absmax };
}

/**
 * Optimizer-state quantization (§2.3 step 6): x = fl(s / absmax) (a division), nearest code, sign fix when signed.
 * absmax defaults to the per-block max over the valid elements; the fused optimizer step passes its own, which also
 * covers the padded lanes (see optimizers.ts).
 */
export function quantizeStateBlockwise(
  s: Float32Array,
  map: Float32Array,
  signed: boolean,
  absmax: Float32Array = blockAbsmax(s),
  blockSize = BLOCK,
): Blockwise {
  const codes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) codes[i] = quantizeState(s[i], absmax[Math.floor(i / blockSize)], map, signed);
  return { codes, absmax };
}

/** dequantize_blockwise: a'[i] = fl(c[q[i]] · absmax[b(i)]) (§1.4). */
export function dequantizeBlockwise(q: Blockwise, map: Float32Array, blockSize = BLOCK): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = dequantizeCode(q.codes[i], q.absmax[Math.floor(i / blockSize)], map);
  return out;
}
