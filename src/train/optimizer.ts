// The optimizer a training run steps: a Hugging Face `--optim` name (optim/names.ts), or Muon / Muon8bit for
// the hidden matrices with AdamW / AdamW8bit for the rest (optim/muon.ts muonParamGroups), with the weights
// stored as --param-dtype says.
import type * as octet from "../index.ts";
import { optimizerByName } from "../optim/names.ts";
import { Muon, Muon8bit, muonParamGroups } from "../optim/muon.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { MUON_OPTIMIZERS, quantizesWithStateFormat, type TrainConfig } from "./config.ts";


/** What the loop needs of an optimizer: octet's Optimizer, or Muon (its AdamW groups step inside it). */
export type TrainOptimizer = Pick<Optimizer, "step" | "zeroGrad" | "stateBytes" | "logicalStateBytes" | "stateDict" | "loadStateDict">;

export function makeOptimizer(cfg: TrainConfig, model: octet.nn.GPT): TrainOptimizer {
  const weights = {
    ...(cfg.paramDtype === "f32" ? {} : { paramDtype: cfg.paramDtype, bf16StochasticRound: cfg.stochasticRound, roundingSeed: cfg.seed }),
    ...(cfg.gradDtype === cfg.paramDtype ? {} : { gradDtype: cfg.gradDtype }), // the optimizer's default: paramDtype
    ...(cfg.compensation === "none" ? {} : { compensation: cfg.compensation }),
  };
  if ((MUON_OPTIMIZERS as readonly string[]).includes(cfg.optim)) {
    // Muon's matrices read f32 gradients of their own (its AdamW groups store theirs as the weights, AdamW's
    // default), and it has no compensation buffer: a --grad-dtype or --compensation it would not honour is refused.
    if (cfg.gradDtype !== cfg.paramDtype) throw new Error(`--optim ${cfg.optim}: --grad-dtype ${cfg.gradDtype} is not implemented for Muon (its matrices read f32 gradients)`);
    if (cfg.compensation !== "none") throw new Error(`--optim ${cfg.optim}: --compensation ${cfg.compensation} is not implemented for Muon`);
    // Moonshot's rule (adjustLrFn "match_rms_adamw"): the update's RMS matches AdamW's, so Muon takes AdamW's
    // --lr and weight decay (0.01) as they are (torch.optim.Muon docs; "Muon is Scalable for LLM Training").
    const groups = muonParamGroups(model, { muon: { lr: cfg.lr, weightDecay: 0.01, adjustLrFn: "match_rms_adamw" }, adamw: { lr: cfg.lr } });
    return cfg.optim === "muon_8bit" ? new Muon8bit(groups, weights) : new Muon(groups, weights);
  }
  const Optim = optimizerByName(cfg.optim);
  return new Optim(model.parameters(), { lr: cfg.lr, ...(quantizesWithStateFormat(cfg.optim) ? { stateFormat: cfg.stateFormat } : {}), ...weights }) as Optimizer;
}

