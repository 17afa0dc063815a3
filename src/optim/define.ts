// defineOptimizer: an optimizer is its math. `update` receives every state as an f32 tensor and returns
// their new f32 values; whether a state is stored as f32 or as 8-bit blockwise codes is decided per
// parameter by the resolved config, and the framework wraps the math in dequantize / requantize. Scalars
// that depend on hyperparameters or the step count are computed on the host per tensor and reach the kernel
// as data (never baked in), so changing lr or betas never recompiles anything.
import type { z } from "zod";
import type { Tensor } from "../dsl/tensor.ts";
import { common } from "./config.ts";

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
  /**
   * True when the kernel updates one tensor alone (a bucket placed by `perTensor`, or for percentile clipping),
   * so a reduction over the whole arena is that tensor's norm (its padding: p = g = 0, states 0).
   */
  ownTensor: boolean;
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
  /**
   * The update: p, g and the states in, new p and states out (all f32 tensors of one shape). `g` is the gradient
   * as bnb's kernels use it (times percentile clipping's scale); `gRaw` the loaded one (bnb's 8-bit RMSprop and
   * Adagrad divide by it), the same tensor as `g` without clipping.
   */
  update(x: Record<string, Tensor>, s: Record<string, Tensor>, ctx: UpdateContext): Record<string, Tensor>;
  /**
   * Options that need a whole-tensor norm (LAMB/LARS maxUnorm) run one tensor per kernel. `bits` is the state
   * precision this parameter actually gets (32 below min8bitSize even in a *8bit class), not hp.optimBits.
   */
  perTensor?(hp: H, bits: 8 | 32): boolean;
  /** Extra validation across keys (e.g. "Lion8bit does not support maxUnorm"); returns an error or undefined. */
  check?(hp: H, bits: 8 | 32): string | undefined;
  /**
   * Shared keys this family refuses, with the reason (e.g. Lion's maxUnorm, which bnb's lion kernel does nothing
   * with): left out of the schema, and an option naming one is refused with that reason rather than "unknown".
   */
  refused?: Record<string, string>;
}

/**
 * The options the framework itself interprets (state storage and clipping), which every family accepts:
 * `common`'s keys except the ones that are part of a family's math (lr, eps, weightDecay, maxUnorm).
 */
const FAMILY_KEYS = new Set(["lr", "eps", "weightDecay", "maxUnorm"]);
export const SHARED_OPTIONS = Object.fromEntries(Object.entries(common).filter(([k]) => !FAMILY_KEYS.has(k))) as Omit<typeof common, "lr" | "eps" | "weightDecay" | "maxUnorm">;
/** bitsandbytes' defaults for the shared options (bnb's Optimizer8bit arguments). */
export const SHARED_DEFAULTS: Record<string, unknown> = { optimBits: 32, min8bitSize: 4096, stateFormat: "dynamic8", percentileClipping: 100, blockWise: true, skipZeros: false };

const merged = new WeakSet<object>();

/**
 * An optimizer definition with the shared options merged into its schema (unless its schema already declares
 * them, or the family refuses them): a minimal schema of the family's own keys is enough. A shared key without a
 * default is optional. Idempotent.
 */
export function withSharedOptions<H extends Hyper>(def: OptimizerDef<H>): OptimizerDef<H> {
  if (merged.has(def)) return def;
  const obj = def.schema as unknown as z.ZodObject<z.ZodRawShape>;
  if (typeof obj.extend !== "function" || !obj.shape) throw new Error(`defineOptimizer(${def.name}): schema must be a zod object (z.object({ ... }))`);
  const refused = def.refused ?? {};
  const add: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(SHARED_OPTIONS)) if (!(k in obj.shape) && !(k in refused)) add[k] = k in SHARED_DEFAULTS ? (v as z.ZodType) : (v as z.ZodType).optional();
  const drop = Object.fromEntries(Object.keys(refused).filter((k) => k in obj.shape).map((k) => [k, true as const]));
  let schema = obj.extend(add);
  if (Object.keys(drop).length) schema = schema.omit(drop as never);
  const out = { ...def, schema: schema as unknown as z.ZodType<H> };
  merged.add(out);
  return out;
}

/** The class defaults with bnb's defaults filled in for the shared options the schema has. */
export function withSharedDefaults(def: OptimizerDef<any>, defaults: Hyper): Hyper {
  const shape = (def.schema as unknown as z.ZodObject<z.ZodRawShape>).shape;
  const shared = Object.fromEntries(Object.entries(SHARED_DEFAULTS).filter(([k]) => k in shape));
  const out = { ...shared, ...defaults };
  for (const k of Object.keys(def.refused ?? {})) delete out[k];
  return out;
}

export function defineOptimizer<H extends Hyper>(def: OptimizerDef<H>): OptimizerDef<H> {
  return withSharedOptions(def);
}

// binary32 helpers for scalars(): one rounding per operation, as bnb's float kernels.
export const fl = Math.fround;
/** beta^t as bnb's reference computes it: a float64 product of the float32 beta, rounded once. */
export function powBeta(beta: number, t: number): number {
  return fl(Math.pow(fl(beta), t)); // the float64 power equals the float64 product to far below one f32 ulp
}
