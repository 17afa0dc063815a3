// bf16 conversion in the DSL (ops/bf16.ts) on the GPU against the plain-TS oracle (test/reference/bf16.ts):
// the codes must be bit-identical, for round to nearest even and for stochastic rounding with the same
// counter-based stream; stochastic rounding must be unbiased.
import { beforeAll, describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { jit } from "../../src/runtime/jit.ts";
import { device } from "../../src/runtime/device.ts";
import { bf16ToF32, counterRandom16, f32ToBf16, f32ToBf16Stochastic } from "../../src/ops/bf16.ts";
import { bf16Nearest, bf16Stochastic, bf16Value, bitsF32, counterRandom16 as refRandom16 } from "../reference/bf16.ts";

beforeAll(async () => {
  await device();
});

/** A fixed mix of edge values and random bit patterns (subnormals, NaNs, ties, values next to the largest bf16). */
function samples(n: number): Float32Array {
  const edge = [0, -0, 1, -1, Infinity, -Infinity, NaN, 1e-40, -1e-40, 3.4e38, -3.4e38, 3.3895e38, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, -(1 + 2 ** -8)];
  const out = new Float32Array(n);
  out.set(edge.map(Math.fround));
  const bits = new Uint32Array(out.buffer);
  let s = 12345;
  for (let i = edge.length; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const r = (s ^ (s >>> 15) ^ Math.imul(i, 2654435761)) >>> 0;
    // Every 4th value is a tie (low 16 bits exactly 0x8000) or one off it.
    bits[i] = i % 4 === 0 ? ((r & 0xffff0000) | (0x7fff + (i % 3))) >>> 0 : r;
  }
  bits[edge.length] = 0x7f7f8000; // the largest bf16 + half an ulp: a tie that rounds to Inf (even)
  bits[edge.length + 1] = 0x7f7f7fff; // just below it: stays finite
  return out;
}

const N = 4096;
const hex = (c: number) => `0x${c.toString(16).padStart(4, "0")}`;

describe("bf16 conversion", () => {
  test("round to nearest even: the GPU's codes equal the oracle's, and decoding is exact", async () => {
    const x = samples(N);
    const f = jit("bf16_rne", { x: { shape: [N] } }, (a) => {
      const codes = f32ToBf16(a.x);
      return { codes, back: bf16ToF32(codes) };
    });
    const r = await f.run({ x: await tensor(x, [N]) });
    const codes = await r.codes.toArray();
    const back = await r.back.toArray();
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      const want = bf16Nearest(x[i]);
      if (codes[i] !== want) bad.push(`${x[i]} (bits ${new Uint32Array(x.buffer)[i].toString(16)}): got ${hex(codes[i])}, want ${hex(want)}`);
      const v = bf16Value(want);
      if (!Object.is(back[i], v) && !(Number.isNaN(back[i]) && Number.isNaN(v))) bad.push(`decode ${hex(want)}: got ${back[i]}, want ${v}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  test("stochastic rounding: the GPU's codes equal the oracle's with the same (seed, step, element) stream", async () => {
    const x = samples(N);
    const f = jit("bf16_sr", { x: { shape: [N] } }, (a) => {
      const r = counterRandom16(Tensor.uniform("seed", "u32"), Tensor.uniform("step", "u32"), Tensor.iota([N], 0, "u32"));
      return { codes: f32ToBf16Stochastic(a.x, r), r };
    });
    const xt = await tensor(x, [N]);
    for (const [seed, step] of [[0, 1], [7, 123456]]) {
      const res = await f.run({ x: xt }, { seed, step });
      const codes = await res.codes.toArray();
      const rand = await res.r.toArray();
      const bad: string[] = [];
      for (let i = 0; i < N; i++) {
        const r = refRandom16(seed, step, i);
        if (rand[i] !== r) bad.push(`random bits of element ${i} at (${seed}, ${step}): got ${rand[i]}, want ${r}`);
        const want = bf16Stochastic(x[i], r);
        if (codes[i] !== want) bad.push(`${x[i]}: got ${hex(codes[i])}, want ${hex(want)}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
    }
  });

  test("stochastic rounding is unbiased: the mean of many roundings is within 3 sigma of the exact value; nearest is not", async () => {
    // x = 1 + 2^-10 lies an eighth of the way from bf16 1 to 1 + 2^-7 (one ulp): nearest always gives 1.
    const M = 1 << 14;
    const x0 = 1 + 2 ** -10;
    const f = jit("bf16_sr_mean", { x: { shape: [M] } }, (a) => {
      const r = counterRandom16(Tensor.uniform("seed", "u32"), Tensor.uniform("step", "u32"), Tensor.iota([M], 0, "u32"));
      return { sr: bf16ToF32(f32ToBf16Stochastic(a.x, r)), rn: bf16ToF32(f32ToBf16(a.x)) };
    });
    const res = await f.run({ x: await tensor(new Float32Array(M).fill(x0), [M]) }, { seed: 3, step: 1 });
    const sr = await res.sr.toArray();
    const rn = await res.rn.toArray();
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    const ulp = 2 ** -7;
    const p = 1 / 8;
    const sigma = (ulp * Math.sqrt(p * (1 - p))) / Math.sqrt(M);
    expect(Math.abs(mean(sr) - x0)).toBeLessThan(3 * sigma);
    expect(Math.abs(mean(rn) - x0)).toBeGreaterThan(3 * sigma); // the bias nearest rounding has (2^-10)
    expect(new Set(Array.from(sr)).size).toBe(2); // only the two neighbours
  });

  test("the oracle itself: nearest on ties goes to even, and stochastic rounding of a representable value is exact", () => {
    expect(bf16Nearest(bitsF32(0x3f808000))).toBe(0x3f80); // tie, 0x3f80 is even
    expect(bf16Nearest(bitsF32(0x3f818000))).toBe(0x3f82); // tie, 0x3f81 is odd
    expect(bf16Nearest(bitsF32(0x3f808001))).toBe(0x3f81);
    for (const r of [0, 1, 0xffff]) expect(bf16Stochastic(1.5, r)).toBe(0x3fc0);
  });
});
