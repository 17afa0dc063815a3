// How an optimizer stores its parameters (the `paramDtype` option): f32, or 16 bits without an f32 master
// copy. The update math is the same: it reads the parameter as f32 in registers and returns an f32 value,
// which is rounded once on the way back:
//   bf16  u16 codes, two to a word (ops/bf16.ts): to nearest even, or stochastically with
//         `bf16StochasticRound` (a counter-based stream keyed by (roundingSeed, step, element), so a run is
//         reproducible). Without it, an update below half a bf16 ulp (lr·wd·|p| against |p|·2^-9) is lost
//         every step: the "lost weight decay" of bf16 training. Stochastic rounding keeps it in expectation.
//   f16   the device's f16 (shader-f16), converted by WGSL's f32 -> f16 conversion.
// The model sees an f32 tensor that decodes the arena (Parameter.data), so layers never change.
import { Tensor } from "../dsl/tensor.ts";
import type { DType } from "../dsl/dtype.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import { bf16ToF32, counterRandom16, f32ToBf16, f32ToBf16Stochastic } from "../ops/bf16.ts";

export type ParamDtype = "f32" | "bf16" | "f16";

export interface ParamStorage {
  name: ParamDtype;
  /** dtype of the parameter arena's elements. */
  storage: DType;
  /** f32 value of the stored parameter. */
  read(stored: Tensor): Tensor;
  /** The stored form of a new f32 value; `random` (16 bits per element) rounds stochastically. */
  write(value: Tensor, random?: Tensor): Tensor;
}

export const PARAM_STORAGES: Record<ParamDtype, ParamStorage> = {
  f32: { name: "f32", storage: "f32", read: (x) => x, write: (v) => v },
  bf16: { name: "bf16", storage: "u16", read: bf16ToF32, write: (v, r) => (r ? f32ToBf16Stochastic(v, r) : f32ToBf16(v)) },
  f16: { name: "f16", storage: "f16", read: (x) => x.cast("f32"), write: (v) => v.cast("f16") },
};

/** The optimizer-wide options of parameter storage, validated. */
export interface ParamStorageOptions {
  paramDtype: ParamDtype;
  bf16StochasticRound: boolean;
  /** Seed of the stochastic-rounding stream: an integer in [0, 2^24) (it reaches kernels as an exact f32). */
  roundingSeed: number;
}

/** Checks the options (unknown values are errors naming them); the device facts are checked at the first step. */
export function paramStorageOptions(className: string, o: { paramDtype?: unknown; bf16StochasticRound?: unknown; roundingSeed?: unknown }): ParamStorageOptions {
  const { paramDtype = "f32", bf16StochasticRound = false, roundingSeed = 0 } = o;
  if (typeof paramDtype !== "string" || !(paramDtype in PARAM_STORAGES))
    throw new Error(`${className}: option "paramDtype" must be one of ${Object.keys(PARAM_STORAGES).map((k) => `"${k}"`).join(", ")}, got ${JSON.stringify(paramDtype)}`);
  if (typeof bf16StochasticRound !== "boolean") throw new Error(`${className}: option "bf16StochasticRound" must be a boolean, got ${JSON.stringify(bf16StochasticRound)}`);
  if (bf16StochasticRound && paramDtype !== "bf16")
    throw new Error(`${className}: option "bf16StochasticRound" rounds bf16 parameters; it needs paramDtype "bf16" (got paramDtype ${JSON.stringify(paramDtype)})`);
  if (typeof roundingSeed !== "number" || !Number.isInteger(roundingSeed) || roundingSeed < 0 || roundingSeed >= 2 ** 24)
    throw new Error(`${className}: option "roundingSeed" must be an integer in [0, 2^24), got ${JSON.stringify(roundingSeed)}`);
  return { paramDtype: paramDtype as ParamDtype, bf16StochasticRound, roundingSeed };
}

/** Refuses f16 parameters on a target without shader-f16 (before anything is allocated). */
export function checkParamStorageOn(className: string, o: ParamStorageOptions, target: DeviceTarget): void {
  if (o.paramDtype === "f16" && !target.f16)
    throw new Error(`${className}: paramDtype "f16" needs the WebGPU feature "shader-f16", which this adapter does not have; use paramDtype "bf16" (no feature needed) or "f32"`);
}

/** Scalar names the update kernel reads for stochastic rounding (per tensor: its step; the seed). */
export const ROUNDING_SCALARS = ["sr_step", "sr_seed"];

/** 16 random bits for each element of a [blocks, 256] arena at this tensor's step (index = arena position). */
export function arenaRandom(shape: number[], s: Record<string, Tensor>): Tensor {
  const element = Tensor.iota(shape, 0, "u32").mul(shape[1]).add(Tensor.iota(shape, 1, "u32"));
  return counterRandom16(s.sr_seed.cast("u32"), s.sr_step.cast("u32"), element).named("rounding_bits");
}

/** What a bucket does with its parameters: how they are stored, and whether writes round stochastically. */
export interface ParamPlan {
  storage: ParamStorage;
  stochastic: boolean;
  seed: number;
}

export const F32_PARAMS: ParamPlan = Object.freeze({ storage: PARAM_STORAGES.f32, stochastic: false, seed: 0 });

export const planOf = (o: ParamStorageOptions): ParamPlan => ({ storage: PARAM_STORAGES[o.paramDtype], stochastic: o.bf16StochasticRound, seed: o.roundingSeed });
