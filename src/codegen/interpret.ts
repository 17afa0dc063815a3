// A reference interpreter of the kernel IR on host arrays: the same graph the WGSL emitter sees, evaluated
// with the primitive table's JS rules. It tells a lowering bug (interpreter wrong too) from a WGSL or runtime
// bug (only the GPU wrong). It is not the test oracle: that is plain TypeScript in test/reference/.
import { DTYPES } from "../dsl/dtype.ts";
import type { LoadMode, Node, ReduceOp } from "../dsl/node.ts";
import { bitcast, evalCast, isPrim, PRIMS, roundTo } from "../dsl/prims.ts";
import type { Kernel } from "./kernel.ts";
import type { Schedule } from "./kernel.ts";
import { kernelKindOf } from "./lowerings/index.ts";
import { simplifyKernel } from "./passes/simplify.ts";
import { numel } from "../dsl/node.ts";

export type HostArray = ArrayLike<number> & { [i: number]: number };

/** Evaluates one kernel over `rows` rows, reading and writing `slots` (host arrays by program slot). */
export function interpretKernel(k: Kernel, rows: number, slots: HostArray[], uniforms: Record<string, number>): void {
  const own = kernelKindOf(k.kind);
  if (own) return own.interpret(k, rows, slots, uniforms);
  k = simplifyKernel(k); // the graph the WGSL emitter renders
  const L = k.L;
  const pending: { slot: number; index: number; value: number }[] = [];
  for (let r = 0; r < rows; r++) {
    const rowMemo = new Map<number, number>();
    const elemMemo = new Map<number, Map<number, number>>();
    const evalAt = (n: Node, c: number): number => {
      if (n.op === "reduce") {
        let v = rowMemo.get(n.id);
        if (v === undefined) {
          const op = n.arg as ReduceOp;
          v = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
          for (let j = 0; j < L; j++) {
            const x = evalAt(n.src[0], j);
            v = op === "sum" ? roundTo(n.dtype, v + x) : op === "max" ? (x > v || Number.isNaN(v) ? x : v) : x < v || Number.isNaN(v) ? x : v;
          }
          rowMemo.set(n.id, v);
        }
        return v;
      }
      let m = elemMemo.get(n.id);
      if (!m) elemMemo.set(n.id, (m = new Map()));
      const hit = m.get(c);
      if (hit !== undefined) return hit;
      const v = evalNode(n, c);
      m.set(c, v);
      return v;
    };
    const evalNode = (n: Node, c: number): number => {
      const args = () => n.src.map((s) => evalAt(s, c));
      switch (n.op) {
        case "const":
          return n.arg as number;
        case "uniform":
          return roundTo(n.dtype, uniforms[n.arg as string]);
        case "iota":
          return n.arg === 1 ? c : r;
        case "load": {
          const { binding, mode } = n.arg as { binding: number; mode: LoadMode };
          const b = k.bindings[binding];
          const arr = slots[b.slot];
          const at = mode === "elem" ? r * L + c : mode === "row" ? r : mode === "col" ? c : mode === "scalar" ? 0 : (() => {
            const idx = evalAt(n.src[0], c);
            return (b.tableWidth ?? 1) > 1 ? idx * b.tableWidth! + c : idx;
          })();
          const v = arr[at];
          return v === undefined ? NaN : b.dtype === "bool" ? (v ? 1 : 0) : v;
        }
        case "cast":
          return evalCast(evalAt(n.src[0], c), n.src[0].dtype, n.dtype);
        case "bitcast":
          return bitcast(evalAt(n.src[0], c), n.src[0].dtype, n.dtype);
        default:
          if (!isPrim(n.op)) throw new Error(`interpreter: unexpected ${n.op}`);
          return PRIMS[n.op].eval(args(), n.dtype, n.src.map((s) => s.dtype));
      }
    };
    for (const o of k.outputs) {
      const b = k.bindings[o.binding];
      if (b.mode === "row") pending.push({ slot: b.slot, index: r, value: evalAt(o.node, 0) });
      else for (let c = 0; c < L; c++) pending.push({ slot: b.slot, index: r * L + c, value: evalAt(o.node, c) });
    }
  }
  // Stores land after every load, as in the generated kernel.
  for (const p of pending) slots[p.slot][p.index] = p.value;
}

/** Evaluates a whole schedule; `inputs[slot]` for input slots; returns every slot's host array. */
export function interpretSchedule(s: Schedule, inputs: (HostArray | undefined)[], uniforms: Record<string, number>): HostArray[] {
  const slots: HostArray[] = s.slots.map((sl, i) => {
    const n = numel(sl.shape);
    if (sl.kind === "input") return Array.from(inputs[i]!) as HostArray;
    return (DTYPES[sl.dtype].float ? new Array<number>(n).fill(0) : new Array<number>(n).fill(0)) as HostArray;
  });
  for (const { kernel, rows, consts } of s.kernels) interpretKernel(kernel, rows, slots, consts ? { ...uniforms, ...consts } : uniforms);
  return slots;
}
