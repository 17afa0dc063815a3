// Optimizer safety (issue 7 items 3 and 8), every check against the plain-TS oracle (test/reference/optimizers.ts):
// - skipNonFinite: a step whose gradients hold a NaN/Inf is skipped whole (params, state and step counts
//   untouched) and counted in skippedSteps, for every family; without the option the step runs as before;
// - one Parameter, one optimizer: a second optimizer stepping it is refused, naming both;
// - `p.data = t` after the first step is adopted (the next step starts from t); a wrong shape is refused;
// - optimBits / stateFormat changes after the first step (overrideConfig or paramGroups) migrate the state;
// - an un-awaited step followed by zeroGrad() keeps its update.
import { describe, expect, test } from "bun:test";
import { FAMILIES, classOf, compare32, compareClose, compareCodes, familyOf, filled, gaussian, octet, param, read, ref, stateDictBits } from "./helpers.ts";
import { dequantizeCode } from "../reference/quant.ts";
import { SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP } from "../../src/optim/maps.ts";

const BIG = 4096 + 44; // 8-bit in a *8bit class (>= min8bitSize), a ragged last block
const SMALL = 300; // 32-bit even in a *8bit class

type SD = octet.optim.OptimizerStateDict;

const bits = stateDictBits; // compared bit for bit

/** GPU params and states of a run against the oracle's (8-bit: bnb's tolerance and at most one code off). */
async function expectOracle(opt: octet.optim.Optimizer, params: octet.nn.Parameter[], refP: Float32Array[], refS: ref.OptimState[], bitsOf: (8 | 32)[], label: string): Promise<void> {
  const sd = await opt.stateDict();
  for (let i = 0; i < params.length; i++) {
    const got = await read(params[i]);
    const rs = refS[i] as unknown as Record<string, Float32Array | Uint8Array | undefined>;
    if (bitsOf[i] === 32) {
      const w = compare32(got, refP[i]);
      expect(w.bad, `${label} p${i}: ${w.first}`).toBe(0);
      for (const k of ["state1", "state2"]) if (rs[k]) expect(compare32(sd.state[i][k] as Float32Array, rs[k]!).bad, `${label} p${i} ${k}`).toBe(0);
    } else {
      const w = compareClose(got, refP[i]);
      expect(w.bad, `${label} p${i}: ${w.first}`).toBe(0);
      for (const k of ["state1", "state2"]) {
        if (!rs[k]) continue;
        const c = compareCodes(sd.state[i][k] as Uint8Array, rs[k] as Uint8Array);
        expect(c.worse, `${label} p${i} ${k}: ${c.first}`).toBe(0);
        expect(c.offByOne, `${label} p${i} ${k} off by one`).toBeLessThanOrEqual(Math.floor(c.n * 0.001));
      }
    }
  }
}

