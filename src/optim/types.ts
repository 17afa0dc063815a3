// Types shared by the optimizer's parts (options, buckets, step, state dict, trace). The orchestrator
// (optimizer.ts) imports the parts; the parts import only this file and each other's leaves, never the class.
import type { Tensor } from "../dsl/tensor.ts";
import type { JitFunction } from "../runtime/jit.ts";
import type { TableLayout } from "./trace.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { Storage } from "../runtime/storage.ts";
import type { Parameter } from "../nn/parameter.ts";
import { BLOCK, type FormatName, type StateFormat } from "./formats.ts";
import type { Options } from "./config.ts";
import type { ParamPlan } from "./paramstorage.ts";

export const STATE_DICT_VERSION = 1;

export interface ParamGroup {
  params: Parameter[];
  [option: string]: unknown;
}

export type ParamsArg = Parameter[] | ({ params: Parameter[] } & Options)[];

export interface StepOptions {
  /**
   * Tensors to realize in the same program as the gradients, before the update: they see the weights the
   * gradients were computed from (the pre-update loss) and share the forward pass with the backward one.
   */
  with?: Tensor[];
  /**
   * Where each `with` result is written (realize's `into`: a realized tensor of the same dtype and size, or
   * undefined for a new buffer). A loop that reuses one loss buffer creates no GPU objects per step.
   */
  withInto?: (Tensor | undefined)[];
}

/** Where one parameter sits in the optimizer's param groups. */
export interface ParamRef {
  p: Parameter;
  /** param group index */
  g: number;
  /** index inside the group */
  i: number;
}

export interface StateStore {
  value?: Storage; // f32 states
  codes?: Storage; // 8-bit states
  absmax?: Storage;
  /**
   * Set when the bucket's states share one packed codes buffer (trace.ts packsCodes): `codes` is that u32
   * buffer, and this state's code is byte `lane` of each element's word. Unset: `codes` is the state's own u8 buffer.
   */
  lane?: number;
}

/** Parameters of one state format, with their parameters, gradients and states in flat block-aligned arenas. */
export interface Bucket {
  format: StateFormat;
  /** Elements per quantization block: the arena's row length (BLOCK for f32 state). Tensors start on a block. */
  blockSize: number;
  /**
   * [R, C] of the bucket's one 2-D parameter when its format normalizes some states rank-1 (formats.ts
   * `rank1`): those states keep R + C maxima in `absmax` instead of one per block.
   */
  rank1?: [number, number];
  params: Parameter[];
  groupIndex: number[];
  /** each parameter's index inside its param group */
  paramIndex: number[];
  blockStart: number[];
  blocks: number;
  p: Storage;
  g: Storage;
  states: Record<string, StateStore>;
  /** One buffer for the lookup tables, block -> tensor numbers and per-tensor scalars (trace.ts). */
  table: Storage;
  layout: TableLayout;
  scalarNames: string[];
  fn: JitFunction<string, string>;
  /** The same update with scalars as uniforms, for steps where every tensor has the same scalars. */
  fnUniform?: JitFunction<string, string>;
  tableNames: string[];
  /** The device facts its kernels were scheduled for (undefined: the acquired device's). */
  target?: DeviceTarget;
  /** The bucket holds one tensor alone (a whole-tensor norm: maxUnorm, percentile clipping). */
  own: boolean;
  /**
   * Percentile clipping's history (bnb's gnorm_vec): the tensor's last 100 squared gradient norms, f32[100],
   * and whether it has been written yet (the first clipped step fills every slot, as bnb's step 1).
   */
  gnorm?: { vec: Storage; filled: boolean };
  /** How its parameters and gradients are stored (f32, bf16, f16) and rounded on the way back. */
  param: ParamPlan;
  /** The compensation buffer beside a bf16 parameter arena (param.compensation, compensation.ts), if any. */
  comp?: Storage;
}

/** Slots of percentile clipping's history (bnb: the last 100 gradient norms). */
export const GNORM_HISTORY = 100;

export interface OptimizerStateDict {
  state: Record<number, Record<string, number | Float32Array | Uint8Array>>;
  paramGroups: Record<string, unknown>[];
  format: {
    version: number;
    blockSize: number;
    mapChecksum: Record<string, string>;
    optimizer: string;
    /** Storage format of each saved parameter's state: two 8-bit formats (dynamic / linear map) share dtypes and sizes. */
    stateFormats: Record<number, FormatName>;
    /** Block size of each saved parameter's quantized state (absent: `blockSize`, the dicts before the option). */
    blockSizes?: Record<number, number>;
    /**
     * Parameters whose second moment is rank-1 normalized (fourbit, 2-D): [R, C]; their `absmax2` holds the R row
     * maxima, then the C column maxima.
     */
    rank1?: Record<number, [number, number]>;
    /** Parameters with a compensation buffer (saved as `compensation`: its raw bytes): which one (compensation.ts). */
    compensations?: Record<number, string>;
  };
}

/** Blocks of `blockSize` elements a tensor of n elements occupies in an arena (at least one). */
export const blocksOf = (n: number, blockSize: number) => Math.max(1, Math.ceil(n / blockSize));

/** Parts laid end to end in one typed array (a lone part is returned as it is). */
export function concat<T extends Uint8Array | Float32Array>(parts: T[], C: { new (n: number): T }): T {
  if (parts.length === 1) return parts[0];
  const out = new C(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}
