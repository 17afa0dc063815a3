// How an optimizer stores a parameter and its gradient (the options paramDtype, gradDtype, bf16StochasticRound,
// compensation: per param group, or per parameter through GlobalOptimManager). The update math is the same: it
// reads the parameter and the gradient as f32 in registers and returns an f32 value, which is rounded once on
// the way back:
//   bf16  u16 codes, two to a word (ops/bf16.ts): to nearest even, or stochastically with
//         `bf16StochasticRound` (a counter-based stream keyed by (roundingSeed, step, element), so a run is
//         reproducible). Without it, an update below half a bf16 ulp (lr·wd·|p| against |p|·2^-9) is lost
//         every step: the "lost weight decay" of bf16 training. Stochastic rounding keeps it in expectation;
//         a compensation buffer (compensation.ts) keeps what the rounding dropped.
//   f16   the device's f16 (shader-f16), converted by WGSL's f32 -> f16 conversion.
// Gradients (gradDtype, default: the parameter's dtype, as a PyTorch .grad has its parameter's dtype) are rounded
// to nearest when step() writes them into the gradient arena: whatever backward summed (several micro-batches'
// backward() calls before one step are one lazy sum) is summed in f32 registers in that one program and rounded
// once. The model sees f32 tensors that decode the arenas (Parameter.data, and .grad after a step), so layers
// never change.
import { Tensor } from "../dsl/tensor.ts";
import type { DType } from "../dsl/dtype.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { Options } from "./config.ts";
import { bf16ToF32, counterRandom16, f32ToBf16, f32ToBf16Stochastic } from "../ops/bf16.ts";
import { COMPENSATIONS, type Compensation, type CompensationName } from "./compensation.ts";

export type ParamDtype = "f32" | "bf16" | "f16";

export interface ParamStorage {
  name: ParamDtype;
  /** dtype of the arena's elements. */
  storage: DType;
  /** f32 value of the stored element. */
  read(stored: Tensor): Tensor;
  /** The stored form of a new f32 value; `random` (16 bits per element) rounds stochastically. */
  write(value: Tensor, random?: Tensor): Tensor;
}

export const PARAM_STORAGES: Record<ParamDtype, ParamStorage> = {
  f32: { name: "f32", storage: "f32", read: (x) => x, write: (v) => v },
  bf16: { name: "bf16", storage: "u16", read: bf16ToF32, write: (v, r) => (r ? f32ToBf16Stochastic(v, r) : f32ToBf16(v)) },
  f16: { name: "f16", storage: "f16", read: (x) => x.cast("f32"), write: (v) => v.cast("f16") },
};

/** The storage an arena dtype holds (u16: bf16; f16; f32). */
export const STORAGE_OF: Partial<Record<DType, ParamStorage>> = Object.fromEntries(Object.values(PARAM_STORAGES).map((s) => [s.storage, s]));

/**
 * The cross-key problems of one config's storage options (the values themselves are checked by the schema,
 * config.ts), or undefined.
 */
export function paramStorageProblem(hp: Options): string | undefined {
  const paramDtype = (hp.paramDtype as ParamDtype | undefined) ?? "f32";
  if (hp.bf16StochasticRound && paramDtype !== "bf16")
    return `option "bf16StochasticRound" rounds bf16 parameters; it needs paramDtype "bf16" (got paramDtype ${JSON.stringify(paramDtype)})`;
  const comp = (hp.compensation as CompensationName | undefined) ?? "none";
  if (comp !== "none" && paramDtype !== "bf16")
    return `option "compensation" ${JSON.stringify(comp)} keeps what rounding to bf16 drops; it needs paramDtype "bf16" (got paramDtype ${JSON.stringify(paramDtype)})`;
  if (comp !== "none" && hp.bf16StochasticRound)
    return `options "compensation" ${JSON.stringify(comp)} and "bf16StochasticRound" both handle what rounding to bf16 drops (one keeps it, one dithers it); choose one`;
  return undefined;
}

/** Checks the optimizer-wide roundingSeed: an integer in [0, 2^24) (it reaches kernels as an exact f32). */
export function roundingSeedOf(className: string, roundingSeed: unknown = 0): number {
  if (typeof roundingSeed !== "number" || !Number.isInteger(roundingSeed) || roundingSeed < 0 || roundingSeed >= 2 ** 24)
    throw new Error(`${className}: option "roundingSeed" must be an integer in [0, 2^24), got ${JSON.stringify(roundingSeed)}`);
  return roundingSeed;
}

