import { describe, expect, test } from "bun:test";
import { SIGNED_DYNAMIC_MAP as S } from "../../src/optim/maps.ts";
import {
  type AdEMAMixHp,
  DEFAULTS,
  type State32,
  type State8,
  adagrad,
  adam,
  ademamix,
  ademamixSchedule,
  createState,
  lamb,
  lars,
  lion,
  momentum,
  powBeta,
  rmsprop,
  updateScale,
} from "./optimizers.ts";
import { blockAbsmax, dequantizeBlockwise, fl, quantizeStateBlockwise, seededRandom } from "./quant.ts";

const N = 256 * 4 + 37; // a few blocks and an odd tail

function gaussian(seed: number): () => number {
  const rand = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
const filled = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
const meanAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
};
const dequant1 = (st: State8) => dequantizeBlockwise({ codes: st.state1, absmax: st.absmax1 }, S);

describe("Adam (§3.2)", () => {
  test("32-bit Adam equals textbook float64 Adam within 1e-5 over 10 steps", () => {
    const normal = gaussian(1);
    const p0 = filled(N, () => normal() * 0.1);
    const hp = { ...DEFAULTS.adam, lr: 1e-3 };
    const p = p0.slice();
    const st = createState("adam", N, 32);
    const [ref, m, v] = [Float64Array.from(p0), new Float64Array(N), new Float64Array(N)];
    const [b1, b2] = hp.betas;
    for (let t = 1; t <= 10; t++) {
      const g = filled(N, () => normal() * 0.01);
      adam({ p, g, state: st, step: t, hp, bits: 32 });
      for (let i = 0; i < N; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const mh = m[i] / (1 - b1 ** t);
        const vh = v[i] / (1 - b2 ** t);
        ref[i] -= (hp.lr * mh) / (Math.sqrt(vh) + hp.eps);
      }
    }
    for (let i = 0; i < N; i++) expect(Math.abs(p[i] - ref[i])).toBeLessThan(1e-5);
    // and it did move (random-sign gradients: less than 10·lr)
    expect(meanAbsDiff(p, p0)).toBeGreaterThan(1e-3);
  });

  test("AdamW decays the post-step parameter: p ← (p - step)·(1 - lr·wd)", () => {
    const p = Float32Array.of(2);
    const st = createState("adamw", 1, 32);
    adam({ p, g: Float32Array.of(0.5), state: st, step: 1, hp: { ...DEFAULTS.adamw, lr: 0.01, weightDecay: 0.5 }, bits: 32 });
    // step 1: m̂/(√v̂ + ε) = g/(|g| + ε) ≈ 1, so p ≈ (2 - 0.01)·(1 - 0.005)
    expect(p[0]).toBeCloseTo((2 - 0.01) * (1 - 0.005), 6);
  });

  test("8-bit Adam tracks 32-bit Adam within a few percent over 20 steps", () => {
    const normal = gaussian(2);
    const p0 = filled(N, () => normal() * 0.1);
    const [p32, p8] = [p0.slice(), p0.slice()];
    const [s32, s8] = [createState("adam", N, 32) as State32, createState("adam", N, 8) as State8];
    for (let t = 1; t <= 20; t++) {
      const g = filled(N, () => normal() * 0.01);
      adam({ p: p32, g, state: s32, step: t, hp: DEFAULTS.adam, bits: 32 });
      adam({ p: p8, g, state: s8, step: t, hp: DEFAULTS.adam, bits: 8 });
    }
    const moved = meanAbsDiff(p32, p0);
    expect(meanAbsDiff(p8, p32)).toBeLessThan(0.03 * moved);
    const m8 = dequant1(s8);
    expect(meanAbsDiff(m8, s32.state1)).toBeLessThan(0.05 * meanAbsDiff(s32.state1, new Float32Array(N)));
  });

  test("8-bit step 1 from zero state gives 32-bit's parameters (states are unquantized when p moves, §2.3)", () => {
    const normal = gaussian(3);
    const p0 = filled(N, () => normal() * 0.1);
    const g = filled(N, () => normal() * 0.01);
    const [p32, p8] = [p0.slice(), p0.slice()];
    adam({ p: p32, g, state: createState("adam", N, 32), step: 1, hp: DEFAULTS.adamw, bits: 32 });
    adam({ p: p8, g, state: createState("adam", N, 8), step: 1, hp: DEFAULTS.adamw, bits: 8 });
    // Only v's association differs, ((1-β2)·g)·g vs (1-β2)·(g·g): an ulp or so of p or of the step (≈ lr).
    let same = 0;
    for (let i = 0; i < N; i++) {
      expect(Math.abs(p8[i] - p32[i])).toBeLessThanOrEqual(2 ** -22 * (Math.abs(p32[i]) + 1e-3));
      if (p8[i] === p32[i]) same++;
    }
    expect(same).toBeGreaterThan(N / 2);
  });

  test("8-bit NaN/Inf gradient guard: states zeroed, p untouched; 32-bit propagates", () => {
    const p = Float32Array.of(1, 1, 1, 1);
    const g = Float32Array.of(0.5, Number.NaN, Number.POSITIVE_INFINITY, -0.25);
    const st = createState("adam", 4, 8) as State8;
    adam({ p, g, state: st, step: 1, hp: { ...DEFAULTS.adamw, lr: 0.01 }, bits: 8 });
    expect(p[1]).toBe(1);
    expect(p[2]).toBe(1);
    expect(p[0]).toBeLessThan(1);
    expect(p[3]).toBeGreaterThan(1 - 0.01 * 0.01 - 1e-6);
    expect(Array.from(dequant1(st).subarray(1, 3))).toEqual([0, 0]);
    expect(st.state2?.[1]).toBe(0);
    const p32 = Float32Array.of(1, 1);
    adam({ p: p32, g: Float32Array.of(0.5, Number.NaN), state: createState("adam", 2, 32), step: 1, hp: DEFAULTS.adam, bits: 32 });
    expect(p32[1]).toBeNaN();
  });

  test("β^t is a float64 product of the f32 β (§9)", () => {
    expect(powBeta(0.9, 1)).toBe(fl(0.9));
    expect(powBeta(0.999, 3)).toBe(fl(fl(0.999) ** 3));
    expect(powBeta(0.5, 4)).toBe(0.0625);
  });
});

