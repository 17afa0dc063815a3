// The optimizer every family shares, as an orchestrator of its parts:
//   options.ts   options and param groups; the config one parameter steps with
//   buckets.ts   arenas per state format, parameter adoption, the raw GPU buffers a kernel binds
//   step.ts      per-step scalar tables, gradients into the arena, the dispatch
//   statedict.ts bnb-layout state dicts, validated before anything is written
//   trace.ts     the definition traced into one fused kernel per bucket
// The parts never import this file.
import { Tensor } from "../dsl/tensor.ts";
import { realize } from "../runtime/realize.ts";
import { device, deviceSettled } from "../runtime/device.ts";
import { GpuError } from "../runtime/errors.ts";
import { emitWgsl } from "../codegen/wgsl.ts";
import type { Parameter, ParameterOwner } from "../nn/parameter.ts";
import type { Storage } from "../runtime/storage.ts";
import type { OptimizerDef } from "./define.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { Options } from "./config.ts";
import { GlobalOptimManager } from "./manager.ts";
import { ConfigCache, paramGroupsOf, resolveConfig } from "./options.ts";
import { adoptInto, bumpBucket, formatTables, gradientStorage, gradientView, makeBucket, planBuckets, slotStride, updateScalarNames, viewArena } from "./buckets.ts";
import { compensationBytes } from "./compensation.ts";
import { traceUpdate } from "./trace.ts";
import { checkPlanOn, paramStorageProblem, roundingSeedOf, ROUNDING_SCALARS } from "./paramstorage.ts";
import { deviceTarget } from "../runtime/target.ts";
import { DTYPES } from "../dsl/dtype.ts";
import { bucketWork, runBucket, type BucketWork } from "./step.ts";
import { checkHeader, planLoad, saveState, stateKeys, type StateOwner } from "./statedict.ts";
import { NonFiniteCheck } from "./nonfinite.ts";
import { convertEntry, placementOf } from "./migrate.ts";
import { codeBytes, FORMATS } from "./formats.ts";
import { blocksOf, type Bucket, type OptimizerStateDict, type ParamGroup, type ParamRef, type ParamsArg, type StepOptions } from "./types.ts";

export { STATE_DICT_VERSION, type OptimizerStateDict, type ParamGroup, type ParamsArg, type StepOptions } from "./types.ts";

let optimizersMade = 0;

export class Optimizer<H extends Options = Options> implements ParameterOwner {
  readonly paramGroups: ParamGroup[];
  /**
   * Opt-in, optimizer-wide (a step is skipped whole, so it is not a per-group option): a step whose gradients
   * hold a NaN or ±Inf changes nothing (parameters, states, step counts) and is counted in skippedSteps, as AMP's
   * GradScaler skips optimizer.step() on found_inf. Costs one 4-byte readback per step; off, nothing is read.
   */
  readonly skipNonFinite: boolean;
  /**
   * The device facts the update kernels are scheduled for (e.g. `{ ...deviceTarget(), maxStorageBuffers: 8 }`
   * to run as on a device with WebGPU's minimum budget); default: the acquired device's.
   */
  readonly target?: DeviceTarget;
  /**
   * Optimizer-wide: the seed of bf16StochasticRound's stream. How parameters and gradients are stored
   * (paramDtype, gradDtype, bf16StochasticRound, compensation) are options of each param group (paramstorage.ts).
   */
  readonly roundingSeed: number;
  /** How errors name this optimizer ("AdamW8bit #3"). */
  readonly ownerName: string;
  private buckets?: Bucket[];
  private steps = new Map<Parameter, number>();
  private building?: Promise<Bucket[]>;
  private skipped = 0;
  private lastSkipped = false;
  private nonFinite = new NonFiniteCheck();
  /** Each parameter's placement (state format, own bucket or shared) at the last build: a change re-buckets. */
  private placed = new Map<Parameter, string>();
  /** Parameters whose `data` was replaced since the last step: their new values go into the arena. */
  private replaced = new Set<Parameter>();
  /** Parameters whose compensation buffer a state dict wrote since their last adoption (buckets.ts adoptInto). */
  private compensationLoaded = new Set<Parameter>();
  private released = false;
  /** Steps run one after another in call order (an un-awaited step must not interleave with the next). */
  private queue: Promise<unknown> = Promise.resolve();
  private retiredDispatches = 0;
  /** The newest module override (GlobalOptimManager id) this optimizer has resolved. */
  private moduleOverridesSeen = -1;
  /** Resolved configs, re-resolved only when a param group's options or the overrides change. */
  private configs = new ConfigCache<H>(({ p, g, i }) => this.resolvedConfig(p, g, i));

