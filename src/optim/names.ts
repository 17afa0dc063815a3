// Hugging Face Trainer `--optim` names -> octet classes (Trainer derives bnb classes from the name's parts).
import * as optim from "./index.ts";
import type { OptimizerClass } from "./classes.ts";

export const HF_OPTIMIZERS: Record<string, OptimizerClass> = {
  adamw_torch: optim.AdamW32bit,
  adamw_torch_fused: optim.AdamW32bit,
  adamw_bnb_8bit: optim.AdamW8bit,
  adamw_8bit: optim.AdamW8bit,
  paged_adamw_8bit: optim.PagedAdamW8bit,
  paged_adamw_32bit: optim.PagedAdamW32bit,
  lion_8bit: optim.Lion8bit,
  lion_32bit: optim.Lion32bit,
  paged_lion_8bit: optim.PagedLion8bit,
  rmsprop: optim.RMSprop32bit,
  rmsprop_bnb: optim.RMSprop,
  rmsprop_bnb_8bit: optim.RMSprop8bit,
  rmsprop_bnb_32bit: optim.RMSprop32bit,
  ademamix: optim.AdEMAMix32bit,
  ademamix_8bit: optim.AdEMAMix8bit,
  paged_ademamix_8bit: optim.PagedAdEMAMix8bit,
  sgd: optim.SGD32bit,
  adagrad: optim.Adagrad32bit,
};

export function optimizerByName(name: string): OptimizerClass {
  const C = HF_OPTIMIZERS[name];
  if (!C) throw new Error(`unknown --optim "${name}"; valid names: ${Object.keys(HF_OPTIMIZERS).join(", ")}`);
  return C;
}
