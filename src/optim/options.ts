// Options: the constructor's validation of options and param groups, and the config one parameter steps
// with (group options, then the override manager's, checked against the family's strict schema).
import type { z } from "zod";
import { Parameter } from "../nn/parameter.ts";
import { Tensor } from "../dsl/tensor.ts";
import type { OptimizerDef } from "./define.ts";
import { formatZodError, type Options } from "./config.ts";
import { GlobalOptimManager } from "./manager.ts";
import type { ParamGroup, ParamRef, ParamsArg } from "./types.ts";

const objectSchema = (def: OptimizerDef<any>) => def.schema as unknown as z.ZodObject<z.ZodRawShape>;
// Built once per family: zod schema construction (`.strict()`) costs more than the parse itself.
const strictSchemas = new WeakMap<OptimizerDef<any>, z.ZodObject<z.ZodRawShape>>();
const strictOf = (def: OptimizerDef<any>) => strictSchemas.get(def) ?? strictSchemas.set(def, objectSchema(def).strict()).get(def)!;

/**
 * The live param groups of a new optimizer: every group's options are checked (unknown keys and bad values
 * are errors naming them) and filled from the class defaults, the constructor options and the class's forced
 * options (a `*8bit` class forces optimBits 8).
 */
export function paramGroupsOf(def: OptimizerDef<any>, className: string, defaults: Options, params: ParamsArg, options: Options, forced: Options): ParamGroup[] {
  const partial = objectSchema(def).partial().strict();
  const check = (o: Options, where: string) => {
    checkRefused(def, `${className}${where}`, o);
    checkForced(className, where, o, forced);
    const r = partial.safeParse(o);
    if (!r.success) throw new Error(formatZodError(`${className}${where}`, r.error));
  };
  check(options, "");
  if (!Array.isArray(params) || params.length === 0) throw new Error(`${className}: params must be a non-empty array of Parameters or param groups`);
  const grouped = params[0] !== null && typeof params[0] === "object" && !(params[0] instanceof Parameter) && !(params[0] instanceof Tensor) && (params[0] as { params?: unknown }).params !== undefined;
  const groups: ParamGroup[] = grouped ? (params as ParamGroup[]).map((g) => ({ ...g })) : [{ params: params as Parameter[] }];
  const given: Options[] = []; // each group's own options, before the defaults fill it
  groups.forEach((g, i) => {
    const { params: ps, ...rest } = g;
    given.push(rest);
    if (!Array.isArray(ps) || ps.length === 0) throw new Error(`${className}: param group ${i} has no params`);
    ps.forEach((p, j) => checkParameter(className, grouped ? `param group ${i}, params[${j}]` : `params[${j}]`, p));
    check(rest, ` param group ${i}`);
    // Cloned: the class defaults' and the caller's arrays (betas) must not be shared with the live groups.
    Object.assign(g, structuredClone({ ...defaults, ...options, ...rest, ...forced }));
  });
  checkStateFormatUsed(className, options, groups, given);
  const seen = new Set<Parameter>();
  for (const g of groups) for (const p of g.params) {
    if (seen.has(p)) throw new Error(`${className}: a parameter appears in more than one param group`);
    seen.add(p);
  }
  // The family's cross-key checks, now rather than at the first step (overrides are checked again then).
  groups.forEach((g, i) => {
    for (const p of g.params) {
      const bits = g.optimBits === 8 && p.numel >= (g.min8bitSize as number) ? 8 : 32;
      const err = def.check?.(g as never, bits);
      if (err) throw new Error(`${className}${groups.length > 1 ? ` param group ${i}` : ""}: ${err}`);
    }
  });
  return groups;
}

/**
 * `stateFormat` chooses how 8-bit state is stored; where nothing is stored in 8 bits it would be ignored, so it is
 * refused: given in a group that is 32-bit, or to the optimizer when every group is 32-bit. (A format given to the
 * whole optimizer still reaches its 8-bit groups when another group is 32-bit.) The class default restated
 * (dynamic8) is not refused: it changes nothing.
 */
function checkStateFormatUsed(className: string, options: Options, groups: ParamGroup[], given: Options[]): void {
  const ignored = (o: Options) => "stateFormat" in o && o.stateFormat !== "dynamic8";
  const hint = `it chooses how 8-bit state is stored: use ${className.replace(/32bit$/, "")}8bit or optimBits: 8 (a single parameter's optimBits 8 and stateFormat go together in GlobalOptimManager.overrideConfig)`;
  groups.forEach((g, i) => {
    if (g.optimBits === 32 && ignored(given[i]))
      throw new Error(`${className} param group ${i}: option "stateFormat" ${JSON.stringify(given[i].stateFormat)} given to a group with optimBits 32, which keeps 32-bit state; ${hint}`);
  });
  if (ignored(options) && groups.every((g) => g.optimBits === 32))
    throw new Error(`${className}: option "stateFormat" ${JSON.stringify(options.stateFormat)} given to an optimizer with optimBits 32, which keeps 32-bit state; ${hint}`);
}

