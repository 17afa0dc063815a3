// Training-run configuration: one zod schema shared by `bun run train`, `bun run compare` and checkpoints.
import { z } from "zod";
import { optimizerNameProblem } from "../optim/names.ts";

/** `--optim` names of Muon runs (train/optimizer.ts): Hugging Face's Trainer has none for Muon. */
export const MUON_OPTIMIZERS = ["muon", "muon_8bit"] as const;
import { TOKENIZER_CHOICES } from "../data/tokenizer.ts";

export interface ArchPreset {
  layers: number;
  heads: number;
  width: number;
  /** Positions the model has (its position table's rows); undefined: as long as --seq. */
  context?: number;
  /** The tokenizer used when --tokenizer is not given (the vocabulary is always the tokenizer's). */
  tokenizer: (typeof TOKENIZER_CHOICES)[number];
  /** The output head is the token table (GPT-2's tied lm_head), as in the checkpoints of that shape. */
  tieWordEmbeddings?: boolean;
}

/**
 * `--arch`: the README's small character model, and two GPT-2 shapes. gpt2-small is GPT-2's 124M model
 * (Radford et al. 2019: 12 layers, 12 heads, width 768, 1024 positions, 50257 BPE ids); gpt2-mini is the
 * 6/6/384 shape of nanoGPT's "baby GPT" with GPT-2's vocabulary and context (~30M parameters, most of them
 * the 50257 x 384 embedding). Both tie the output head to the token table, as GPT-2. --layers, --heads and --width override a preset's value.
 */
export const ARCHS = {
  default: { layers: 2, heads: 4, width: 64, tokenizer: "char" },
  "gpt2-mini": { layers: 6, heads: 6, width: 384, context: 1024, tokenizer: "gpt2", tieWordEmbeddings: true },
  "gpt2-small": { layers: 12, heads: 12, width: 768, context: 1024, tokenizer: "gpt2", tieWordEmbeddings: true },
} as const satisfies Record<string, ArchPreset>;
export type ArchName = keyof typeof ARCHS;

const positive = z.number().int().positive();

/** `--state-format` values (the command line's --help lists these). */
export const STATE_FORMATS = ["dynamic8", "linear8", "fp8e4m3", "companded8", "fourbit"] as const;

export const TrainConfig = z
  .object({
    optim: z.string().superRefine((s, ctx) => {
      const problem = (MUON_OPTIMIZERS as readonly string[]).includes(s) ? undefined : optimizerNameProblem(s);
      if (problem) ctx.addIssue({ code: "custom", message: `${problem} (or ${MUON_OPTIMIZERS.join(", ")})` });
    }),
    /** 8-bit state storage: bnb's dynamic map or the linear map (the paper's ablation). */
    stateFormat: z.enum(STATE_FORMATS).default("dynamic8"),
    embedding: z.enum(["plain", "stable", "adanorm"]).default("stable"),
    /** How the optimizer stores the weights: f32, or bf16 / f16 without an f32 master copy (optim/paramstorage.ts). */
    paramDtype: z.enum(["f32", "bf16", "f16"]).default("f32"),
    /** bf16 weights: round each update stochastically (unbiased) instead of to nearest. */
    stochasticRound: z.boolean().default(false),
    /** How the optimizer stores the gradients; default: as the weights (--param-dtype), as a torch .grad. */
    gradDtype: z.enum(["f32", "bf16", "f16"]).optional(),
    /** bf16 weights: a compensation buffer keeping what rounding drops (optim/compensation.ts). */
    compensation: z.enum(["none", "kahan", "errorbits8"]).default("none"),
    arch: z.enum(Object.keys(ARCHS) as [ArchName, ...ArchName[]]).default("default"),
    /** Default: the arch's (char for the default arch, gpt2 for the GPT-2 shapes). */
    tokenizer: z.enum(TOKENIZER_CHOICES).optional(),
    steps: z.number().int().positive().default(300),
    lr: z.number().positive().default(3e-3),
    batch: z.number().int().positive().default(16),
    seq: z.number().int().min(2).default(64),
    seed: z.number().int().nonnegative().default(0),
    /** Default: the arch's. */
    layers: positive.optional(),
    heads: positive.optional(),
    width: positive.optional(),
    /** Positions of the model; default: the arch's context, or --seq for the default arch. */
    context: positive.optional(),
    evalEvery: z.number().int().positive().default(100),
    evalBatches: z.number().int().positive().default(4),
    checkpointEvery: z.number().int().nonnegative().default(0),
    out: z.string().optional(),
    /** A Hugging Face GPT-2 folder to fine-tune (config.json + model.safetensors); the shape is its config's. */
    init: z.string().optional(),
    /** Write the trained model here as a Hugging Face GPT-2 folder when the run ends. */
    savePretrained: z.string().optional(),
    /**
     * true: continue the checkpoint in `out` (an error when there is none); false: start fresh (an error when `out`
     * already holds a checkpoint, which would be overwritten); unset (library callers): resume when one is there.
     */
    resume: z.boolean().optional(),
  })
  .strict()
  // The arch fills what was not given, so a parsed config (and a checkpoint's) names the whole shape.
  .transform((c) => {
    const a: ArchPreset = ARCHS[c.arch];
    return {
      ...c,
      tokenizer: c.tokenizer ?? a.tokenizer,
      gradDtype: c.gradDtype ?? c.paramDtype,
      layers: c.layers ?? a.layers,
      heads: c.heads ?? a.heads,
      width: c.width ?? a.width,
      context: c.context ?? a.context ?? c.seq,
    };
  })
  // --seq is limited by the model's positions only.
  .superRefine((c, ctx) => {
    if (c.seq > c.context)
      ctx.addIssue({ code: "custom", path: ["seq"], message: `${c.seq} exceeds the model's context of ${c.context} positions (--arch ${c.arch}); a longer window needs a longer context` });
    if (c.width % c.heads)
      ctx.addIssue({ code: "custom", path: ["width"], message: `${c.width} is not divisible by --heads ${c.heads}` });
    // --state-format chooses how quantized state is stored: an optimizer that keeps none would ignore it.
    if (c.stateFormat !== "dynamic8" && !quantizesWithStateFormat(c.optim))
      ctx.addIssue({ code: "custom", path: ["stateFormat"], message: `${c.stateFormat} applies to an 8-bit --optim (e.g. adamw_8bit); --optim ${c.optim} ${(MUON_OPTIMIZERS as readonly string[]).includes(c.optim) ? "keeps its momentum in bitsandbytes' dynamic8 map" : "keeps 32-bit state"}` });
  });

/** Whether --optim takes --state-format: the 8-bit bitsandbytes names (Muon8bit's momentum is always dynamic8). */
export const quantizesWithStateFormat = (optim: string): boolean => optim.includes("8bit") && !(MUON_OPTIMIZERS as readonly string[]).includes(optim);

export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainConfigInput = z.input<typeof TrainConfig>;