describe("8-bit blockwise mechanics (§2.3)", () => {
  test("momentum/Lion 8-bit = 32-bit rule on the dequantized states, then re-quantized with the new absmax", () => {
    const n = 512; // whole blocks: no padded lanes
    const normal = gaussian(4);
    for (const [rule, name, hp] of [
      [momentum, "momentum", { ...DEFAULTS.momentum, weightDecay: 0.01 }],
      [lion, "lion", { ...DEFAULTS.lion, weightDecay: 0.1 }],
    ] as const) {
      const st8 = createState(name, n, 8) as State8;
      const p8 = filled(n, () => normal() * 0.1);
      for (let t = 1; t <= 3; t++) {
        const g = filled(n, () => normal() * 0.01);
        const s32: State32 = { state1: dequant1(st8) };
        const p32 = p8.slice();
        // @ts-expect-error: the two rules take different hyper-parameter types; each pair is consistent
        rule({ p: p32, g, state: s32, step: t, hp, bits: 32 });
        // @ts-expect-error: as above
        rule({ p: p8, g, state: st8, step: t, hp, bits: 8 });
        expect(Array.from(p8)).toEqual(Array.from(p32));
        const expected = quantizeStateBlockwise(s32.state1, S, true);
        expect(Array.from(st8.absmax1)).toEqual(Array.from(blockAbsmax(s32.state1)));
        expect(Array.from(st8.state1)).toEqual(Array.from(expected.codes));
      }
    }
  });

  test("padded lanes (g = 0, q1 = 128, q2 = 0) take part in the last block's absmax", () => {
    const n = 256 + 3;
    const st = createState("adam", n, 8) as State8;
    const p = new Float32Array(n).fill(1);
    const hp = DEFAULTS.adam;
    adam({ p, g: new Float32Array(n).fill(1), state: st, step: 1, hp, bits: 8 });
    const old = st.absmax1[1];
    expect(old).toBe(fl(1 - fl(0.9))); // m = (1-β1)·1; padded lanes were c[128]·0 = 0
    // Step 2: the last block's real gradients are NaN, so its real states become 0; only padding is left.
    const g = new Float32Array(n).fill(1);
    g.fill(Number.NaN, 256);
    adam({ p, g, state: st, step: 2, hp, bits: 8 });
    expect(st.absmax1[1]).toBe(fl(fl(S[128] * old) * fl(0.9))); // c[128]·absmax_old·β1 from a padded lane
    expect(st.absmax2?.[1]).toBe(0); // padded v is c2[0]·absmax = 0
    expect(Array.from(st.state1.subarray(256))).toEqual([127, 127, 127]); // real zeros encode as +0
  });

  test("an all-zero state with absmax 0 re-encodes to bytes that dequantize to 0 (§1.3)", () => {
    const st = createState("momentum", 4, 8) as State8;
    momentum({ p: new Float32Array(4), g: new Float32Array(4), state: st, step: 1, hp: DEFAULTS.momentum, bits: 8 });
    expect(st.absmax1[0]).toBe(0);
    expect(Array.from(st.state1)).toEqual([255, 255, 255, 255]); // x = 0/0 = NaN -> 0, sign fix of +0 -> 255
    expect(Array.from(dequant1(st))).toEqual([0, 0, 0, 0]);
  });

  test("AdEMAMix 8-bit keeps m1 and m2 absmax in separate rows", () => {
    const n = 300;
    const st = createState("ademamix", n, 8) as State8;
    expect(st.state1.length).toBe(2 * n);
    expect(st.absmax1.length).toBe(4);
    const g = filled(n, gaussian(5));
    ademamix({ p: new Float32Array(n), g, state: st, step: 1, hp: DEFAULTS.ademamix, bits: 8 });
    const gmax = (from: number, to: number) => Math.max(...Array.from(g.subarray(from, to), Math.abs));
    // step 1: m1 = (1-β1)·g, m2 = (1-β3)·g, so each row's absmax is its own (1-β)·max|g| of that block.
    expect(st.absmax1[0]).toBe(fl(fl(1 - fl(0.9)) * gmax(0, 256)));
    expect(st.absmax1[1]).toBe(fl(fl(1 - fl(0.9)) * gmax(256, n)));
    expect(st.absmax1[2]).toBe(fl(fl(1 - fl(0.9999)) * gmax(0, 256)));
    expect(st.absmax1[3]).toBe(fl(fl(1 - fl(0.9999)) * gmax(256, n)));
  });
});

