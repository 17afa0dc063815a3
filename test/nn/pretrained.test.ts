// Hugging Face GPT-2 interop: GPT.fromPretrained loads HF-layout folders that the tests write (random weights,
// with and without the `transformer.` prefix), and its logits match an independent float64 GPT-2 written from
// transformers' modeling_gpt2 (test/reference/gpt2.ts). The tied head is one Parameter with both gradients and
// one optimizer state; savePretrained -> fromPretrained is bit-identical; every mismatch is a clear error.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as octet from "../../src/index.ts";
import { backward } from "../../src/autograd/var.ts";
import { GPT } from "../../src/nn/gpt.ts";
import { decodeSafetensors, type SafeTensor } from "../../src/io/safetensors.ts";
import { gpt2Forward } from "../reference/gpt2.ts";
import { crossEntropyRef, maxRelErr } from "../reference/nn.ts";
import { tmp, writeFiles, writeFixture, type Fixture } from "./hf-fixture.ts";

await octet.device();
setDefaultTimeout(60_000); // first-use kernel compiles on a shared CPU box

const manager = () => octet.optim.GlobalOptimManager.getInstance();
beforeEach(() => manager().initialize());
afterEach(() => manager().initialize());

const B = 2, T = 8;
const IDS = [1, 5, 2, 7, 3, 9, 4, 10, 0, 6, 6, 8, 1, 2, 3, 5];
const TARGETS = [5, 2, 7, 3, 9, 4, 10, 0, 6, 6, 8, 1, 2, 3, 5, 1];
const readF = async (t: octet.Tensor) => Float32Array.from((await t.toArray()) as Float32Array);
const i32 = (ids: number[], shape: number[]) => octet.tensor(Int32Array.from(ids), shape, { dtype: "i32" });
const logitsOf = async (m: GPT) => readF(m.forward(await i32(IDS, [B, T]), B, T).value);

