// Plain-TS oracle for bf16 rounding (src/ops/bf16.ts), written from the definitions, not from the DSL code:
// bf16 is the high 16 bits of an IEEE binary32; round to nearest even picks the nearer of the two bf16
// neighbours of x (the even one on a tie); stochastic rounding rounds up with probability (x - down) / ulp,
// drawn from the same counter hash (PCG RXS-M-XS) keyed by (seed, step, element).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}
export function bitsF32(b: number): number {
  u32[0] = b >>> 0;
  return f32[0];
}

/** f32 value of a bf16 code. */
export const bf16Value = (code: number): number => bitsF32((code & 0xffff) << 16);

/** The bf16 neighbours of an f32 value x: the code toward zero (truncation) and the next one away from zero. */
function neighbours(x: number): [number, number] {
  const down = f32Bits(x) >>> 16;
  return [down, (down + 1) & 0xffff];
}

/** Round to nearest, ties to even: compares distances in float64 (exact for f32 and bf16 values). */
export function bf16Nearest(x: number): number {
  x = Math.fround(x);
  if (Number.isNaN(x)) return 0x7fc0;
  const [lo, hi] = neighbours(x);
  if ((f32Bits(x) & 0xffff) === 0) return lo; // exactly representable (incl. +-0, +-Inf)
  // Past the largest bf16 the next code is +-Inf: IEEE rounds as if the exponent went on (the next value 2^128),
  // then overflows to Inf.
  const hiValue = Number.isFinite(bf16Value(hi)) ? bf16Value(hi) : Math.sign(x) * 2 ** 128;
  const dLo = Math.abs(x - bf16Value(lo));
  const dHi = Math.abs(hiValue - x);
  if (dLo !== dHi) return dLo < dHi ? lo : hi;
  return lo & 1 ? hi : lo;
}

/** PCG RXS-M-XS hash of a u32, in 32-bit unsigned arithmetic. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The 16 random bits element `element` draws at (seed, step). */
export const counterRandom16 = (seed: number, step: number, element: number): number => pcgHash((element ^ pcgHash((step ^ pcgHash(seed)) >>> 0)) >>> 0) >>> 16;

/**
 * Stochastic rounding with 16 given random bits r: up (away from zero) with probability (|x| - |down|) / ulp,
 * i.e. when r < the 16 bits that truncation drops. NaN is the quiet NaN.
 */
export function bf16Stochastic(x: number, r: number): number {
  x = Math.fround(x);
  if (Number.isNaN(x)) return 0x7fc0;
  const [lo, hi] = neighbours(x);
  const dropped = f32Bits(x) & 0xffff;
  return dropped + r >= 0x10000 ? hi : lo;
}