describe("1-state rules by hand (§3.3-3.6)", () => {
  // Dyadic inputs keep every intermediate exact, so the expected values are plain arithmetic.
  test("momentum SGD: t = 1 buf = g, then buf·β + g; coupled weight decay", () => {
    const p = Float32Array.of(1, -2);
    const st = createState("momentum", 2, 32);
    const hp = { lr: 0.125, momentum: 0.5, weightDecay: 0 };
    momentum({ p, g: Float32Array.of(0.5, 0.25), state: st, step: 1, hp, bits: 32 });
    expect(Array.from(p)).toEqual([0.9375, -2.03125]);
    momentum({ p, g: Float32Array.of(0.5, 0.25), state: st, step: 2, hp, bits: 32 });
    expect(Array.from(st.state1)).toEqual([0.75, 0.375]); // 0.5·0.5 + 0.5, 0.5·0.25 + 0.25
    expect(Array.from(p)).toEqual([0.84375, -2.078125]);
    const q = Float32Array.of(1);
    momentum({ p: q, g: Float32Array.of(0.5), state: createState("momentum", 1, 8), step: 1, hp: { ...hp, weightDecay: 0.5 }, bits: 8 });
    expect(q[0]).toBe(0.875); // g' = 0.5 + 1·0.5 = 1
  });

  test("RMSprop: 32-bit divides g', 8-bit divides the raw g", () => {
    const hp = { lr: 0.125, alpha: 0.75, eps: 0, weightDecay: 0 };
    const p = Float32Array.of(1);
    rmsprop({ p, g: Float32Array.of(0.5), state: createState("rmsprop", 1, 32), step: 1, hp, bits: 32 });
    expect(p[0]).toBe(0.75); // s = 0.25·0.25 = 0.0625, g/√s = 2
    const [p32, p8] = [Float32Array.of(1), Float32Array.of(1)];
    const wd = { ...hp, weightDecay: 0.5 }; // g' = 1, s = 0.25
    rmsprop({ p: p32, g: Float32Array.of(0.5), state: createState("rmsprop", 1, 32), step: 1, hp: wd, bits: 32 });
    rmsprop({ p: p8, g: Float32Array.of(0.5), state: createState("rmsprop", 1, 8), step: 1, hp: wd, bits: 8 });
    expect(p32[0]).toBe(0.75); // 1 - 0.125·(1/0.5)
    expect(p8[0]).toBe(0.875); // 1 - 0.125·(0.5/0.5)
  });

  test("Adagrad: s += g'², same raw-g numerator in 8-bit", () => {
    const hp = { lr: 0.125, eps: 0, weightDecay: 0 };
    const p = Float32Array.of(1);
    const st = createState("adagrad", 1, 32) as State32;
    adagrad({ p, g: Float32Array.of(0.5), state: st, step: 1, hp, bits: 32 });
    expect([p[0], st.state1[0]]).toEqual([0.875, 0.25]);
    adagrad({ p, g: Float32Array.of(0.5), state: st, step: 2, hp, bits: 32 });
    expect(st.state1[0]).toBe(0.5);
    expect(p[0]).toBe(fl(0.875 - fl(0.125 * fl(0.5 / fl(Math.sqrt(0.5))))));
    const [p32, p8] = [Float32Array.of(1), Float32Array.of(1)];
    const wd = { ...hp, weightDecay: 0.5 };
    adagrad({ p: p32, g: Float32Array.of(0.5), state: createState("adagrad", 1, 32), step: 1, hp: wd, bits: 32 });
    adagrad({ p: p8, g: Float32Array.of(0.5), state: createState("adagrad", 1, 8), step: 1, hp: wd, bits: 8 });
    expect([p32[0], p8[0]]).toEqual([0.875, 0.9375]);
  });

  test("Lion: decay first, sign of the interpolation, momentum with β2", () => {
    const hp = { lr: 0.125, betas: [0.5, 0.75] as const, weightDecay: 0 };
    const p = Float32Array.of(1, 1, 1);
    const st = createState("lion", 3, 32) as State32;
    lion({ p, g: Float32Array.of(0.5, -0.5, 0), state: st, step: 1, hp, bits: 32 });
    expect(Array.from(p)).toEqual([0.875, 1.125, 1]); // sgn(0) = 0
    expect(Array.from(st.state1)).toEqual([0.125, -0.125, 0]); // 0.25·g
    // step 2: interpolation 0.5·0.125 + 0.5·(-0.0625) > 0 although g < 0
    lion({ p, g: Float32Array.of(-0.0625, 0, 0), state: st, step: 2, hp, bits: 32 });
    expect(Array.from(p)).toEqual([0.75, 1.25, 1]);
    const q = Float32Array.of(1);
    lion({ p: q, g: Float32Array.of(0.5), state: createState("lion", 1, 8), step: 1, hp: { ...hp, weightDecay: 0.5 }, bits: 8 });
    expect(q[0]).toBe(0.8125); // 1·(1 - 0.0625) - 0.125
  });
});