describe("GPT.fromPretrained", () => {
  const cases: [string, Parameters<typeof writeFixture>[0]][] = [
    ["plain names, tied head, old attn.bias / masked_bias buffers", { buffers: true }],
    ["transformer. prefix, layer_norm_epsilon 1e-2", { prefix: true, eps: 1e-2, seed: 2 }],
    ["transformer. prefix, untied lm_head", { prefix: true, tied: false, seed: 3 }],
  ];
  for (const [what, opts] of cases) {
    test(`${what}: logits equal the float64 HF GPT-2`, async () => {
      const fx = writeFixture(opts);
      const model = await GPT.fromPretrained(fx.dir);
      expect(model.config).toMatchObject({ vocabSize: 11, contextLength: 16, layers: 2, heads: 2, width: 16, embedding: "plain", tieWordEmbeddings: opts!.tied ?? true, layerNormEps: opts!.eps ?? 1e-5 });
      const want = gpt2Forward(fx.weights, fx.config, IDS, B, T);
      expect(maxRelErr(await logitsOf(model), want)).toBeLessThan(2e-5);
      // The logits' cross entropy is the model's loss.
      const loss = (await readF(model.loss(await i32(IDS, [B, T]), await i32(TARGETS, [B, T]), B, T).value))[0];
      expect(Math.abs(loss - crossEntropyRef(want, B * T, 11, TARGETS)) / loss).toBeLessThan(2e-5);
    });
  }

  test("the two files already read ({ config, tensors }, as a browser would pass them) load the same model", async () => {
    const fx = writeFixture({ buffers: true });
    const a = await GPT.fromPretrained({ config: fx.config, tensors: fx.tensors });
    const b = await GPT.fromPretrained(fx.dir);
    expect(Array.from(await logitsOf(a))).toEqual(Array.from(await logitsOf(b)));
  });

  test("eps comes from the config: the same weights with the default eps give other logits", async () => {
    const a = writeFixture({ eps: 1e-2, seed: 2 });
    const b = writeFixture({ eps: 1e-5, seed: 2 });
    const la = await logitsOf(await GPT.fromPretrained(a.dir));
    const lb = await logitsOf(await GPT.fromPretrained(b.dir));
    expect(maxRelErr(la, lb)).toBeGreaterThan(1e-4);
  });

  test("F16 and BF16 weights load as their exact f32 values", async () => {
    const fx = writeFixture({ seed: 4 });
    // Round every weight to bf16 (truncation; values below f16's normal range flushed to 0) and store half of the
    // tensors as BF16, the others as F16 of the same values (exact: 8 significant bits fit f16's 11): the loaded
    // model must equal those f32 values.
    const weights = new Map<string, Float32Array>();
    const tensors: Record<string, SafeTensor> = {};
    let k = 0;
    for (const [name, t] of Object.entries(fx.tensors)) {
      const bits = new Uint32Array(Float32Array.from(t.data as Float32Array).buffer);
      const hi = Uint16Array.from(bits, (b) => ((b & 0x7fffffff) < 0x38800000 ? 0 : b >>> 16)); // |x| < 2^-14 -> 0
      const rounded = new Float32Array(Uint32Array.from(hi, (h) => h << 16).buffer);
      weights.set(name, rounded);
      if (k++ % 2 === 0) tensors[name] = { dtype: "BF16", shape: t.shape, data: hi };
      else tensors[name] = { dtype: "F16", shape: t.shape, data: Uint16Array.from(rounded, floatToHalfExact) };
    }
    writeFiles(fx.dir, fx.config, tensors);
    const model = await GPT.fromPretrained(fx.dir);
    const want = gpt2Forward(weights, fx.config, IDS, B, T);
    expect(maxRelErr(await logitsOf(model), want)).toBeLessThan(2e-5);
    expect(Array.from(await readF(model.tokens.weight.data))).toEqual(Array.from(weights.get("wte.weight")!));
  });

  // One optimizer state for it: test/train/finetune.test.ts (the state dict has one entry per Parameter).
  test("the tied table is one Parameter, counted once, with both gradients (lookup + head)", async () => {
    const fx = writeFixture({ seed: 5 });
    const model = await GPT.fromPretrained(fx.dir);
    const names = model.namedParameters().map(([n]) => n);
    expect(model.head).toBeNull();
    expect(names.filter((n) => n.startsWith("tokens") || n.startsWith("head"))).toEqual(["tokens.weight"]);
    expect(names.length).toBe(2 + 12 * 2 + 2);
    expect(new Set(model.parameters()).size).toBe(names.length);
    expect(model.parameters().reduce((a, p) => a + p.numel, 0)).toBe([...fx.weights.values()].reduce((a, w) => a + w.length, 0));

    const loss = model.loss(await i32(IDS, [B, T]), await i32(TARGETS, [B, T]), B, T);
    backward(loss);
    const g = await readF(model.tokens.weight.grad!); // read alone: each separate read re-runs the backward
    // Central differences of the float64 reference loss in wte (which feeds both the lookup and the head).
    const C = 16;
    const f = (w: Map<string, Float32Array | Float64Array>) => crossEntropyRef(gpt2Forward(w, fx.config, IDS, B, T), B * T, 11, TARGETS);
    const coords = [1 * C + 3, 5 * C + 0, 10 * C + 15, 0 * C + 7, 8 * C + 9];
    let worst = 0, scale = 0;
    for (const i of coords) {
      const h = 1e-5;
      const plus = new Map<string, Float32Array | Float64Array>(fx.weights), minus = new Map<string, Float32Array | Float64Array>(fx.weights);
      const wp = Float64Array.from(fx.weights.get("wte.weight")!), wm = Float64Array.from(wp);
      wp[i] += h;
      wm[i] -= h;
      plus.set("wte.weight", wp);
      minus.set("wte.weight", wm);
      const fd = (f(plus) - f(minus)) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - g[i]));
      scale = Math.max(scale, Math.abs(fd));
    }
    expect(worst / scale).toBeLessThan(1e-3);
  });

  test("savePretrained -> fromPretrained is bit-identical and writes HF's layout", async () => {
    for (const prefix of [false, true]) {
      const fx = writeFixture({ prefix, seed: 6, buffers: true });
      const a = await GPT.fromPretrained(fx.dir);
      const out = tmp("hf-out");
      await a.savePretrained(out);
      const file = decodeSafetensors(new Uint8Array(readFileSync(join(out, "model.safetensors"))));
      expect(file.metadata.format).toBe("pt");
      const stored = Object.keys(fx.tensors).filter((n) => !/\.attn\.(masked_)?bias$/.test(n));
      expect([...file.names].sort()).toEqual(stored.sort()); // same names (prefix kept), no lm_head, no mask buffers
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(config).toEqual(Object.fromEntries(Object.entries(fx.config).sort(([x], [y]) => (x < y ? -1 : 1))));
      const b = await GPT.fromPretrained(out);
      const pa = a.namedParameters(), pb = b.namedParameters();
      expect(pb.map(([n]) => n)).toEqual(pa.map(([n]) => n));
      for (let i = 0; i < pa.length; i++) expect(Buffer.from((await readF(pb[i][1].data)).buffer).equals(Buffer.from((await readF(pa[i][1].data)).buffer))).toBe(true);
      for (const [name, t] of Object.entries(file.tensors)) expect(Buffer.from(t.data.buffer).equals(Buffer.from(fx.tensors[name].data.buffer))).toBe(true);
      expect(Array.from(await logitsOf(b))).toEqual(Array.from(await logitsOf(a)));
    }
  });

  test("a GPT octet built (untied head) saves as an HF folder: lm_head.weight [V, C], tie_word_embeddings false", async () => {
    const a = new GPT({ vocabSize: 11, contextLength: 16, layers: 2, heads: 2, width: 16, embedding: "plain", seed: 3 });
    const out = tmp("hf-out");
    await a.savePretrained(out);
    const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(config).toMatchObject({ model_type: "gpt2", tie_word_embeddings: false, n_layer: 2, n_embd: 16, n_head: 2, vocab_size: 11, n_positions: 16, activation_function: "gelu_new" });
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(out, "model.safetensors"))));
    expect(file.tensors["lm_head.weight"].shape).toEqual([11, 16]);
    expect(file.tensors["transformer.h.0.attn.c_attn.weight"].shape).toEqual([16, 48]);
    // The folder computes what the octet model computes, through the independent reference too.
    const w = new Map(Object.entries(file.tensors).map(([n, t]) => [n.replace(/^transformer\./, ""), t.data as Float32Array]));
    const want = gpt2Forward(w, config, IDS, B, T);
    expect(maxRelErr(await logitsOf(a), want)).toBeLessThan(2e-5);
    const b = await GPT.fromPretrained(out);
    expect(Array.from(await logitsOf(b))).toEqual(Array.from(await logitsOf(a)));
  });

  test("a model with a StableEmbedding cannot be saved as GPT-2 (which has no embedding norm)", async () => {
    const a = new GPT({ vocabSize: 11, contextLength: 16, layers: 1, heads: 2, width: 16, embedding: "stable", seed: 3 });
    const out = tmp("hf-out");
    await expect(a.savePretrained(out)).rejects.toThrow(/StableEmbedding \(a layer norm after the lookup\), which GPT-2 does not have.*--embedding plain/);
    expect(existsSync(join(out, "model.safetensors"))).toBe(false);
  });
});

