// Layers and the small GPT (bnb-algorithms.md §5, §7): StableEmbedding = lookup then layer norm (or AdaNorm),
// bnb's xavier-uniform init with a zeroed padding row, the 32-bit optimizer-state override every Embedding
// registers, replaceEmbeddings reusing the weight without a second table, and a tiny GPT whose forward,
// gradients and training are checked against the float64 oracles of test/reference/nn.ts.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { backward, type Var } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import { Embedding, Linear, StableEmbedding } from "../../src/nn/layers.ts";
import { GPT, replaceEmbeddings, type GPTConfig } from "../../src/nn/gpt.ts";
import { Module } from "../../src/nn/module.ts";
import { Parameter } from "../../src/nn/parameter.ts";
import * as ref from "../reference/nn.ts";
import { seededRandom } from "../reference/quant.ts";

await octet.device();
setDefaultTimeout(30_000); // first-use kernel compiles on a shared CPU box

const manager = () => octet.optim.GlobalOptimManager.getInstance();
beforeEach(() => manager().initialize());
afterEach(() => manager().initialize());

const readF = async (t: octet.Tensor) => (await t.toArray()) as Float32Array;
const i32 = (ids: number[], shape: number[]) => octet.tensor(Int32Array.from(ids), shape, { dtype: "i32" });
function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}
async function setParam(p: Parameter, values: Float32Array): Promise<void> {
  p.data = await octet.tensor(values, [...p.shape], { category: "parameters" });
}

describe("StableEmbedding", () => {
  const V = 7, D = 6;
  const ids = [3, 0, 2, 3, 5, 2, 6];
  test("forward = layer norm (gain, bias) of the looked-up rows; the padding position outputs the bias", async () => {
    const emb = new StableEmbedding(V, D, { seed: 3, paddingIdx: 2 });
    // Non-trivial gain and bias so the norm's parameters are really applied.
    const gain = randn(D, 1).map((v) => 1 + 0.3 * v), bias = randn(D, 2, 0.5);
    await setParam(emb.norm!.weight, gain);
    await setParam(emb.norm!.bias, bias);
    const W = await readF(emb.weight.data);
    const got = await readF(emb.forward(await i32(ids, [ids.length])).value);
    const want = ref.layerNormRef(ref.embeddingRef(W, D, ids), ids.length, D, gain, bias);
    expect(ref.maxRelErr(got, want)).toBeLessThan(1e-5);
    // Position 2 looks up the all-zero padding row: LayerNorm(0) = 0 * gain + bias = bias (bnb-algorithms §5.1).
    for (let j = 0; j < D; j++) expect(got[2 * D + j]).toBeCloseTo(bias[j], 6);
  });

  test("AdaNorm variant: lookup then z = C (1 - k y) y with C = 1, k = 0.1, no norm parameters", async () => {
    const emb = new StableEmbedding(V, D, { seed: 4, norm: "adanorm" });
    expect(emb.norm).toBeNull();
    expect(emb.parameters()).toEqual([emb.weight]);
    const W = await readF(emb.weight.data);
    const got = await readF(emb.forward(await i32(ids, [ids.length])).value);
    expect(ref.maxRelErr(got, ref.adaNormRef(ref.embeddingRef(W, D, ids), ids.length, D))).toBeLessThan(1e-5);
  });

  test("LayerNorm starts at gain 1, bias 0, eps 1e-5 (torch.nn.LayerNorm defaults)", async () => {
    const emb = new StableEmbedding(V, D);
    expect(Array.from(await readF(emb.norm!.weight.data))).toEqual(new Array(D).fill(1));
    expect(Array.from(await readF(emb.norm!.bias.data))).toEqual(new Array(D).fill(0));
    expect(emb.norm!.eps).toBe(1e-5);
  });
});

