import { describe, expect, test } from "bun:test";
import {
  LINEAR_SIGNED_MAP,
  LINEAR_UNSIGNED_MAP,
  SIGNED_DYNAMIC_MAP as S,
  UNSIGNED_DYNAMIC_MAP as U,
} from "../../src/optim/maps.ts";
import {
  blockAbsmax,
  dequantizeBlockwise,
  f32Bits,
  f32FromBits,
  fl,
  midpoints,
  nextDown,
  nextUp,
  quantizeBinarySearch,
  quantizeBlockwise,
  quantizeNearest,
  quantizeState,
  quantizeStateBlockwise,
  seededRandom,
  signFix,
} from "./quant.ts";

const MIN_SUBNORMAL = f32FromBits(1);

describe("quantizeNearest (§1.3)", () => {
  test("every code maps to itself", () => {
    for (const map of [S, U, LINEAR_SIGNED_MAP, LINEAR_UNSIGNED_MAP]) {
      for (let k = 0; k < 256; k++) expect(quantizeNearest(map[k], map)).toBe(k);
    }
  });

  test("exact ties with the f32 midpoint go to the even index", () => {
    // Between +0 (127) and 5.5e-7 (128): mid = c[128]/2 exactly.
    expect(quantizeNearest(fl(S[128] * 0.5), S)).toBe(128);
    expect(quantizeNearest(nextDown(fl(S[128] * 0.5)), S)).toBe(127);
    // Mirror image: the tie between 126 and 127 goes to 126.
    expect(quantizeNearest(fl(S[126] * 0.5), S)).toBe(126);
    expect(quantizeNearest(nextUp(fl(S[126] * 0.5)), S)).toBe(127);
    // Between 0.99297 (254) and 1 (255): the tie stays at 254; one ulp above goes to 255.
    const top = fl(fl(S[254] + 1) * 0.5);
    expect(quantizeNearest(top, S)).toBe(254);
    expect(quantizeNearest(nextUp(top), S)).toBe(255);
    // Unsigned, between 0 and 3.25e-7: the tie stays at 0; odd k=1 / even 2 tie goes to 2.
    expect(quantizeNearest(fl(U[1] * 0.5), U)).toBe(0);
    expect(quantizeNearest(midpoints(U)[1], U)).toBe(2);
  });

  test("the rule is the f32 midpoint, not the real one", () => {
    // fl(c[128] + c[129]) rounds up: the f32 midpoint 1.9000001429958502e-6 lies above the real one, so that input
    // is strictly nearer to c[129] in exact arithmetic, yet bnb's comparison sees a tie and keeps the even 128.
    const mid = midpoints(S)[128];
    expect(mid).toBe(1.9000001429958502e-6);
    expect(mid - S[128]).toBeGreaterThan(S[129] - mid);
    expect(quantizeNearest(mid, S)).toBe(128);
  });

  test("0, -0, subnormals", () => {
    for (const x of [0, -0, MIN_SUBNORMAL, -MIN_SUBNORMAL, f32FromBits(0x007fffff), -f32FromBits(0x007fffff)]) {
      expect(quantizeNearest(x, S)).toBe(127);
      expect(quantizeNearest(x, U)).toBe(0);
    }
  });

  test("NaN -> 0, above 1 -> 255, below c[0] -> 0", () => {
    for (const map of [S, U]) {
      expect(quantizeNearest(Number.NaN, map)).toBe(0);
      expect(quantizeNearest(1, map)).toBe(255);
      expect(quantizeNearest(nextUp(1), map)).toBe(255);
      expect(quantizeNearest(1e30, map)).toBe(255);
      expect(quantizeNearest(Number.POSITIVE_INFINITY, map)).toBe(255);
      expect(quantizeNearest(Number.NEGATIVE_INFINITY, map)).toBe(0);
      expect(quantizeNearest(-2, map)).toBe(0);
    }
    expect(quantizeNearest(-1, S)).toBe(0); // c[0] = -0.99297: there is no -1 code
    expect(quantizeNearest(-1e-9, U)).toBe(0); // negatives clamp to the unsigned map's 0
  });

  test("signs: a value and its negation land on mirrored codes of the signed map", () => {
    expect(quantizeNearest(-0.5, S)).toBe(254 - quantizeNearest(0.5, S)); // c[126 - j] = -c[128 + j]
    expect(S[quantizeNearest(-0.5, S)]).toBe(-S[quantizeNearest(0.5, S)]);
    expect(S[quantizeNearest(-3e-6, S)]).toBe(-S[129]); // 3e-6 is nearest to 3.25e-6
  });

  test("agrees with bnb's binary search (quantize_2D) on codes, midpoints, their neighbours and random inputs", () => {
    const rand = seededRandom(1);
    for (const [map, signed] of [
      [S, true],
      [U, false],
      [LINEAR_SIGNED_MAP, true],
      [LINEAR_UNSIGNED_MAP, false],
    ] as const) {
      const xs: number[] = [0, -0, Number.NaN, Infinity, -Infinity, MIN_SUBNORMAL, -MIN_SUBNORMAL, 2, -2];
      for (const c of map) xs.push(c, nextUp(c), nextDown(c));
      for (const m of midpoints(map)) xs.push(m, nextUp(m), nextDown(m));
      for (let i = 0; i < 20000; i++) xs.push(fl((rand() * 2 - 1) * 10 ** (-rand() * 8)));
      for (const x of xs) expect(quantizeNearest(x, map)).toBe(quantizeBinarySearch(x, map, signed));
    }
  });
});

