// The analysis of a map or row kernel that its WGSL is printed from (codegen/wgsl.ts only renders it):
// - level: whether a value differs between the elements of a row (elementwise, at the kernel's vector width)
//   or is one value per row (reductions, row loads, uniforms and what is computed from only those);
// - phase: how many reductions a value waits for. A row kernel runs its phases one after another, finishing
//   each phase's reductions through workgroup memory in between;
// - where each output is stored and each elementwise value computed (its home phase), and what is kept
//   across phases: the elementwise values a later phase uses (kept per thread, one per step of the row loop,
//   in a private array). Loads and indices are not kept, they are re-issued where needed;
// - which of the element's coordinates (row r, column c) a map kernel's code reads, so it computes only those.
// Everything here is read off the kernel IR, never off generated text.
//
// Placement (row kernels). On CPU adapters every kept value is a private array indexed by the row loop's step,
// so it costs a store and a load per step (lavapipe: spilled), and every re-issued storage load a per-lane
// gather loop; the planner keeps as few as it can without loading more:
// - an elementwise output is stored in the first phase where it is final (AdamW's p right after its update,
//   in phase 0), not in the last: nothing then holds it across the reduction. The one exception is a slot the
//   kernel still reads in a later phase (an in-place update that reloads its old value): its store waits for
//   that phase, so every load of a slot comes before the stores to it;
// - a value computed in one phase but first needed in a later one moves there (sinks) when everything it is
//   computed from is available there at no cost: kept anyway, one per row, constant, or loaded there anyway.
//   The 8-bit encoders' sign fix (two values of the new state) is recomputed next to the encoder then, from
//   the kept state, instead of being kept itself: AdamW8bit keeps 2 values per element (m and v), not 5.
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
  /**
   * The phase an elementwise value is computed in: its own phase, or a later one it sinks to (see the file
   * comment). Loads and iota have none: they are re-issued in each phase that uses them.
   */
  home: Map<number, number>;
  /** Whether a value is elementwise (vector width, per element) rather than one per row. */
  elem: Map<number, boolean>;
  /** The last phase: row outputs (one per row) are stored after it. */
  lastPhase: number;
  /** The phase each output (k.outputs, in order) is stored in; row outputs: lastPhase. */
  storePhase: number[];
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
/** Loads and iota are re-issued in every phase that needs them; everything else elementwise is computed once. */
const reissued = (n: Node) => n.op === "load" || n.op === "iota";

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
  const reduces = order.filter((n) => n.op === "reduce");
  const home = new Map<number, number>();
  const computed = order.filter((n) => elem.get(n.id) && !reissued(n));
  for (const n of computed) home.set(n.id, phase.get(n.id)!);
  const isRowOut = (i: number) => k.bindings[k.outputs[i].binding].mode === "row";
  if (k.kind !== "row") return { order, users, phase, home, elem, lastPhase, storePhase: k.outputs.map(() => 0), reduces, kept: [], reads, f16 };

  const storePhase = k.outputs.map((o, i) => (isRowOut(i) ? lastPhase : phase.get(o.node.id)!));
  // The phases in which each value is needed, from its users' homes, the stores and the reductions.
  const needed = (): Map<number, Set<number>> => {
    const need = new Map<number, Set<number>>();
    const add = (n: Node, p: number) => (need.get(n.id) ?? need.set(n.id, new Set()).get(n.id)!).add(p);
    k.outputs.forEach((o, i) => add(o.node, storePhase[i]));
    for (let j = order.length - 1; j >= 0; j--) {
      const n = order[j];
      if (n.op === "reduce") add(n.src[0], phase.get(n.src[0].id)!);
      else if (!elem.get(n.id)) continue; // one per row: computed once, where first needed (its sources are too)
      else if (reissued(n)) for (const s of n.src) for (const p of need.get(n.id) ?? []) add(s, p);
      else for (const s of n.src) add(s, home.get(n.id)!);
    }
    return need;
  };
  const keptOf = (need: Map<number, Set<number>>) => computed.filter((n) => Math.max(...(need.get(n.id) ?? [])) > home.get(n.id)!);

  // Stores wait for the last phase that still loads their slot (an in-place update reading its old value):
  // every load of a slot must come before the stores to it. A slot also read one per row (or gathered, by
  // other threads) is stored in the last phase, after every read of this thread.
  const slotOf = (b: number) => k.bindings[b].slot;
  const loads = order.filter((n) => n.op === "load");
  let need = needed();
  for (let settled = false; !settled; ) {
    settled = true;
    k.outputs.forEach((o, i) => {
      if (isRowOut(i)) return;
      const slot = slotOf(o.binding);
      const readers = loads.filter((l) => slotOf((l.arg as { binding: number }).binding) === slot);
      const shared = readers.some((l) => modeOf(l) !== "elem");
      const last = shared ? lastPhase : Math.max(storePhase[i], ...readers.flatMap((l) => [...(need.get(l.id) ?? [])]));
      if (last > storePhase[i]) (storePhase[i] = last), (settled = false);
    });
    if (!settled) need = needed();
  }

  // Sinking: a kept value never used in its own phase moves, with what only it needs, to the first phase that
  // uses it, when that keeps fewer values and loads nothing more.
  let kept = keptOf(need);
  const storedBefore = new Map<number, number>(); // output node -> its earliest store phase
  k.outputs.forEach((o, i) => storedBefore.set(o.node.id, Math.min(storedBefore.get(o.node.id) ?? Infinity, storePhase[i])));
  for (const n of [...kept].reverse()) {
    const q = Math.min(...need.get(n.id)!);
    if (q <= home.get(n.id)! || storedBefore.has(n.id)) continue;
    const group = sinkGroup(n, q);
    if (!group) continue;
    const before = new Map(group.map((m) => [m.id, home.get(m.id)!]));
    for (const m of group) home.set(m.id, q);
    const next = needed();
    const nextKept = keptOf(next);
    if (nextKept.length < kept.length) [need, kept] = [next, nextKept];
    else for (const [id, h] of before) home.set(id, h);
  }
  return { order, users, phase, home, elem, lastPhase, storePhase, reduces, kept, reads, f16 };

  /**
   * n and the values only it (and the group) uses, all of whose uses are at phase q or later, if everything the
   * group is computed from is available at q for free: one per row, constant, kept, computed at q, or a load
   * already issued at q. Undefined when something is not (sinking would keep or load more).
   */
  function sinkGroup(n: Node, q: number): Node[] | undefined {
    const group = new Set<number>([n.id]);
    const members = [n];
    const joins = (s: Node): boolean => {
      if (!elem.get(s.id) || reissued(s) || group.has(s.id) || home.get(s.id)! >= q || storedBefore.has(s.id)) return false;
      return (users.get(s.id) ?? []).every((u) => {
        if (group.has(u.id)) return true;
        if (u.op === "reduce" || !elem.get(u.id)) return false;
        if (reissued(u)) return Math.min(...(need.get(u.id) ?? [])) >= q;
        return home.get(u.id)! >= q;
      });
    };
    for (let grew = true; grew; ) {
      grew = false;
      for (const m of members) for (const s of m.src) if (joins(s)) (group.add(s.id), members.push(s), (grew = true));
    }
    const keptIds = new Set(kept.map((x) => x.id));
    for (const m of members)
      for (const s of m.src) {
        if (group.has(s.id) || !elem.get(s.id) || s.op === "iota") continue;
        if (s.op === "load" ? !need.get(s.id)?.has(q) : home.get(s.id)! !== q && !keptIds.has(s.id)) return undefined;
      }
    return members;
  }
}