describe("GPT.fromPretrained errors name the tensor or field", () => {
  /** A fixture with its tensors or config edited. */
  function edited(edit: (fx: Fixture) => { config?: unknown; tensors?: Record<string, SafeTensor> }, opts: Parameters<typeof writeFixture>[0] = {}): string {
    const fx = writeFixture(opts);
    const e = edit(fx);
    writeFiles(fx.dir, e.config ?? fx.config, e.tensors ?? fx.tensors);
    return fx.dir;
  }
  const without = (t: Record<string, SafeTensor>, name: string) => Object.fromEntries(Object.entries(t).filter(([n]) => n !== name));
  const f32 = (shape: number[]): SafeTensor => ({ dtype: "F32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

  const cases: [string, () => string, RegExp][] = [
    ["a missing tensor", () => edited((fx) => ({ tensors: without(fx.tensors, "h.1.mlp.c_fc.bias") })), /missing tensor\(s\) "h\.1\.mlp\.c_fc\.bias"/],
    ["a missing tensor (prefixed file)", () => edited((fx) => ({ tensors: without(fx.tensors, "transformer.ln_f.weight") }), { prefix: true }), /missing tensor\(s\) "transformer\.ln_f\.weight"/],
    ["an unknown tensor", () => edited((fx) => ({ tensors: { ...fx.tensors, "h.0.attn.q_proj.weight": f32([16, 16]) } })), /"h\.0\.attn\.q_proj\.weight" are not part of GPT-2/],
    ["a classification head", () => edited((fx) => ({ tensors: { ...fx.tensors, "score.weight": f32([2, 16]) } })), /"score\.weight"/],
    ["a wrong shape", () => edited((fx) => ({ tensors: { ...fx.tensors, "h.0.attn.c_attn.weight": f32([48, 16]) } })), /"h\.0\.attn\.c_attn\.weight" is \[48,16\].*needs \[16,48\]/],
    ["a vocabulary that disagrees with config.json", () => edited((fx) => ({ config: { ...fx.config, vocab_size: 12 } })), /"wte\.weight" is \[11,16\].*vocab_size 12.*needs \[12,16\]/],
    ["mixed prefixes", () => edited((fx) => ({ tensors: Object.fromEntries(Object.entries(fx.tensors).map(([n, t]) => [n.startsWith("h.0") ? `transformer.${n}` : n, t])) })), /mixes names with and without the "transformer\." prefix/],
    ["another activation", () => edited((fx) => ({ config: { ...fx.config, activation_function: "relu" } })), /activation_function "relu" is not supported/],
    ["the exact (erf) GELU", () => edited((fx) => ({ config: { ...fx.config, activation_function: "gelu" } })), /activation_function "gelu" is not supported.*tanh/],
    ["another MLP width", () => edited((fx) => ({ config: { ...fx.config, n_inner: 32 } })), /n_inner 32 is not supported/],
    ["unscaled attention", () => edited((fx) => ({ config: { ...fx.config, scale_attn_weights: false } })), /scale_attn_weights false/],
    ["layer-scaled attention", () => edited((fx) => ({ config: { ...fx.config, scale_attn_by_inverse_layer_idx: true } })), /scale_attn_by_inverse_layer_idx/],
    ["another model type", () => edited((fx) => ({ config: { ...fx.config, model_type: "llama" } })), /model_type is "llama"/],
    ["a missing config field", () => edited((fx) => ({ config: { ...fx.config, n_head: undefined } })), /config\.json: n_head/],
    ["an lm_head that differs from the tied wte", () => edited((fx) => ({ tensors: { ...fx.tensors, "lm_head.weight": f32([11, 16]) } })), /lm_head\.weight differs from wte\.weight.*tie_word_embeddings true/],
    ["an untied config without lm_head", () => edited((fx) => ({ config: { ...fx.config, tie_word_embeddings: false } })), /missing tensor\(s\) "lm_head\.weight"/],
    ["F64 weights", () => edited((fx) => ({ tensors: { ...fx.tensors, "ln_f.bias": { dtype: "F64", shape: [16], data: new Float64Array(16) } } })), /"ln_f\.bias" is F64; octet loads F32, F16 or BF16/],
    ["a folder without model.safetensors", () => {
      const dir = tmp("hf");
      writeFileSync(join(dir, "config.json"), "{}");
      writeFileSync(join(dir, "pytorch_model.bin"), "");
      return dir;
    }, /no model\.safetensors.*pytorch_model\.bin/],
    ["a folder without config.json", () => tmp("hf"), /no config\.json/],
    ["a config.json that is not JSON", () => {
      const fx = writeFixture();
      writeFileSync(join(fx.dir, "config.json"), "{ n_layer: 2");
      return fx.dir;
    }, /config\.json is not valid JSON/],
  ];
  for (const [what, make, message] of cases) test(what, async () => expect(GPT.fromPretrained(make())).rejects.toThrow(message));

  test("a directory that does not exist", () => expect(GPT.fromPretrained("/nonexistent/octet-gpt2")).rejects.toThrow(/fromPretrained\(\/nonexistent\/octet-gpt2\): no such directory/));
});

/** f32 -> f16 bits for a value f16 holds exactly; otherwise throws (the test rounds to bf16 first, so it only
 *  uses values inside f16's range with at most 8 significant bits). */
function floatToHalfExact(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (e < -14) {
    const frac = a / 2 ** -24;
    if (!Number.isInteger(frac)) throw new Error(`floatToHalfExact: ${x} is not an f16 value`);
    return sign | frac;
  }
  if (e > 15) throw new Error(`floatToHalfExact: ${x} overflows f16`);
  const frac = (a / 2 ** e - 1) * 1024;
  if (!Number.isInteger(frac)) throw new Error(`floatToHalfExact: ${x} is not an f16 value`);
  return sign | ((e + 15) << 10) | frac;
}
