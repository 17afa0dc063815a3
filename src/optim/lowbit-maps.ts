// The code maps of the 4-bit and FP8 optimizer states (issue #10), built once in binary32 as their references do.
//
// 4-bit (Li et al., NeurIPS 2023, "Memory Efficient Optimizers with 4-bit States"; their lpmm code and torchao's
// prototype low_bit_optim, which octet follows):
//   first moment  : the dynamic-exponent map with 3 exponent bits and 4 bits in all, bnb's create_dynamic_map
//                   generalized (torchao quant_utils.create_dynamic_map(signed=True, 3, 4)): 16 sorted codes,
//                   7 negatives, 0 at index 7, 7 positives, 1.0 at index 15.
//   second moment : the zero-free linear map linspace(0, 1, 17)[1:] = k/16, k = 1..16 (lpmm "power-1"). A small
//                   second moment rounds to 1/16 of its block's max, never to 0, so 1/sqrt(v) cannot blow up:
//                   the failure that makes a zero-containing linear map diverge (octet's own linear8 ablation).
// FP8: the 256 E4M3 ("fn": no infinities, NaN at 0x7f/0xff) values indexed by their own bit pattern, so the stored
// codes are real float8_e4m3fn bytes (torchao AdamWFp8: codes = (x / scale).to(float8_e4m3fn)).
const fl = Math.fround;

/**
 * torch.linspace(start, end, steps) on the CPU in float32 (aten RangeFactoriesKernel): a float step, the first half
 * counted up from start and the second half down from end, one rounding per operation.
 */
function linspaceF32(start: number, end: number, steps: number): number[] {
  const [a, b] = [fl(start), fl(end)];
  const step = fl(fl(b - a) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? fl(a + fl(step * i)) : fl(b - fl(step * (steps - i - 1)))));
}

/** create_dynamic_map(signed, maxExponentBits, totalBits) as torchao's quant_utils (no zero padding). */
export function dynamicMap(signed: boolean, maxExponentBits: number, totalBits: number): Float32Array {
  const data: number[] = [];
  const nonSign = totalBits - 1;
  const additional = 2 ** (nonSign - maxExponentBits) - 1;
  const push = (scale: number, count: number) => {
    const bounds = linspaceF32(0.1, 1, count);
    const means = bounds.slice(0, -1).map((x, k) => fl(fl(x + bounds[k + 1]) / 2));
    for (const m of means) data.push(fl(fl(scale) * m)); // a Python float times a float32 tensor: float32
    if (signed) for (const m of means) data.push(fl(-fl(scale) * m));
  };
  for (let i = 0; i < maxExponentBits; i++) {
    const items = signed ? 2 ** (i + nonSign - maxExponentBits) + 1 : 2 ** (i + nonSign - maxExponentBits + 1) + 1;
    push(10 ** (-(maxExponentBits - 1) + i), items);
  }
  if (additional > 0) push(10 ** (-(maxExponentBits - 1) + maxExponentBits - 1), additional + 1);
  data.push(0, 1);
  if (data.length !== 2 ** totalBits) throw new Error(`octet: dynamic map has ${data.length} codes, expected ${2 ** totalBits}`);
  return Float32Array.from(data.sort((x, y) => x - y));
}

/** The 4-bit first-moment map (16 codes, signed). */
export const SIGNED_4BIT_MAP: Float32Array = dynamicMap(true, 3, 4);
/** The 4-bit second-moment map: linspace(0, 1, 17)[1:], no zero. */
export const UNSIGNED_4BIT_MAP: Float32Array = Float32Array.from(linspaceF32(0, 1, 17).slice(1));

/** The value of E4M3 (fn) code c: sign, 4 exponent bits (bias 7), 3 mantissa bits; subnormals below 2^-6. */
export function e4m3Value(c: number): number {
  const sign = c & 0x80 ? -1 : 1;
  const e = (c >> 3) & 15;
  const m = c & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7));
}

/** E4M3's largest finite value, torch.finfo(float8_e4m3fn).max. */
export const E4M3_MAX = 448;
/** code -> value, indexed by the code's bit pattern (not sorted: 0x80..0xff are the negatives). */
export const E4M3_MAP: Float32Array = Float32Array.from({ length: 256 }, (_, c) => e4m3Value(c));

/**
 * For a sorted map, thresholds[k] is the largest f32 that encodes to code k or below (nearest code, an exact tie
 * going to the lower index as torch's argmin over |x - map|): x encodes to the number of thresholds below it.
 * The f32 midpoint is moved by one ulp where its rounding put it on the wrong side of the exact midpoint.
 */
export function nearestThresholds(map: Float32Array): Float32Array {
  const out = new Float32Array(map.length - 1);
  const buf = new DataView(new ArrayBuffer(4));
  const step = (x: number, up: boolean) => {
    if (x === 0) return up ? fl(2 ** -149) : -fl(2 ** -149);
    buf.setFloat32(0, x);
    const u = buf.getUint32(0);
    buf.setUint32(0, (x > 0) === up ? u + 1 : u - 1);
    return buf.getFloat32(0);
  };
  for (let k = 0; k + 1 < map.length; k++) {
    const [lo, hi] = [map[k], map[k + 1]];
    const closerLo = (x: number) => Math.abs(x - lo) <= Math.abs(x - hi); // exact in float64 for these f32 values
    let t = fl((lo + hi) / 2);
    while (!closerLo(t)) t = step(t, false);
    while (closerLo(step(t, true))) t = step(t, true);
    out[k] = t;
  }
  return out;
}
