// bf16 and f16 parameters without an f32 master copy (optim/paramstorage.ts): the update runs in f32 and the
// result is rounded once per step, to nearest even or stochastically (bf16StochasticRound). The oracle is the
// plain-TS AdamW (test/reference/optimizers.ts) with its parameters rounded by test/reference/bf16.ts.
import { describe, expect, test } from "bun:test";
import { compare32, compareClose, filled, gaussian, octet, param, read, ref } from "./helpers.ts";
import * as lb from "../reference/lowbit.ts";
import { bf16Nearest, bf16Stochastic, bf16Value, counterRandom16, f32Bits } from "../reference/bf16.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { deviceInfo } from "../../src/runtime/device.ts";

await octet.device();
const HAS_F16 = deviceInfo().hasF16;

const HP = { lr: 1e-2, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 1e-2 };
const toBf16 = (x: Float32Array) => x.map((v) => bf16Value(bf16Nearest(v)));

/**
 * Runs `steps` AdamW steps on the GPU and in the oracle, the oracle rounding p after each with `round` and each
 * gradient with `gradRound` (gradDtype: it defaults to paramDtype, so bf16 weights have bf16 gradients).
 */
async function compare(opts: Record<string, unknown>, bits: 8 | 32, n: number, steps: number, round: (p: Float32Array, t: number) => Float32Array, start: (x: Float32Array) => Float32Array, gradRound: (g: Float32Array) => Float32Array = (g) => g) {
  const rand = gaussian(7);
  const p0 = filled(n, rand);
  const p = await param(p0);
  const Cls = bits === 8 ? octet.optim.AdamW8bit : octet.optim.AdamW;
  const opt = new Cls([p], { ...HP, betas: [...HP.betas], ...opts });
  let pr = start(p0);
  const state = ref.createState("adamw", n, bits);
  for (let t = 1; t <= steps; t++) {
    const g = filled(n, rand);
    p.grad = await octet.tensor(g);
    await opt.step();
    ref.adam({ p: pr, g: gradRound(g), state, step: t, hp: HP, bits });
    pr = round(pr, t);
  }
  return { got: await read(p), want: pr, opt, p };
}

/** Every element within one 16-bit ulp of the oracle, and nearly all bit-identical (f32 ulps may flip a tie). */
function expectClose(got: Float32Array, want: Float32Array, ulpOf: (v: number) => number) {
  let same = 0;
  const bad: string[] = [];
  for (let i = 0; i < got.length; i++) {
    if (Object.is(got[i], want[i])) same++;
    else if (!(Math.abs(got[i] - want[i]) <= ulpOf(want[i]))) bad.push(`${i}: got ${got[i]}, want ${want[i]}`);
  }
  expect(bad.slice(0, 5)).toEqual([]);
  expect(same / got.length).toBeGreaterThan(0.99);
}
const bf16Ulp = (v: number) => 2 ** (Math.floor(Math.log2(Math.abs(v) || 2 ** -126)) - 7);
const f16Ulp = (v: number) => 2 ** (Math.max(Math.floor(Math.log2(Math.abs(v) || 2 ** -14)), -14) - 10);

