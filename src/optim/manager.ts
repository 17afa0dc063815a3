// GlobalOptimManager: per-parameter optimizer config, bitsandbytes' recipe for "8-bit states everywhere but
// 32-bit states for embeddings". Overrides are keyed by Parameter identity and looked up when an optimizer
// first steps, so the order of registerParameters / overrideConfig / constructing the optimizer does not
// matter (bnb >= 0.50 semantics, bnb-algorithms.md §4). Keys and values are validated when given.
import { z } from "zod";
import { Module } from "../nn/module.ts";
import { Parameter } from "../nn/parameter.ts";
import { common, formatZodError, nonneg, type Options } from "./config.ts";

const beta = z.number().finite().min(0).lt(1);
/** Every key an override may set, across all optimizer families. */
const overrideSchema = z
  .object({
    ...common,
    betas: z.union([z.tuple([beta, beta]), z.tuple([beta, beta, beta])]),
    alpha: nonneg,
    momentum: nonneg,
    tAlpha: z.number().int().positive().nullable(),
    tBeta3: z.number().int().positive().nullable(),
  })
  .partial()
  .strict();

export class GlobalOptimManager {
  private static instance?: GlobalOptimManager;
  // Everything is held weakly: registering a model's embeddings (useFp32EmbeddingStates) must not keep the model,
  // its parameters or their GPU buffers alive after the user dropped them.
  private byParam = new WeakMap<Parameter, Options>();
  /** What the user set with overrideConfig, per parameter: a module override that replaces it warns (once). */
  private userSet = new WeakMap<Parameter, Options>();
  private warned = new WeakSet<Parameter>();
  private byIndex = new Map<string, Options>();
  private registered: WeakRef<Parameter>[][] = [];
  private moduleOverrides: { id: number; module: WeakRef<Module>; name: string; config: Options }[] = [];
  /** Where the dropped-keys warning goes (default console.warn); tests and embedders may redirect it. */
  warn: (message: string) => void = (m) => console.warn(m);
  private changes = 0;
  /** Ids of module overrides, never reused (not even across initialize()), so an optimizer can ask for newer ones. */
  private nextModuleOverride = 0;

  private constructor() {}

  /** Bumped by every change to the overrides: optimizers re-resolve their cached configs when it moves. */
  get version(): number {
    return this.changes;
  }

  /** The id of the newest module override registered (-1: none yet). */
  get newestModuleOverride(): number {
    return this.nextModuleOverride - 1;
  }

  static getInstance(): GlobalOptimManager {
    return (GlobalOptimManager.instance ??= new GlobalOptimManager());
  }

  /** Forget every override (bnb's `initialize`). */
  initialize(): void {
    this.changes++;
    this.byParam = new WeakMap();
    this.userSet = new WeakMap();
    this.warned = new WeakSet();
    this.byIndex.clear();
    this.registered = [];
    this.moduleOverrides = [];
  }

  /** Records the params (list or param groups) so positional overrides can be found later, as bnb does. */
  registerParameters(params: Parameter[] | { params: Parameter[] }[]): void {
    const groups = params.length && (params[0] as { params?: Parameter[] }).params ? (params as { params: Parameter[] }[]).map((g) => g.params) : [params as Parameter[]];
    this.registered = groups.map((g) => g.map((p) => new WeakRef(p)));
    this.changes++;
    groups.forEach((g, gi) => g.forEach((p, pi) => {
      const c = this.byParam.get(p);
      if (c) this.byIndex.set(`${gi},${pi}`, c);
    }));
  }

  /** overrideConfig(params, key, value) or overrideConfig(params, { key: value, ... }). */
  overrideConfig(params: Parameter | Parameter[], keyOrConfig: string | Options, value?: unknown): void {
    const config = typeof keyOrConfig === "string" ? { [keyOrConfig]: value } : keyOrConfig;
    const r = overrideSchema.safeParse(config);
    if (!r.success) throw new Error(formatZodError("GlobalOptimManager.overrideConfig", r.error));
    this.changes++;
    for (const p of Array.isArray(params) ? params : [params]) {
      if (!(p instanceof Parameter)) throw new TypeError("GlobalOptimManager.overrideConfig: expected Parameter(s)");
      this.byParam.set(p, { ...(this.byParam.get(p) ?? {}), ...r.data });
      this.userSet.set(p, { ...(this.userSet.get(p) ?? {}), ...r.data });
    }
  }

