// Shared helpers of the optimizer tests: seeded data, parameters, the class -> oracle table and the comparisons
// (GPU kernels against the plain-TS oracle test/reference/optimizers.ts, never against themselves).
import * as octet from "../../src/index.ts";
import * as ref from "../reference/optimizers.ts";
import { seededRandom } from "../reference/quant.ts";

export { octet, ref };

/** Seeded N(0, 1) (Box-Muller over the oracle's mulberry32). */
export function gaussian(seed: number): () => number {
  const rand = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export const filled = (n: number, f: () => number): Float32Array => Float32Array.from({ length: n }, f);

export async function param(values: Float32Array): Promise<octet.nn.Parameter> {
  return new octet.nn.Parameter(await octet.tensor(values.slice()));
}

export async function read(p: octet.nn.Parameter): Promise<Float32Array> {
  return (await p.data.toArray()) as Float32Array;
}

/** One optimizer family: its octet options and the oracle rule + hyper-parameters they mean. */
export interface Family {
  base: string;
  refName: ref.OptimizerName;
  rule: (a: ref.StepArgs<any>) => ref.StepInfo;
  opts: Record<string, unknown>;
  /** The oracle hyper-parameters (the rule's own Hp type). */
  hp: any;
}

// Hyper-parameters: bnb's defaults, with weight decay switched on where a family has a decay path (coupled or
// decoupled), and AdEMAMix's schedulers on, so every branch of every kernel runs.
export const FAMILIES: Family[] = [
  { base: "Adam", refName: "adam", rule: ref.adam, opts: { lr: 1e-3 }, hp: { ...ref.DEFAULTS.adam } },
  { base: "AdamW", refName: "adamw", rule: ref.adam, opts: { lr: 1e-3 }, hp: { ...ref.DEFAULTS.adamw } },
  { base: "LAMB", refName: "lamb", rule: ref.lamb, opts: { lr: 1e-3 }, hp: { ...ref.DEFAULTS.lamb } },
  { base: "SGD", refName: "momentum", rule: ref.momentum, opts: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2 }, hp: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2 } },
  { base: "LARS", refName: "lars", rule: ref.lars, opts: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2 }, hp: { lr: 0.01, momentum: 0.9, weightDecay: 1e-2, maxUnorm: 0.02 } },
  { base: "RMSprop", refName: "rmsprop", rule: ref.rmsprop, opts: { lr: 1e-3, alpha: 0.99, eps: 1e-8, weightDecay: 1e-2 }, hp: { lr: 1e-3, alpha: 0.99, eps: 1e-8, weightDecay: 1e-2 } },
  { base: "Adagrad", refName: "adagrad", rule: ref.adagrad, opts: { lr: 1e-2, weightDecay: 1e-2 }, hp: { ...ref.DEFAULTS.adagrad, weightDecay: 1e-2 } },
  { base: "Lion", refName: "lion", rule: ref.lion, opts: { lr: 1e-4, weightDecay: 0.1 }, hp: { ...ref.DEFAULTS.lion, weightDecay: 0.1 } },
  { base: "AdEMAMix", refName: "ademamix", rule: ref.ademamix, opts: { lr: 1e-3, tAlpha: 5, tBeta3: 5 }, hp: { ...ref.DEFAULTS.ademamix, tAlpha: 5, tBeta3: 5 } },
];

export const familyOf = (name: string): Family => FAMILIES.find((f) => f.base === name)!;

export type OptimizerCtor = new (params: any, options?: Record<string, unknown>) => octet.optim.Optimizer;
export const classOf = (name: string): OptimizerCtor => (octet.optim as unknown as Record<string, OptimizerCtor>)[name];

// ---- comparisons ----------------------------------------------------------------------------------------------

