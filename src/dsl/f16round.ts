// binary16 rounding of a JS number, for the runtimes without `Math.f16round` (Node 20, older browsers): the
// primitive table's f16 evaluation (constant folding, the interpreter) must not throw there.

/** Rounds `x` to the nearest binary16 value, ties to even, overflowing to ±Infinity as IEEE 754 does. */
export function f16roundPortable(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x; // NaN, ±Infinity and ±0 are their own binary16 values
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  // 65504 is the largest finite value; from 65520 (halfway to 2^16) upwards the even neighbour is 2^16 = Infinity.
  if (a >= 65520) return sign * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 can be off by one next to a power of two
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10); // below 2^-14 the spacing stays 2^-24 (subnormals)
  const q = a / ulp; // exact: a power-of-two scaling
  const f = Math.floor(q);
  const rest = q - f;
  const n = rest > 0.5 || (rest === 0.5 && f % 2 === 1) ? f + 1 : f;
  return sign * n * ulp;
}

/** The runtime's own `Math.f16round` where it has one, else the portable rounding. */
export const f16round: (x: number) => number =
  typeof (Math as { f16round?: (x: number) => number }).f16round === "function" ? (Math as unknown as { f16round: (x: number) => number }).f16round : f16roundPortable;