  /**
   * Override for module[paramName], resolved when an optimizer containing that parameter first steps, or at its
   * next step when registered later (a state format change then migrates the state; it is never ignored).
   */
  registerModuleOverride(module: Module, paramName: string, config: Options): void {
    const r = overrideSchema.safeParse(config);
    if (!r.success) throw new Error(formatZodError("GlobalOptimManager.registerModuleOverride", r.error));
    if (!((module as unknown as Record<string, unknown>)[paramName] instanceof Parameter))
      throw new Error(`GlobalOptimManager.registerModuleOverride: ${module.constructor.name} has no parameter "${paramName}"`);
    this.moduleOverrides.push({ id: this.nextModuleOverride++, module: new WeakRef(module), name: paramName, config: r.data });
    this.changes++;
  }

  /**
   * Called by an optimizer at its first step (after = -1) and at later steps with the id it returned: module
   * overrides registered after that replace earlier overrides for their params. Returns the newest id seen.
   */
  resolveModuleOverrides(params: Parameter[], after = -1): number {
    const mine = new Set(params);
    let newest = after;
    this.moduleOverrides = this.moduleOverrides.filter((o) => o.module.deref() !== undefined); // collected modules
    for (const { id, module: ref, name, config } of this.moduleOverrides) {
      newest = Math.max(newest, id);
      if (id <= after) continue;
      const module = ref.deref();
      const p = module && (module as unknown as Record<string, Parameter>)[name];
      if (!p || !mine.has(p)) continue;
      const c = { ...config };
      this.warnDropped(p, module!, name, c);
      this.byParam.set(p, c);
      this.changes++;
      // bnb sets index2config[(g, i)] to the same dict: a positional override recorded by registerParameters
      // is replaced too (it used to survive and leak its keys, e.g. lr, under the module override).
      this.registered.forEach((g, gi) => g.forEach((q, pi) => q.deref() === p && this.byIndex.set(`${gi},${pi}`, c)));
    }
    return newest;
  }

  /**
   * bitsandbytes' rule: a module override replaces the parameter's whole config, so keys the user set on that
   * parameter with overrideConfig (e.g. lr) are dropped. That is kept, but said once per parameter.
   */
  private warnDropped(p: Parameter, module: Module, name: string, config: Options): void {
    const user = this.userSet.get(p);
    if (!user || this.warned.has(p)) return;
    const lost = Object.entries(user).filter(([k, v]) => !(k in config) || JSON.stringify((config as Record<string, unknown>)[k]) !== JSON.stringify(v));
    if (!lost.length) return;
    this.warned.add(p);
    const show = (o: [string, unknown][]) => o.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
    this.warn(
      `GlobalOptimManager: the module override of ${module.constructor.name}.${name} ({ ${show(Object.entries(config))} }) replaces ` +
        `what overrideConfig set on that parameter, dropping { ${show(lost)} } (bitsandbytes' rule: a module override wins whole). ` +
        `To keep ${lost.length === 1 ? "it" : "them"}, put ${lost.length === 1 ? "it" : "them"} in the module override's config.`,
    );
  }

  /** The override config of a parameter: positional registration first, identity last (later wins). */
  overridesFor(p: Parameter, groupIndex: number, paramIndex: number): Options {
    const positional = this.registered[groupIndex]?.[paramIndex]?.deref() === p ? this.byIndex.get(`${groupIndex},${paramIndex}`) : undefined;
    return { ...(positional ?? {}), ...(this.byParam.get(p) ?? {}) };
  }
}

/**
 * The seed thread's recipe: keep 32-bit optimizer state for every embedding weight of a model, whatever the
 * optimizer's optimBits (default class: octet.nn.Embedding, which also covers StableEmbedding subclasses).
 */
export function useFp32EmbeddingStates(model: Module, opts: { embeddingClass?: abstract new (...a: never[]) => Module } = {}): number {
  const cls = opts.embeddingClass ?? embeddingClassRef.current;
  if (!cls) throw new Error("useFp32EmbeddingStates: no embedding class given and octet.nn.Embedding is not loaded");
  let n = 0;
  for (const m of model.modules()) {
    if (m instanceof cls && (m as unknown as { weight?: unknown }).weight instanceof Parameter) {
      GlobalOptimManager.getInstance().registerModuleOverride(m, "weight", { optimBits: 32 });
      n++;
    }
  }
  return n;
}

/** Set by src/nn/embedding.ts (avoids an import cycle between optim and nn). */
export const embeddingClassRef: { current?: abstract new (...a: never[]) => Module } = {};