describe("init", () => {
  for (const [name, make] of [
    ["Embedding", (V: number, D: number, o: object) => new Embedding(V, D, o)],
    ["StableEmbedding", (V: number, D: number, o: object) => new StableEmbedding(V, D, o)],
  ] as const) {
    test(`${name}: xavier-uniform within ±sqrt(6/(V+D)), padding row zero`, async () => {
      const V = 53, D = 19, pad = 7;
      const a = Math.sqrt(6 / (V + D));
      const w = await readF(make(V, D, { seed: 5, paddingIdx: pad }).weight.data);
      let maxAbs = 0, sum = 0, sq = 0;
      for (let r = 0; r < V; r++)
        for (let j = 0; j < D; j++) {
          const v = w[r * D + j];
          if (r === pad) {
            expect(v).toBe(0);
            continue;
          }
          expect(Math.abs(v)).toBeLessThanOrEqual(Math.fround(a));
          maxAbs = Math.max(maxAbs, Math.abs(v));
          sum += v;
          sq += v * v;
        }
      const n = (V - 1) * D;
      // Not degenerate: fills the interval, mean ~ 0, variance ~ a^2 / 3 (uniform).
      expect(maxAbs).toBeGreaterThan(0.95 * a);
      expect(Math.abs(sum / n)).toBeLessThan(0.1 * a);
      expect(sq / n / (a * a / 3)).toBeGreaterThan(0.85);
      expect(sq / n / (a * a / 3)).toBeLessThan(1.15);
    });
  }
  test("same seed and name give the same table; a different seed does not", async () => {
    const w1 = await readF(new Embedding(11, 5, { seed: 9 }).weight.data);
    const w2 = await readF(new Embedding(11, 5, { seed: 9 }).weight.data);
    const w3 = await readF(new Embedding(11, 5, { seed: 10 }).weight.data);
    expect(Array.from(w1)).toEqual(Array.from(w2));
    expect(Array.from(w1)).not.toEqual(Array.from(w3));
  });
  test("paddingIdx out of range is refused", () => {
    expect(() => new Embedding(5, 3, { paddingIdx: 5 })).toThrow(/paddingIdx/);
  });
});

describe("32-bit optimizer state for embeddings", () => {
  class Tiny extends Module {
    constructor(readonly emb: Embedding, readonly proj: Linear) {
      super();
    }
    loss(ids: octet.Tensor, targets: octet.Tensor): Var {
      return F.crossEntropy(this.proj.forward(this.emb.forward(ids)), targets);
    }
  }
  for (const kind of ["Embedding", "StableEmbedding"] as const) {
    test(`${kind} weight keeps f32 state under AdamW8bit (min8bitSize 0); a Linear weight is 8-bit`, async () => {
      const V = 9, D = 8;
      const emb = kind === "Embedding" ? new Embedding(V, D, { seed: 1 }) : new StableEmbedding(V, D, { seed: 1 });
      const model = new Tiny(emb, new Linear(D, V, { seed: 1 }));
      const params = model.parameters();
      const opt = new octet.optim.AdamW8bit(params, { lr: 1e-2, min8bitSize: 0 });
      backward(model.loss(await i32([1, 4, 4, 8, 0], [5]), await i32([2, 2, 3, 0, 7], [5])));
      await opt.step();
      const sd = await opt.stateDict();
      const at = (p: Parameter) => sd.state[params.indexOf(p)];
      expect(at(emb.weight).state1).toBeInstanceOf(Float32Array);
      expect(at(emb.weight).state2).toBeInstanceOf(Float32Array);
      expect((at(emb.weight).state1 as Float32Array).length).toBe(V * D);
      expect(at(model.proj.weight).state1).toBeInstanceOf(Uint8Array);
      expect(at(model.proj.weight).state2).toBeInstanceOf(Uint8Array);
    });
  }
});

const TINY: GPTConfig = { vocabSize: 11, contextLength: 8, layers: 1, heads: 2, width: 16, embedding: "plain", seed: 7 };

