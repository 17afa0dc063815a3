// The lowering registry's types. A lowering is how the scheduler handles one op that is not a plain fused
// elementwise or row-reduction node. It may work at either (or both) of two levels:
// - `expand` (graph level, before scheduling): replace a node by an equivalent graph of simpler nodes, e.g. a
//   reduction longer than one workgroup handles becomes partial and final reductions. The result is expanded
//   again, so an expansion may produce nodes that have lowerings of their own.
// - `kernels` (kernel level): the node is computed by kernels of its own (matmul). The scheduler
//   materializes its operands, gives it an output slot and never fuses it into a neighbour.
// Kernels a lowering makes may have their own `kind`; `emit` and `interpret` then render and evaluate them.
// The table of lowerings is in lowerings/index.ts; the scheduler consults it and knows no op by name.
import type { Node, Op } from "../dsl/node.ts";
import type { HostArray } from "./interpret.ts";
import type { BindingLimits, DeviceTarget, Kernel, KernelDispatch, ScheduledKernel, SlotInfo } from "./kernel.ts";

export interface LowerContext {
  slots: SlotInfo[];
  target: DeviceTarget;
  /** A buffer slot holding n's elements in order, computing n into a temporary first if it has to. */
  slotOf(n: Node): number;
  /** A fresh kernel name in this program. */
  kernelName(): string;
}

export interface Lowering {
  expand?(n: Node, target: DeviceTarget): Node | undefined;
  kernels?(n: Node, outSlot: number, ctx: LowerContext): ScheduledKernel[];
}

/** How kernels of a lowering-owned kind are rendered (WGSL) and evaluated (the reference interpreter). */
export interface KernelKind {
  /** WGSL source; `names` are the bindings' WGSL names (codegen/wgsl.ts bindingNames). */
  emit(k: Kernel, names: string[]): string;
  workgroupSize(k: Kernel): number;
  interpret(k: Kernel, rows: number, slots: HostArray[], uniforms: Record<string, number>): void;
  /**
   * The dispatches of a scheduled kernel of this kind for the device's limits (runtime/execute.ts plans a
   * program with it): operands larger than one binding are cut into windows here, by the code that knows
   * how the kernel indexes them. `slotBytes[i]`: bytes of binding i's storage. Without it, a kernel with a
   * fixed grid binds whole buffers (refused when one does not fit).
   */
  chunks?(sk: ScheduledKernel, slotBytes: number[], limits: BindingLimits): KernelDispatch[];
}

export type LoweringTable = Map<Op, Lowering>;
