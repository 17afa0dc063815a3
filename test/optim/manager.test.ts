// GlobalOptimManager (bnb-algorithms.md §4, api.md "Override manager"): per-parameter overrides found by identity
// at the optimizer's first step, whatever the order of the calls; module overrides; useFp32EmbeddingStates.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { compare32, compareClose, compareCodes, filled, gaussian, octet, param, read, ref } from "./helpers.ts";

const manager = () => octet.optim.GlobalOptimManager.getInstance();
beforeEach(() => manager().initialize());
afterEach(() => manager().initialize());

class TinyEmbedding extends octet.nn.Module {
  constructor(public weight: octet.nn.Parameter) {
    super();
  }
}
class Model extends octet.nn.Module {
  constructor(
    public emb: TinyEmbedding,
    public proj: octet.nn.Parameter,
    public blocks: octet.nn.Module[],
  ) {
    super();
  }
}

const N = 5000; // >= min8bitSize: 8-bit state unless overridden

interface Run {
  params: octet.nn.Parameter[];
  opt: octet.optim.Optimizer;
  sd: octet.optim.OptimizerStateDict;
}

/**
 * Steps `opt` 3 times over `params` (all of N elements) and the oracle alongside, with per-parameter state bits
 * and hyper-parameters `expect32[i]` / `hp[i]`; checks every parameter against the oracle.
 */
async function stepAndCheck(params: octet.nn.Parameter[], p0: Float32Array[], opt: octet.optim.Optimizer, bits: (8 | 32)[], hp: ref.AdamHp[], seed = 1): Promise<Run> {
  const normal = gaussian(seed);
  const refP = p0.map((x) => x.slice());
  const refS = bits.map((b) => ref.createState("adamw", N, b));
  for (let t = 1; t <= 3; t++) {
    const grads = params.map(() => filled(N, () => normal() * 0.02));
    for (let i = 0; i < params.length; i++) params[i].grad = await octet.tensor(grads[i]);
    await opt.step();
    for (let i = 0; i < params.length; i++) ref.adam({ p: refP[i], g: grads[i], state: refS[i], step: t, hp: hp[i], bits: bits[i] });
  }
  const sd = await opt.stateDict();
  for (let i = 0; i < params.length; i++) {
    expect(sd.state[i].state1, `param ${i} state1`).toBeInstanceOf(bits[i] === 32 ? Float32Array : Uint8Array);
    const got = await read(params[i]);
    if (bits[i] === 32) {
      const w = compare32(got, refP[i]);
      expect(w.bad, `param ${i}: ${w.first}`).toBe(0);
    } else {
      expect(compareClose(got, refP[i]).bad, `param ${i}`).toBe(0);
      expect(compareCodes(sd.state[i].state1 as Uint8Array, (refS[i] as ref.State8).state1).worse).toBe(0);
    }
  }
  return { params, opt, sd };
}

async function makeParams(k: number, seed = 2) {
  const normal = gaussian(seed);
  const p0 = Array.from({ length: k }, () => filled(N, () => normal() * 0.2));
  return { p0, params: await Promise.all(p0.map(param)) };
}

const adamw = (lr = 1e-3): ref.AdamHp => ({ ...ref.DEFAULTS.adamw, lr });