describe("skipNonFinite", () => {
  for (const fam of FAMILIES) {
    const name = `${fam.base}8bit`;
    test(`${name}: a step with a NaN or Inf gradient is skipped whole and counted; the next good step is step 2`, async () => {
      const normal = gaussian(31);
      const sizes = [BIG, SMALL];
      const bitsOf: (8 | 32)[] = [8, 32];
      const p0 = sizes.map((n) => filled(n, () => normal() * 0.2));
      const params = await Promise.all(p0.map(param));
      const opt = new (classOf(name))(params, { ...fam.opts, skipNonFinite: true });
      const refP = p0.map((x) => x.slice());
      const refS = sizes.map((n, i) => ref.createState(fam.refName, n, bitsOf[i]));
      let t = 0;
      const good = async () => {
        const g = sizes.map((n) => filled(n, () => normal() * 0.02));
        for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(g[i]);
        await opt.step();
        t++;
        for (let i = 0; i < sizes.length; i++) fam.rule({ p: refP[i], g: g[i], state: refS[i], step: t, hp: fam.hp, bits: bitsOf[i] });
      };
      await good();
      expect(opt.skippedSteps).toBe(0);
      const before = bits(await opt.stateDict());
      const pBefore = await Promise.all(params.map(read));
      // One bad element in one tensor (the 32-bit one, or the 8-bit one): the whole step is skipped.
      for (const [which, v] of [[1, NaN], [0, Infinity], [0, -Infinity]] as const) {
        const g = sizes.map((n) => filled(n, () => normal() * 0.02));
        g[which][which === 0 ? BIG - 1 : 7] = v;
        for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(g[i]);
        await opt.step();
      }
      expect(opt.skippedSteps).toBe(3);
      expect(opt.lastStepSkipped).toBe(true);
      expect(bits(await opt.stateDict())).toEqual(before);
      for (let i = 0; i < sizes.length; i++) expect(await read(params[i])).toEqual(pBefore[i]);
      await good();
      expect(opt.lastStepSkipped).toBe(false);
      expect((await opt.stateDict()).state[0].step).toBe(2);
      await expectOracle(opt, params, refP, refS, bitsOf, name);
    });
  }

  test("with clipGradNorm: a NaN gradient leaves the gradients unscaled, and the step is skipped", async () => {
    const [a, b] = [await param(filled(SMALL, () => 0.1)), await param(filled(BIG, () => 0.2))];
    const opt = new octet.optim.AdamW8bit([a, b], { lr: 1e-3, skipNonFinite: true });
    const ga = filled(SMALL, () => 3);
    ga[9] = NaN;
    a.grad = await octet.tensor(ga);
    b.grad = await octet.tensor(filled(BIG, () => 3));
    const total = octet.nn.clipGradNorm([a, b], 1);
    await opt.step();
    expect(Number.isNaN((await total.toArray())[0])).toBe(true);
    expect(opt.skippedSteps).toBe(1);
    expect(await read(a)).toEqual(filled(SMALL, () => 0.1));
    expect(await read(b)).toEqual(filled(BIG, () => 0.2));
  }, 30_000); // the clip and the gradients compile into one program: several kernels to build on lavapipe

  test("only the parameters that have a gradient this step are checked (a stale bad gradient does not count)", async () => {
    const [a, b] = [await param(filled(SMALL, () => 0.1)), await param(filled(SMALL, () => 0.2))];
    const opt = new octet.optim.SGD32bit([a, b], { lr: 0.1, skipNonFinite: true });
    a.grad = await octet.tensor(filled(SMALL, () => NaN));
    b.grad = await octet.tensor(filled(SMALL, () => 1));
    await opt.step();
    expect(opt.skippedSteps).toBe(1);
    a.grad = null;
    await opt.step();
    expect(opt.skippedSteps).toBe(1);
    // b stepped once from 0.2: buf = g = 1 at t = 1, p = 0.2 - 0.1·1
    const rp = filled(SMALL, () => 0.2);
    ref.momentum({ p: rp, g: filled(SMALL, () => 1), state: ref.createState("momentum", SMALL, 32), step: 1, hp: { lr: 0.1, momentum: 0.9, weightDecay: 0 }, bits: 32 });
    expect(await read(b)).toEqual(rp);
    expect(await read(a)).toEqual(filled(SMALL, () => 0.1));
  });

  test("off by default: a NaN gradient is applied (32-bit Adam's parameter becomes NaN) and nothing is counted", async () => {
    const p = await param(filled(SMALL, () => 0.1));
    const opt = new octet.optim.Adam32bit([p], { lr: 1e-3 });
    expect(opt.skipNonFinite).toBe(false);
    const g = filled(SMALL, () => 0.01);
    g[3] = NaN;
    p.grad = await octet.tensor(g);
    await opt.step();
    expect(opt.skippedSteps).toBe(0);
    expect(Number.isNaN((await read(p))[3])).toBe(true);
  });

  test("a bad value is refused, and it is an optimizer-wide option (not per param group)", async () => {
    const p = await param(filled(8, () => 0));
    expect(() => new octet.optim.Adam([p], { skipNonFinite: 1 })).toThrow(/skipNonFinite.*boolean/);
    expect(() => new octet.optim.Adam([{ params: [p], skipNonFinite: true }])).toThrow(/param group 0.*skipNonFinite/);
  });
});