describe("paramDtype bf16", () => {
  for (const bits of [32, 8] as const) {
    test(`AdamW${bits === 8 ? "8bit" : ""}: round to nearest matches the oracle, parameters hold bf16 values, 2 bytes each`, async () => {
      const n = 3 * 256 + 40; // three blocks and an odd tail (4096 elements would be 8-bit's min8bitSize)
      const before = octet.memoryStats().parameters;
      const { got, want, opt } = await compare({ paramDtype: "bf16", min8bitSize: 0, gradDtype: "f32" }, bits, n, 4, toBf16, toBf16);
      expectClose(got, want, bf16Ulp);
      for (const v of got) expect(f32Bits(v) & 0xffff).toBe(0);
      // The arena: 2 bytes per element, whole blocks (the f32 values the test uploaded are released later).
      expect(octet.memoryStats().parameters - before).toBeLessThanOrEqual(4 * n + 4 * 256 * 2);
      expect(opt.kernels().some((k) => k.name.includes("_bf16"))).toBe(true);
    });
  }

  test("stochastic rounding matches the oracle's stream keyed by (seed, step, element)", async () => {
    const n = 2 * 256 + 7;
    const seed = 1234;
    const sr = (p: Float32Array, t: number) => p.map((v, i) => bf16Value(bf16Stochastic(v, counterRandom16(seed, t, i))));
    const { got, want } = await compare({ paramDtype: "bf16", bf16StochasticRound: true, roundingSeed: seed }, 32, n, 3, sr, toBf16, toBf16);
    expectClose(got, want, bf16Ulp);
  });

  test("stochastic rounding in the per-tensor kernel: each tensor's own step, elements numbered by arena position", async () => {
    // b has no gradient at step 1, so step 2 runs a at t = 2 and b at t = 1: the table-driven (multi) kernel.
    const seed = 5;
    const hp = { lr: 0.1, momentum: 0.9 };
    const [a0, b0] = [filled(300, gaussian(1)), filled(20, gaussian(2))].map(toBf16);
    const [a, b] = [await param(a0), await param(b0)];
    const opt = new octet.optim.SGD([a, b], { ...hp, paramDtype: "bf16", gradDtype: "f32", bf16StochasticRound: true, roundingSeed: seed });
    const ga = [filled(300, gaussian(3)), filled(300, gaussian(4))];
    const gb = filled(20, gaussian(5));
    a.grad = await octet.tensor(ga[0]);
    await opt.step();
    a.grad = await octet.tensor(ga[1]);
    b.grad = await octet.tensor(gb);
    await opt.step();
    // The oracle: bnb's SGD (buf = g at t = 1, buf = m buf + g after; p -= lr buf), rounded with the stream.
    const sr = (p: Float32Array, t: number, base: number) => p.map((v, i) => bf16Value(bf16Stochastic(v, counterRandom16(seed, t, base + i))));
    const ra = a0.slice(), sa = ref.createState("momentum", 300, 32), rb = b0.slice(), sb = ref.createState("momentum", 20, 32);
    const hpRef = { ...hp, weightDecay: 0 };
    ref.momentum({ p: ra, g: ga[0], state: sa, step: 1, hp: hpRef, bits: 32 });
    let wa = sr(ra, 1, 0);
    ref.momentum({ p: wa, g: ga[1], state: sa, step: 2, hp: hpRef, bits: 32 });
    wa = sr(wa, 2, 0);
    ref.momentum({ p: rb, g: gb, state: sb, step: 1, hp: hpRef, bits: 32 });
    const wb = sr(rb, 1, 2 * 256); // b starts at block 2 of the arena
    expectClose(await read(a), wa, bf16Ulp);
    expectClose(await read(b), wb, bf16Ulp);
    expect(opt.kernels().some((k) => k.name.endsWith("_multi"))).toBe(true);
  });

  test("lost weight decay: lr*wd below half a bf16 ulp moves p with stochastic rounding (unbiased), and never without it", async () => {
    // p = 1, g = 0: each AdamW step multiplies p by 1 - lr*wd = 1 - 1e-5; bf16's spacing below 1 is 2^-8, so
    // nearest rounding gives back 1 every step. Stochastic rounding keeps E[p_t] = (1 - lr*wd)^t.
    const n = 1 << 14;
    const T = 10;
    const hp = { lr: 1e-3, weightDecay: 1e-2 };
    const run = async (stochastic: boolean) => {
      const p = await param(new Float32Array(n).fill(1));
      const opt = new octet.optim.AdamW([p], { ...hp, paramDtype: "bf16", bf16StochasticRound: stochastic, roundingSeed: 99 });
      for (let t = 0; t < T; t++) {
        p.grad = await octet.tensor(new Float32Array(n));
        await opt.step();
      }
      return read(p);
    };
    const rn = await run(false);
    expect(rn.every((v) => v === 1)).toBe(true);
    const sr = await run(true);
    const mean = sr.reduce((a, v) => a + v, 0) / n;
    const sd = Math.sqrt(sr.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
    const exact = Math.fround(1 - Math.fround(hp.lr * hp.weightDecay)) ** T;
    expect(sd).toBeGreaterThan(0);
    expect(Math.abs(mean - exact)).toBeLessThan((3 * sd) / Math.sqrt(n));
    expect(1 - mean).toBeGreaterThan((10 * sd) / Math.sqrt(n)); // it moved, far beyond the noise
  });

  test("p.data sees every step even after it was realized into a copy", async () => {
    const p = await param(Float32Array.of(1, 2, 3, 4));
    const opt = new octet.optim.SGD([p], { lr: 0.5, momentum: 0.9, paramDtype: "bf16" });
    p.grad = await octet.tensor(Float32Array.of(1, 1, 1, 1));
    await opt.step();
    expect(Array.from(await read(p))).toEqual([0.5, 1.5, 2.5, 3.5]);
    await p.data.realize(); // now a copy of the decoded arena
    p.grad = await octet.tensor(Float32Array.of(1, 1, 1, 1));
    await opt.step();
    // buf = 0.9 * 1 + 1, p = 0.5 - 0.5 * 1.9 (bnb's SGD), rounded to bf16: the copy would still read 0.5, 1.5, ...
    expect(Array.from(await read(p))).toEqual(Array.from(toBf16(Float32Array.of(-0.45, 0.55, 1.55, 2.55))));
  });

  test("options are checked: unknown dtypes, stochastic rounding without bf16, seeds, f16 on an adapter without shader-f16", async () => {
    const p = await param(Float32Array.of(1, 2));
    expect(() => new octet.optim.AdamW([p], { paramDtype: "bf32" })).toThrow('AdamW: option "paramDtype": must be one of "f32", "bf16", "f16"');
    expect(() => new octet.optim.AdamW([p], { gradDtype: "fp8" })).toThrow('AdamW: option "gradDtype": must be one of "f32", "bf16", "f16"');
    expect(() => new octet.optim.AdamW([p], { bf16StochasticRound: true })).toThrow('it needs paramDtype "bf16"');
    expect(() => new octet.optim.AdamW([p], { paramDtype: "bf16", roundingSeed: -1 })).toThrow('option "roundingSeed" must be an integer in [0, 2^24)');
    const opt = new octet.optim.AdamW([p], { paramDtype: "f16", target: { ...deviceTarget(), f16: false } });
    p.grad = await octet.tensor(Float32Array.of(1, 1));
    await expect(opt.step()).rejects.toThrow('paramDtype "f16" needs the WebGPU feature "shader-f16"');
  });
});

describe.skipIf(!HAS_F16)("paramDtype f16", () => {
  test("AdamW: the f16 arena matches the oracle rounded to f16 (nearest)", async () => {
    const toF16 = (x: Float32Array) => x.map((v) => Math.f16round(v));
    const { got, want } = await compare({ paramDtype: "f16" }, 32, 300, 4, toF16, toF16, toF16);
    expectClose(got, want, f16Ulp);
    for (const v of got) expect(Math.f16round(v)).toBe(v);
  });
});

describe("paramDtype per param group", () => {
  test("each group keeps its own storage: a bf16 group and an f32 group step as the oracle, in buckets of their own", async () => {
    const rand = gaussian(31);
    const [a0, b0] = [filled(300, rand), filled(300, rand)];
    const [a, b] = [await param(toBf16(a0)), await param(b0)];
    const opt = new octet.optim.AdamW([{ params: [a], paramDtype: "bf16" }, { params: [b] }], { ...HP, betas: [...HP.betas] });
    const [sa, sb] = [ref.createState("adamw", 300, 32), ref.createState("adamw", 300, 32)];
    let [ra, rb] = [toBf16(a0), b0.slice()];
    for (let t = 1; t <= 3; t++) {
      const [ga, gb] = [filled(300, rand), filled(300, rand)];
      a.grad = await octet.tensor(ga);
      b.grad = await octet.tensor(gb);
      await opt.step();
      ref.adam({ p: ra, g: toBf16(ga), state: sa, step: t, hp: HP, bits: 32 });
      ra = toBf16(ra);
      ref.adam({ p: rb, g: gb, state: sb, step: t, hp: HP, bits: 32 });
    }
    expectClose(await read(a), ra, bf16Ulp);
    const w = compare32(await read(b), rb);
    expect(w.bad, w.first).toBe(0);
    expect(opt.kernels().map((k) => k.name).sort()).toEqual(["adam32bit", "adam32bit_bf16"]);
    expect(opt.arenaBytes()).toEqual({ parameters: 2 * 256 * 2 + 2 * 256 * 4, gradients: 2 * 256 * 2 + 2 * 256 * 4 });
    const sd = await opt.stateDict();
    expect(sd.paramGroups.map((g) => g.paramDtype)).toEqual(["bf16", undefined]);
  });

  test("a group changed after the first step re-buckets: the weights are rounded to bf16 then, the states carried over", async () => {
    const rand = gaussian(32);
    const p0 = filled(300, rand);
    const p = await param(p0);
    const opt = new octet.optim.AdamW([{ params: [p] }], { ...HP, betas: [...HP.betas] });
    const state = ref.createState("adamw", 300, 32);
    const pr = p0.slice();
    const g1 = filled(300, rand);
    p.grad = await octet.tensor(g1);
    await opt.step();
    ref.adam({ p: pr, g: g1, state, step: 1, hp: HP, bits: 32 });
    opt.paramGroups[0].paramDtype = "bf16";
    opt.paramGroups[0].gradDtype = "f32";
    const g2 = filled(300, rand);
    p.grad = await octet.tensor(g2);
    await opt.step();
    let want = toBf16(pr); // adopted into the bf16 arena, rounded to nearest
    ref.adam({ p: want, g: g2, state, step: 2, hp: HP, bits: 32 });
    want = toBf16(want);
    expectClose(await read(p), want, bf16Ulp);
    expect(opt.kernels().map((k) => k.name)).toEqual(["adam32bit_bf16_gf32"]);
  });

  test("GlobalOptimManager can set paramDtype for one parameter", async () => {
    const [a, b] = [await param(filled(300, gaussian(33))), await param(filled(300, gaussian(34)))];
    const mgr = octet.optim.GlobalOptimManager.getInstance();
    mgr.overrideConfig(a, { paramDtype: "bf16" });
    const opt = new octet.optim.AdamW([a, b]);
    a.grad = await octet.tensor(filled(300, gaussian(35)));
    b.grad = await octet.tensor(filled(300, gaussian(36)));
    await opt.step();
    for (const v of await read(a)) expect(f32Bits(v) & 0xffff).toBe(0);
    expect((await read(b)).some((v) => f32Bits(v) & 0xffff)).toBe(true);
    mgr.initialize();
  });

  test("a group's options are checked, naming the group", async () => {
    const [a, b] = [await param(Float32Array.of(1)), await param(Float32Array.of(2))];
    expect(() => new octet.optim.AdamW([{ params: [a], paramDtype: "bf16" }, { params: [b], bf16StochasticRound: true }])).toThrow('AdamW param group 1: option "bf16StochasticRound" rounds bf16 parameters; it needs paramDtype "bf16"');
    expect(() => new octet.optim.AdamW([{ params: [a], paramDtype: "bf17" }])).toThrow('AdamW param group 0: option "paramDtype": must be one of');
  });
});

describe("bf16 weights at blockSize 64", () => {
  test("AdamWFp8 with 64-element blocks: each tensor's slot starts on a 256-byte boundary (a padding block between), as the oracle", async () => {
    // 4096 + 5 elements = 65 blocks of 64: the second tensor starts at block 66, byte 66·64·2 = 33·256.
    const sizes = [4096 + 5, 4096 + 70];
    const rand = gaussian(37);
    const p0 = sizes.map((n) => toBf16(filled(n, rand)));
    const params = await Promise.all(p0.map(param));
    const hp = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2 };
    const opt = new octet.optim.AdamWFp8(params, { ...hp, blockSize: 64, paramDtype: "bf16" });
    const pr = p0.map((x) => Float64Array.from(x));
    let st = sizes.map((n) => ({ m: lb.zeroState(n, 64), v: lb.zeroState(n, 64) }));
    for (let t = 1; t <= 3; t++) {
      const gs = sizes.map((n) => filled(n, rand));
      params.forEach((p, i) => (p.grad = null));
      for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(gs[i]);
      await opt.step();
      st = st.map((s, i) => {
        const r = lb.adamStep(pr[i], toBf16(gs[i]), s.m, s.v, hp, t, lb.REF_FORMATS.fp8e4m3, 64);
        pr[i].set(toBf16(Float32Array.from(pr[i])));
        return r;
      });
    }
    for (let i = 0; i < sizes.length; i++) {
      const w = compareClose(await read(params[i]), pr[i]);
      expect(w.bad, `param ${i}: ${w.first}`).toBe(0);
      for (const v of await read(params[i])) expect(f32Bits(v) & 0xffff).toBe(0);
    }
    const sd = await opt.stateDict();
    expect((sd.state[1].absmax1 as Float32Array).length).toBe(Math.ceil(sizes[1] / 64));
    expect(opt.arenaBytes().parameters).toBe((65 + 1 + 66) * 64 * 2);
  });
});
