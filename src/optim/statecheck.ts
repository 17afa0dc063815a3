// Host-side checks of an optimizer state dict's data, run by loadStateDict before anything is written: a dict is
// data from disk or another process, and one poisoned value (a NaN absmax, a step of 1e12, two groups naming the
// same parameter) turned every parameter into NaN after one step. Each refusal names the field.
import type { OptimizerStateDict } from "./types.ts";

/**
 * The largest step count a dict may hold: bnb passes the step to its kernels as a C `int`, and octet's schedules
 * (AdEMAMix's t/tAlpha) and bias corrections stay meaningful far below it. A bigger value is corrupt data.
 */
export const MAX_STEP = 2 ** 31 - 1;

/** The state dict's params must be exactly 0..n-1, in order, numbered across the groups as stateDict numbers them. */
export function checkParamIndices(who: string, groups: OptimizerStateDict["paramGroups"], sizes: number[]): void {
  let next = 0;
  groups.forEach((g, gi) => {
    const ps = g.params as unknown[];
    const want = Array.from({ length: sizes[gi] }, (_, i) => next + i);
    next += sizes[gi];
    if (!ps.every((v, i) => v === want[i]))
      throw new Error(`${who}: paramGroups[${gi}].params is ${JSON.stringify(ps)}, expected [${want.join(",")}]: a dict numbers its parameters 0..n-1 in order across the groups, each once (a duplicated or reordered index would give one parameter another's state)`);
  });
}

/** A state entry's step: an integer in [1, MAX_STEP]. */
export function checkStep(who: string, field: string, step: unknown): number {
  if (typeof step !== "number" || !Number.isInteger(step) || step < 1 || step > MAX_STEP)
    throw new Error(`${who}: ${field}.step is ${typeof step === "number" ? step : JSON.stringify(step)}; a step count is an integer in [1, ${MAX_STEP}]`);
  return step;
}

/** The entry's keys are exactly `allowed` (step, the state and, for 8-bit state, absmax keys). */
export function checkEntryKeys(who: string, field: string, entry: unknown, allowed: string[]): Record<string, unknown> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new Error(`${who}: ${field} is ${entry === null ? "null" : typeof entry}, expected an object { step, ${allowed.filter((k) => k !== "step").join(", ")} }`);
  for (const k of Object.keys(entry)) if (!allowed.includes(k)) throw new Error(`${who}: ${field}: unknown key "${k}" (this parameter's state has ${allowed.join(", ")})`);
  return entry as Record<string, unknown>;
}

/** Every value finite (32-bit states), or finite and >= 0 (absmax: a block's largest |state|). */
export function checkValues(who: string, field: string, values: Float32Array, nonNegative: boolean): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new Error(`${who}: ${field}[${i}] is ${v}; ${nonNegative ? "absmax" : "32-bit state"} values must be finite`);
    if (nonNegative && v < 0) throw new Error(`${who}: ${field}[${i}] is ${v}; absmax is a block's largest |state|, so it is >= 0`);
  }
}
