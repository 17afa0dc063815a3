// bitsandbytes option fidelity (issue #11 item 3): every option bnb defines is honoured as bnb does it, or refused
// with the reason. GPU results against the plain-TS oracles (test/reference/optimizers.ts, clipping.ts,
// torch-sgd.ts), never against octet itself.
import { describe, expect, test } from "bun:test";
import { compare32, compareClose, filled, gaussian, octet, param, read, ref } from "./helpers.ts";
import { percentileClipping, scaled } from "../reference/clipping.ts";
import { torchSgd } from "../reference/torch-sgd.ts";

const N = 1000; // three 256-blocks and a tail of 232

/** Runs `steps` steps of `opt` on p and of `oracle` on a host copy, with the same gradients; returns both. */
async function run(make: (p: octet.nn.Parameter) => octet.optim.Optimizer, oracle: (p: Float32Array, g: Float32Array, t: number) => void, steps: number, seed: number, gradScale: (t: number) => number = () => 1, n = N) {
  const rnd = gaussian(seed);
  const p0 = filled(n, () => 0.1 * rnd());
  const p = await param(p0);
  const host = p0.slice();
  const opt = make(p);
  for (let t = 1; t <= steps; t++) {
    const s = gradScale(t);
    const g = filled(n, () => 0.01 * s * rnd());
    p.grad = await octet.tensor(g);
    await opt.step();
    oracle(host, g, t);
  }
  return { gpu: await read(p), want: host, opt };
}