describe("replaceEmbeddings", () => {
  /** Live parameter bytes after a full collection (the accounting drops a buffer only when its tensor is collected). */
  async function settledParameterBytes(): Promise<number> {
    for (let i = 0; i < 3; i++) {
      Bun.gc(true);
      await Bun.sleep(1);
    }
    return octet.memoryStats().parameters;
  }

  for (const kind of ["stable", "adanorm"] as const) {
    test(`${kind}: same weight Parameter and values, no second table`, async () => {
      const model = new GPT(TINY);
      const { vocabSize: V, width: D } = TINY;
      const old = model.tokens;
      const weight = old.weight;
      const before = Array.from(await readF(weight.data));
      // The allocator's size class for one D-float parameter, measured (not re-derived from storage.ts).
      const b0 = await settledParameterBytes();
      const probe = await octet.tensor(new Float32Array(D), [D], { category: "parameters" });
      const oneVector = octet.memoryStats().parameters - b0;
      expect(oneVector).toBeGreaterThanOrEqual(D * 4);
      const m0 = await settledParameterBytes();
      expect(replaceEmbeddings(model, { kind })).toBe(1);
      const grown = octet.memoryStats().parameters - m0;
      expect(probe.numel).toBe(D); // keep the probe alive through the measurement
      expect(grown).toBe(kind === "stable" ? 2 * oneVector : 0); // LayerNorm gain + bias, or nothing (AdaNorm)
      expect(grown).toBeLessThan(V * D * 4);

      expect(model.tokens).toBeInstanceOf(StableEmbedding);
      expect(model.tokens).not.toBe(old);
      expect(model.tokens.weight).toBe(weight);
      expect(Array.from(await readF(model.tokens.weight.data))).toEqual(before);
      expect((model.tokens as StableEmbedding).adanorm).toBe(kind === "adanorm");
      // The model's parameter list holds the table once, and the norm's parameters when there are any.
      const ps = model.parameters();
      expect(ps.filter((p) => p === weight).length).toBe(1);
      expect(ps.length).toBe(new GPT({ ...TINY, embedding: kind }).parameters().length);
      // A second call finds nothing left to replace.
      expect(replaceEmbeddings(model, { kind })).toBe(0);
    });
  }

  test("the swapped model equals a GPT built with that embedding (same seed)", async () => {
    const a = new GPT(TINY);
    replaceEmbeddings(a, { kind: "stable" });
    const b = new GPT({ ...TINY, embedding: "stable" });
    const idx = await i32([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4, 5], [2, 8]);
    const la = await readF(a.forward(idx, 2, 8).value);
    const lb = await readF(b.forward(idx, 2, 8).value);
    expect(Array.from(la)).toEqual(Array.from(lb));
  });

  test("embeddings held in an array field are replaced too, as Module.modules() walks arrays", async () => {
    class Two extends Module {
      readonly tables = [new Embedding(5, 4, { seed: 1, name: "a" }), new Embedding(6, 4, { seed: 1, name: "b", paddingIdx: 0 })];
    }
    const m = new Two();
    const ws = m.tables.map((e) => e.weight);
    expect(replaceEmbeddings(m, { kind: "stable" })).toBe(2);
    m.tables.forEach((e, i) => {
      expect(e).toBeInstanceOf(StableEmbedding);
      expect(e.weight).toBe(ws[i]);
    });
    expect(m.tables[1].paddingIdx).toBe(0);
  });
});

// ---- the tiny GPT against a float64 reference ---------------------------------------------------------------

type Weights = Map<string, Float64Array>;
async function weightsOf(model: GPT): Promise<Weights> {
  const out: Weights = new Map();
  for (const [name, p] of model.namedParameters()) out.set(name, Float64Array.from(await readF(p.data)));
  return out;
}

