import { describe, expect, test } from "bun:test";
import {
  type DynamicEncoder,
  SIGNED_ENCODER,
  UNSIGNED_ENCODER,
  encodeDynamicFast,
  guessCode,
  signFixFast,
} from "../../src/optim/encoder.ts";
import { SIGNED_DYNAMIC_MAP as S, UNSIGNED_DYNAMIC_MAP as U } from "../../src/optim/maps.ts";
import {
  f32Bits,
  f32FromBits,
  fl,
  midpoints,
  nextDown,
  nextUp,
  quantizeNearest,
  seededRandom,
  signFix,
} from "../reference/quant.ts";

const CASES = [
  { name: "signed", map: S, signed: true, enc: SIGNED_ENCODER },
  { name: "unsigned", map: U, signed: false, enc: UNSIGNED_ENCODER },
] as const;

/** Compare fast vs brute force on xs; report the first few mismatches instead of one expect per value. */
function mismatches(xs: ArrayLike<number>, map: Float32Array, signed: boolean): string[] {
  const bad: string[] = [];
  for (let i = 0; i < xs.length && bad.length < 5; i++) {
    const x = xs[i];
    const fast = encodeDynamicFast(x, signed);
    const ref = quantizeNearest(x, map);
    if (fast !== ref) bad.push(`x=${x} (0x${f32Bits(x).toString(16)}): fast ${fast}, brute force ${ref}`);
  }
  return bad;
}

describe("encodeDynamicFast equals brute-force nearest (§1.3)", () => {
  for (const { name, map, signed } of CASES) {
    test(`${name}: codes, midpoints, their f32 neighbours, both signs`, () => {
      const xs: number[] = [];
      for (const c of map) xs.push(c, nextUp(c), nextDown(c));
      for (const m of midpoints(map)) xs.push(m, nextUp(m), nextDown(m));
      xs.push(...xs.map((x) => -x));
      expect(mismatches(xs, map, signed)).toEqual([]);
    });

    test(`${name}: 0, -0, subnormals, NaN, Inf, values beyond 1`, () => {
      const special = [
        0,
        f32FromBits(1), // smallest subnormal
        f32FromBits(0x3ff),
        f32FromBits(0x007fffff), // largest subnormal
        f32FromBits(0x00800000), // smallest normal
        1e-30,
        nextUp(1),
        1.5,
        2,
        nextUp(2),
        3,
        1e30,
        f32FromBits(0x7f7fffff), // largest finite
        Number.POSITIVE_INFINITY,
      ];
      const xs = [...special, ...special.map((x) => -x)];
      // NaN with either sign bit, quiet and signalling payloads: all must give 0 like bnb's all-false comparisons.
      for (const u of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff]) xs.push(f32FromBits(u));
      expect(mismatches(xs, map, signed)).toEqual([]);
      expect(encodeDynamicFast(Number.NaN, signed)).toBe(0);
      expect(encodeDynamicFast(-0, signed)).toBe(signed ? 127 : 0);
      expect(encodeDynamicFast(Number.POSITIVE_INFINITY, signed)).toBe(255);
      expect(encodeDynamicFast(Number.NEGATIVE_INFINITY, signed)).toBe(0);
    });

    test(`${name}: 2M log-uniform magnitudes in [1e-9, 2] of both signs, and 500k uniform values`, () => {
      const rand = seededRandom(signed ? 11 : 12);
      const logUniform = new Float32Array(2_000_000);
      const lo = Math.log(1e-9);
      const span = Math.log(2) - lo;
      for (let i = 0; i < logUniform.length; i++) {
        logUniform[i] = (i & 1 ? -1 : 1) * Math.exp(lo + rand() * span);
      }
      expect(mismatches(logUniform, map, signed)).toEqual([]);
      const uniform = Float32Array.from({ length: 500_000 }, () => rand() * 2.4 - 1.2);
      expect(mismatches(uniform, map, signed)).toEqual([]);
    });
  }
});

