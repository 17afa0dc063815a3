// defineOptimizer: an optimizer is its math. `update` receives every state as an f32 tensor and returns
// their new f32 values; whether a state is stored as f32 or as 8-bit blockwise codes is decided per
// parameter by the resolved config, and the framework wraps the math in dequantize / requantize. Scalars
// that depend on hyperparameters or the step count are computed on the host per tensor and reach the kernel
// as data (never baked in), so changing lr or betas never recompiles anything.
import type { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";

export interface StateSpec {
  /** Name used in the update function. */
  name: string;
  /** Signed states use the signed dynamic map; unsigned ones (second moments) the unsigned map. */
  signed: boolean;
  /** State-dict key (bnb's): state1 / state2; `part` orders several states under one key (AdEMAMix). */
  key: "state1" | "state2";
  part?: number;
}

export interface UpdateContext {
  /** True when the states of this kernel are 8-bit: bnb's 8-bit kernels differ in a few places. */
  quantized: boolean;
}

export type Hyper = Record<string, unknown>;

export interface OptimizerDef<H extends Hyper = Hyper> {
  /** Family name, used for kernel names: adam, lion, momentum, rmsprop, adagrad, ademamix, lamb, lars. */
  name: string;
  /** Zod schema of the options (strict: unknown keys are rejected with their name). */
  schema: z.ZodType<H>;
  states: StateSpec[];
  /** Host-side scalars for one tensor at step t (t >= 1), computed in binary32 as the kernels would. */
  scalars(hp: H, t: number): Record<string, number>;
  /** The update: p, g and the states in, new p and states out (all f32 tensors of one shape). */
  update(x: Record<string, Tensor>, s: Record<string, Tensor>, ctx: UpdateContext): Record<string, Tensor>;
  /**
   * Options that need a whole-tensor norm (LAMB/LARS maxUnorm) run one tensor per kernel. `bits` is the state
   * precision this parameter actually gets (32 below min8bitSize even in a *8bit class), not hp.optimBits.
   */
  perTensor?(hp: H, bits: 8 | 32): boolean;
  /** Extra validation across keys (e.g. "Lion8bit does not support maxUnorm"); returns an error or undefined. */
  check?(hp: H, bits: 8 | 32): string | undefined;
}

export function defineOptimizer<H extends Hyper>(def: OptimizerDef<H>): OptimizerDef<H> {
  return def;
}

// binary32 helpers for scalars(): one rounding per operation, as bnb's float kernels.
export const fl = Math.fround;
/** beta^t as bnb's reference computes it: a float64 product of the float32 beta, rounded once. */
export function powBeta(beta: number, t: number): number {
  return fl(Math.pow(fl(beta), t)); // the float64 power equals the float64 product to far below one f32 ulp
}
