// Hugging Face GPT-2 <-> octet's GPT: the config fields, the tensor names and the checks, with no file access
// (src/io/hf.ts reads and writes the folder). HF's layout (transformers' modeling_gpt2.py, GPT2LMHeadModel):
//
//   [transformer.]wte.weight [V, C]        tokens.weight            (lm_head.weight is tied to it)
//   [transformer.]wpe.weight [P, C]        positions
//   [transformer.]h.N.ln_1.{weight,bias}   blocks.N.ln1
//   [transformer.]h.N.attn.c_attn.*        blocks.N.qkv     Conv1D: weight [in, out] = [C, 3C], columns q | k | v
//   [transformer.]h.N.attn.c_proj.*        blocks.N.proj
//   [transformer.]h.N.ln_2.*               blocks.N.ln2
//   [transformer.]h.N.mlp.c_fc.*           blocks.N.fc
//   [transformer.]h.N.mlp.c_proj.*         blocks.N.fcProj
//   [transformer.]ln_f.*                   lnF
//   lm_head.weight [V, C] (untied only)    head.weight [C, V]   (nn.Linear is [out, in]: transposed)
//
// Conv1D computes x @ weight + bias with weight [in, out], as octet's Linear does, so those copy as they are;
// c_attn's columns split into q, k, v (then heads of C / H columns) exactly as F.causalSelfAttention reads them.
// `h.N.attn.bias` / `h.N.attn.masked_bias` are the causal-mask buffers older versions saved: ignored.
import { z } from "zod";
import type { SafeTensor } from "../io/safetensors.ts";
import { acquireDevice } from "../runtime/device.ts";
import { tensorNow } from "../runtime/realize.ts";
import type { GPT, GPTConfig, GPTInit } from "./gpt.ts";
import { StableEmbedding } from "./layers.ts";

/** A pretrained folder's two files, already read: config.json parsed, model.safetensors decoded. */
export interface PretrainedFiles {
  config: unknown;
  tensors: Record<string, SafeTensor>;
}

/** What fromPretrained keeps so savePretrained writes the same layout back. */
export interface PretrainedInfo {
  /** config.json as read (dropout rates, token ids and other fields octet does not use are written back as they were). */
  config: Record<string, unknown>;
  /** "transformer." when the tensor names carried it (GPT2LMHeadModel's save_pretrained), else "". */
  prefix: string;
}

const PREFIX = "transformer.";
/** HF's ACT2FN names for GPT-2's tanh-approximated GELU (both compute 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))). */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh"];

const size = z.number().int().positive();
const hfConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  vocab_size: size,
  n_positions: size,
  n_embd: size,
  n_layer: size,
  n_head: size,
  n_inner: size.nullable().optional(),
  activation_function: z.string().default("gelu_new"),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  tie_word_embeddings: z.boolean().default(true),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  add_cross_attention: z.boolean().default(false),
});