  constructor(
    readonly def: OptimizerDef<H>,
    readonly className: string,
    readonly defaults: H,
    params: ParamsArg,
    options: Options = {},
    forced: Options = {},
  ) {
    const { skipNonFinite = false, target, roundingSeed, ...rest } = options;
    this.roundingSeed = roundingSeedOf(className, roundingSeed);
    if (target !== undefined && (typeof target !== "object" || target === null || typeof (target as DeviceTarget).maxStorageBuffers !== "number"))
      throw new Error(`${className}: option "target" must be a device target (e.g. { ...deviceTarget(), maxStorageBuffers: 8 }), got ${JSON.stringify(target)}`);
    this.target = target as DeviceTarget | undefined;
    if (typeof skipNonFinite !== "boolean") throw new Error(`${className}: option "skipNonFinite" must be a boolean, got ${JSON.stringify(skipNonFinite)}`);
    this.skipNonFinite = skipNonFinite;
    this.ownerName = `${className} #${++optimizersMade}`;
    this.paramGroups = paramGroupsOf(def, className, defaults, params, rest, forced);
    // The storage options' cross-key rules (e.g. stochastic rounding needs bf16), per group, now rather than at the first step.
    this.paramGroups.forEach((g, i) => {
      const err = paramStorageProblem(g);
      if (err) throw new Error(`${className}${this.paramGroups.length > 1 ? ` param group ${i}` : ""}: ${err}`);
    });
  }

  /** Steps skipped because a gradient held a NaN or ±Inf (skipNonFinite). */
  get skippedSteps(): number {
    return this.skipped;
  }
  /** Whether the last step was skipped (skipNonFinite). */
  get lastStepSkipped(): boolean {
    return this.lastSkipped;
  }

  /** The config one parameter steps with: group options, then the override manager's (by identity). */
  resolvedConfig(p: Parameter, groupIndex: number, paramIndex: number): H {
    return resolveConfig<H>(this.def, this.className, this.paramGroups[groupIndex], p, groupIndex, paramIndex);
  }

  private allParams(): ParamRef[] {
    return this.paramGroups.flatMap((grp, g) => grp.params.map((p, i) => ({ p, g, i })));
  }

  private async ensureBuckets(): Promise<Bucket[]> {
    if (this.released) throw new Error(`${this.ownerName}: this optimizer was released (release()); its parameters may belong to another optimizer now`);
    if (this.buckets) return this.buckets;
    this.building ??= this.build(true);
    this.buckets = await this.building;
    return this.buckets;
  }

  /** Places every parameter (first build: adopts and claims them) into new buckets by its current config. */
  private async build(first: boolean): Promise<Bucket[]> {
    const dev = await device();
    const all = this.allParams();
    // Refused before anything is allocated or claimed: a parameter another optimizer steps (it would keep its
    // own copy of the values, and one of the two would silently lose its updates).
    for (const { p } of all) if (p.owner && p.owner !== this) p.claim(this);
    if (first) this.moduleOverridesSeen = GlobalOptimManager.getInstance().resolveModuleOverrides(all.map((x) => x.p));
    this.configs.refresh(this.paramGroups);
    const items = all.map((ref) => ({ ...ref, hp: this.configs.get(ref) }));
    const plan = planBuckets(this.def, this.className, items, this.roundingSeed);
    for (const { param } of plan) checkPlanOn(this.className, param, this.target ?? deviceTarget());
    const buckets: Bucket[] = [];
    for (const { format, blockSize, rank1, items, own, clip, param } of plan) buckets.push(await makeBucket(dev, this.def, this.className, this.defaults, format, blockSize, items, this.target, own, clip, rank1, param));
    for (const { p, hp } of items) {
      p.claim(this);
      this.placed.set(p, placementOf(this.def, p, hp).key);
    }
    this.replaced.clear(); // makeBucket copied the parameters' current values
    return buckets;
  }