describe("one Parameter, one optimizer", () => {
  test("a second optimizer stepping a parameter the first one holds is refused, naming both; the first keeps working", async () => {
    const p = await param(filled(SMALL, () => 0.5));
    const q = await param(filled(SMALL, () => 0.5));
    const a = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor(filled(SMALL, () => 1));
    await a.step();
    const b = new octet.optim.Lion8bit([q, p]);
    q.grad = await octet.tensor(filled(SMALL, () => 1));
    await expect(b.step()).rejects.toThrow(/Lion8bit.*SGD32bit|SGD32bit.*Lion8bit/);
    await a.step();
    // a stepped p twice from 0.5 with g = 1: buf 1 then 1.9
    const rp = filled(SMALL, () => 0.5);
    const rs = ref.createState("momentum", SMALL, 32);
    for (const step of [1, 2]) ref.momentum({ p: rp, g: filled(SMALL, () => 1), state: rs, step, hp: { lr: 0.1, momentum: 0.9, weightDecay: 0 }, bits: 32 });
    expect(await read(p)).toEqual(rp);
  });

  test("release() gives the parameters up, so a new optimizer can take them over", async () => {
    const p = await param(filled(SMALL, () => 0.5));
    const a = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor(filled(SMALL, () => 1));
    await a.step();
    a.release();
    await expect(a.step()).rejects.toThrow(/released/);
    const b = new octet.optim.SGD32bit([p], { lr: 0.1 });
    await b.step();
    const rp = filled(SMALL, () => 0.5);
    for (const _ of [1, 2]) ref.momentum({ p: rp, g: filled(SMALL, () => 1), state: ref.createState("momentum", SMALL, 32), step: 1, hp: { lr: 0.1, momentum: 0.9, weightDecay: 0 }, bits: 32 });
    expect(await read(p)).toEqual(rp);
  });
});

describe("p.data = t after the first step", () => {
  test("is adopted: the next step starts from t, with the optimizer's state (8-bit and 32-bit)", async () => {
    const fam = familyOf("AdamW");
    const normal = gaussian(41);
    const sizes = [BIG, SMALL];
    const bitsOf: (8 | 32)[] = [8, 32];
    const params = await Promise.all(sizes.map((n) => param(filled(n, () => normal() * 0.2))));
    const opt = new octet.optim.AdamW8bit(params, fam.opts);
    const refP = await Promise.all(params.map(read));
    const refS = sizes.map((n, i) => ref.createState("adamw", n, bitsOf[i]));
    for (let t = 1; t <= 3; t++) {
      if (t === 3) {
        // new values for both parameters, as a user would load or re-initialize them
        for (let i = 0; i < sizes.length; i++) {
          refP[i] = filled(sizes[i], () => normal());
          params[i].data = await octet.tensor(refP[i].slice());
        }
        expect(await read(params[0])).toEqual(refP[0]); // readable before the step too
      }
      const g = sizes.map((n) => filled(n, () => normal() * 0.02));
      for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(g[i]);
      await opt.step();
      for (let i = 0; i < sizes.length; i++) fam.rule({ p: refP[i], g: g[i], state: refS[i], step: t, hp: fam.hp, bits: bitsOf[i] });
    }
    await expectOracle(opt, params, refP, refS, bitsOf, "AdamW8bit adopted");
  });

  test("a lazy value built over the old contents before the adoption is refused, not silently updated", async () => {
    const p = await param(filled(SMALL, () => 0.5));
    const opt = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor(filled(SMALL, () => 1));
    await opt.step();
    const q = p.data.mul(2); // over the arena, as the first step left it
    p.data = await octet.tensor(filled(SMALL, () => 3));
    p.grad = null;
    await opt.step(); // adopts: the arena now holds 3
    await expect(q.toArray()).rejects.toThrow(/overwrote in place/);
    expect(Array.from(await p.data.toArray())).toEqual(Array.from(filled(SMALL, () => 3)));
  });

  test("a tensor of another shape or dtype is refused at the assignment, naming the parameter and the optimizer", async () => {
    const p = await param(filled(SMALL, () => 0.5));
    p.name = "w";
    const opt = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor(filled(SMALL, () => 1));
    await opt.step();
    const t = await octet.tensor(filled(SMALL + 1, () => 0));
    expect(() => (p.data = t)).toThrow(/'w'.*SGD32bit.*\[300\].*\[301\]/);
    expect(await read(p)).toHaveLength(SMALL);
  });
});