/** The GPTConfig a GPT-2 config.json describes; every field that would change the math is checked. */
export function gptConfigFromHF(json: unknown, where: string): GPTConfig {
  const fail = (m: string): never => {
    throw new Error(`${where}: config.json: ${m}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("must be a JSON object");
  const mt = (json as { model_type?: unknown }).model_type;
  if (mt !== undefined && mt !== "gpt2") fail(`model_type is ${JSON.stringify(mt)}; octet's GPT loads GPT-2 ("gpt2") checkpoints only`);
  const r = hfConfigSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    fail(`${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  const c = r.data!;
  if (!TANH_GELU.includes(c.activation_function))
    fail(`activation_function ${JSON.stringify(c.activation_function)} is not supported: octet's GPT-2 block uses the tanh GELU (${TANH_GELU.join(" or ")})`);
  if (c.n_inner != null && c.n_inner !== 4 * c.n_embd) fail(`n_inner ${c.n_inner} is not supported: octet's MLP is 4 * n_embd = ${4 * c.n_embd} wide`);
  if (c.n_embd % c.n_head) fail(`n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
  if (!c.scale_attn_weights) fail("scale_attn_weights false is not supported: octet scales attention scores by 1/sqrt(head size)");
  if (c.scale_attn_by_inverse_layer_idx) fail("scale_attn_by_inverse_layer_idx true is not supported: octet does not scale scores by 1/(layer + 1)");
  if (c.add_cross_attention) fail("add_cross_attention true is not supported: octet's GPT is decoder-only, with no cross-attention");
  return {
    vocabSize: c.vocab_size,
    contextLength: c.n_positions,
    layers: c.n_layer,
    heads: c.n_head,
    width: c.n_embd,
    embedding: "plain",
    seed: 0,
    tieWordEmbeddings: c.tie_word_embeddings,
    layerNormEps: c.layer_norm_epsilon,
  };
}

const BLOCK_PARTS: Record<string, string> = { ln1: "ln_1", qkv: "attn.c_attn", proj: "attn.c_proj", ln2: "ln_2", fc: "mlp.c_fc", fcProj: "mlp.c_proj" };

/** HF's name (without the `transformer.` prefix) of an octet parameter name, or undefined when GPT-2 has none. */
export function hfNameOf(name: string): string | undefined {
  if (name === "tokens.weight") return "wte.weight";
  if (name === "positions") return "wpe.weight";
  if (name === "head.weight") return "lm_head.weight";
  const ln = /^lnF\.(weight|bias)$/.exec(name);
  if (ln) return `ln_f.${ln[1]}`;
  const b = /^blocks\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  if (b && Object.hasOwn(BLOCK_PARTS, b[2])) return `h.${b[1]}.${BLOCK_PARTS[b[2]]}.${b[3]}`;
  return undefined;
}

const IGNORED_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const LM_HEAD = "lm_head.weight";
const shapeStr = (s: readonly number[]) => `[${s.join(",")}]`;
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** f32 values of a stored tensor; F16 and BF16 widen exactly, anything else is refused. */
function toF32(t: SafeTensor, name: string, where: string): Float32Array {
  if (t.dtype === "F32") return t.data;
  if (t.dtype === "BF16") {
    const out = new Uint32Array(t.data.length);
    for (let i = 0; i < out.length; i++) out[i] = t.data[i] << 16; // bf16 is the top half of an f32
    return new Float32Array(out.buffer);
  }
  if (t.dtype === "F16") return Float32Array.from(t.data, halfToFloat);
  throw new Error(`${where}: tensor "${name}" is ${t.dtype}; octet loads F32, F16 or BF16 weights`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** [rows, cols] -> [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/** The tensor-name prefix the file uses: all of GPT-2's names carry `transformer.` or none do. */
function prefixOf(names: string[], where: string): string {
  const body = names.filter((n) => n !== LM_HEAD);
  const withPrefix = body.filter((n) => n.startsWith(PREFIX));
  if (withPrefix.length === 0) return "";
  if (withPrefix.length === body.length) return PREFIX;
  const without = body.find((n) => !n.startsWith(PREFIX));
  throw new Error(`${where}: model.safetensors mixes names with and without the "${PREFIX}" prefix ("${withPrefix[0]}" and "${without}")`);
}

/** Every tensor a GPT-2 of this config stores, HF names (no prefix) -> shapes, in GPT2LMHeadModel's order. */
function hfShapes(c: GPTConfig): Map<string, number[]> {
  const { vocabSize: V, contextLength: P, width: C } = c;
  const m = new Map<string, number[]>([["wte.weight", [V, C]], ["wpe.weight", [P, C]]]);
  for (let l = 0; l < c.layers; l++) {
    const parts: [string, number[], number[]][] = [
      ["ln_1", [C], [C]], ["attn.c_attn", [C, 3 * C], [3 * C]], ["attn.c_proj", [C, C], [C]],
      ["ln_2", [C], [C]], ["mlp.c_fc", [C, 4 * C], [4 * C]], ["mlp.c_proj", [4 * C, C], [C]],
    ];
    for (const [part, w, b] of parts) m.set(`h.${l}.${part}.weight`, w).set(`h.${l}.${part}.bias`, b);
  }
  m.set("ln_f.weight", [C]).set("ln_f.bias", [C]);
  if (!c.tieWordEmbeddings) m.set(LM_HEAD, [V, C]);
  return m;
}

/**
 * Builds the GPT that `files` describe (`build` is `new GPT(config, init)`, passed in so this file needs GPT only
 * as a type) holding the file's weights. Names are checked first (every problem at once), then shapes and dtypes
 * (naming the tensor), all before anything is allocated; the large tensors go straight into the model's
 * parameters, with no random init.
 */
export async function loadPretrained(files: PretrainedFiles, where: string, build: (config: GPTConfig, init: GPTInit) => GPT): Promise<GPT> {
  const config = gptConfigFromHF(files.config, where);
  const names = Object.keys(files.tensors);
  const prefix = prefixOf(names, where);
  const stored = (hf: string) => (hf === LM_HEAD ? LM_HEAD : prefix + hf);

  const wanted = hfShapes(config);
  const unknown: string[] = [];
  const found = new Map<string, SafeTensor>();
  for (const name of names) {
    const hf = name === LM_HEAD ? LM_HEAD : name.slice(prefix.length);
    if (IGNORED_BUFFER.test(hf)) continue;
    if (hf === LM_HEAD && config.tieWordEmbeddings) continue; // checked against wte below
    if (!wanted.has(hf)) unknown.push(name);
    else found.set(hf, files.tensors[name]);
  }
  const missing = [...wanted.keys()].filter((k) => !found.has(k)).map(stored);
  const problems = [
    ...(missing.length ? [`missing tensor(s) ${list(missing)}`] : []),
    ...(unknown.length ? [`tensor(s) ${list(unknown)} are not part of GPT-2 (GPT2LMHeadModel)`] : []),
  ];
  if (problems.length) throw new Error(`${where}: model.safetensors does not match config.json: ${problems.join("; ")}`);

  const { vocabSize: V, width: C } = config;
  const values = new Map<string, Float32Array>();
  for (const [hf, want] of wanted) {
    const t = found.get(hf)!;
    if (!sameShape(t.shape, want))
      throw new Error(
        `${where}: tensor "${stored(hf)}" is ${shapeStr(t.shape)}, but config.json (vocab_size ${V}, n_positions ${config.contextLength}, n_embd ${C}) needs ${shapeStr(want)}`,
      );
    const v = toF32(t, stored(hf), where);
    values.set(hf, hf === LM_HEAD ? transpose(v, V, C) : v); // nn.Linear [V, C] -> octet's [in, out] = [C, V]
  }
  const head = files.tensors[LM_HEAD];
  if (head && config.tieWordEmbeddings) {
    const wte = values.get("wte.weight")!;
    const same = sameShape(head.shape, [V, C]) && toF32(head, LM_HEAD, where).every((x, i) => Object.is(x, wte[i]));
    if (!same) throw new Error(`${where}: ${LM_HEAD} differs from ${prefix}wte.weight, but config.json ties them (tie_word_embeddings true)`);
  }

  await acquireDevice();
  const served = new Set<string>();
  const model = build(config, {
    weights: (name) => {
      const v = values.get(hfNameOf(name) ?? "");
      if (v) served.add(name);
      return v;
    },
  });
  model.pretrained = { config: { ...(files.config as Record<string, unknown>) }, prefix };
  // The parameters the constructor did not take values for (layer norms, biases: small, initialized to
  // constants) get theirs now; the built model and the file must name exactly the same tensors.
  const params = model.namedParameters();
  if (params.length !== wanted.size || params.some(([n]) => !wanted.has(hfNameOf(n) ?? "")))
    throw new Error(`${where}: internal error: octet's GPT and GPT-2's layout disagree (${params.map(([n]) => n).join(", ")})`);
  for (const [name, p] of params) {
    const v = values.get(hfNameOf(name)!)!;
    if (served.has(name)) continue; // the constructor built it from these values
    const old = p.data;
    p.data = tensorNow(v, [...p.shape], { category: "parameters" });
    old.dispose();
  }
  return model;
}

function list(names: string[]): string {
  const shown = names.slice(0, 6).map((n) => `"${n}"`).join(", ");
  return names.length > 6 ? `${shown} and ${names.length - 6} more` : shown;
}

/** config.json for a model octet trained from scratch (no dropout: octet trains without it). */
function freshConfig(): Record<string, unknown> {
  return { architectures: ["GPT2LMHeadModel"], attn_pdrop: 0, embd_pdrop: 0, resid_pdrop: 0, initializer_range: 0.02, n_inner: null };
}

/** Why the model has no HF GPT-2 equivalent (checked before a run trains, so --save-pretrained cannot fail at the end), or undefined. */
export function exportProblem(model: GPT): string | undefined {
  if (model.tokens instanceof StableEmbedding)
    return `the token embedding is a StableEmbedding (${model.tokens.adanorm ? "AdaNorm" : "a layer norm"} after the lookup), which GPT-2 does not have: train with --embedding plain to export`;
  const foreign = model.namedParameters().map(([n]) => n).filter((n) => hfNameOf(n) === undefined);
  if (foreign.length) return `parameter(s) ${list(foreign)} have no GPT-2 counterpart`;
  return undefined;
}

/**
 * The model as an HF GPT-2 folder's contents: config.json (keys sorted, as transformers writes it) and
 * model.safetensors tensors (F32, `__metadata__` format "pt" as save_pretrained writes it).
 */
export async function exportPretrained(model: GPT): Promise<{ config: Record<string, unknown>; tensors: Record<string, SafeTensor>; metadata: Record<string, string> }> {
  const problem = exportProblem(model);
  if (problem) throw new Error(`savePretrained: ${problem}`);
  const params = model.namedParameters();
  const c = model.config;
  const prefix = model.pretrained?.prefix ?? PREFIX;
  const merged: Record<string, unknown> = {
    ...(model.pretrained?.config ?? freshConfig()),
    model_type: "gpt2",
    activation_function: "gelu_new",
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_ctx: c.contextLength,
    n_embd: c.width,
    n_layer: c.layers,
    n_head: c.heads,
    layer_norm_epsilon: c.layerNormEps ?? 1e-5,
    tie_word_embeddings: !!c.tieWordEmbeddings,
  };
  // The weights are written in f32 whatever the source held: a recorded dtype says so too.
  for (const k of ["torch_dtype", "dtype"]) if (k in merged) merged[k] = "float32";
  const config = Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]]));
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, p] of params) {
    if (p.dtype !== "f32") throw new Error(`savePretrained: parameter "${name}" is ${p.dtype}; GPT-2 folders are written in f32`);
    const hf = hfNameOf(name)!;
    const v = Float32Array.from((await p.data.toArray()) as Float32Array);
    if (hf === LM_HEAD) tensors[LM_HEAD] = { dtype: "F32", shape: [c.vocabSize, c.width], data: transpose(v, c.width, c.vocabSize) };
    else tensors[prefix + hf] = { dtype: "F32", shape: [...p.shape], data: v };
  }
  return { config, tensors, metadata: { format: "pt" } };
}