describe("sign fix (§1.3)", () => {
  test("tiny negative states keep their sign, tiny positive ones become exactly 0", () => {
    expect(quantizeState(-1e-9, 1, S, true)).toBe(126);
    expect(S[126]).toBe(-S[128]);
    expect(quantizeState(1e-9, 1, S, true)).toBe(127);
    expect(quantizeState(-0, 1, S, true)).toBe(126); // -0 has the sign bit; +0 code does not
    expect(quantizeState(0, 1, S, true)).toBe(127);
    expect(quantizeState(-1e-9, 1, S, false)).toBe(127); // no fix when not asked (state2 is never negative)
  });

  test("absmax 0: x = NaN -> 0; the fix turns +0 into 255 and leaves -0 at 0", () => {
    expect(quantizeState(0, 0, S, true)).toBe(255);
    expect(quantizeState(-0, 0, S, true)).toBe(0);
    expect(signFix(0, 0, S)).toBe(255); // uint8 wrap-around of 0 - 1
    expect(quantizeState(0, 0, U, false)).toBe(0);
  });

  test("no change when the signs already agree", () => {
    for (const [q, s] of [
      [200, 0.3],
      [20, -0.3],
      [127, 1e-12],
    ] as const) {
      expect(signFix(q, s, S)).toBe(q);
    }
  });
});

describe("blockwise (§1.4, §2.3)", () => {
  test("standalone quantize multiplies by fl(1/absmax); the optimizer path divides", () => {
    // Found by search: fl(a · fl(1/m)) and fl(a / m) fall on either side of a midpoint.
    const a = f32FromBits(0x3f606960);
    const m = f32FromBits(0x3f7cdbb0);
    const data = Float32Array.of(a, m);
    expect(fl(a * fl(1 / m))).not.toBe(fl(a / m));
    expect(quantizeBlockwise(data, S).codes[0]).toBe(246);
    expect(quantizeStateBlockwise(data, S, false).codes[0]).toBe(247);
  });

  test("absmax per 256-block over valid elements only, odd tail", () => {
    const a = new Float32Array(256 * 2 + 5);
    a[3] = -7;
    a[300] = 2;
    a[513] = -0.25;
    expect(Array.from(blockAbsmax(a))).toEqual([7, 2, 0.25]);
    const q = quantizeBlockwise(a, S);
    expect(q.codes[3]).toBe(0); // -7/7 = -1 -> lowest code
    expect(q.codes[300]).toBe(255);
    expect(q.codes.length).toBe(a.length);
  });

  test("an all-zero block: 0/0 and 0·fl(1/0) are NaN -> code 0, dequantizes to -0", () => {
    const q = quantizeBlockwise(new Float32Array(10), S);
    expect(Array.from(q.codes)).toEqual(new Array(10).fill(0));
    expect(Object.is(dequantizeBlockwise(q, S)[0], -0)).toBe(true);
  });

  test("round trip picks a nearest code (within the f32-midpoint slack) for every element", () => {
    const rand = seededRandom(7);
    const a = Float32Array.from({ length: 256 * 4 + 37 }, () => (rand() * 2 - 1) * 10 ** (-rand() * 4));
    for (const [map, signed] of [
      [S, true],
      [U, false],
    ] as const) {
      const src = signed ? a : a.map(Math.abs);
      const q = quantizeStateBlockwise(src, map, signed);
      for (let i = 0; i < src.length; i++) {
        const x = fl(src[i] / q.absmax[Math.floor(i / 256)]);
        const k = q.codes[i];
        const d = Math.abs(x - map[k]);
        if (k > 0) expect(d).toBeLessThanOrEqual(Math.abs(x - map[k - 1]) * (1 + 1e-6));
        if (k < 255) expect(d).toBeLessThanOrEqual(Math.abs(x - map[k + 1]) * (1 + 1e-6));
      }
    }
  });

  test("bnb's functional error bounds (§8.3) hold for N(0,1) and U[0,1) data", () => {
    const rand = seededRandom(3);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const errors = (a: Float32Array, map: Float32Array) => {
      const back = dequantizeBlockwise(quantizeBlockwise(a, map), map);
      let abs = 0;
      let rel = 0;
      for (let i = 0; i < a.length; i++) {
        const e = Math.abs(a[i] - back[i]);
        abs += e;
        rel += e / (Math.abs(a[i]) + 1e-8);
      }
      return { abs: abs / a.length, rel: rel / a.length };
    };
    const gauss = errors(Float32Array.from({ length: 1 << 16 }, normal), S);
    expect(gauss.abs).toBeLessThan(0.011);
    expect(gauss.rel).toBeLessThan(0.018);
    const uniform = Float32Array.from({ length: 1 << 16 }, rand);
    const us = errors(uniform, S);
    expect(us.abs).toBeLessThan(0.0036);
    expect(us.rel).toBeLessThan(0.015);
    const uu = errors(uniform, U);
    expect(uu.abs).toBeLessThan(0.0023);
    expect(uu.rel).toBeLessThan(0.012);
  });
});

describe("f32 helpers", () => {
  test("nextUp / nextDown / bits", () => {
    expect(nextUp(1)).toBe(1 + 2 ** -23);
    expect(nextDown(1)).toBe(1 - 2 ** -24);
    expect(nextUp(0)).toBe(MIN_SUBNORMAL);
    expect(nextDown(0)).toBe(-MIN_SUBNORMAL);
    expect(nextUp(-1)).toBe(-(1 - 2 ** -24));
    expect(f32Bits(-0)).toBe(0x80000000);
    expect(f32Bits(1)).toBe(0x3f800000);
  });
});
