// Tiny Hugging Face GPT-2 folders for the tests: config.json plus model.safetensors with random weights, in the
// layout transformers' save_pretrained writes (optionally with the `transformer.` prefix, the old attn.bias /
// attn.masked_bias buffers, an untied lm_head). Written with octet's safetensors encoder, which
// test/io/safetensors.test.ts checks against the format on its own.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeSafetensors, type SafeTensor } from "../../src/io/safetensors.ts";
import { seededRandom } from "../reference/quant.ts";
import type { Gpt2RefConfig } from "../reference/gpt2.ts";

export interface FixtureOptions {
  vocab?: number;
  positions?: number;
  width?: number;
  layers?: number;
  heads?: number;
  eps?: number;
  prefix?: boolean;
  tied?: boolean;
  /** Save the causal-mask buffers older transformers wrote (attn.bias, attn.masked_bias). */
  buffers?: boolean;
  seed?: number;
  /** Extra config.json fields (or overrides). */
  config?: Record<string, unknown>;
}

export interface Fixture {
  dir: string;
  config: Gpt2RefConfig & Record<string, unknown>;
  /** HF names without the prefix -> values (what the reference reads). */
  weights: Map<string, Float32Array>;
  /** The stored tensors, names as in the file. */
  tensors: Record<string, SafeTensor>;
}

export const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `octet-${tag}-`));

/** Random GPT-2 weights: N(0, std) for matrices, LN gains near 1, small nonzero biases, so every term matters. */
export function hfWeights(o: Required<Pick<FixtureOptions, "vocab" | "positions" | "width" | "layers" | "tied" | "seed">>): Map<string, { shape: number[]; data: Float32Array }> {
  const r = seededRandom(o.seed);
  const randn = (n: number, std: number, mean = 0) => Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  const C = o.width;
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, shape: number[], std: number, mean = 0) => w.set(name, { shape, data: randn(shape.reduce((a, b) => a * b, 1), std, mean) });
  put("wte.weight", [o.vocab, C], 0.5);
  put("wpe.weight", [o.positions, C], 0.2);
  for (let l = 0; l < o.layers; l++) {
    const p = `h.${l}`;
    put(`${p}.ln_1.weight`, [C], 0.2, 1);
    put(`${p}.ln_1.bias`, [C], 0.1);
    put(`${p}.attn.c_attn.weight`, [C, 3 * C], 0.3);
    put(`${p}.attn.c_attn.bias`, [3 * C], 0.1);
    put(`${p}.attn.c_proj.weight`, [C, C], 0.2);
    put(`${p}.attn.c_proj.bias`, [C], 0.1);
    put(`${p}.ln_2.weight`, [C], 0.2, 1);
    put(`${p}.ln_2.bias`, [C], 0.1);
    put(`${p}.mlp.c_fc.weight`, [C, 4 * C], 0.2);
    put(`${p}.mlp.c_fc.bias`, [4 * C], 0.1);
    put(`${p}.mlp.c_proj.weight`, [4 * C, C], 0.1);
    put(`${p}.mlp.c_proj.bias`, [C], 0.1);
  }
  put("ln_f.weight", [C], 0.2, 1);
  put("ln_f.bias", [C], 0.1);
  if (!o.tied) put("lm_head.weight", [o.vocab, C], 0.5);
  return w;
}

export function hfConfig(o: Required<Pick<FixtureOptions, "vocab" | "positions" | "width" | "layers" | "heads" | "eps" | "tied">>): Gpt2RefConfig & Record<string, unknown> {
  return {
    activation_function: "gelu_new",
    architectures: ["GPT2LMHeadModel"],
    attn_pdrop: 0.1,
    bos_token_id: 0,
    embd_pdrop: 0.1,
    eos_token_id: 0,
    initializer_range: 0.02,
    layer_norm_epsilon: o.eps,
    model_type: "gpt2",
    n_ctx: o.positions,
    n_embd: o.width,
    n_head: o.heads,
    n_inner: null,
    n_layer: o.layers,
    n_positions: o.positions,
    resid_pdrop: 0.1,
    tie_word_embeddings: o.tied,
    vocab_size: o.vocab,
  };
}

/** Writes a fixture folder and returns it with the weights it holds. */
export function writeFixture(opts: FixtureOptions = {}, dir = tmp("hf")): Fixture {
  const o = { vocab: 11, positions: 16, width: 16, layers: 2, heads: 2, eps: 1e-5, prefix: false, tied: true, buffers: false, seed: 1, ...opts };
  const config = { ...hfConfig(o), ...(opts.config ?? {}) };
  const weights = new Map<string, Float32Array>();
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, t] of hfWeights(o)) {
    weights.set(name, t.data);
    tensors[name === "lm_head.weight" || !o.prefix ? name : `transformer.${name}`] = { dtype: "F32", shape: t.shape, data: t.data };
  }
  if (o.buffers)
    for (let l = 0; l < o.layers; l++) {
      const P = o.positions;
      const mask = new Uint8Array(P * P).map((_, i) => (i % P <= Math.floor(i / P) ? 1 : 0));
      tensors[`${o.prefix ? "transformer." : ""}h.${l}.attn.bias`] = { dtype: "BOOL", shape: [1, 1, P, P], data: mask };
      tensors[`${o.prefix ? "transformer." : ""}h.${l}.attn.masked_bias`] = { dtype: "F32", shape: [], data: new Float32Array([-1e4]) };
    }
  writeFiles(dir, config, tensors);
  return { dir, config, weights, tensors };
}

export function writeFiles(dir: string, config: unknown, tensors: Record<string, SafeTensor>): void {
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(tensors, { format: "pt" }));
}
