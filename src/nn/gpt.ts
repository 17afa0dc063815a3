// A small GPT (GPT-2 layout, pre-norm blocks) built from octet's differentiable ops. The token embedding is
// a plain `Embedding`, a `StableEmbedding` (layer norm after the lookup) or its AdaNorm variant. With
// `tieWordEmbeddings` the output head is the token table itself (GPT-2's lm_head), so a Hugging Face GPT-2
// folder loads into it exactly (fromPretrained / savePretrained, mapped in ./pretrained.ts).
import { Tensor } from "../dsl/tensor.ts";
import { leaf, op, type Var } from "../autograd/var.ts";
import { tensorNow } from "../runtime/realize.ts";
import * as F from "./functional.ts";
import { Embedding, LayerNorm, Linear, StableEmbedding } from "./layers.ts";
import { Module } from "./module.ts";
import { Parameter } from "./parameter.ts";
import { normalInit } from "./init.ts";
import { generate, type GenerateOptions } from "./generate.ts";
import { exportPretrained, loadPretrained, type PretrainedFiles, type PretrainedInfo } from "./pretrained.ts";

export interface GPTConfig {
  vocabSize: number;
  contextLength: number;
  layers: number;
  heads: number;
  width: number;
  embedding: "plain" | "stable" | "adanorm";
  seed: number;
  /**
   * The output head is the token embedding table (logits = x wte^T), one Parameter that gets both gradients
   * and one optimizer state, as GPT-2 (HF's `tie_word_embeddings`). Default false: a separate `head` Linear.
   */
  tieWordEmbeddings?: boolean;
  /** eps of every block's and the final layer norm (HF's `layer_norm_epsilon`); default 1e-5. */
  layerNormEps?: number;
}

/** What generation (src/nn/generate.ts) changes in a forward: where the tokens sit, and how attention reads. */
export interface ForwardOptions {
  /** Position of each of the B*T tokens (i32 or u32 [B*T]); default 0..T-1 in every row. */
  positions?: Tensor;
  /** Replaces causal self-attention in block `layer`: packed qkv [B*T, 3C] -> [B*T, C] (e.g. over a KV cache). */
  attention?: (qkv: Var, layer: number) => Var;
}

/** A parameter to use instead of a random init, by its name in the model ("blocks.0.qkv.weight"), if there is one. */
type GivenWeight = (name: string, shape: number[]) => Parameter | undefined;

export interface GPTInit {
  /**
   * Values for the large tensors (the embedding tables and the blocks' matrices), by parameter name, used instead
   * of a random init so a loaded model never computes and uploads one (13 s of Box-Muller for GPT-2's 124M on a
   * CPU); fromPretrained passes the checkpoint's.
   */
  weights?: (name: string) => Float32Array | undefined;
}

class Block extends Module {
  readonly ln1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly ln2: LayerNorm;
  readonly fc: Linear;
  readonly fcProj: Linear;
  constructor(C: number, readonly heads: number, seed: number, name: string, layers: number, eps: number, given: GivenWeight) {
    super();
    const resid = 0.02 / Math.sqrt(2 * layers); // GPT-2's scaled init of residual projections
    const w = (part: string, In: number, Out: number) => given(`${name}.${part}.weight`, [In, Out]);
    this.ln1 = new LayerNorm(C, eps);
    this.qkv = new Linear(C, 3 * C, { seed, name: `${name}.qkv`, weight: w("qkv", C, 3 * C) });
    this.proj = new Linear(C, C, { seed, name: `${name}.proj`, std: resid, weight: w("proj", C, C) });
    this.ln2 = new LayerNorm(C, eps);
    this.fc = new Linear(C, 4 * C, { seed, name: `${name}.fc`, weight: w("fc", C, 4 * C) });
    this.fcProj = new Linear(4 * C, C, { seed, name: `${name}.fcProj`, std: resid, weight: w("fcProj", 4 * C, C) });
  }
  forward(x: Var, B: number, T: number, attend = (qkv: Var) => F.causalSelfAttention(qkv, B, T, this.heads)): Var {
    const a = this.proj.forward(attend(this.qkv.forward(this.ln1.forward(x))));
    const h = F.contiguous(F.add(x, a));
    const m = this.fcProj.forward(F.gelu(this.fc.forward(this.ln2.forward(h))));
    return F.contiguous(F.add(h, m));
  }
}

export class GPT extends Module {
  tokens: Embedding;
  readonly positions: Parameter;
  readonly blocks: Block[];
  readonly lnF: LayerNorm;
  /** The output projection [C, V]; null when tied to the token embedding (config.tieWordEmbeddings). */
  readonly head: Linear | null;
  /** Where the weights came from when loaded by fromPretrained: the HF config and tensor-name prefix to write back. */
  pretrained?: PretrainedInfo;
  constructor(readonly config: GPTConfig, init: GPTInit = {}) {
    super();
    const { vocabSize: V, contextLength: T, width: C, layers, heads, seed } = config;
    const eps = config.layerNormEps ?? 1e-5;
    if (C % heads) throw new Error(`GPT: width ${C} is not divisible by heads ${heads}`);
    const given: GivenWeight = (name, shape) => {
      const v = init.weights?.(name);
      if (!v) return undefined;
      if (v.length !== shape[0] * shape[1]) throw new Error(`GPT: ${v.length} values given for ${name} [${shape}]`);
      return new Parameter(tensorNow(v, shape, { category: "parameters" }));
    };
    const tokens = given("tokens.weight", [V, C]);
    this.tokens = config.embedding === "plain" ? new Embedding(V, C, { seed, name: "tokens", weight: tokens }) : new StableEmbedding(V, C, { seed, name: "tokens", weight: tokens, norm: config.embedding === "adanorm" ? "adanorm" : "layernorm" });
    this.positions = given("positions", [T, C]) ?? new Parameter(tensorNow(normalInit(T * C, 0.01, seed, "positions"), [T, C], { category: "parameters" }));
    this.blocks = Array.from({ length: layers }, (_, i) => new Block(C, heads, seed, `blocks.${i}`, layers, eps, given));
    this.lnF = new LayerNorm(C, eps);
    this.head = config.tieWordEmbeddings ? null : new Linear(C, V, { seed, name: "head", bias: false, weight: given("head.weight", [C, V]) });
  }