describe("AdEMAMix (§3.8)", () => {
  const hp: AdEMAMixHp = { ...DEFAULTS.ademamix, tAlpha: 100, tBeta3: 100 };

  test("scheduler values", () => {
    expect(ademamixSchedule(10, hp).alpha).toBe(0.5);
    expect(ademamixSchedule(100, hp).alpha).toBe(5);
    expect(ademamixSchedule(1000, hp).alpha).toBe(5);
    expect(ademamixSchedule(100, hp).beta3).toBe(fl(0.9999)); // t = t_β3: exp(ln β3)
    expect(ademamixSchedule(0, hp).beta3).toBe(fl(0.9)); // t = 0 starts at β1
    // In between, 1/ln β3_t interpolates linearly between 1/ln β1 and 1/ln β3.
    const half = 1 / (0.5 / Math.log(0.9) + 0.5 / Math.log(0.9999));
    expect(ademamixSchedule(50, hp).beta3).toBe(fl(Math.exp(half)));
    expect(ademamixSchedule(5, { ...DEFAULTS.ademamix })).toEqual({ alpha: 5, beta3: fl(0.9999) });
  });

  test("one step by hand: m̂1 = g, √ν̂ = |g|, so p moves by lr·sign(g)·(1 + α_t·(1-β3_t))", () => {
    const p = Float32Array.of(1, 1);
    const noDecay = { ...hp, weightDecay: 0 };
    ademamix({ p, g: Float32Array.of(0.5, -0.25), state: createState("ademamix", 2, 32), step: 1, hp: noDecay, bits: 32 });
    const { alpha, beta3 } = ademamixSchedule(1, hp);
    const move = 1e-3 * (1 + alpha * (1 - beta3));
    expect(p[0]).toBeCloseTo(1 - move, 6);
    expect(p[1]).toBeCloseTo(1 + move, 6);
  });
});