describe("state format changes after the first step migrate the state", () => {
  const fam = familyOf("AdamW");
  const hp = fam.hp;

  async function twoSteps(opts: Record<string, unknown> = {}) {
    const normal = gaussian(51);
    const p0 = filled(BIG, () => normal() * 0.2);
    const p = await param(p0);
    const opt = new octet.optim.AdamW8bit([p], { ...fam.opts, ...opts });
    const rp = p0.slice();
    const rs = ref.createState("adamw", BIG, 8) as ref.State8;
    for (let t = 1; t <= 2; t++) {
      const g = filled(BIG, () => normal() * 0.02);
      p.grad = await octet.tensor(g);
      await opt.step();
      ref.adam({ p: rp, g, state: rs, step: t, hp, bits: 8 });
    }
    return { p, opt, rp, rs, normal };
  }

  const dequant = (codes: Uint8Array, absmax: Float32Array, map: Float32Array) => Float32Array.from(codes, (q, i) => dequantizeCode(q, absmax[Math.floor(i / 256)], map));

  for (const how of ["overrideConfig", "paramGroups"] as const) {
    test(`8-bit -> 32-bit through ${how}: the state is dequantized exactly, then steps as 32-bit`, async () => {
      octet.optim.GlobalOptimManager.getInstance().initialize();
      const { p, opt, rp, rs, normal } = await twoSteps();
      if (how === "overrideConfig") octet.optim.GlobalOptimManager.getInstance().overrideConfig(p, "optimBits", 32);
      else opt.paramGroups[0].optimBits = 32;
      const s32: ref.State32 = { state1: dequant(rs.state1, rs.absmax1, SIGNED_DYNAMIC_MAP), state2: dequant(rs.state2!, rs.absmax2!, UNSIGNED_DYNAMIC_MAP) };
      const g = filled(BIG, () => normal() * 0.02);
      p.grad = await octet.tensor(g);
      await opt.step();
      ref.adam({ p: rp, g, state: s32, step: 3, hp, bits: 32 });
      const sd = await opt.stateDict();
      expect(sd.format.stateFormats[0]).toBe("f32");
      expect(sd.state[0].step).toBe(3);
      // The parameter went through 8-bit steps: bnb's 8-bit tolerance; the states are now f32 and exact.
      const w = compareClose(await read(p), rp);
      expect(w.bad, w.first).toBe(0);
      for (const k of ["state1", "state2"] as const) {
        const c = compare32(sd.state[0][k] as Float32Array, s32[k]!);
        expect(c.bad, `${k}: ${c.first}`).toBe(0);
      }
      octet.optim.GlobalOptimManager.getInstance().initialize();
    });
  }

  test("32-bit -> 8-bit: the state is quantized blockwise (as a step would store it), then steps as 8-bit", async () => {
    octet.optim.GlobalOptimManager.getInstance().initialize();
    const normal = gaussian(52);
    const p0 = filled(BIG, () => normal() * 0.2);
    const p = await param(p0);
    const opt = new octet.optim.AdamW([p], fam.opts);
    const rp = p0.slice();
    const rs32 = ref.createState("adamw", BIG, 32) as ref.State32;
    for (let t = 1; t <= 2; t++) {
      const g = filled(BIG, () => normal() * 0.02);
      p.grad = await octet.tensor(g);
      await opt.step();
      ref.adam({ p: rp, g, state: rs32, step: t, hp, bits: 32 });
    }
    opt.paramGroups[0].optimBits = 8;
    // The oracle's 8-bit state from the f32 one: blockwise absmax, nearest code, sign fix (quant.ts).
    const { quantizeStateBlockwise } = await import("../reference/quant.ts");
    const q1 = quantizeStateBlockwise(rs32.state1, SIGNED_DYNAMIC_MAP, true);
    const q2 = quantizeStateBlockwise(rs32.state2!, UNSIGNED_DYNAMIC_MAP, false);
    const rs8: ref.State8 = { state1: q1.codes, absmax1: q1.absmax, state2: q2.codes, absmax2: q2.absmax };
    const g = filled(BIG, () => normal() * 0.02);
    p.grad = await octet.tensor(g);
    await opt.step();
    ref.adam({ p: rp, g, state: rs8, step: 3, hp, bits: 8 });
    const sd = await opt.stateDict();
    expect(sd.format.stateFormats[0]).toBe("dynamic8");
    await expectOracle(opt, [p], [rp], [rs8], [8], "32->8");
  });

  test("a module override registered after the first step applies at the next step (8-bit -> 32-bit, migrated)", async () => {
    const manager = octet.optim.GlobalOptimManager.getInstance();
    manager.initialize();
    const lin = new octet.nn.Linear(BIG / 4, 4, { seed: 1 });
    const opt = new octet.optim.AdamW8bit(lin.parameters(), fam.opts);
    const normal = gaussian(53);
    const stepOnce = async () => {
      for (const p of lin.parameters()) p.grad = await octet.tensor(filled(p.numel, () => normal() * 0.02), [...p.shape]);
      await opt.step();
    };
    await stepOnce();
    const w = lin.parameters().findIndex((p) => p === lin.weight);
    expect((await opt.stateDict()).format.stateFormats[w]).toBe("dynamic8");
    const before = (await opt.stateDict()).state[w];
    manager.registerModuleOverride(lin, "weight", { optimBits: 32 });
    for (const p of lin.parameters()) p.grad = null; // the migration alone
    await opt.step();
    const sd = await opt.stateDict();
    expect(sd.format.stateFormats[w]).toBe("f32");
    expect(Array.from(sd.state[w].state1 as Float32Array)).toEqual(Array.from(dequant(before.state1 as Uint8Array, before.absmax1 as Float32Array, SIGNED_DYNAMIC_MAP)));
    manager.initialize();
  });

  test("dynamic8 -> linear8 re-quantizes through f32", async () => {
    octet.optim.GlobalOptimManager.getInstance().initialize();
    const { p, opt } = await twoSteps();
    const before = (await opt.stateDict()).state[0];
    opt.paramGroups[0].stateFormat = "linear8";
    p.grad = null; // no gradient: the migration alone (a step without gradients changes no state)
    await opt.step();
    const sd = await opt.stateDict();
    expect(sd.format.stateFormats[0]).toBe("linear8");
    const { LINEAR_SIGNED_MAP } = await import("../../src/optim/maps.ts");
    const { quantizeStateBlockwise } = await import("../reference/quant.ts");
    const m = dequant(before.state1 as Uint8Array, before.absmax1 as Float32Array, SIGNED_DYNAMIC_MAP);
    const want = quantizeStateBlockwise(m, LINEAR_SIGNED_MAP, true);
    const c = compareCodes(sd.state[0].state1 as Uint8Array, want.codes);
    expect(c.worse).toBe(0);
    expect(c.offByOne).toBeLessThanOrEqual(Math.floor(c.n * 0.001));
    expect(sd.state[0].step).toBe(2);
  });
});

