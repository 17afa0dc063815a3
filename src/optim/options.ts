// Options: the constructor's validation of options and param groups, and the config one parameter steps
// with (group options, then the override manager's, checked against the family's strict schema).
import type { z } from "zod";
import type { Parameter } from "../nn/parameter.ts";
import type { OptimizerDef } from "./define.ts";
import { formatZodError, type Options } from "./config.ts";
import { GlobalOptimManager } from "./manager.ts";
import type { ParamGroup, ParamsArg } from "./types.ts";

const objectSchema = (def: OptimizerDef<any>) => def.schema as unknown as z.ZodObject<z.ZodRawShape>;

/**
 * The live param groups of a new optimizer: every group's options are checked (unknown keys and bad values
 * are errors naming them) and filled from the class defaults, the constructor options and the class's forced
 * options (a `*8bit` class forces optimBits 8).
 */
export function paramGroupsOf(def: OptimizerDef<any>, className: string, defaults: Options, params: ParamsArg, options: Options, forced: Options): ParamGroup[] {
  const partial = objectSchema(def).partial().strict();
  const check = (o: Options, where: string) => {
    const r = partial.safeParse(o);
    if (!r.success) throw new Error(formatZodError(`${className}${where}`, r.error));
  };
  check(options, "");
  if (!Array.isArray(params) || params.length === 0) throw new Error(`${className}: params must be a non-empty array of Parameters or param groups`);
  const groups: ParamGroup[] = (params[0] as { params?: unknown }).params !== undefined ? (params as ParamGroup[]).map((g) => ({ ...g })) : [{ params: params as Parameter[] }];
  groups.forEach((g, i) => {
    const { params: ps, ...rest } = g;
    if (!Array.isArray(ps) || ps.length === 0) throw new Error(`${className}: param group ${i} has no params`);
    check(rest, ` param group ${i}`);
    // Cloned: the class defaults' and the caller's arrays (betas) must not be shared with the live groups.
    Object.assign(g, structuredClone({ ...defaults, ...options, ...rest, ...forced }));
  });
  const seen = new Set<Parameter>();
  for (const g of groups) for (const p of g.params) {
    if (seen.has(p)) throw new Error(`${className}: a parameter appears in more than one param group`);
    seen.add(p);
  }
  return groups;
}

/** The config one parameter steps with: group options, then the override manager's (by identity). */
export function resolveConfig<H>(def: OptimizerDef<any>, className: string, group: ParamGroup, p: Parameter, groupIndex: number, paramIndex: number): H {
  const { params: _p, ...opts } = group;
  const over = GlobalOptimManager.getInstance().overridesFor(p, groupIndex, paramIndex);
  const merged = { ...opts, ...over, ...forcedAfterOverrides(over) };
  const r = objectSchema(def).strict().safeParse(merged);
  if (!r.success) throw new Error(formatZodError(className, r.error));
  return r.data as H;
}

// A `*8bit` class forces optimBits 8, but a per-parameter override (optimBits: 32) still wins, as in bnb.
function forcedAfterOverrides(over: Options): Options {
  return "optimBits" in over ? { optimBits: over.optimBits } : {};
}

/** Schema for a param group's options read back from a state dict (validated as the constructor validates). */
export function groupOptionsSchema(def: OptimizerDef<any>) {
  return objectSchema(def).partial().strict();
}