/** Plain-TS GPT-2 forward (pre-norm block, learned positions) over the model's weights: logits [B*T, V]. */
function gptRef(w: Weights, cfg: GPTConfig, ids: number[], B: number, T: number): Float64Array {
  const { vocabSize: V, width: C, heads: H } = cfg;
  const N = B * T;
  const g = (k: string) => w.get(k)!;
  const lin = (x: ArrayLike<number>, name: string, In: number, Out: number) => ref.linearRef(x, g(`${name}.weight`), N, In, Out, w.get(`${name}.bias`));
  const ln = (x: ArrayLike<number>, name: string) => ref.layerNormRef(x, N, C, g(`${name}.weight`), g(`${name}.bias`));
  const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]);
  let x = ref.embeddingRef(g("tokens.weight"), C, ids);
  if (cfg.embedding === "stable") x = ln(x, "tokens.norm");
  if (cfg.embedding === "adanorm") x = ref.adaNormRef(x, N, C);
  x = add(x, ref.embeddingRef(g("positions"), C, Array.from({ length: N }, (_, i) => i % T)));
  for (let l = 0; l < cfg.layers; l++) {
    const p = `blocks.${l}`;
    const a = lin(ref.attentionRef(lin(ln(x, `${p}.ln1`), `${p}.qkv`, C, 3 * C), B, T, C, H), `${p}.proj`, C, C);
    const h = add(x, a);
    x = add(h, lin(ref.geluRef(lin(ln(h, `${p}.ln2`), `${p}.fc`, C, 4 * C)), `${p}.fcProj`, 4 * C, C));
  }
  return lin(ln(x, "lnF"), "head", C, V);
}

// A fixed batch: B = 2 sequences of T = 8 tokens, targets = the next token of a fixed pattern.
const B = 2, T = 8;
const IDS = [1, 5, 2, 7, 3, 9, 4, 10, 0, 6, 6, 8, 1, 2, 3, 5];
const TARGETS = [5, 2, 7, 3, 9, 4, 10, 0, 6, 6, 8, 1, 2, 3, 5, 1];