/**
 * The 32-bit check, honest about f32: element i passes when |gpu_i - ref_i| <= RTOL32 · max(|ref_i|, rms(ref)).
 * A pure relative bound is meaningless for values that happen to be near 0 (their error comes from the rounding
 * of terms of the size of the whole tensor), so the scale is floored at the tensor's RMS. 1e-6 is about 17 ulps of
 * the element (or of the RMS): far above what a correctly rounded kernel drifts in 10 steps, far below any real
 * formula or association mistake (those show up at 1e-4 .. 1 relative).
 */
export const RTOL32 = 1e-6;

export interface Worst {
  /** max over elements of |gpu - ref| / max(|ref|, rms(ref)) */
  rel: number;
  /** max |gpu - ref| */
  abs: number;
  /** elements failing the check */
  bad: number;
  first?: string;
}

export function rms(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s / Math.max(1, a.length));
}

export function compare32(gpu: ArrayLike<number>, want: ArrayLike<number>, rtol = RTOL32): Worst {
  const scale = rms(want) || 1;
  const w: Worst = { rel: 0, abs: 0, bad: 0 };
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(gpu[i] - want[i]);
    const rel = d / Math.max(Math.abs(want[i]), scale);
    const ok = rel <= rtol || Object.is(gpu[i], want[i]) || (Number.isNaN(gpu[i]) && Number.isNaN(want[i]));
    if (Number.isFinite(rel)) {
      w.rel = Math.max(w.rel, rel);
      w.abs = Math.max(w.abs, d);
    }
    if (!ok) {
      w.bad++;
      w.first ??= `[${i}] gpu ${gpu[i]} oracle ${want[i]}`;
    }
  }
  return w;
}

/** bnb's 8-bit parameter tolerance (§8.4: atol 1e-4, rtol 1e-3): |gpu - ref| <= atol + rtol·|ref|. */
export function compareClose(gpu: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-4, rtol = 1e-3): Worst {
  const w: Worst = { rel: 0, abs: 0, bad: 0 };
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(gpu[i] - want[i]);
    w.abs = Math.max(w.abs, d);
    w.rel = Math.max(w.rel, d / Math.max(Math.abs(want[i]), 1e-30));
    if (!(d <= atol + rtol * Math.abs(want[i]))) {
      w.bad++;
      w.first ??= `[${i}] gpu ${gpu[i]} oracle ${want[i]}`;
    }
  }
  return w;
}

export interface CodeDiff {
  n: number;
  offByOne: number;
  worse: number;
  first?: string;
}

export function compareCodes(gpu: Uint8Array, want: Uint8Array): CodeDiff {
  const c: CodeDiff = { n: want.length, offByOne: 0, worse: 0 };
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(gpu[i] - want[i]);
    if (d === 1) c.offByOne++;
    else if (d > 1) {
      c.worse++;
      c.first ??= `[${i}] gpu ${gpu[i]} oracle ${want[i]}`;
    }
  }
  return c;
}

/** max relative difference of two absmax vectors (0 where both are 0). */
export function absmaxRel(gpu: Float32Array, want: Float32Array): number {
  if (gpu.length !== want.length) return Infinity;
  let r = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(gpu[i] - want[i]);
    if (d > 0) r = Math.max(r, d / Math.abs(want[i]));
  }
  return r;
}

/** Prints measured worst cases when OPTIM_REPORT=1 (the numbers quoted in the test comments come from this). */
export function report(line: string): void {
  if (process.env.OPTIM_REPORT) console.log(line);
}

/**
 * Bit-level view of a state dict: typed arrays as their bytes (so -0 and NaN payloads count and nothing is
 * compared by value only), param groups through JSON, the format record as it is.
 */
export function stateDictBits(sd: octet.optim.OptimizerStateDict): Record<string, unknown> {
  const state: Record<string, Record<string, unknown>> = {};
  for (const [k, e] of Object.entries(sd.state)) {
    state[k] = {};
    for (const [key, v] of Object.entries(e)) state[k][key] = typeof v === "number" ? v : Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return { state, paramGroups: JSON.parse(JSON.stringify(sd.paramGroups)), format: sd.format };
}
