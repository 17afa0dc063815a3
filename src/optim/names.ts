// Hugging Face Trainer `--optim` names -> octet classes (Trainer derives bnb classes from the name's parts).
import * as optim from "./index.ts";
import type { OptimizerClass } from "./classes.ts";

export const HF_OPTIMIZERS: Record<string, OptimizerClass> = {
  adamw_torch: optim.AdamW32bit,
  adamw_torch_fused: optim.AdamW32bit,
  adamw_bnb_8bit: optim.AdamW8bit,
  adamw_8bit: optim.AdamW8bit,
  lion_8bit: optim.Lion8bit,
  lion_32bit: optim.Lion32bit,
  rmsprop: optim.RMSprop32bit,
  rmsprop_bnb: optim.RMSprop,
  rmsprop_bnb_8bit: optim.RMSprop8bit,
  rmsprop_bnb_32bit: optim.RMSprop32bit,
  ademamix: optim.AdEMAMix32bit,
  ademamix_8bit: optim.AdEMAMix8bit,
  sgd: optim.SGD32bit,
  adagrad: optim.Adagrad32bit,
};

/**
 * Trainer's `paged_*` names (paged_adamw_8bit, paged_lion_32bit, ...) are known but not offered: bitsandbytes
 * pages optimizer state to host memory through CUDA unified memory, and WebGPU has none. They are refused with
 * that reason and the unpaged name, never listed as valid.
 */
export function pagedProblem(name: string): string | undefined {
  if (!name.startsWith("paged_")) return undefined;
  const unpaged = name.slice("paged_".length);
  const instead = unpaged in HF_OPTIMIZERS ? unpaged : Object.keys(HF_OPTIMIZERS).find((n) => n.startsWith(unpaged.split("_")[0]));
  return `"${name}": paged optimizers need unified memory, which WebGPU does not have` + (instead ? `; use ${instead} (the same math, unpaged)` : "");
}

/** Why `name` is not a usable --optim value (undefined: it is one). */
export function optimizerNameProblem(name: string): string | undefined {
  if (name in HF_OPTIMIZERS) return undefined;
  return pagedProblem(name) ?? `unknown optimizer "${name}"; valid: ${Object.keys(HF_OPTIMIZERS).join(", ")}`;
}

export function optimizerByName(name: string): OptimizerClass {
  const problem = optimizerNameProblem(name);
  if (problem) throw new Error(`--optim ${problem}`);
  return HF_OPTIMIZERS[name];
}