  /** Parameter.data was replaced after adoption: its values go into the arena at the next step. */
  dataReplaced(p: Parameter): void {
    this.replaced.add(p);
  }

  /** Gives the parameters up (their values stay where they are); this optimizer cannot step afterwards. */
  release(): void {
    for (const { p } of this.allParams()) p.release(this);
    this.released = true;
  }

  /** Copies replaced parameters' new values into the arena and makes their tensors view it again. */
  private async adoptReplaced(dev: GPUDevice, buckets: Bucket[]): Promise<void> {
    if (!this.replaced.size) return;
    const ps = [...this.replaced];
    await realize(ps.map((p) => p.data));
    // An in-place write into the arena (adoptInto bumps it): lazy values built over the old contents are refused.
    for (const b of buckets) {
      const slots = b.params.flatMap((p, i): [Parameter, number][] => (this.replaced.has(p) ? [[p, b.blockStart[i] * b.blockSize]] : []));
      if (slots.length) await adoptInto(dev, b.p, b.param, slots, `${this.ownerName} (adopting a replaced Parameter.data)`, b.comp, this.compensationLoaded);
    }
    this.replaced.clear();
    this.compensationLoaded.clear();
  }

  /**
   * A config change since the last build that moves a parameter to another state format (optimBits,
   * stateFormat, min8bitSize) or bucket kind (maxUnorm) re-buckets, carrying every state over (migrate.ts).
   * If the state cannot be carried (e.g. it is not finite), nothing changes and the error names the parameter.
   */
  private async migrateIfChanged(dev: GPUDevice, old: Bucket[]): Promise<Bucket[]> {
    // Placements can only move when a config did: a steady step costs one shallow compare (options.ts).
    // A module override registered since the last step applies now (bnb would never look at it again).
    const manager = GlobalOptimManager.getInstance();
    if (manager.newestModuleOverride > this.moduleOverridesSeen)
      this.moduleOverridesSeen = manager.resolveModuleOverrides(this.allParams().map((x) => x.p), this.moduleOverridesSeen);
    if (!this.configs.refresh(this.paramGroups)) return old;
    const all = this.allParams();
    this.checkParamsKept(all);
    const moved = all.filter((ref) => placementOf(this.def, ref.p, this.configs.get(ref)).key !== this.placed.get(ref.p));
    if (!moved.length) return old;
    const sd = await saveState(this.stateOwner(old));
    const oldPlaced = new Map(this.placed);
    const fresh = await this.build(false);
    try {
      const keys = stateKeys(this.def);
      const layoutOf = new Map(fresh.flatMap((b) => b.params.map((p) => [p, { format: b.format, blockSize: b.blockSize, rank1: b.rank1, compensation: b.param.compensation?.name }] as const)));
      sd.format.blockSizes ??= {};
      sd.format.rank1 ??= {};
      for (const [k, entry] of Object.entries(sd.state)) {
        const p = all[Number(k)].p;
        const from = { format: FORMATS[sd.format.stateFormats[Number(k)]], blockSize: sd.format.blockSizes[Number(k)] ?? sd.format.blockSize, rank1: sd.format.rank1[Number(k)] };
        const to = layoutOf.get(p)!;
        const converted = await convertEntry(entry, keys, p.numel, from, to);
        // percentile clipping's history goes along only into a bucket that clips (else it is dropped: no clipping)
        const clipsNow = fresh.some((b) => b.gnorm && b.params.includes(p));
        if (entry.gnorm_vec !== undefined && clipsNow) converted.gnorm_vec = entry.gnorm_vec;
        else delete converted.gnorm_vec;
        sd.state[Number(k)] = converted;
        sd.format.stateFormats[Number(k)] = to.format.name;
        sd.format.blockSizes[Number(k)] = to.blockSize;
        if (to.rank1 && this.def.states.some((st) => to.format.rank1?.(st.signed))) sd.format.rank1[Number(k)] = to.rank1;
        else delete sd.format.rank1[Number(k)];
        // A compensation buffer goes along into the same kind; another kind (or none) keeps what adoption wrote.
        sd.format.compensations ??= {};
        if (entry.compensation !== undefined && sd.format.compensations[Number(k)] === to.compensation) converted.compensation = entry.compensation;
        else (delete converted.compensation, delete sd.format.compensations[Number(k)]);
      }
      const groups = this.paramGroups.map(({ params: _p, ...rest }) => rest);
      const planned = planLoad(dev, this.stateOwner(fresh), sd, groups, true);
      planned.write();
      this.steps = planned.steps;
    } catch (e) {
      // Back to the old buckets: they still hold the states, and the parameters' values (copied, not moved).
      this.placed = oldPlaced;
      this.configs.invalidate(); // the next step tries again (and refuses again) rather than stepping stale

      for (const b of old) b.params.forEach((p, i) => viewArena(p, b.p, b.blockStart[i] * b.blockSize));
      const what = moved.map(({ p }) => `${p.name ? `'${p.name}'` : `#${p.id}`} ${this.placed.get(p)} -> ${placementOf(this.def, p, this.resolvedConfig(p, all.find((x) => x.p === p)!.g, all.find((x) => x.p === p)!.i)).key}`).join(", ");
      throw new Error(`${this.ownerName}.step: a config change after the first step moves parameter state (${what}), and it could not be carried over: ${(e as Error).message}`);
    }
    this.retiredDispatches += old.reduce((a, b) => a + b.fn.dispatchCount + (b.fnUniform?.dispatchCount ?? 0), 0);
    this.buckets = fresh;
    return fresh;
  }

  /**
   * The param groups' params after the first step: a parameter added later is placed (fresh state) at the next
   * step, but one removed, or listed twice, would lose its state or share it: refused.
   */
  private checkParamsKept(all: ParamRef[]): void {
    const now = new Set(all.map((r) => r.p));
    const name = (p: Parameter) => (p.name ? `'${p.name}'` : `#${p.id}`);
    if (now.size !== all.length) {
      const twice = all.filter((r, k) => all.findIndex((x) => x.p === r.p) !== k).map((r) => name(r.p));
      throw new Error(`${this.ownerName}.step: parameter ${twice.join(", ")} appears more than once in paramGroups; each parameter belongs to one group, once`);
    }
    const gone = [...this.placed.keys()].filter((p) => !now.has(p));
    if (gone.length)
      throw new Error(`${this.ownerName}.step: parameter ${gone.map(name).join(", ")} was removed from paramGroups after the first step; its state would be lost (put it back, or create a new optimizer)`);
  }

  /**
   * One fused update of every parameter that has a gradient. The gradients are taken at the call, before
   * anything is awaited: `opt.step(); opt.zeroGrad()` still applies them, and steps run in call order.
   * They are realized in ONE program, written straight into the optimizer's gradient arena; `options.with`
   * adds tensors to that program, computed from the weights before the update: after `backward(loss)`,
   * `await opt.step({ with: [loss.value] })` runs the forward once and leaves `loss.value` holding the
   * pre-update loss; `withInto: [lossBuffer]` writes it into a buffer the caller keeps (no new buffer a step).
   */
  step(options: StepOptions = {}): Promise<void> {
    const extra = options.with ?? [];
    if (!Array.isArray(extra) || extra.some((t) => !(t instanceof Tensor))) throw new TypeError(`${this.className}.step: "with" must be an array of Tensors (e.g. [loss.value])`);
    const withInto = options.withInto ?? [];
    if (withInto.length > extra.length) throw new Error(`${this.className}.step: withInto has ${withInto.length} entries for ${extra.length} "with" tensors`);
    const grads = new Map(this.allParams().map(({ p }) => [p, p.grad]));
    return this.after(() => this.stepWith(grads, [...extra], [...withInto]));
  }

  private async stepWith(gradOf: Map<Parameter, Tensor | null>, extra: Tensor[], withInto: (Tensor | undefined)[]): Promise<void> {
    const dev = await device();
    let buckets = await this.ensureBuckets();
    await this.adoptReplaced(dev, buckets);
    buckets = await this.migrateIfChanged(dev, buckets);
    const grad = (p: Parameter) => gradOf.get(p) ?? null;
    // The `with` tensors and every gradient in one program, the gradients written into their arena slots.
    const ts: Tensor[] = [...extra];
    const into: (Storage | Tensor | undefined)[] = extra.map((_, i) => withInto[i]);
    const again: [Tensor, Storage][] = []; // one gradient tensor shared by several parameters
    // A 16-bit gradDtype: what is written is the gradient rounded to nearest (the sum backward built is one
    // f32 expression in this program, rounded once); afterwards p.grad views the slot through its decoding,
    // as an f32 gradient's tensor views its slot (the stepped tensor itself is left as it was).
    const stored = new Map<Tensor, Tensor>();
    const decoded: [Parameter, Tensor, Bucket, number][] = [];
    const seen = new Set<Tensor>(extra);
    for (const b of buckets) b.params.forEach((p, i) => {
      const g = grad(p);
      if (!g) return;
      if (b.g.dtype !== "f32") decoded.push([p, g, b, i]);
      const w = stored.get(g)?.dtype === b.g.dtype ? stored.get(g)! : b.g.dtype === "f32" ? g : b.param.grad.write(g.cast("f32"));
      if (seen.has(g)) return void again.push([w, gradientStorage(b, i)]);
      seen.add(g);
      stored.set(g, w);
      ts.push(w);
      into.push(gradientStorage(b, i));
    });
    await realize(ts, { into });
    for (const [t, st] of again) await realize([t], { into: [st] });
    // (unless p.grad changed since step() was called: `opt.step(); opt.zeroGrad()` must leave it null)
    for (const [p, g, b, i] of decoded) if (p.grad === g) p.grad = gradientView(b, i);
    await this.settled("nothing was applied: parameters, states and step counts are as they were");
    if (this.skipNonFinite) {
      this.lastSkipped = await this.nonFinite.any(buckets, (p) => grad(p) !== null);
      if (this.lastSkipped) {
        this.skipped++;
        return;
      }
    }
    const configOf = (b: Bucket, i: number) => this.configs.get({ p: b.params[i], g: b.groupIndex[i], i: b.paramIndex[i] });
    const work = buckets.map((b) => bucketWork(this.def, b, (p) => this.steps.get(p) ?? 0, configOf, grad)).filter((w): w is BucketWork => w !== undefined);
    for (const [k, w] of work.entries()) {
      await runBucket(dev, this.def, w);
      // The program bumped what it wrote, under its kernel's name; errors should name the call the user made.
      bumpBucket(w.b, `${this.className}.step (${this.ownerName})`);
      // A GPU error in the update (an out-of-memory or validation error invalidates its command buffer, so none
      // of it ran) is thrown here, before its step counts move: the next step's bias corrections stay right.
      // If it fails, this bucket and the later ones (not run) are left as they were.
      const left = work.slice(k).flatMap((x) => x.steps.map(([p]) => (p.name ? `'${p.name}'` : `#${p.id}`)));
      const many = left.length > 1;
      await this.settled(`the update of parameter${many ? "s" : ""} ${left.join(", ")} was not applied: ${many ? "their" : "its"} values, states and step counts are as they were${k ? " (the other parameters of this step were updated)" : ""}`);
      for (const [p, t] of w.steps) this.steps.set(p, t);
      if (w.b.gnorm) w.b.gnorm.filled = true;
      // A 16-bit arena is seen through a lazy decoding (buckets.ts viewArena): one realized since is a copy.
      if (w.b.param.storage.name !== "f32") w.b.params.forEach((p, i) => viewArena(p, w.b.p, w.b.blockStart[i] * w.b.blockSize));
    }
  }

  /** Throws a GPU error of the work submitted so far as this step's, saying what it left as it was. */
  private async settled(left: string): Promise<void> {
    try {
      await deviceSettled();
    } catch (e) {
      if (e instanceof GpuError) e.message = `${this.className}.step (${this.ownerName}): ${e.message}\n${left}.`;
      throw e;
    }
  }

  /**
   * A tensor viewing this parameter's slot in the optimizer's gradient arena. step() realizes lazy gradients
   * straight into it; a gradient already held elsewhere is copied in, so writing gradients there yourself
   * (e.g. `p.grad = await opt.gradientSlot(p)` then filling it) saves that copy. With a 16-bit gradDtype the
   * tensor is the slot's f32 decoding (read only: write the gradient by setting p.grad and stepping).
   */
  async gradientSlot(p: Parameter): Promise<Tensor> {
    const buckets = await this.ensureBuckets();
    for (const b of buckets) {
      const i = b.params.indexOf(p);
      if (i >= 0) return gradientView(b, i);
    }
    throw new Error(`${this.className}.gradientSlot: the parameter is not in this optimizer`);
  }

  zeroGrad(setToNone = true): void {
    // setToNone = false keeps a gradient of zeros (torch's grad.zero_()); not grad.mul(0), which keeps NaN/Inf.
    for (const g of this.paramGroups) for (const p of g.params) p.grad = setToNone || !p.grad ? null : Tensor.const(0, p.grad.dtype).expand(p.grad.shape);
  }

  /**
   * GPU bytes of this optimizer's state as the allocator counts them: every state (8-bit codes and absmax, or
   * the f32 values), each bucket's packed table, and skipNonFinite's masks. Not the parameter and gradient arenas
   * (those are the model's bytes, moved). 0 before the first step, which allocates. Unlike a difference of
   * memoryStats().optimizer around it, this never sees another optimizer's buffers being freed meanwhile.
   */
  stateBytes(): number {
    let total = 0;
    const seen = new Set<Storage>(); // packed codes: one buffer shared by the states
    for (const b of this.buckets ?? []) {
      for (const st of Object.values(b.states)) for (const s of [st.value, st.codes, st.absmax]) if (s && !seen.has(s)) (seen.add(s), (total += s.allocatedBytes));
      total += b.table.allocatedBytes + this.nonFinite.bytesFor(b) + (b.comp?.allocatedBytes ?? 0);
    }
    return total + this.nonFinite.resultBytes;
  }

  /**
   * Bytes of this optimizer's state as a checkpoint holds it (bitsandbytes' count): per parameter and state,
   * the codes (1 byte an element at 8 bits, half that at 4) and one f32 absmax per block, or 4 bytes an element for 32-bit
   * state (the small tensors and overrides that keep 32 bits included). Unlike stateBytes() it counts no
   * padding to whole blocks, packing or lookup tables. 0 before the first step.
   */
  logicalStateBytes(): number {
    let total = 0;
    for (const b of this.buckets ?? []) {
      const states = Object.keys(b.states).length;
      for (const p of b.params) total += states * (b.format.quantized ? codeBytes(b.format, p.numel) + 4 * blocksOf(p.numel, b.blockSize) : 4 * p.numel) + (b.param.compensation ? compensationBytes(b.param.compensation) * p.numel : 0);
    }
    return total;
  }

  /**
   * GPU bytes of the parameter and gradient arenas the optimizer holds (0 before the first step): the model's
   * weights as stored (4 bytes per element in f32, 2 with paramDtype "bf16" or "f16") and their gradients (as
   * gradDtype says: 4 or 2). A compensation buffer is optimizer state (stateBytes).
   */
  arenaBytes(): { parameters: number; gradients: number } {
    const bs = this.buckets ?? [];
    return { parameters: bs.reduce((a, b) => a + b.p.allocatedBytes, 0), gradients: bs.reduce((a, b) => a + b.g.allocatedBytes, 0) };
  }

  /** Dispatches issued so far by this optimizer's kernels (a model's step should cost one per bucket). */
  get dispatchCount(): number {
    return (this.buckets ?? []).reduce((a, b) => a + b.fn.dispatchCount + (b.fnUniform?.dispatchCount ?? 0), this.retiredDispatches);
  }

  /**
   * The compiled kernels: name, key, WGSL, bindings, bytes moved per parameter. Before the first step (which
   * allocates the buckets) they are traced on demand from the buckets the first step would make (same configs,
   * module overrides included), with no GPU work: the kernels a step with every gradient present runs.
   */
  kernels(): { name: string; key: string; wgsl: string; bindings: unknown; bytesPerElement: number; tensors: number }[] {
    return (this.buckets ?? this.plannedBuckets()).flatMap((b) =>
      [...(b.fnUniform ? [b.fnUniform] : []), ...(b.fn.dispatchCount || !b.fnUniform ? [b.fn] : [])].flatMap((fn) => fn.schedule.kernels).map(({ kernel }) => ({
        name: kernel.name,
        key: kernel.key,
        wgsl: emitWgsl(kernel),
        bindings: kernel.bindings,
        bytesPerElement: kernel.bindings.filter((x) => x.mode === "elem").reduce((a, x) => a + (DTYPES[x.dtype].bits / 8) * (+x.read + +x.write), 0),
        tensors: b.params.length,
      })),
    );
  }

  /** What kernels() shows before the first step: each planned bucket's update, traced (no allocation). */
  private plannedBuckets(): Pick<Bucket, "fn" | "fnUniform" | "params">[] {
    const all = this.allParams();
    GlobalOptimManager.getInstance().resolveModuleOverrides(all.map((x) => x.p)); // as the first step does
    const items = all.map((ref) => ({ ...ref, hp: this.resolvedConfig(ref.p, ref.g, ref.i) }));
    return planBuckets(this.def, this.className, items, this.roundingSeed).map(({ format, blockSize, rank1, items, own, clip, param }) => {
      const stride = slotStride(blockSize, param); // as makeBucket lays the tensors out
      const blocks = items.reduce((a, { p }) => Math.ceil(a / stride) * stride + blocksOf(p.numel, blockSize), 0);
      const scalars = [...updateScalarNames(this.def, this.defaults, clip), ...(param.stochastic ? ROUNDING_SCALARS : [])];
      const args = [this.def, format, blocks, items.length, scalars, Object.keys(formatTables(this.def, format))] as const;
      return { params: items.map((x) => x.p), fn: traceUpdate(...args, false, this.target, blockSize, { own, clip, rank1, param }), fnUniform: traceUpdate(...args, true, this.target, blockSize, { own, clip, rank1, param }) };
    });
  }

  private stateOwner(buckets: Bucket[]): StateOwner {
    return { def: this.def, className: this.className, paramGroups: this.paramGroups, buckets, all: this.allParams(), steps: this.steps };
  }

  /** Runs after every step called before it (a state dict of an un-awaited step sees that step). */
  private after<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  stateDict(): Promise<OptimizerStateDict> {
    return this.after(async () => saveState(this.stateOwner(await this.ensureBuckets())));
  }

  /** Restores a state dict exactly; refuses (changing nothing) one that does not match this optimizer. */
  loadStateDict(sd: OptimizerStateDict): Promise<void> {
    return this.after(() => this.load(sd));
  }

  private async load(sd: OptimizerStateDict): Promise<void> {
    const groups = checkHeader(this, sd);
    const buckets = await this.ensureBuckets();
    const planned = planLoad(await device(), this.stateOwner(buckets), sd, groups);
    planned.write();
    for (const b of buckets) bumpBucket(b, `${this.className}.loadStateDict (${this.ownerName})`, false);
    this.compensationLoaded = new Set(Object.entries(sd.state).flatMap(([k, e]) => (e.compensation !== undefined ? [this.allParams()[Number(k)].p] : [])));
    this.steps = planned.steps;
    planned.groups.forEach((rest, i) => Object.assign(this.paramGroups[i], rest));
  }
}