  /**
   * A GPT holding a Hugging Face GPT-2 checkpoint: a folder with `config.json` and `model.safetensors` (as
   * `save_pretrained` writes them), or those two already read (`{ config, tensors }`, e.g. in a browser).
   * Computes exactly HF's GPT2LMHeadModel in eval mode; mismatches are errors naming the tensor or field.
   */
  static async fromPretrained(source: string | PretrainedFiles): Promise<GPT> {
    // The folder reader needs node:fs; imported only when a path is given, so src/nn stays runtime-neutral.
    const files = typeof source === "string" ? await (await import("../io/hf.ts")).readPretrainedFolder(source) : source;
    return loadPretrained(files, typeof source === "string" ? source : "the given files", (config, init) => new GPT(config, init));
  }

  /** Writes `config.json` and `model.safetensors` in HF GPT-2's layout (no lm_head.weight when tied, as HF). */
  async savePretrained(dir: string): Promise<void> {
    const files = await exportPretrained(this);
    await (await import("../io/hf.ts")).writePretrainedFolder(dir, files);
  }

  /** Logits [B*T, V] for token ids idx (u32 or i32 [B, T]). */
  forward(idx: Tensor, B: number, T: number, opts: ForwardOptions = {}): Var {
    if (T > this.config.contextLength) throw new Error(`GPT: sequence of ${T} exceeds the context length ${this.config.contextLength}`);
    const tok = this.tokens.forward(idx.reshape([B * T]));
    const posIdx = opts.positions ?? Tensor.iota([B * T], 0).mod(T);
    const pos = F.embedding(leaf(this.positions), posIdx);
    let x = F.contiguous(F.add(tok, pos));
    const attend = opts.attention;
    this.blocks.forEach((b, i) => (x = b.forward(x, B, T, attend && ((qkv) => attend(qkv, i)))));
    const y = this.lnF.forward(x);
    return this.head ? this.head.forward(y) : tiedHead(y, leaf(this.tokens.weight));
  }

  /**
   * Continues the token ids `promptIds` by up to `maxNewTokens` sampled tokens (src/nn/generate.ts: a KV
   * cache of fixed shape, so any number of tokens compiles the same kernels). Returns the new ids only.
   */
  generate(promptIds: ArrayLike<number>, opts: GenerateOptions): Promise<Uint32Array> {
    return generate(this, promptIds, opts);
  }

  /** Mean next-token cross entropy. */
  loss(idx: Tensor, targets: Tensor, B: number, T: number): Var {
    return F.crossEntropy(this.forward(idx, B, T), targets.reshape([B * T]));
  }
}

/**
 * logits [N, V] = x [N, C] wte^T with wte [V, C] the token table. Its gradient dwte = g^T x joins the lookup's
 * scatter-add in backward() (both reach the same Parameter), so the tied table steps once with their sum.
 */
function tiedHead(x: Var, wte: Var): Var {
  return op(x.value.matmul(wte.value, { transB: true }), [x, wte], (g) => [
    g.matmul(wte.value), //                 dx = g wte
    g.matmul(x.value, { transA: true }), // dwte = g^T x
  ]);
}

/**
 * Turns every plain `Embedding` of a built model into a `StableEmbedding` (or its AdaNorm variant) that reuses
 * the existing weight Parameter: the table is never copied, so no second copy is ever alive (the litgpt
 * review concern). Returns how many were replaced.
 */
export function replaceEmbeddings(model: Module, opts: { kind: "stable" | "adanorm" }): number {
  let n = 0;
  const swap = (holder: Record<string | number, unknown>, k: string | number) => {
    const v = holder[k];
    if (!(v instanceof Embedding) || v instanceof StableEmbedding) return;
    holder[k] = new StableEmbedding(v.numEmbeddings, v.embeddingDim, { weight: v.weight, paddingIdx: v.paddingIdx, norm: opts.kind === "adanorm" ? "adanorm" : "layernorm" });
    n++;
  };
  for (const m of model.modules()) {
    for (const [k, v] of Object.entries(m)) {
      // Module.modules() and namedParameters() walk array fields too, so an embedding held in a list
      // (e.g. one table per input stream) must be found there as well.
      if (Array.isArray(v)) v.forEach((_, i) => swap(v as unknown as Record<number, unknown>, i));
      else swap(m as unknown as Record<string, unknown>, k);
    }
  }
  return n;
}
