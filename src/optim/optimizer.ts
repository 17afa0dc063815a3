// The optimizer every family shares, as an orchestrator of its parts:
//   options.ts   options and param groups; the config one parameter steps with
//   buckets.ts   arenas per state format, parameter adoption, the raw GPU buffers a kernel binds
//   step.ts      per-step scalar tables, gradients into the arena, the dispatch
//   statedict.ts bnb-layout state dicts, validated before anything is written
//   trace.ts     the definition traced into one fused kernel per bucket
// The parts never import this file.
import { Tensor } from "../dsl/tensor.ts";
import { realize } from "../runtime/realize.ts";
import { device } from "../runtime/device.ts";
import { emitWgsl } from "../codegen/wgsl.ts";
import type { Parameter } from "../nn/parameter.ts";
import type { OptimizerDef } from "./define.ts";
import type { Options } from "./config.ts";
import { GlobalOptimManager } from "./manager.ts";
import { paramGroupsOf, resolveConfig } from "./options.ts";
import { gradientView, makeBucket, planBuckets } from "./buckets.ts";
import { bucketWork, copyGradients, runBucket, type BucketWork } from "./step.ts";
import { checkHeader, planLoad, saveState, type StateOwner } from "./statedict.ts";
import type { Bucket, OptimizerStateDict, ParamGroup, ParamRef, ParamsArg } from "./types.ts";

export { STATE_DICT_VERSION, type OptimizerStateDict, type ParamGroup, type ParamsArg } from "./types.ts";

export class Optimizer<H extends Options = Options> {
  readonly paramGroups: ParamGroup[];
  private buckets?: Bucket[];
  private steps = new Map<Parameter, number>();
  private building?: Promise<Bucket[]>;

  constructor(
    readonly def: OptimizerDef<H>,
    readonly className: string,
    readonly defaults: H,
    params: ParamsArg,
    options: Options = {},
    forced: Options = {},
  ) {
    this.paramGroups = paramGroupsOf(def, className, defaults, params, options, forced);
  }

  /** The config one parameter steps with: group options, then the override manager's (by identity). */
  resolvedConfig(p: Parameter, groupIndex: number, paramIndex: number): H {
    return resolveConfig<H>(this.def, this.className, this.paramGroups[groupIndex], p, groupIndex, paramIndex);
  }

  private allParams(): ParamRef[] {
    return this.paramGroups.flatMap((grp, g) => grp.params.map((p, i) => ({ p, g, i })));
  }

  private async ensureBuckets(): Promise<Bucket[]> {
    if (this.buckets) return this.buckets;
    this.building ??= this.build();
    this.buckets = await this.building;
    return this.buckets;
  }

  private async build(): Promise<Bucket[]> {
    const dev = await device();
    GlobalOptimManager.getInstance().resolveModuleOverrides(this.allParams().map((x) => x.p));
    const plan = planBuckets(this.def, this.className, this.allParams().map(({ p, g, i }) => ({ p, g, hp: this.resolvedConfig(p, g, i) })));
    const buckets: Bucket[] = [];
    for (const { format, items } of plan) buckets.push(await makeBucket(dev, this.def, this.className, this.defaults, format, items));
    return buckets;
  }

  /** One fused update of every parameter that has a gradient. */
  async step(): Promise<void> {
    const buckets = await this.ensureBuckets();
    const dev = await device();
    const grads = buckets.flatMap((b) => b.params.map((p) => p.grad).filter((g): g is Tensor => g !== null));
    await realize(grads);
    const enc = dev.createCommandEncoder({ label: `${this.className} gradients` });
    for (const b of buckets) copyGradients(enc, b);
    dev.queue.submit([enc.finish()]);
    const configOf = (b: Bucket, i: number) => {
      const g = b.groupIndex[i];
      const p = b.params[i];
      return this.resolvedConfig(p, g, this.paramGroups[g].params.indexOf(p));
    };
    const work = buckets.map((b) => bucketWork(this.def, b, (p) => this.steps.get(p) ?? 0, configOf)).filter((w): w is BucketWork => w !== undefined);
    for (const w of work) await runBucket(dev, this.def, w);
    for (const { steps } of work) for (const [p, t] of steps) this.steps.set(p, t);
  }

  /**
   * A tensor viewing this parameter's slot in the optimizer's gradient arena. Writing gradients there (e.g.
   * `p.grad = await opt.gradientSlot(p)` then filling it) saves step() the copy into the arena.
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

  /** Dispatches issued so far by this optimizer's kernels (a model's step should cost one per bucket). */
  get dispatchCount(): number {
    return (this.buckets ?? []).reduce((a, b) => a + b.fn.dispatchCount + (b.fnUniform?.dispatchCount ?? 0), 0);
  }

  /** The compiled kernels: name, key, WGSL, bindings, bytes moved per parameter. */
  kernels(): { name: string; key: string; wgsl: string; bindings: unknown; bytesPerElement: number; tensors: number }[] {
    return (this.buckets ?? []).flatMap((b) =>
      [...(b.fnUniform ? [b.fnUniform] : []), ...(b.fn.dispatchCount || !b.fnUniform ? [b.fn] : [])].flatMap((fn) => fn.schedule.kernels).map(({ kernel }) => ({
        name: kernel.name,
        key: kernel.key,
        wgsl: emitWgsl(kernel),
        bindings: kernel.bindings,
        bytesPerElement: kernel.bindings.filter((x) => x.mode === "elem").reduce((a, x) => a + (x.dtype === "u8" ? 1 : 4) * (+x.read + +x.write), 0),
        tensors: b.params.length,
      })),
    );
  }

  private stateOwner(buckets: Bucket[]): StateOwner {
    return { def: this.def, className: this.className, paramGroups: this.paramGroups, buckets, all: this.allParams(), steps: this.steps };
  }

  async stateDict(): Promise<OptimizerStateDict> {
    return saveState(this.stateOwner(await this.ensureBuckets()));
  }

  /** Restores a state dict exactly; refuses (changing nothing) one that does not match this optimizer. */
  async loadStateDict(sd: OptimizerStateDict): Promise<void> {
    const groups = checkHeader(this, sd);
    const buckets = await this.ensureBuckets();
    const planned = planLoad(await device(), this.stateOwner(buckets), sd, groups);
    planned.write();
    this.steps = planned.steps;
    planned.groups.forEach((rest, i) => Object.assign(this.paramGroups[i], rest));
  }
}