/** A Tensor (or anything else) where a Parameter belongs is refused at construction, naming where it was. */
function checkParameter(className: string, where: string, p: unknown): void {
  if (p instanceof Parameter) return;
  if (p instanceof Tensor)
    throw new TypeError(`${className}: ${where} is a Tensor, not a Parameter; an optimizer updates Parameters (their .data and .grad): wrap it as new octet.nn.Parameter(tensor)`);
  throw new TypeError(`${className}: ${where} is ${p === null ? "null" : Array.isArray(p) ? "an array" : typeof p}, not a Parameter (pass Parameters, e.g. model.parameters(), or param groups { params: [...] })`);
}

/** A shared key the family refuses (e.g. Lion's maxUnorm) is refused with the family's reason. */
function checkRefused(def: OptimizerDef<any>, who: string, o: Options): void {
  for (const k of Object.keys(o)) if (def.refused && k in def.refused) throw new Error(`${who}: option "${k}" is refused: ${def.refused[k]}`);
}

/**
 * A class that fixes an option by its name (`AdamW8bit` is optimBits 8) refuses another value of it rather than
 * silently forcing its own (a per-parameter override through GlobalOptimManager still wins, as in bnb).
 */
function checkForced(className: string, where: string, o: Options, forced: Options): void {
  for (const [k, v] of Object.entries(forced)) {
    if (!(k in o) || o[k] === v) continue;
    const base = className.replace(/(4|8|32)bit$|Fp8$/, "");
    throw new Error(
      `${className}${where}: option "${k}": ${JSON.stringify(o[k])} conflicts with the class, which always has ${k} ${JSON.stringify(v)}; ` +
        `use ${base}${o[k] === 32 ? "32bit" : o[k] === 8 ? "8bit" : ""} or ${base} with { ${k}: ${JSON.stringify(o[k])} } (or leave ${k} out)`,
    );
  }
}

/** The config one parameter steps with: group options, then the override manager's (by identity). */
export function resolveConfig<H>(def: OptimizerDef<any>, className: string, group: ParamGroup, p: Parameter, groupIndex: number, paramIndex: number): H {
  const { params: _p, ...opts } = group;
  const over = GlobalOptimManager.getInstance().overridesFor(p, groupIndex, paramIndex);
  const merged = { ...opts, ...over, ...forcedAfterOverrides(over) };
  checkRefused(def, `${className} (overrideConfig of parameter ${p.name ? `'${p.name}'` : `#${p.id}`})`, over);
  const r = strictOf(def).safeParse(merged);
  if (!r.success) throw new Error(formatZodError(className, r.error));
  if ("stateFormat" in over && over.stateFormat !== "dynamic8" && (r.data as Options).optimBits === 32)
    throw new Error(`${className} (overrideConfig of parameter ${p.name ? `'${p.name}'` : `#${p.id}`}): stateFormat ${JSON.stringify(over.stateFormat)} with optimBits 32 would be ignored (the parameter keeps 32-bit state); override optimBits: 8 with it`);
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

/**
 * Resolved configs, one per parameter, kept until a param group's options or the override manager change.
 * A step then costs a shallow compare of each group's option values (arrays such as betas element by
 * element) and one counter read, instead of a strict schema parse per parameter (~100 us each).
 */
export class ConfigCache<H> {
  private configs = new Map<Parameter, H>();
  private managerVersion = -1;
  private snapshots: GroupSnapshot[] = [];

  constructor(private resolve: (ref: ParamRef) => H) {}

  /** Drops every cached config if the groups or the overrides changed since the last call; says whether they did. */
  refresh(groups: ParamGroup[]): boolean {
    const version = GlobalOptimManager.getInstance().version;
    const same = version === this.managerVersion && groups.length === this.snapshots.length && groups.every((g, i) => sameOptions(g, this.snapshots[i]));
    if (same) return false;
    const first = this.managerVersion === -1;
    this.configs.clear();
    this.managerVersion = version;
    this.snapshots = groups.map(snapshotOf);
    return !first;
  }

  /** Makes the next refresh report a change (e.g. after a migration that was refused). */
  invalidate(): void {
    this.managerVersion = -2;
  }

  get(ref: ParamRef): H {
    let c = this.configs.get(ref.p);
    if (c === undefined) this.configs.set(ref.p, (c = this.resolve(ref)));
    return c;
  }
}

interface GroupSnapshot {
  params: Parameter[];
  count: number;
  options: [string, unknown][];
}
const copyValue = (v: unknown) => (Array.isArray(v) ? [...v] : v);
function snapshotOf(g: ParamGroup): GroupSnapshot {
  const { params, ...opts } = g;
  return { params, count: params.length, options: Object.entries(opts).map(([k, v]) => [k, copyValue(v)]) };
}
function sameOptions(g: ParamGroup, snap: GroupSnapshot): boolean {
  if (g.params !== snap.params || g.params.length !== snap.count) return false;
  let n = 0;
  for (const k in g) if (k !== "params") n++;
  if (n !== snap.options.length) return false;
  return snap.options.every(([k, old]) => {
    if (!(k in g)) return false;
    const v = g[k];
    if (Array.isArray(v) && Array.isArray(old)) return v.length === old.length && v.every((x, j) => Object.is(x, old[j]));
    return Object.is(v, old);
  });
}