describe("why it is exact", () => {
  /** The true code of a non-negative input given by its bits. */
  const truth = (u: number, map: Float32Array) => quantizeNearest(f32FromBits(u), map);

  /** Every u in [0, bits(2.0)] where guessCode changes value: guessCode is non-decreasing inside each decade. */
  function guessBreakpoints(e: DynamicEncoder): number[] {
    const edges = [0, ...Array.from(e.decadeBits, (b) => b + 1), 0x40000001];
    const points: number[] = [];
    for (let d = 0; d + 1 < edges.length; d++) {
      const [from, to] = [edges[d], edges[d + 1] - 1];
      points.push(from);
      // For each value the guess takes inside the decade, binary-search its first u.
      for (let level = guessCode(from, e) + 1; level <= guessCode(to, e); level++) {
        let [lo, hi] = [from, to];
        while (lo < hi) {
          const mid = Math.floor((lo + hi) / 2);
          if (guessCode(mid, e) >= level) hi = mid;
          else lo = mid + 1;
        }
        points.push(lo);
      }
    }
    return points;
  }

  for (const { name, map, enc } of CASES) {
    test(`${name}: the guess is the true code or the one below it, at every point where either changes`, () => {
      // Between consecutive points of this set both functions are constant, so checking the points (and their
      // neighbours, for safety) covers every non-negative f32 up to the clamp at 2.0.
      const points = new Set<number>();
      for (const b of guessBreakpoints(enc)) points.add(b);
      for (const t of enc.thresholdBits.subarray(0, 255)) if (t <= 0x40000000) points.add(t + 1); // truth changes
      let checked = 0;
      for (const p of points) {
        for (const u of [p - 1, p, p + 1]) {
          if (u < 0 || u > 0x40000000) continue;
          const g = guessCode(u, enc);
          const t = truth(u, map);
          if (g !== t && g + 1 !== t) throw new Error(`u=0x${u.toString(16)}: guess ${g}, true code ${t}`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(3 * 250);
    });

    test(`${name}: thresholdBits is the largest input that still encodes to k or below`, () => {
      for (let k = 0; k < 255; k++) {
        const t = f32FromBits(enc.thresholdBits[k]);
        expect(quantizeNearest(t, map)).toBeLessThanOrEqual(k);
        expect(quantizeNearest(nextUp(t), map)).toBe(k + 1);
      }
      expect(enc.thresholdBits[255]).toBe(0x7f800000);
    });

    test(`${name}: decadeBits sit at the decade boundaries`, () => {
      for (let d = 1; d <= 6; d++) {
        const start = enc.zeroCode + 2 ** (d + enc.shift) - enc.shift; // first code of decade d
        expect(map[start]).toBeGreaterThan(10 ** (d - 7));
        expect(map[start - 1]).toBeLessThan(10 ** (d - 7));
        expect(enc.decadeBits[d - 1]).toBe(enc.thresholdBits[start - 1]);
      }
    });
  }
});

describe("signFixFast equals the reference sign fix (§1.3)", () => {
  test("every code against states of each sign, zero, tiny, NaN, Inf", () => {
    const states = [0, -0, 1e-30, -1e-30, 0.5, -0.5, 1, -1, Infinity, -Infinity, Number.NaN, fl(5.5e-7), -fl(5.5e-7)];
    for (let q = 0; q < 256; q++) {
      for (const s of states) expect(signFixFast(q, s)).toBe(signFix(q, s, S));
    }
  });

  test("the spec's cases: tiny negative -> 126, absmax 0 (q = 0) with +0 -> 255, with -0 -> 0", () => {
    expect(signFixFast(encodeDynamicFast(-1e-9, true), -1e-9)).toBe(126);
    expect(signFixFast(encodeDynamicFast(Number.NaN, true), 0)).toBe(255);
    expect(signFixFast(encodeDynamicFast(Number.NaN, true), -0)).toBe(0);
  });
});