describe("overrideConfig", () => {
  test("before constructing the optimizer: that parameter keeps 32-bit state, the others 8-bit", async () => {
    const { p0, params } = await makeParams(3);
    manager().registerParameters(params);
    manager().overrideConfig(params[1], "optimBits", 32);
    const opt = new octet.optim.AdamW8bit(params, { lr: 1e-3 });
    await stepAndCheck(params, p0, opt, [8, 32, 8], [adamw(), adamw(), adamw()]);
  });

  test("after constructing the optimizer (before its first step): same result", async () => {
    const { p0, params } = await makeParams(3);
    const opt = new octet.optim.AdamW8bit(params, { lr: 1e-3 });
    manager().registerParameters(params);
    manager().overrideConfig([params[1]], { optimBits: 32 });
    await stepAndCheck(params, p0, opt, [8, 32, 8], [adamw(), adamw(), adamw()]);
  });

  test("without registerParameters, and hyper-parameters that win over the group (an lr change of the group does not reach it)", async () => {
    const { p0, params } = await makeParams(2);
    const opt = new octet.optim.AdamW8bit(params, { lr: 2e-3 });
    manager().overrideConfig(params[0], { lr: 5e-3, betas: [0.8, 0.99] });
    opt.paramGroups[0].lr = 1e-3; // reaches params[1] only
    manager().overrideConfig(params[0], "eps", 1e-6); // merges with the earlier override
    const hp0: ref.AdamHp = { ...adamw(5e-3), betas: [0.8, 0.99], eps: 1e-6 };
    const r = await stepAndCheck(params, p0, opt, [8, 8], [hp0, adamw()]);
    expect(r.sd.paramGroups[0].lr).toBe(1e-3); // the group itself is untouched
  });

  test("optimBits 8 on a 32-bit class gives that parameter 8-bit state", async () => {
    const { p0, params } = await makeParams(2);
    manager().overrideConfig(params[0], "optimBits", 8);
    const opt = new octet.optim.AdamW(params, { lr: 1e-3 });
    await stepAndCheck(params, p0, opt, [8, 32], [adamw(), adamw()]);
  });

  test("bad keys and values are rejected, naming the key", async () => {
    const { params } = await makeParams(1);
    expect(() => manager().overrideConfig(params[0], "learningRate", 1)).toThrow(/"learningRate"/);
    expect(() => manager().overrideConfig(params[0], { optimBits: 32, isSparse: true })).toThrow(/"isSparse"/);
    expect(() => manager().overrideConfig(params[0], "lr", -1)).toThrow(/"lr"/);
    expect(() => manager().overrideConfig(params[0], "optimBits", 16)).toThrow(/"optimBits"/);
    expect(() => manager().overrideConfig(params[0], { betas: [0.9, 1] })).toThrow(/"betas/);
    // a key this family does not have is named when the optimizer resolves it
    manager().overrideConfig(params[0], "momentum", 0.5);
    const opt = new octet.optim.AdamW8bit(params, { lr: 1e-3 });
    params[0].grad = await octet.tensor(new Float32Array(N));
    await expect(opt.step()).rejects.toThrow(/"momentum"/);
  });
});

describe("module overrides", () => {
  async function model() {
    const { p0, params } = await makeParams(3, 4);
    const inner = new TinyEmbedding(params[2]);
    const m = new Model(new TinyEmbedding(params[0]), params[1], [inner]);
    return { p0, params, m };
  }

  test("registerModuleOverride(module, 'weight', { optimBits: 32 }) before or after the optimizer", async () => {
    for (const order of ["before", "after"] as const) {
      manager().initialize();
      const { p0, params, m } = await model();
      if (order === "before") manager().registerModuleOverride(m.emb, "weight", { optimBits: 32 });
      const opt = new octet.optim.AdamW8bit(m.parameters(), { lr: 1e-3 });
      if (order === "after") manager().registerModuleOverride(m.emb, "weight", { optimBits: 32 });
      expect(m.parameters()).toEqual(params);
      await stepAndCheck(params, p0, opt, [32, 8, 8], [adamw(), adamw(), adamw()]);
    }
  });

  test("a module override replaces an earlier overrideConfig of that parameter (bnb's check_overrides)", async () => {
    const { p0, params, m } = await model();
    manager().overrideConfig(params[0], { lr: 0.5 });
    manager().registerParameters(m.parameters()); // the positional copy must be replaced too (bnb sets both)
    manager().registerModuleOverride(m.emb, "weight", { optimBits: 32 });
    const opt = new octet.optim.AdamW8bit(m.parameters(), { lr: 1e-3 });
    await stepAndCheck(params, p0, opt, [32, 8, 8], [adamw(), adamw(), adamw()]);
  });

  test("bad module overrides are rejected, naming the key or the attribute", async () => {
    const { m } = await model();
    expect(() => manager().registerModuleOverride(m.emb, "weight", { optimBitz: 32 })).toThrow(/"optimBitz"/);
    expect(() => manager().registerModuleOverride(m.emb, "weight", { lr: -1 })).toThrow(/"lr"/);
    expect(() => manager().registerModuleOverride(m.emb, "bias", { optimBits: 32 })).toThrow(/"bias"/);
  });

  test("useFp32EmbeddingStates(model, { embeddingClass }): every embedding weight 32-bit, the rest 8-bit", async () => {
    const { p0, params, m } = await model();
    const opt = new octet.optim.AdamW8bit(m.parameters(), { lr: 1e-3 });
    expect(octet.optim.useFp32EmbeddingStates(m, { embeddingClass: TinyEmbedding })).toBe(2);
    await stepAndCheck(params, p0, opt, [32, 8, 32], [adamw(), adamw(), adamw()]);
  });

  test("initialize() forgets every override", async () => {
    const { p0, params, m } = await model();
    octet.optim.useFp32EmbeddingStates(m, { embeddingClass: TinyEmbedding });
    manager().overrideConfig(params[1], "optimBits", 32);
    manager().initialize();
    const opt = new octet.optim.AdamW8bit(m.parameters(), { lr: 1e-3 });
    await stepAndCheck(params, p0, opt, [8, 8, 8], [adamw(), adamw(), adamw()]);
  });
});