describe("LAMB / LARS trust ratio (§3.7)", () => {
  test("updateScale = min(1, maxUnorm·‖p‖/‖u‖), + eps on both sides for 1-state kernels", () => {
    expect(updateScale(4, 1, 1)).toBe(0.5);
    expect(updateScale(0.25, 1, 1)).toBe(1);
    expect(updateScale(1, 1, 1)).toBe(1); // N = limit: not shrunk
    expect(updateScale(100, 10, 0.02)).toBe(fl(fl(0.2) / 10));
    expect(updateScale(100, 10, 0.02, 0.05)).toBe(fl(fl(fl(fl(0.02) * 10) + fl(0.05)) / 10));
    expect(updateScale(0, 0, 1)).toBe(1);
  });

  test("LAMB clamps a large step and leaves a small one", () => {
    const n = 100;
    const g = new Float32Array(n).fill(1);
    const small = new Float32Array(n).fill(0.01); // ‖p‖ = 0.1, ‖u‖ = 10 (u = m̂/(√v̂+ε) ≈ 1)
    const info = lamb({ p: small, g, state: createState("lamb", n, 32), step: 1, hp: DEFAULTS.lamb, bits: 32 });
    expect(info.updateScale).toBeCloseTo(0.01, 6);
    expect(small[0]).toBeCloseTo(0.01 - 1e-3 * 0.01, 9);
    const [big, plain] = [new Float32Array(n).fill(10), new Float32Array(n).fill(10)]; // ‖p‖ = 100
    expect(lamb({ p: big, g, state: createState("lamb", n, 32), step: 1, hp: DEFAULTS.lamb, bits: 32 }).updateScale).toBe(1);
    adam({ p: plain, g, state: createState("adam", n, 32), step: 1, hp: DEFAULTS.adam, bits: 32 });
    expect(Array.from(big)).toEqual(Array.from(plain));
  });

  test("LARS: trust ratio on the momentum buffer without weight decay; decay still applied to g", () => {
    const n = 100;
    const p = new Float32Array(n).fill(1); // ‖p‖ = 10, limit = 0.02·10 = 0.2; buf = g = 1, ‖u‖ = 10
    const info = lars({ p, g: new Float32Array(n).fill(1), state: createState("lars", n, 32), step: 1, hp: DEFAULTS.lars, bits: 32 });
    expect(info.updateScale).toBe(fl(fl(fl(0.02) * 10) / 10));
    expect(p[0]).toBe(fl(1 + fl(info.updateScale * fl(-fl(0.01) * 1))));
  });

  test("8-bit LAMB is Adam8bit (max_unorm ignored, as on bnb's CPU/Triton backends)", () => {
    const g = filled(300, gaussian(6));
    const [a, b] = [filled(300, () => 0.01), filled(300, () => 0.01)];
    lamb({ p: a, g, state: createState("lamb", 300, 8), step: 1, hp: DEFAULTS.lamb, bits: 8 });
    adam({ p: b, g, state: createState("adam", 300, 8), step: 1, hp: DEFAULTS.adam, bits: 8 });
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe("argument checks", () => {
  test("a state of the wrong kind or size is refused", () => {
    const p = new Float32Array(4);
    expect(() =>
      adam({ p, g: new Float32Array(4), state: createState("adam", 4, 32), step: 1, hp: DEFAULTS.adam, bits: 8 }),
    ).toThrow(/bits = 8/);
    expect(() =>
      momentum({ p, g: new Float32Array(3), state: createState("momentum", 4, 32), step: 1, hp: DEFAULTS.momentum, bits: 32 }),
    ).toThrow(/g has 3/);
    expect(() =>
      momentum({ p, g: new Float32Array(4), state: createState("momentum", 4, 32), step: 0, hp: DEFAULTS.momentum, bits: 32 }),
    ).toThrow(/step/);
  });
});
