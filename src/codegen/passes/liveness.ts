// The analysis of a map or row kernel that its WGSL is printed from (codegen/wgsl.ts only renders it):
// - level: whether a value differs between the elements of a row (elementwise, at the kernel's vector width)
//   or is one value per row (reductions, row loads, uniforms and what is computed from only those);
// - phase: how many reductions a value waits for. A row kernel runs its phases one after another, finishing
//   each phase's reductions through workgroup memory in between;
// - liveness across phases: the elementwise values a later phase uses (kept per thread in registers, one per
//   step of the row loop) — loads and indices are not kept, they are re-issued where needed;
// - which of the element's coordinates (row r, column c) a map kernel's code reads, so it computes only those.
// Everything here is read off the kernel IR, never off generated text.
import type { LoadMode, Node } from "../../dsl/node.ts";
import { toposort } from "../../dsl/node.ts";
import type { Binding, Kernel } from "../kernel.ts";

export interface KernelPlan {
  /** The kernel's nodes, sources before users. */
  order: Node[];
  /** Users of each node (by id), in order. */
  users: Map<number, Node[]>;
  /** Reductions a value depends on along its longest chain (a reduction's own phase is its source's + 1). */
  phase: Map<number, number>;
  /** Whether a value is elementwise (vector width, per element) rather than one per row. */
  elem: Map<number, boolean>;
  /** The phase the kernel's outputs are stored in: the last one. */
  lastPhase: number;
  /** The reductions, in order; one accumulates in the phase of its source. */
  reduces: Node[];
  /** Elementwise values computed in one phase and used in a later one (row kernels), in order. */
  kept: Node[];
  /** Whether the code reads the element's row (`r`, `row`) and its column (`c`): map kernels compute only these. */
  reads: { row: boolean; col: boolean };
  /** Whether any value or binding is f16 (the kernel then needs `enable f16`). */
  f16: boolean;
}

const modeOf = (n: Node): LoadMode => (n.arg as { mode: LoadMode }).mode;
const bindingOf = (k: Kernel, n: Node): Binding => k.bindings[(n.arg as { binding: number }).binding];

export function planKernel(k: Kernel): KernelPlan {
  const order = toposort(k.outputs.map((o) => o.node));
  const users = new Map<number, Node[]>();
  const phase = new Map<number, number>();
  const elem = new Map<number, boolean>();
  const isElem = (n: Node): boolean => {
    if (n.op === "reduce") return false;
    if (n.op === "load") {
      const m = modeOf(n);
      if (m === "elem" || m === "col") return true;
      if (m === "table") return n.src.length > 0 && (elem.get(n.src[0].id)! || (bindingOf(k, n).tableWidth ?? 1) > 1);
      return false;
    }
    // With rows of one element every element is its own row: the row index varies per element too.
    if (n.op === "iota") return n.arg === 1 || k.L === 1;
    return n.src.some((s) => elem.get(s.id));
  };
  let f16 = k.bindings.some((b) => b.dtype === "f16");
  const reads = { row: false, col: false };
  for (const n of order) {
    for (const s of n.src) (users.get(s.id) ?? users.set(s.id, []).get(s.id)!).push(n);
    phase.set(n.id, n.op === "reduce" ? phase.get(n.src[0].id)! + 1 : Math.max(0, ...n.src.map((s) => phase.get(s.id)!)));
    elem.set(n.id, isElem(n));
    if (n.dtype === "f16") f16 = true;
    if (n.op === "iota") reads[n.arg === 1 ? "col" : "row"] = true;
    if (n.op === "load") {
      const m = modeOf(n);
      if (m === "row") reads.row = true;
      if (m === "col" || (m === "table" && (bindingOf(k, n).tableWidth ?? 1) > 1)) reads.col = true;
    }
  }
  const lastPhase = Math.max(0, ...k.outputs.map((o) => phase.get(o.node.id)!));
  const kept: Node[] = [];
  if (k.kind === "row")
    for (const n of order) {
      if (!elem.get(n.id) || n.op === "load" || n.op === "iota") continue;
      const p = phase.get(n.id)!;
      // A reduction of n is accumulated in n's own phase: it does not need n later.
      const later = (users.get(n.id) ?? []).some((u) => phase.get(u.id)! > p && (elem.get(u.id) || u.op !== "reduce"));
      const storedLater = p < lastPhase && k.outputs.some((o) => o.node === n && k.bindings[o.binding].mode === "elem");
      if (later || storedLater) kept.push(n);
    }
  return { order, users, phase, elem, lastPhase, reduces: order.filter((n) => n.op === "reduce"), kept, reads, f16 };
}