/** Refuses f16 parameters or gradients on a target without shader-f16 (before anything is allocated). */
export function checkPlanOn(className: string, plan: ParamPlan, target: DeviceTarget): void {
  for (const [what, s] of [["paramDtype", plan.storage], ["gradDtype", plan.grad]] as const)
    if (s.name === "f16" && !target.f16)
      throw new Error(`${className}: ${what} "f16" needs the WebGPU feature "shader-f16", which this adapter does not have; use ${what} "bf16" (no feature needed) or "f32"`);
}

/** Scalar names the update kernel reads for stochastic rounding (per tensor: its step; the seed). */
export const ROUNDING_SCALARS = ["sr_step", "sr_seed"];

/** 16 random bits for each element of a [blocks, 256] arena at this tensor's step (index = arena position). */
export function arenaRandom(shape: number[], s: Record<string, Tensor>): Tensor {
  const element = Tensor.iota(shape, 0, "u32").mul(shape[1]).add(Tensor.iota(shape, 1, "u32"));
  return counterRandom16(s.sr_seed.cast("u32"), s.sr_step.cast("u32"), element).named("rounding_bits");
}

/** What a bucket does with its parameters: how they and their gradients are stored, how writes round. */
export interface ParamPlan {
  storage: ParamStorage;
  grad: ParamStorage;
  stochastic: boolean;
  seed: number;
  /** A compensation buffer beside a bf16 arena (compensation.ts), if any. */
  compensation?: Compensation;
}

export const F32_PARAMS: ParamPlan = Object.freeze({ storage: PARAM_STORAGES.f32, grad: PARAM_STORAGES.f32, stochastic: false, seed: 0 });

/** The plan of a parameter under config `hp` (gradDtype defaults to paramDtype, as torch's .grad has the parameter's dtype). */
export function planOf(hp: Options, seed: number): ParamPlan {
  const paramDtype = (hp.paramDtype as ParamDtype | undefined) ?? "f32";
  const gradDtype = (hp.gradDtype as ParamDtype | undefined) ?? paramDtype;
  const comp = (hp.compensation as CompensationName | undefined) ?? "none";
  return { storage: PARAM_STORAGES[paramDtype], grad: PARAM_STORAGES[gradDtype], stochastic: !!hp.bf16StochasticRound, seed, compensation: comp === "none" ? undefined : COMPENSATIONS[comp] };
}

/** A plan's part of a bucket key and of a kernel's name: "" for f32 throughout, e.g. "_bf16sr", "_bf16kahan_gf32". */
export function planTag(plan: ParamPlan): string {
  const p = plan.storage.name === "f32" ? "" : `_${plan.storage.name}${plan.stochastic ? "sr" : ""}${plan.compensation ? plan.compensation.name : ""}`;
  const g = plan.grad.name === plan.storage.name ? "" : `_g${plan.grad.name}`;
  return p + g;
}

/** Optimizer-wide storage options, validated (Muon's: its weights are stored one way, muon.ts). */
export interface ParamStorageOptions {
  paramDtype: ParamDtype;
  bf16StochasticRound: boolean;
  roundingSeed: number;
}

/** Checks optimizer-wide storage options (unknown values are errors naming them). */
export function paramStorageOptions(className: string, o: { paramDtype?: unknown; bf16StochasticRound?: unknown; roundingSeed?: unknown }): ParamStorageOptions {
  const { paramDtype = "f32", bf16StochasticRound = false } = o;
  if (typeof paramDtype !== "string" || !(paramDtype in PARAM_STORAGES))
    throw new Error(`${className}: option "paramDtype" must be one of ${Object.keys(PARAM_STORAGES).map((k) => `"${k}"`).join(", ")}, got ${JSON.stringify(paramDtype)}`);
  if (typeof bf16StochasticRound !== "boolean") throw new Error(`${className}: option "bf16StochasticRound" must be a boolean, got ${JSON.stringify(bf16StochasticRound)}`);
  const err = paramStorageProblem({ paramDtype, bf16StochasticRound });
  if (err) throw new Error(`${className}: ${err}`);
  return { paramDtype: paramDtype as ParamDtype, bf16StochasticRound, roundingSeed: roundingSeedOf(className, o.roundingSeed) };
}

/** Refuses f16 parameters on a target without shader-f16 (optimizer-wide options). */
export function checkParamStorageOn(className: string, o: ParamStorageOptions, target: DeviceTarget): void {
  checkPlanOn(className, { ...F32_PARAMS, storage: PARAM_STORAGES[o.paramDtype] }, target);
}