describe("param groups edited after the first step", () => {
  test("a parameter added to a group steps from a fresh state; one removed or listed twice is refused", async () => {
    const hp = { lr: 0.1, momentum: 0.9, weightDecay: 0 };
    const [a, b] = [await param(filled(SMALL, () => 0.5)), await param(filled(SMALL, () => -0.25))];
    b.name = "b";
    const opt = new octet.optim.SGD32bit([a], { lr: 0.1 });
    const ra = filled(SMALL, () => 0.5);
    const sa = ref.createState("momentum", SMALL, 32);
    a.grad = await octet.tensor(filled(SMALL, () => 1));
    await opt.step();
    ref.momentum({ p: ra, g: filled(SMALL, () => 1), state: sa, step: 1, hp, bits: 32 });
    opt.paramGroups[0].params.push(b);
    b.grad = await octet.tensor(filled(SMALL, () => 2));
    await opt.step();
    ref.momentum({ p: ra, g: filled(SMALL, () => 1), state: sa, step: 2, hp, bits: 32 });
    const rb = filled(SMALL, () => -0.25);
    ref.momentum({ p: rb, g: filled(SMALL, () => 2), state: ref.createState("momentum", SMALL, 32), step: 1, hp, bits: 32 });
    expect(await read(a)).toEqual(ra);
    expect(await read(b)).toEqual(rb);
    expect(b.owner).toBe(opt);
    opt.paramGroups[0].params.push(b);
    await expect(opt.step()).rejects.toThrow(/'b' appears more than once/);
    opt.paramGroups[0].params.splice(1, 2);
    await expect(opt.step()).rejects.toThrow(/'b' was removed from paramGroups/);
  });
});

