// Layers: Linear, LayerNorm, Embedding (32-bit optimizer state for its weight, as bnb.nn.Embedding) and
// StableEmbedding (xavier-uniform init, layer norm in f32 after the lookup, 32-bit state; bnb-algorithms §5).
// Constructors are synchronous (PyTorch style) once the device is acquired: `await octet.device()` first.
import type { Tensor } from "../dsl/tensor.ts";
import { leaf, type Var } from "../autograd/var.ts";
import { tensorNow } from "../runtime/realize.ts";
import { GlobalOptimManager, embeddingClassRef } from "../optim/manager.ts";
import * as F from "./functional.ts";
import { Module } from "./module.ts";
import { Parameter } from "./parameter.ts";
import { normalInit, uniformInit } from "./init.ts";

export interface InitOptions {
  seed?: number;
  /** Name that seeds this tensor's random stream (its path in the model), so init ignores creation order. */
  name?: string;
}

const param = (data: Float32Array, shape: number[]) => new Parameter(tensorNow(data, shape, { category: "parameters" }));

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /**
   * weight [in, out] ~ N(0, std = 0.02) as GPT-2 (or `opts.weight`, e.g. loaded values: no random init), bias 0.
   * The layout is [in, out] (y = x @ W + b, as Hugging Face GPT-2's Conv1D, whose checkpoints load as they are),
   * NOT torch.nn.Linear's [out, in]: transpose a torch Linear weight when porting it.
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: InitOptions & { bias?: boolean; std?: number; weight?: Parameter } = {}) {
    super();
    if (opts.weight && (opts.weight.shape.length !== 2 || opts.weight.shape[0] !== inFeatures || opts.weight.shape[1] !== outFeatures))
      throw new Error(`Linear: weight of shape [${opts.weight.shape}] given for [${inFeatures}, ${outFeatures}]`);
    this.weight = opts.weight ?? param(normalInit(inFeatures * outFeatures, opts.std ?? 0.02, opts.seed ?? 0, `${opts.name ?? "linear"}.weight`), [inFeatures, outFeatures]);
    this.bias = opts.bias === false ? null : param(new Float32Array(outFeatures), [outFeatures]);
  }
  forward(x: Var): Var {
    return F.linear(x, leaf(this.weight), this.bias ? leaf(this.bias) : undefined);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = param(new Float32Array(dim).fill(1), [dim]);
    this.bias = param(new Float32Array(dim), [dim]);
  }
  forward(x: Var): Var {
    return F.layerNorm(x, leaf(this.weight), leaf(this.bias), this.eps);
  }
}

export interface EmbeddingOptions extends InitOptions {
  paddingIdx?: number;
  /** Reuse this weight instead of initializing a new one (replaceEmbeddings: never two tables alive). */
  weight?: Parameter;
}

/** Xavier-uniform [V, D] table (fan_in = D, fan_out = V), padding row zeroed, as bnb. */
function xavierTable(V: number, D: number, opts: EmbeddingOptions): Parameter {
  const a = Math.sqrt(6 / (V + D));
  const data = uniformInit(V * D, -a, a, opts.seed ?? 0, `${opts.name ?? "embedding"}.weight`);
  if (opts.paddingIdx !== undefined) data.fill(0, opts.paddingIdx * D, (opts.paddingIdx + 1) * D);
  return param(data, [V, D]);
}

/** bnb.nn.Embedding: a plain lookup whose weight keeps 32-bit optimizer state under any optimizer. */
export class Embedding extends Module {
  readonly weight: Parameter;
  readonly paddingIdx?: number;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    const { paddingIdx } = opts;
    if (paddingIdx !== undefined && (!Number.isInteger(paddingIdx) || paddingIdx < 0 || paddingIdx >= numEmbeddings))
      throw new Error(`Embedding: paddingIdx ${paddingIdx} out of range [0, ${numEmbeddings})`);
    if (opts.weight && (opts.weight.shape[0] !== numEmbeddings || opts.weight.shape[1] !== embeddingDim))
      throw new Error(`Embedding: weight of shape [${opts.weight.shape}] given for [${numEmbeddings}, ${embeddingDim}]`);
    this.paddingIdx = paddingIdx;
    this.weight = opts.weight ?? xavierTable(numEmbeddings, embeddingDim, opts);
    GlobalOptimManager.getInstance().registerModuleOverride(this, "weight", { optimBits: 32 });
  }
  forward(idx: Tensor): Var {
    return F.embedding(leaf(this.weight), idx, this.paddingIdx);
  }
}
embeddingClassRef.current = Embedding;

/** bnb.nn.StableEmbedding: lookup, then layer norm in f32 (or AdaNorm with `norm: "adanorm"`). */
export class StableEmbedding extends Embedding {
  readonly norm: LayerNorm | null;
  readonly adanorm: boolean;
  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions & { norm?: "layernorm" | "adanorm" } = {}) {
    super(numEmbeddings, embeddingDim, opts);
    this.adanorm = opts.norm === "adanorm";
    this.norm = this.adanorm ? null : new LayerNorm(embeddingDim);
  }
  override forward(idx: Tensor): Var {
    const e = super.forward(idx);
    return this.norm ? this.norm.forward(e) : F.adaNorm(e);
  }
}