describe("GPT", () => {
  for (const embedding of ["plain", "stable", "adanorm"] as const) {
    test(`${embedding}: logits and loss equal the float64 reference`, async () => {
      const cfg = { ...TINY, embedding };
      const model = new GPT(cfg);
      // Perturb every LayerNorm away from (1, 0) so gains and biases are exercised.
      for (const [name, p] of model.namedParameters()) if (/ln|norm/.test(name)) await setParam(p, randn(p.numel, name.length, 0.2).map((v) => (name.endsWith("weight") ? 1 + v : v)));
      const w = await weightsOf(model);
      const want = gptRef(w, cfg, IDS, B, T);
      const logits = model.forward(await i32(IDS, [B, T]), B, T);
      expect(ref.maxRelErr(await readF(logits.value), want)).toBeLessThan(1e-5);
      const loss = model.loss(await i32(IDS, [B, T]), await i32(TARGETS, [B, T]), B, T);
      const l = (await readF(loss.value))[0];
      expect(Math.abs(l - ref.crossEntropyRef(want, B * T, cfg.vocabSize, TARGETS))).toBeLessThan(1e-5 * l);
    });
  }

  test("a shorter sequence (T = 5 < contextLength) uses the first T positions", async () => {
    const model = new GPT({ ...TINY, embedding: "stable" });
    const ids = IDS.slice(0, 10);
    const got = await readF(model.forward(await i32(ids, [2, 5]), 2, 5).value);
    expect(ref.maxRelErr(got, gptRef(await weightsOf(model), { ...TINY, embedding: "stable" }, ids, 2, 5))).toBeLessThan(1e-5);
  });

  for (const embedding of ["plain", "stable"] as const) {
    test(`${embedding}: every parameter's gradient equals finite differences of the reference loss`, async () => {
      const cfg = { ...TINY, embedding };
      const model = new GPT(cfg);
      const w = await weightsOf(model);
      backward(model.loss(await i32(IDS, [B, T]), await i32(TARGETS, [B, T]), B, T));
      // One program for all gradients: read one by one, each would recompute the whole forward and backward.
      await octet.realize(model.parameters().map((p) => p.grad!));
      let worst = 0;
      const pick = seededRandom(11);
      for (const [name, p] of model.namedParameters()) {
        const gpu = await readF(p.grad!);
        const x0 = w.get(name)!;
        // Every coordinate of small tensors; 24 random ones of large tensors (the f64 reference GPT costs
        // ~1 ms per evaluation), measured against the whole GPU gradient's largest magnitude.
        const idx = x0.length <= 48 ? Array.from(x0, (_, i) => i) : Array.from({ length: 24 }, () => Math.floor(pick() * x0.length));
        const fd = ref.finiteDiff((x) => {
          w.set(name, x);
          const l = ref.crossEntropyRef(gptRef(w, cfg, IDS, B, T), B * T, cfg.vocabSize, TARGETS);
          w.set(name, x0);
          return l;
        }, x0, 1e-5, idx);
        const scale = Math.max(...Array.from(gpu, Math.abs));
        expect(scale, `${name}: gradient is all zero`).toBeGreaterThan(0);
        const err = Math.max(...idx.map((i, j) => Math.abs(gpu[i] - fd[j]))) / scale;
        expect(err, name).toBeLessThan(1e-3);
        worst = Math.max(worst, err);
      }
      console.log(`GPT (${embedding}) gradients vs finite differences: worst relative error ${worst.toExponential(2)}`);
    });
  }

  const OPTIMIZERS: [string, () => new (ps: Parameter[], o: Record<string, unknown>) => octet.optim.Optimizer, Record<string, unknown>][] = [
    ["AdamW", () => octet.optim.AdamW, { lr: 1e-2 }],
    ["AdamW8bit", () => octet.optim.AdamW8bit, { lr: 1e-2, min8bitSize: 0 }],
    ["Lion8bit", () => octet.optim.Lion8bit, { lr: 3e-3, min8bitSize: 0 }],
    ["SGD", () => octet.optim.SGD, { lr: 0.1, momentum: 0.9 }],
  ];

  /** Trains on the fixed batch; returns the loss before each step. */
  async function train(model: GPT, opt: octet.optim.Optimizer, steps: number): Promise<number[]> {
    const idx = await i32(IDS, [B, T]), tg = await i32(TARGETS, [B, T]);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const loss = model.loss(idx, tg, B, T);
      backward(loss);
      losses.push((await readF(loss.value))[0]);
      await opt.step();
      opt.zeroGrad();
    }
    losses.push((await readF(model.loss(idx, tg, B, T).value))[0]);
    return losses;
  }

  for (const [name, cls, opts] of OPTIMIZERS)
    for (const embedding of ["plain", "stable", "adanorm"] as const)
      test(`${name}, ${embedding} embedding: a few steps lower the loss on a fixed batch`, async () => {
        const model = new GPT({ ...TINY, embedding });
        const losses = await train(model, new (cls())(model.parameters(), opts), 6);
        for (const l of losses) expect(Number.isFinite(l)).toBe(true);
        // ln(11) = 2.40 at init; six steps on one batch should take a clear bite out of it.
        expect(losses[losses.length - 1]).toBeLessThan(0.95 * losses[0]);
      });

  test("determinism: the same seed gives bit-identical parameters and losses (AdamW8bit, stable)", async () => {
    const run = async (seed: number) => {
      manager().initialize();
      const model = new GPT({ ...TINY, embedding: "stable", seed });
      const losses = await train(model, new octet.optim.AdamW8bit(model.parameters(), { lr: 1e-2, min8bitSize: 0 }), 3);
      return { losses, params: await Promise.all(model.parameters().map((p) => readF(p.data))) };
    };
    const a = await run(7), b = await run(7), c = await run(8);
    expect(b.losses).toEqual(a.losses);
    a.params.forEach((p, i) => expect(Array.from(b.params[i]), `parameter ${i}`).toEqual(Array.from(p)));
    expect(c.losses[0]).not.toBe(a.losses[0]);
  });
});