describe("a state that cannot be carried over", () => {
  test("is refused naming the parameter and the change; reverting the config steps on from the old state", async () => {
    octet.optim.GlobalOptimManager.getInstance().initialize();
    const fam = familyOf("SGD");
    const normal = gaussian(71);
    const p0 = filled(BIG, () => normal() * 0.2);
    const p = await param(p0);
    p.name = "w";
    const opt = new octet.optim.SGD8bit([p], fam.opts);
    const rp = p0.slice();
    const rs = ref.createState("momentum", BIG, 8);
    // bnb's 1-state 8-bit kernel lets an Inf into the state: block 0's absmax is Inf, its codes dequantize to ±Inf/NaN
    const g1 = filled(BIG, () => normal() * 0.02);
    g1[5] = Infinity;
    p.grad = await octet.tensor(g1);
    await opt.step();
    ref.momentum({ p: rp, g: g1, state: rs, step: 1, hp: fam.hp, bits: 8 });
    const before = await opt.stateDict();
    opt.paramGroups[0].optimBits = 32;
    const g2 = filled(BIG, () => normal() * 0.02);
    p.grad = await octet.tensor(g2);
    await expect(opt.step()).rejects.toThrow(/'w' dynamic8 -> f32.*state\[0\]\.state1\[\d+\] is (NaN|-?Infinity)/);
    const after = await opt.stateDict();
    expect(after.format.stateFormats[0]).toBe("dynamic8");
    expect(Array.from(after.state[0].state1 as Uint8Array)).toEqual(Array.from(before.state[0].state1 as Uint8Array));
    opt.paramGroups[0].optimBits = 8;
    await opt.step();
    ref.momentum({ p: rp, g: g2, state: rs, step: 2, hp: fam.hp, bits: 8 });
    const got = await read(p);
    // blocks other than block 0 agree with the oracle (block 0 is NaN/Inf in both)
    const w = compareClose(got.subarray(256), rp.subarray(256));
    expect(w.bad, w.first).toBe(0);
    expect((await opt.stateDict()).state[0].step).toBe(2);
  });
});

describe("an un-awaited step", () => {
  test("opt.step(); opt.zeroGrad(); await ... applies the update (the gradients are taken at the call)", async () => {
    const fam = familyOf("Adam");
    const normal = gaussian(61);
    const p0 = filled(BIG, () => normal() * 0.2);
    const p = await param(p0);
    const opt = new octet.optim.Adam8bit([p], fam.opts);
    const rp = p0.slice();
    const rs = ref.createState("adam", BIG, 8);
    const g1 = filled(BIG, () => normal() * 0.02);
    const g2 = filled(BIG, () => normal() * 0.02);
    p.grad = await octet.tensor(g1);
    const s1 = opt.step();
    opt.zeroGrad();
    p.grad = await octet.tensor(g2);
    const s2 = opt.step(); // queued behind s1, with g2
    opt.zeroGrad();
    await Promise.all([s1, s2]);
    ref.adam({ p: rp, g: g1, state: rs, step: 1, hp: fam.hp, bits: 8 });
    ref.adam({ p: rp, g: g2, state: rs, step: 2, hp: fam.hp, bits: 8 });
    await expectOracle(opt, [p], [rp], [rs], [8], "un-awaited");
    expect(p.grad).toBeNull();
  });
});
