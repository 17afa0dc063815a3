// The lowering registry: op -> how the scheduler lowers it, and kernel kind -> how such kernels render and
// run in the interpreter (see codegen/lowering.ts). New lowerings (scatter, attention) register here.
import type { Op } from "../../dsl/node.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { matmulKind, matmulLowering } from "./matmul.ts";
import { longReduceLowering } from "./reduce.ts";
import { colReduceKind, colReduceLowering } from "./colreduce.ts";
import { scatterLowering, segmentSumKind } from "./scatter.ts";
import { bitonicLocalKind, bitonicStepKind } from "./sort.ts";
import { logsumexpKind, logsumexpLowering } from "./logsumexp.ts";
import { attentionKind, attentionLowering } from "./attention.ts";

const LOWERINGS = new Map<Op, Lowering>([
  ["matmul", matmulLowering],
  ["reduce", longReduceLowering],
  ["colreduce", colReduceLowering],
  ["scatter", scatterLowering],
  ["logsumexp", logsumexpLowering],
  ["attention", attentionLowering],
]);

const KERNEL_KINDS = new Map<string, KernelKind>([
  ["matmul", matmulKind],
  ["colreduce", colReduceKind],
  ["bitonic_local", bitonicLocalKind],
  ["bitonic_step", bitonicStepKind],
  ["segment_sum", segmentSumKind],
  ["logsumexp", logsumexpKind],
  ["attention", attentionKind],
]);

export function registerLowering(op: Op, l: Lowering): void {
  if (LOWERINGS.has(op)) throw new Error(`octet: a lowering for ${op} is already registered`);
  LOWERINGS.set(op, l);
}
export function registerKernelKind(kind: string, k: KernelKind): void {
  if (KERNEL_KINDS.has(kind)) throw new Error(`octet: kernel kind ${kind} is already registered`);
  KERNEL_KINDS.set(kind, k);
}

export function loweringOf(op: Op): Lowering | undefined {
  return LOWERINGS.get(op);
}
export function kernelKindOf(kind: string): KernelKind | undefined {
  return KERNEL_KINDS.get(kind);
}
