// jit: trace a function over named inputs once, schedule it into fused kernels, and run it many times over
// different buffers. Scalars that change between runs are uniforms (Tensor.uniform), so a new learning rate
// or step count reuses the same pipelines. Outputs can update inputs in place.
import type { DType } from "../dsl/dtype.ts";
import { numel, type Shape } from "../dsl/node.ts";
import { printGraph } from "../dsl/print.ts";
import { Tensor } from "../dsl/tensor.ts";
import { schedule, type Schedule } from "../codegen/schedule.ts";
import { emitWgsl } from "../codegen/wgsl.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import { checkTargetFits, currentTarget } from "./target.ts";
import { Program } from "./execute.ts";
import { device } from "./device.ts";
import { bufferNode, storageOf } from "./realize.ts";
import { own } from "./scope.ts";
import type { Category, Storage } from "./storage.ts";

export interface InputSpec {
  shape: Shape;
  dtype?: DType;
}

export interface JitOptions {
  /** Output name -> input name it overwrites (an in-place update). */
  inPlace?: Record<string, string>;
  /** Accounting category of new output buffers. */
  category?: Category;
  /**
   * The device facts to schedule for (e.g. { ...deviceTarget(), maxStorageBuffers: 8 }). Default: the
   * acquired device's, or DEFAULT_TARGET when no device is acquired yet (then run() checks it fits).
   */
  target?: DeviceTarget;
}

export class JitFunction<I extends string, O extends string> {
  readonly schedule: Schedule;
  readonly graph: string;
  private program: Program;
  private inputNames: I[];
  private outputNames: O[];

  constructor(readonly name: string, specs: Record<I, InputSpec>, fn: (x: Record<I, Tensor>) => Record<O, Tensor>, private opts: JitOptions = {}) {
    this.inputNames = Object.keys(specs) as I[];
    const inputs = {} as Record<I, Tensor>;
    this.inputNames.forEach((n, slot) => (inputs[n] = Tensor.input(slot, n, specs[n].shape, specs[n].dtype ?? "f32")));
    const outs = fn(inputs);
    this.outputNames = Object.keys(outs) as O[];
    const targets = this.outputNames.map((o) => {
      const into = opts.inPlace?.[o];
      return { node: outs[o].node, name: o, into: into === undefined ? undefined : this.inputNames.indexOf(into as I) };
    });
    for (const t of targets) if (t.into === -1) throw new Error(`octet.jit(${name}): inPlace target of ${t.name} is not an input`);
    this.graph = printGraph(targets.map((t) => t.node), this.outputNames);
    const declared = this.inputNames.map((n) => ({ kind: "input" as const, name: n, dtype: specs[n].dtype ?? "f32", shape: specs[n].shape }));
    this.schedule = schedule(targets, name, declared, opts.target ?? currentTarget());
    this.program = new Program(this.schedule, name);
  }

  /** Runs on realized tensors; returns the outputs (in-place outputs are the input tensors themselves). */
  async run(inputs: Record<I, Tensor>, uniforms: Record<string, number> = {}): Promise<Record<O, Tensor>> {
    const storages: (Storage | undefined)[] = this.inputNames.map((n) => {
      const t = inputs[n];
      if (!t) throw new Error(`octet.jit(${this.name}): missing input ${n}`);
      return storageOf(t);
    });
    return this.runStorages(storages, uniforms, (slot) => (slot < this.inputNames.length ? inputs[this.inputNames[slot]] : undefined));
  }

  /** Lower-level entry used by optimizers: storages by input position. */
  async runStorages(storages: (Storage | undefined)[], uniforms: Record<string, number>, existing: (slot: number) => Tensor | undefined = () => undefined): Promise<Record<O, Tensor>> {
    await device();
    checkTargetFits(this.schedule.target, `octet.jit(${this.name})`);
    const all = await this.program.run(storages, uniforms, this.opts.category);
    const out = {} as Record<O, Tensor>;
    this.outputNames.forEach((o, i) => {
      const slot = this.schedule.results[i];
      // An in-place output is the input tensor itself: its leaf now has an older version than its storage,
      // and its next use picks up the new contents (Tensor.node); lazy values built on it before refuse to run.
      out[o] = existing(slot) ?? own(new Tensor(bufferNode(all[slot], this.schedule.slots[slot].shape)), all[slot]);
    });
    return out;
  }

  get dispatchCount(): number {
    return this.program.dispatchCount;
  }

  /** The generated WGSL of every kernel (no device needed). */
  wgsl(): string[] {
    return this.schedule.kernels.map((k) => emitWgsl(k.kernel));
  }
  kernels() {
    return this.schedule.kernels.map(({ kernel, rows }) => ({ name: kernel.name, key: kernel.key, kind: kernel.kind, rows, wgsl: emitWgsl(kernel), bindings: kernel.bindings }));
  }
}

export function jit<I extends string, O extends string>(name: string, specs: Record<I, InputSpec>, fn: (x: Record<I, Tensor>) => Record<O, Tensor>, opts?: JitOptions): JitFunction<I, O> {
  return new JitFunction(name, specs, fn, opts);
}

export const elementsOf = (s: InputSpec) => numel(s.shape);
