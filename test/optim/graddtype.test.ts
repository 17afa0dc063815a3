// bf16 and f16 gradients (the gradDtype option, optim/paramstorage.ts): step() writes each gradient into the
// gradient arena rounded to nearest, and every update reads it back as f32. The oracle is the plain-TS optimizer
// (test/reference/optimizers.ts) fed the gradient rounded by test/reference/bf16.ts (or Math.f16round), never the
// GPU against itself.
import { describe, expect, test } from "bun:test";
import { classOf, compare32, FAMILIES, filled, gaussian, octet, param, read, ref } from "./helpers.ts";
import { bf16Nearest, bf16Value, f32Bits } from "../reference/bf16.ts";
import { HISTORY, percentileClipping, scaled } from "../reference/clipping.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { deviceInfo } from "../../src/runtime/device.ts";
import { backward, constant, leaf } from "../../src/autograd/var.ts";
import { mul, sum } from "../../src/nn/functional.ts";

await octet.device();
const HAS_F16 = deviceInfo().hasF16;
const toBf16 = (x: Float32Array) => x.map((v) => bf16Value(bf16Nearest(v)));
const bitsOf = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

describe("gradDtype bf16", () => {
  for (const fam of FAMILIES) {
    test(`${fam.base}: steps as the oracle does with each gradient rounded to bf16 (f32 weights, two tensors)`, async () => {
      const sizes = [300, 40];
      const normal = gaussian(11);
      const p0 = sizes.map((n) => filled(n, () => normal() * 0.2));
      const params = await Promise.all(p0.map(param));
      const opt = new (classOf(fam.base))(params, { ...fam.opts, gradDtype: "bf16" });
      const refP = p0.map((x) => x.slice());
      const refS = sizes.map((n) => ref.createState(fam.refName, n, 32));
      for (let t = 1; t <= 3; t++) {
        const grads = sizes.map((n) => filled(n, () => normal() * 0.02));
        for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(grads[i]);
        await opt.step();
        for (let i = 0; i < sizes.length; i++) fam.rule({ p: refP[i], g: toBf16(grads[i]), state: refS[i], step: t, hp: fam.hp, bits: 32 });
      }
      for (let i = 0; i < sizes.length; i++) {
        const w = compare32(await read(params[i]), refP[i]);
        expect(w.bad, `${fam.base} param ${i}: ${w.first}`).toBe(0);
      }
      expect(opt.kernels().every((k) => k.name.includes("_gbf16"))).toBe(true);
    });
  }

  test("the gradient arena holds 2 bytes per element; after the step p.grad reads the stored bf16 gradient", async () => {
    const n = 300;
    const g = filled(n, gaussian(3));
    const run = async (gradDtype: string) => {
      const p = await param(filled(n, gaussian(2)));
      const opt = new octet.optim.AdamW([p], { gradDtype });
      p.grad = await octet.tensor(g);
      await opt.step();
      return { bytes: opt.arenaBytes(), grad: (await p.grad!.toArray()) as Float32Array };
    };
    const f32 = await run("f32");
    const bf16 = await run("bf16");
    expect(f32.bytes.gradients).toBe(2 * 256 * 4); // two 256-element blocks
    expect(bf16.bytes.gradients).toBe(2 * 256 * 2);
    expect(bitsOf(bf16.grad)).toEqual(bitsOf(toBf16(g)));
    expect(bitsOf(f32.grad)).toEqual(bitsOf(g));
  });

  test("gradDtype follows paramDtype (a torch .grad has its parameter's dtype) unless it is given", async () => {
    const p = await param(filled(300, gaussian(4)));
    const opt = new octet.optim.AdamW([p], { paramDtype: "bf16" });
    p.grad = await octet.tensor(filled(300, gaussian(5)));
    await opt.step();
    expect(opt.arenaBytes()).toEqual({ parameters: 2 * 256 * 2, gradients: 2 * 256 * 2 });
    const q = await param(filled(300, gaussian(4)));
    const opt2 = new octet.optim.AdamW([q], { paramDtype: "bf16", gradDtype: "f32" });
    q.grad = await octet.tensor(filled(300, gaussian(5)));
    await opt2.step();
    expect(opt2.arenaBytes()).toEqual({ parameters: 2 * 256 * 2, gradients: 2 * 256 * 4 });
  });

  test("micro-batches summed by backward() are summed in f32 and rounded once, when step() writes them", async () => {
    const n = 257;
    const xs = [filled(n, gaussian(6)), filled(n, gaussian(7))];
    const p = await param(filled(n, gaussian(8)));
    const opt = new octet.optim.SGD([p], { lr: 0.1, momentum: 0.9, gradDtype: "bf16" });
    for (const x of xs) backward(sum(mul(leaf(p), constant(await octet.tensor(x))))); // d/dp sum(p·x) = x
    await opt.step();
    const exact = xs[0].map((v, i) => Math.fround(v + xs[1][i]));
    expect(bitsOf((await p.grad!.toArray()) as Float32Array)).toEqual(bitsOf(toBf16(exact)));
  });

  test("skipNonFinite sees a NaN or an Inf in a bf16 gradient, and the parameters stay as they were", async () => {
    for (const bad of [NaN, Infinity]) {
      const p0 = filled(300, gaussian(9));
      const p = await param(p0);
      const opt = new octet.optim.AdamW([p], { gradDtype: "bf16", skipNonFinite: true });
      const g = filled(300, gaussian(10));
      g[123] = bad;
      p.grad = await octet.tensor(g);
      await opt.step();
      expect(opt.lastStepSkipped).toBe(true);
      expect(bitsOf(await read(p))).toEqual(bitsOf(p0));
    }
  });

  test("percentile clipping scales the decoded bf16 gradient (bnb's history of norms, oracle test/reference/clipping.ts)", async () => {
    const n = 300;
    const rand = gaussian(12);
    const p0 = filled(n, rand);
    const p = await param(p0);
    const hp = { lr: 0.01, momentum: 0.9, weightDecay: 0 };
    const opt = new octet.optim.SGD([p], { ...hp, percentileClipping: 5, gradDtype: "bf16" });
    const pr = p0.slice();
    const state = ref.createState("momentum", n, 32);
    const history = new Float32Array(HISTORY);
    for (let t = 1; t <= 4; t++) {
      const g = filled(n, rand).map((v) => v * (t === 3 ? 10 : 1)); // step 3's norm is clipped
      p.grad = await octet.tensor(g);
      await opt.step();
      const gb = toBf16(g);
      ref.momentum({ p: pr, g: scaled(gb, percentileClipping(gb, history, t, 5)), state, step: t, hp, bits: 32 });
    }
    const w = compare32(await read(p), pr, 1e-5); // the norm's f32 sum order differs from the oracle's float64 one
    expect(w.bad, w.first).toBe(0);
  });

  test("clipGradNorm before the step: the clipped f32 gradient is rounded once into the arena", async () => {
    const n = 300;
    const g = filled(n, gaussian(13));
    const p = await param(filled(n, gaussian(14)));
    const opt = new octet.optim.AdamW([p], { gradDtype: "bf16" });
    p.grad = await octet.tensor(g);
    const total = octet.nn.clipGradNorm([p], 1);
    await opt.step();
    const norm = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
    expect((await total.toArray())[0]).toBeCloseTo(norm, 3);
    const coef = Math.fround(1 / Math.fround(norm + 1e-6));
    const want = toBf16(g.map((v) => Math.fround(v * coef)));
    const got = (await p.grad!.toArray()) as Float32Array;
    // the GPU's norm may differ from the float64 one in its last f32 bits: within one bf16 ulp everywhere
    for (let i = 0; i < n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(2 ** (Math.floor(Math.log2(Math.abs(want[i]))) - 7));
    for (const v of got) expect(f32Bits(v) & 0xffff).toBe(0);
  });

  test("options are checked: an unknown gradDtype, f16 gradients on an adapter without shader-f16", async () => {
    const p = await param(Float32Array.of(1, 2));
    expect(() => new octet.optim.AdamW([p], { gradDtype: "bf8" })).toThrow('AdamW: option "gradDtype": must be one of "f32", "bf16", "f16"');
    const opt = new octet.optim.AdamW([p], { gradDtype: "f16", target: { ...deviceTarget(), f16: false } });
    p.grad = await octet.tensor(Float32Array.of(1, 1));
    await expect(opt.step()).rejects.toThrow('gradDtype "f16" needs the WebGPU feature "shader-f16"');
  });
});

describe.skipIf(!HAS_F16)("gradDtype f16", () => {
  test("AdamW: steps as the oracle with the gradient rounded to f16; an overflow past 65504 is an Inf that skipNonFinite sees", async () => {
    const n = 300;
    const rand = gaussian(15);
    const p0 = filled(n, rand);
    const p = await param(p0);
    const hp = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2 };
    const opt = new octet.optim.AdamW([p], { ...hp, gradDtype: "f16", skipNonFinite: true });
    const pr = p0.slice();
    const state = ref.createState("adamw", n, 32);
    for (let t = 1; t <= 3; t++) {
      const g = filled(n, rand);
      p.grad = await octet.tensor(g);
      await opt.step();
      ref.adam({ p: pr, g: g.map((v) => Math.f16round(v)), state, step: t, hp, bits: 32 });
    }
    const got = await read(p);
    const w = compare32(got, pr);
    expect(w.bad, w.first).toBe(0);
    const g = filled(n, rand);
    g[7] = 1e6; // f16's largest finite value is 65504
    p.grad = await octet.tensor(g);
    await opt.step();
    expect(opt.lastStepSkipped).toBe(true);
    expect(bitsOf(await read(p))).toEqual(bitsOf(got));
  });
});