describe("maxUnorm in the 32-bit kernels, where bnb applies it", () => {
  test("Adam32bit, SGD32bit, RMSprop32bit: the trust ratio scales the step, as the oracle (and it does bind)", async () => {
    const cases = [
      { name: "Adam32bit", opts: { lr: 1e-2, maxUnorm: 0.05 }, rule: ref.adam, refName: "adam" as const, hp: { ...ref.DEFAULTS.adam, lr: 1e-2, maxUnorm: 0.05 } },
      { name: "SGD32bit", opts: { lr: 0.05, momentum: 0.9, maxUnorm: 0.002 }, rule: ref.momentum, refName: "momentum" as const, hp: { lr: 0.05, momentum: 0.9, weightDecay: 0, maxUnorm: 0.002, eps: 0 } },
      { name: "RMSprop32bit", opts: { lr: 1e-2, alpha: 0.9, maxUnorm: 0.05, weightDecay: 1e-2 }, rule: ref.rmsprop, refName: "rmsprop" as const, hp: { lr: 1e-2, alpha: 0.9, eps: 1e-8, weightDecay: 1e-2, maxUnorm: 0.05 } },
    ];
    for (const c of cases) {
      const state = ref.createState(c.refName, N, 32);
      let bound = 0;
      const C = (octet.optim as any)[c.name];
      const { gpu, want } = await run((p) => new C([p], c.opts), (p, g, t) => {
        if (c.rule({ p, g, state, step: t, hp: c.hp as never, bits: 32 }).updateScale < 1) bound++;
      }, 6, 3);
      expect(bound, `${c.name}: the trust ratio never bound; the test would not see it`).toBeGreaterThan(0);
      const w = compare32(gpu, want);
      expect(w.bad, `${c.name}: ${w.first}`).toBe(0);
    }
  });

  test("Adam (bnb's route: overrideConfig) applies maxUnorm to that parameter's 32-bit state", async () => {
    const state = ref.createState("adam", N, 32);
    const hp = { ...ref.DEFAULTS.adam, maxUnorm: 0.02 };
    const { gpu, want } = await run((p) => {
      octet.optim.GlobalOptimManager.getInstance().overrideConfig(p, "maxUnorm", 0.02);
      return new octet.optim.Adam([p]);
    }, (p, g, t) => void ref.adam({ p, g, state, step: t, hp, bits: 32 }), 4, 5);
    const w = compare32(gpu, want);
    expect(w.bad, w.first).toBe(0);
  });

  test("Lion, Adagrad and AdEMAMix refuse maxUnorm (bnb's kernels do nothing with it), by option and by override", async () => {
    const p = await param(new Float32Array(8));
    for (const name of ["Lion", "Lion8bit", "Adagrad", "Adagrad32bit", "AdEMAMix"]) {
      expect(() => new (octet.optim as any)[name]([p], { maxUnorm: 0.1 })).toThrow(new RegExp(`${name}: option "maxUnorm" is refused: bitsandbytes`));
      expect(() => new (octet.optim as any)[name]([{ params: [p], maxUnorm: 0 }])).toThrow(/maxUnorm" is refused/);
    }
    const q = await param(new Float32Array(8));
    octet.optim.GlobalOptimManager.getInstance().overrideConfig(q, "maxUnorm", 0.5);
    const opt = new octet.optim.Lion([q]);
    q.grad = await octet.tensor(new Float32Array(8));
    await expect(opt.step()).rejects.toThrow(/overrideConfig of parameter .*"maxUnorm" is refused/);
  });

  test("8-bit state: maxUnorm other than the class default is refused (bnb's blockwise kernels lack it); LARS8bit as LAMB8bit", async () => {
    const big = await param(new Float32Array(5000));
    expect(() => new octet.optim.Adam8bit([big], { maxUnorm: 0.1 })).toThrow(/Adam8bit: maxUnorm 0.1: bitsandbytes' 8-bit blockwise kernels do not implement maxUnorm/);
    expect(() => new octet.optim.SGD8bit([big], { maxUnorm: 0.1 })).toThrow(/SGD8bit: maxUnorm 0.1/);
    expect(() => new octet.optim.RMSprop8bit([big], { maxUnorm: 0.1 })).toThrow(/RMSprop8bit: maxUnorm 0.1/);
    expect(() => new octet.optim.LARS8bit([big], { maxUnorm: 0.5 })).toThrow(/LARS8bit: maxUnorm 0.5: .*as LAMB8bit/);
    expect(() => new octet.optim.LAMB8bit([big], { maxUnorm: 0.5 })).toThrow(/LAMB8bit: maxUnorm 0.5/);
    // below min8bitSize the state is 32-bit, where bnb does apply it: accepted
    const small = await param(new Float32Array(100));
    expect(() => new octet.optim.Adam8bit([small], { maxUnorm: 0.1 })).not.toThrow();
  });

  test("LARS8bit at its default maxUnorm steps as bnb's 8-bit momentum (the trust ratio is 32-bit only)", async () => {
    const state = ref.createState("lars", N, 8);
    const hp = { lr: 0.01, momentum: 0.9, weightDecay: 0 };
    const { gpu, want } = await run((p) => new octet.optim.LARS8bit([p], { lr: 0.01, momentum: 0.9, min8bitSize: 256 }), (p, g, t) => void ref.lars({ p, g, state, step: t, hp, bits: 8 }), 4, 7);
    const w = compareClose(gpu, want, 1e-6, 1e-5);
    expect(w.bad, w.first).toBe(0);
  });
});

describe("bnb's defaults accepted, other values refused with the reason", () => {
  test("blockWise, skipZeros, percentileClipping range; LAMB's biasCorrection and adamWMode; amsgrad", async () => {
    const p = await param(new Float32Array(8));
    for (const C of [octet.optim.Adam, octet.optim.AdamW8bit, octet.optim.Lion, octet.optim.SGD, octet.optim.RMSprop, octet.optim.Adagrad, octet.optim.AdEMAMix, octet.optim.LAMB, octet.optim.LARS])
      expect(() => new C([p], { blockWise: true, skipZeros: false, percentileClipping: 100 })).not.toThrow();
    expect(() => new octet.optim.Adam8bit([p], { blockWise: false })).toThrow(/option "blockWise": must be true: .*removed in bitsandbytes 0.50.0/);
    expect(() => new octet.optim.Lion([p], { skipZeros: true })).toThrow(/option "skipZeros": must be false: /);
    expect(() => new octet.optim.Adam([p], { percentileClipping: 101 })).toThrow(/percentileClipping/);
    expect(() => new octet.optim.LAMB([p], { biasCorrection: true, adamWMode: true })).not.toThrow();
    expect(() => new octet.optim.LAMB([p], { biasCorrection: false })).toThrow(/option "biasCorrection": must be true: bitsandbytes' LAMB always bias-corrects/);
    expect(() => new octet.optim.Adam([p], { biasCorrection: true })).toThrow(/unknown option "biasCorrection"/); // LAMB's key only
    expect(() => new octet.optim.Adam([p], { amsgrad: true })).toThrow(/amsgrad.*AMSGrad/);
  });

  test("stateFormat where nothing is 8-bit would be ignored, so it is refused; where a group or parameter is 8-bit it is used", async () => {
    const p = await param(new Float32Array(8192));
    const q = await param(new Float32Array(8192));
    expect(() => new octet.optim.AdamW32bit([p], { stateFormat: "companded8" })).toThrow(/AdamW32bit: option "stateFormat" "companded8" given to an optimizer with optimBits 32, which keeps 32-bit state; .*use AdamW8bit or optimBits: 8/);
    expect(() => new octet.optim.Lion([p], { stateFormat: "fourbit" })).toThrow(/Lion: option "stateFormat" "fourbit" given to an optimizer with optimBits 32/);
    expect(() => new octet.optim.AdamW8bit([{ params: [p] }, { params: [q], optimBits: 32, stateFormat: "fp8e4m3" }])).toThrow(/AdamW param group 1|AdamW8bit param group 1/);
    expect(() => new octet.optim.AdamW32bit([p], { stateFormat: "dynamic8" })).not.toThrow(); // the default restated changes nothing
    // A format for the whole optimizer reaches its 8-bit group, even when another group is 32-bit.
    const mixed = new octet.optim.AdamW([{ params: [p], optimBits: 8 }, { params: [q] }], { stateFormat: "companded8" });
    p.grad = await octet.tensor(new Float32Array(8192).fill(0.01), [8192]);
    q.grad = await octet.tensor(new Float32Array(8192).fill(0.01), [8192]);
    await mixed.step();
    const sd = await mixed.stateDict();
    expect(sd.format.stateFormats).toEqual({ 0: "companded8", 1: "f32" });
    mixed.release();
  });

  test("an overrideConfig stateFormat on a parameter that stays 32-bit is refused at the step, naming the parameter", async () => {
    const p = await param(new Float32Array(8192));
    p.name = "w";
    const opt = new octet.optim.AdamW32bit([p]);
    const manager = octet.optim.GlobalOptimManager.getInstance();
    manager.overrideConfig(p, { stateFormat: "fourbit" });
    try {
      p.grad = await octet.tensor(new Float32Array(8192).fill(0.01), [8192]);
      await expect(opt.step()).rejects.toThrow(/overrideConfig of parameter 'w'\): stateFormat "fourbit" with optimBits 32 would be ignored/);
    } finally {
      manager.overrideConfig(p, { stateFormat: "dynamic8" });
    }
  });

  test("a class name that fixes optimBits refuses another value; the betas error is printed once", async () => {
    const p = await param(new Float32Array(8));
    expect(() => new octet.optim.AdamW8bit([p], { optimBits: 32 })).toThrow(/AdamW8bit: option "optimBits": 32 conflicts with the class, which always has optimBits 8; use AdamW32bit or AdamW/);
    expect(() => new octet.optim.Lion32bit([{ params: [p], optimBits: 8 }])).toThrow(/Lion32bit param group 0: option "optimBits": 8 conflicts/);
    expect(() => new octet.optim.AdamW8bit([p], { optimBits: 8 })).not.toThrow();
    let msg = "";
    try {
      new octet.optim.AdamW([p], { betas: [0.9, 1.5] });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toBe('AdamW: option "betas.1": must be < 1');
  });

  test("a Tensor where a Parameter belongs is refused at construction, naming where", async () => {
    const t = await octet.tensor(new Float32Array(8));
    expect(() => new octet.optim.AdamW([t as never])).toThrow(/AdamW: params\[0\] is a Tensor, not a Parameter; .*new octet.nn.Parameter\(tensor\)/);
    const p = await param(new Float32Array(8));
    expect(() => new octet.optim.AdamW([{ params: [p, t as never] }])).toThrow(/param group 0, params\[1\] is a Tensor/);
  });
});

describe("nesterov and dampening as torch.optim.SGD", () => {
  for (const hp of [
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: true },
    { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: false }, // the default: bnb's numbers
  ])
    test(`SGD32bit ${JSON.stringify(hp)}: 12 steps against a plain-TS torch.optim.SGD`, async () => {
      const buf = new Float32Array(N);
      const { gpu, want } = await run((p) => new octet.optim.SGD32bit([p], { lr: hp.lr, momentum: hp.momentum, dampening: hp.dampening, weightDecay: hp.weightDecay, nesterov: hp.nesterov }), (p, g, t) => torchSgd(p, g, buf, t, hp), 12, 11);
      const w = compare32(gpu, want);
      expect(w.bad, w.first).toBe(0);
    });

  test("the defaults keep bitsandbytes' exact numbers (bit-identical to the bnb oracle)", async () => {
    const state = ref.createState("momentum", N, 32);
    const hp = { lr: 0.05, momentum: 0.9, weightDecay: 1e-2 };
    const { gpu, want } = await run((p) => new octet.optim.SGD32bit([p], hp), (p, g, t) => void ref.momentum({ p, g, state, step: t, hp, bits: 32 }), 6, 13);
    expect(Array.from(gpu)).toEqual(Array.from(want));
  });

  test("nesterov with dampening is refused, as torch; LARS refuses both (bnb ignores them there)", async () => {
    const p = await param(new Float32Array(8));
    expect(() => new octet.optim.SGD([p], { nesterov: true, dampening: 0.1 })).toThrow(/nesterov needs dampening 0/);
    expect(() => new octet.optim.LARS([p], { nesterov: true })).toThrow(/LARS: nesterov and dampening are SGD's/);
  });
});

describe("percentileClipping as bitsandbytes did it (a history of 100 squared norms, clipped at the percentile)", () => {
  // Gradient norms that vary by a factor of 10 and spike, so the clip binds at many steps.
  const spiky = (t: number) => (t % 7 === 3 ? 20 : 1 + (t % 5));

  test("Adam32bit, percentileClipping 5, 104 steps (the history wraps), against the oracle", async () => {
    const state = ref.createState("adam", 300, 32);
    const hist = new Float32Array(100);
    let clipped = 0;
    const hp = { ...ref.DEFAULTS.adam, lr: 1e-2 };
    const { gpu, want } = await run((p) => new octet.optim.Adam32bit([p], { lr: 1e-2, percentileClipping: 5 }), (p, g, t) => {
      const s = percentileClipping(g, hist, t, 5);
      if (s < 1) clipped++;
      ref.adam({ p, g: scaled(g, s), state, step: t, hp, bits: 32 });
    }, 104, 17, spiky, 300);
    expect(clipped).toBeGreaterThan(20);
    const w = compare32(gpu, want, 1e-5); // the norm's summation order differs (f32 tree vs float64): ulps of the scale
    expect(w.bad, w.first).toBe(0);
  });

  test("Adam8bit and SGD8bit, percentileClipping 10, 12 steps, against the oracle (bnb's 8-bit tolerance)", async () => {
    for (const [name, refName] of [["Adam8bit", "adam"], ["SGD8bit", "momentum"]] as const) {
      const state = ref.createState(refName, N, 8);
      const hist = new Float32Array(100);
      const hp = refName === "adam" ? { ...ref.DEFAULTS.adam, lr: 1e-2 } : { lr: 0.01, momentum: 0.9, weightDecay: 0 };
      const rule = refName === "adam" ? ref.adam : ref.momentum;
      const { gpu, want } = await run((p) => new (octet.optim as any)[name]([p], { ...(refName === "adam" ? { lr: 1e-2 } : { lr: 0.01, momentum: 0.9 }), percentileClipping: 10, min8bitSize: 256 }), (p, g, t) => {
        const s = percentileClipping(g, hist, t, 10);
        rule({ p, g: scaled(g, s), state, step: t, hp: hp as never, bits: 8 });
      }, 12, 19, spiky);
      const w = compareClose(gpu, want, 1e-5, 1e-4);
      expect(w.bad, `${name}: ${w.first}`).toBe(0);
    }
  });

  test("the history is in the state dict (bnb's gnorm_vec): a resumed run clips as the uninterrupted one, bit for bit", async () => {
    const rnd = gaussian(29);
    const n = 700;
    const p0 = filled(n, () => 0.1 * rnd());
    const grads = Array.from({ length: 14 }, (_, t) => filled(n, () => 0.01 * spiky(t + 1) * rnd()));
    const make = async () => {
      const p = await param(p0);
      return { p, opt: new octet.optim.Adam8bit([p], { lr: 1e-2, percentileClipping: 5, min8bitSize: 256 }) };
    };
    const stepWith = async (x: { p: octet.nn.Parameter; opt: octet.optim.Optimizer }, g: Float32Array) => {
      x.p.grad = await octet.tensor(g);
      await x.opt.step();
    };
    const a = await make();
    for (const g of grads) await stepWith(a, g);
    const b = await make();
    for (const g of grads.slice(0, 8)) await stepWith(b, g);
    const sd = await b.opt.stateDict();
    expect(sd.state[0].gnorm_vec).toBeInstanceOf(Float32Array);
    expect((sd.state[0].gnorm_vec as Float32Array).length).toBe(100);
    const c = await make();
    await c.opt.loadStateDict(sd);
    c.p.data = await octet.tensor(await read(b.p));
    for (const g of grads.slice(8)) await stepWith(c, g);
    expect(Array.from(await read(c.p))).toEqual(Array.from(await read(a.p)));
    // a dict with a history does not load into an optimizer that does not clip
    const q = await param(p0);
    await expect(new octet.optim.Adam8bit([q], { lr: 1e-2, min8bitSize: 256 }).loadStateDict(sd)).rejects.toThrow(/gnorm_vec, but this optimizer does not clip/);
  });

  test("at 100 (the default) nothing is clipped: bit-identical to the unclipped oracle", async () => {
    const state = ref.createState("adam", N, 32);
    const hp = { ...ref.DEFAULTS.adam };
    const { gpu, want } = await run((p) => new octet.optim.Adam32bit([p], { percentileClipping: 100 }), (p, g, t) => void ref.adam({ p, g, state, step: t, hp, bits: 32 }), 5, 23, spiky);
    expect(Array.from(gpu)).toEqual(Array.from(want));
  });
});
