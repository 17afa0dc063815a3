// Scheduling: turns a traced graph (leaves: `input` slots and uniforms) into an ordered list of kernels.
//
// Each target picks a domain [R, L]: its own shape as [numel / last, last], or, for a reduction, the
// domain of what it reduces. Targets with equal domains share one kernel. Walking a target's graph, every
// node is fused into the kernel except where it cannot be: a reduction or a gather whose rows do not line
// up with the kernel's rows, and gather tables that are computed, are "materialized" by a kernel of their
// own into a temporary buffer first. Elementwise nodes are never materialized: recomputing them is cheaper
// than a round trip through memory.
//
// Ops with a registered lowering (codegen/lowerings) are handled by it: graph-level lowerings (long and
// column reductions) rewrite the graph first; kernel-level ones (matmul) get kernels of their own.
import { DslError } from "../dsl/tensor.ts";
import { mk, numel, shapeStr, toposort, type LoadMode, type Node, type Shape } from "../dsl/node.ts";
import { printGraph } from "../dsl/print.ts";
import { nameNode, nodeName } from "../dsl/names.ts";
import { DTYPES, isPacked, paddedBytes, type DType } from "../dsl/dtype.ts";
import { loweringOf } from "./lowerings/index.ts";
import type { LowerContext } from "./lowering.ts";
import { checkHazards, hazardOrder, inputsRead, targetOrder, writesInPlace, type GroupTarget } from "./hazards.ts";
import {
  DEFAULT_TARGET,
  hashString,
  maxReduceRow,
  targetKey,
  type Binding,
  type DeviceTarget,
  type Kernel,
  type KernelOutput,
  type Schedule,
  type ScheduledKernel,
  type SlotInfo,
  type Target,
} from "./kernel.ts";

export type { Schedule, ScheduledKernel, SlotInfo, Target } from "./kernel.ts";

/** Computed by kernels of its own (a kernel-level lowering, e.g. matmul): never fused into a neighbour. */
const ownKernel = (n: Node): boolean => !!loweringOf(n.op)?.kernels;

/**
 * Applies graph-level lowerings bottom-up until none applies: a lowering's result is expanded again (a final
 * pass over partials can itself be too long).
 */
function expandGraph(roots: Node[], target: DeviceTarget): Node[] {
  const memo = new Map<number, Node>();
  const run = (rs: Node[]): void => {
    for (const n of toposort(rs)) {
      if (memo.has(n.id)) continue;
      const src = n.src.map((s) => memo.get(s.id)!);
      let m = src.every((s, i) => s === n.src[i]) ? n : mk(n.op, n.dtype, n.shape, src, n.arg, n.site);
      const nm = nodeName(n);
      if (nm && m !== n) nameNode(m, nm);
      const e = loweringOf(m.op)?.expand?.(m, target);
      if (e && e !== m) {
        run([e]);
        m = memo.get(e.id)!;
      }
      memo.set(n.id, m);
      memo.set(m.id, m);
    }
  };
  run(roots);
  return roots.map((r) => memo.get(r.id)!);
}

interface Domain {
  R: number;
  L: number;
}

/**
 * The domain a target is computed over, and whether it is written per element or per row. A per-row
 * target (one element per row) that is (a function of) a reduction runs in the reduction's domain, so that
 * `active.where(x.abs().max(), old)` lives in the same kernel as the elementwise work over x.
 */
/**
 * The reduction whose rows a target's elements are, if any: the nearest one reached from the target through
 * elementwise ops, reshapes and broadcasts only, with one value per element of the target. Those keep the
 * flat order, so element i is row i: [..., 1] as reductions keep it, but also [...] after keepdim=false
 * (else x.sum(false) would be computed in a temporary and copied by a second kernel). The search stops at
 * any reduction (a reduction over a broadcast of another one, in rows of another length, runs in its own
 * domain: taking the inner one made materializing the outer recurse forever) and at matmuls and gathers,
 * which reorder elements (a [C] column sum is not per-row of a layer norm that has C rows).
 */
function rowReduction(n: Node): Node | undefined {
  const seen = new Set<number>();
  let level = [n];
  while (level.length) {
    const next: Node[] = [];
    for (const x of level) {
      if (seen.has(x.id)) continue;
      seen.add(x.id);
      if (x.op === "reduce") {
        if (numel(x.shape) === numel(n.shape)) return x;
      } else if (!ownKernel(x) && x.op !== "gather" && x.op !== "contiguous") next.push(...x.src);
    }
    level = next;
  }
  return undefined;
}

function domainOf(n: Node): Domain & { rowOutput: boolean } {
  const s = n.shape;
  const red = rowReduction(n);
  if (red) {
    const xs = red.src[0].shape;
    const L = xs[xs.length - 1];
    return { R: numel(xs) / L, L, rowOutput: true };
  }
  const L = s.length ? s[s.length - 1] : 1;
  return { R: L === 0 ? 0 : numel(s) / L, L, rowOutput: false };
}

/**
 * `declared` lists every input slot of a traced function (a jit's inputs), used or not, so slot numbers of
 * outputs and temporaries never collide with an input the graph happens not to read. `target`: the device
 * facts (DEFAULT_TARGET when scheduling without a device).
 */
export function schedule(targetsIn: Target[], programName: string, declared: SlotInfo[] = [], target: DeviceTarget = DEFAULT_TARGET): Schedule {
  const expanded = expandGraph(targetsIn.map((t) => t.node), target);
  const targets = targetsIn.map((t, i) => ({ ...t, node: expanded[i] }));
  const slots: SlotInfo[] = declared.map((d) => ({ ...d, kind: "input" as const }));
  const inputs = toposort(targets.map((t) => t.node)).filter((n) => n.op === "input");
  for (const n of inputs) {
    const a = n.arg as { slot: number; name: string };
    const prev = slots[a.slot];
    if (prev && (prev.dtype !== n.dtype || numel(prev.shape) !== numel(n.shape)))
      throw new Error(`octet: input slot ${a.slot} used with two different types (${prev.dtype}${shapeStr(prev.shape)} and ${n.dtype}${shapeStr(n.shape)})`);
    slots[a.slot] = { kind: "input", name: a.name, dtype: n.dtype, shape: n.shape };
  }
  for (let i = 0; i < slots.length; i++) slots[i] ??= { kind: "input", name: `unused${i}`, dtype: "f32", shape: [0] };

  const out: ScheduledKernel[] = [];
  const materialized = new Map<number, number>();
  let kernelCount = 0;

  const materialize = (node: Node): number => {
    const hit = materialized.get(node.id);
    if (hit !== undefined) return hit;
    const slot = slots.push({ kind: "temp", name: nodeName(node) ?? `t${slots.length}`, dtype: node.dtype, shape: node.shape }) - 1;
    emitKernel([{ node, name: slots[slot].name, slot }]);
    materialized.set(node.id, slot);
    return slot;
  };

  // A buffer holding n's elements in order: reshapes are free views of the same slot.
  const slotOf = (n: Node): number => {
    let x = n;
    while (x.op === "reshape") x = x.src[0];
    return x.op === "input" ? (x.arg as { slot: number }).slot : materialize(x.op === "contiguous" ? x.src[0] : x);
  };
  const kernelName = () => `${programName}${kernelCount++ ? `_${kernelCount - 1}` : ""}`;
  const ctx: LowerContext = { slots, target, slotOf: (n) => slotOf(n), kernelName };
  /** Runs `f` and undoes every kernel, slot and temporary it made: a dry run of a lowering. */
  const trial = <T>(f: () => T, keep: (r: T) => boolean = () => false): T => {
    const [nOut, nSlots, nKernels, memo] = [out.length, slots.length, kernelCount, new Set(materialized.keys())];
    let r: T | undefined;
    try {
      return (r = f());
    } finally {
      if (r === undefined || !keep(r)) {
        out.length = nOut;
        slots.length = nSlots;
        kernelCount = nKernels;
        for (const id of [...materialized.keys()]) if (!memo.has(id)) materialized.delete(id);
      }
    }
  };
  const lower = (group: GroupTarget[], force: boolean) => lowerKernel(group, domainOf(group[0].node), slots, materialize, slotOf, kernelName(), target, force);

  const emitKernel = (group: GroupTarget[]): void => {
    const own = loweringOf(group[0].node.op)?.kernels;
    if (own) {
      const { node, name, slot } = group[0];
      // A node with kernels of its own that is both a result and an operand of another such node (the
      // attention output O, read by its backward; a matmul result) is computed once: whichever use comes
      // second reads the first one's buffer. A result written into an input slot is not recorded, since a
      // later in-place target may overwrite that input.
      const done = materialized.get(node.id);
      if (done !== undefined && done !== slot) emitFitted([{ node: mk("input", node.dtype, node.shape, [], { slot: done, name: slots[done].name }), name, slot }]);
      else {
        out.push(...own(node, slot, ctx).map((sk) => ({ site: node.site, ...sk })));
        if (slots[slot].kind !== "input") materialized.set(node.id, slot);
      }
      for (const extra of group.slice(1)) emitKernel([extra]);
      return;
    }
    // A group that fits without forced temporaries keeps that lowering (forcing changes nothing then). Redoing
    // it would lower every operand's kernels again, inside each of their own dry runs too: 2^depth lowerings of
    // a chain of materialized nodes (a 12-layer GPT's forward never finished scheduling).
    const fitted = trial(() => lower(group, false), (k) => !!k);
    if (fitted) return void out.push({ site: group.find((g) => g.node.site)?.node.site, ...fitted });
    if (!writesInPlace(group, slots)) return emitFitted(group);
    // Too many buffers for one kernel, and the group overwrites inputs: split it so that every kernel that
    // reads an input's old value runs before the one that overwrites it. Components that fit together share
    // a kernel (no forced temporaries between them).
    let pack: GroupTarget[] = [];
    for (const comp of targetOrder(group, slots)) {
      if (pack.length && trial(() => lower([...pack, ...comp], false))) pack.push(...comp);
      else {
        if (pack.length) emitComponent(pack);
        pack = [...comp];
      }
    }
    emitComponent(pack);
  };

  /** Targets in an order that is already safe (or that write no inputs): one kernel, else halves. */
  const emitFitted = (group: GroupTarget[]): void => {
    const k = lower(group, true);
    if (k) out.push({ site: group.find((g) => g.node.site)?.node.site, ...k });
    else {
      // Too many outputs and inputs for one kernel: halve the group.
      const mid = Math.ceil(group.length / 2);
      emitKernel(group.slice(0, mid));
      emitKernel(group.slice(mid));
    }
  };

  /**
   * One hazard component: one kernel (with forced temporaries if it needs them). One that cannot fit even so
   * goes through temporaries.
   */
  const emitComponent = (comp: GroupTarget[]): void => {
    if (comp.length === 1 || trial(() => lower(comp, true))) return emitFitted(comp);
    staged([comp]);
  };

  /**
   * Groups whose in-place writes depend on each other's old values and cannot share one kernel: every new
   * value is written to a temporary first (kernels that only read inputs), then copied over its input.
   */
  const staged = (gs: GroupTarget[][]): void => {
    const copies: GroupTarget[] = [];
    // Groups run in this order, so a group may overwrite an input in place when no LATER group reads its old
    // value (a 4-bit update: the codes group runs last and reads the old absmax, so only absmax needs a temporary;
    // p and the codes are written in place). A lone group keeps every write in a temporary.
    const laterReads = gs.map((_, i) => new Set(gs.slice(i + 1).flatMap((g) => g.flatMap((t) => [...inputsRead(t.node)]))));
    for (const [i, g] of gs.entries()) {
      const redirected = g.map((t) => {
        if (slots[t.slot].kind !== "input" || (gs.length > 1 && !laterReads[i].has(t.slot))) return t;
        const s = slots[t.slot];
        const temp = slots.push({ kind: "temp", name: `${t.name}_new`, dtype: s.dtype, shape: s.shape }) - 1;
        copies.push({ node: mk("input", s.dtype, s.shape, [], { slot: temp, name: slots[temp].name }), name: t.name, slot: t.slot });
        return { node: t.node, name: slots[temp].name, slot: temp };
      });
      emitKernel(redirected);
    }
    for (const c of copies) emitFitted([c]);
  };

  // Group targets by domain; targets that write into inputs go last, so other kernels read old values.
  const results: number[] = [];
  const groups = new Map<string, GroupTarget[]>();
  for (let t of targets) {
    let slot: number;
    if (t.into !== undefined) {
      const s = slots[t.into];
      if (!s || s.kind !== "input") throw new Error(`octet: target ${t.name} writes into slot ${t.into}, which is not an input`);
      if (s.dtype !== t.node.dtype || numel(s.shape) !== numel(t.node.shape))
        throw new Error(`octet: cannot write ${t.node.dtype}${shapeStr(t.node.shape)} into ${s.name} (${s.dtype}${shapeStr(s.shape)})`);
      slot = t.into;
    } else slot = slots.push({ kind: "output", name: t.name, dtype: t.node.dtype, shape: t.node.shape }) - 1;
    results.push(slot);
    if (t.node.op === "contiguous") t = { ...t, node: t.node.src[0] };
    // A reshape of a node with kernels of its own: those kernels write the elements in order straight into
    // the target's buffer (no copy kernel).
    let base = t.node;
    while (base.op === "reshape") base = base.src[0];
    if (base !== t.node && ownKernel(base)) t = { ...t, node: base };
    const d = domainOf(t.node);
    const key = ownKernel(t.node) ? `own${t.node.id}` : `${d.R}x${d.L}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push({ node: t.node, name: t.name, slot });
  }
  const isInput = (slot: number) => slots[slot].kind === "input";
  const ordered = [...groups.values()].sort((a, b) => +a.some((t) => isInput(t.slot)) - +b.some((t) => isInput(t.slot)));
  // Groups (kernels of different domains) in an order where every read of an input's old value comes before
  // the write; groups that overwrite what each other reads go through temporaries.
  const readsOf = (g: GroupTarget[]) => new Set(g.flatMap((t) => [...inputsRead(t.node)]));
  const writesOf = (g: GroupTarget[]) => g.filter((t) => isInput(t.slot)).map((t) => t.slot);
  for (const comp of hazardOrder(ordered, readsOf, writesOf)) {
    if (comp.length === 1) emitKernel(comp[0]);
    else staged(comp);
  }
  checkHazards(out, slots);

  const uniforms = [...new Set(out.flatMap((k) => k.kernel.uniforms.map((u) => u.name).filter((u) => !k.consts || !(u in k.consts))))].sort();
  return { slots, kernels: out, results, uniforms, target };
}

// --------------------------------------------------------------------------------------------------------
function lowerKernel(
  group: GroupTarget[],
  dom: Domain,
  slots: SlotInfo[],
  materialize: (n: Node) => number,
  slotOf: (n: Node) => number,
  name: string,
  target: DeviceTarget,
  /** Whether subexpressions may be computed into temporaries to fit the storage-buffer budget. */
  force: boolean,
): ScheduledKernel | undefined {
  const bindings: Binding[] = [];
  const bindingOf = (slot: number, mode: LoadMode, write: boolean, tableWidth?: number): number => {
    let i = bindings.findIndex((b) => b.slot === slot && b.mode === mode && b.tableWidth === tableWidth);
    if (i < 0) {
      const s = slots[slot];
      i = bindings.push({ name: s.name, slot, dtype: s.dtype, mode, tableWidth, read: false, write: false }) - 1;
    }
    if (write) bindings[i].write = true;
    else bindings[i].read = true;
    return i;
  };
  const { R, L } = dom;
  const scalarShape: Shape = [];
  const memo = new Map<string, Node>();
  const unsupported = (n: Node, why: string): never => {
    throw new DslError(n.op, `${why} (in a kernel over rows of ${L})`, n.site || "<traced graph>");
  };

  // The flat position of an element of the current node, by mode.
  const u32 = (v: number) => mk("const", "u32", scalarShape, [], v);
  const rIdx = mk("iota", "u32", scalarShape, [], 0);
  const cIdx = mk("iota", "u32", scalarShape, [], 1);
  const flatPos = (mode: LoadMode): Node =>
    mode === "elem" ? (L === 1 ? rIdx : mk("add", "u32", scalarShape, [mk("mul", "u32", scalarShape, [rIdx, u32(L)], undefined), cIdx], undefined))
    : mode === "row" ? rIdx
    : mode === "col" ? cIdx
    : u32(0);

  const forced = new Set<number>(); // nodes computed by a kernel of their own to stay within the binding limit
  const gathers: GatherUse[] = []; // the gathers fused into this kernel (this pass of the loop below)
  const rewrite = (n: Node, mode: LoadMode): Node => {
    const key = `${n.id}:${mode}`;
    const hit = memo.get(key);
    if (hit) return hit;
    const r = forced.has(n.id) ? load(materialize(n), mode, n.dtype) : rewriteUncached(n, mode);
    const nm = n.op === "input" ? undefined : nodeName(n);
    // DSL names survive into the kernel (and so into WGSL). Not onto a load: load nodes are hash-consed by binding
    // and mode alone, so one kernel's name (first wins) would stick to every later kernel's load of that binding
    // (a golden kernel read its x as "gnorm_order" after an optimizer test); a load takes its binding's name.
    if (nm && r.op !== "load") nameNode(r, nm);
    memo.set(key, r);
    return r;
  };
  const load = (slot: number, mode: LoadMode, dtype: DType, idx?: Node, tableWidth?: number): Node =>
    mk("load", dtype, scalarShape, idx ? [idx] : [], { binding: bindingOf(slot, mode, false, tableWidth), mode });

  const rewriteUncached = (n: Node, mode: LoadMode): Node => {
    switch (n.op) {
      case "input":
        return load((n.arg as { slot: number }).slot, mode, n.dtype);
      case "buffer":
        throw new Error("octet: a realized buffer reached the scheduler; canonicalize the graph first");
      case "load":
        throw new Error("octet: a kernel-IR load reached the scheduler");
      case "const":
      case "uniform":
        return mk(n.op, n.dtype, scalarShape, [], n.arg);
      case "iota": {
        const D = n.shape[n.shape.length - 1];
        if (mode === "elem" && D === L) return castTo(n.arg === 1 ? cIdx : rIdx, n.dtype);
        const f = flatPos(mode);
        const v = mk(n.arg === 1 ? "mod" : "div", "u32", scalarShape, [f, u32(D)], undefined);
        return castTo(v, n.dtype);
      }
      case "reshape":
        return rewrite(n.src[0], mode);
      case "expand": {
        const x = n.src[0];
        const xs = x.shape;
        if (numel(xs) === numel(n.shape)) return rewrite(x, mode);
        if (numel(xs) === 1) return rewrite(x, "scalar");
        const S = n.shape;
        const lastX = xs[xs.length - 1];
        const lead = (s: Shape) => s.slice(0, -1);
        if (mode === "elem" && S[S.length - 1] === L) {
          if (lastX === 1 && lead(xs).every((d, i) => d === lead(S)[i])) return rewrite(x, "row");
          if (lastX === L && lead(xs).every((d) => d === 1)) return rewrite(x, "col");
        }
        return unsupported(n, `broadcast of ${shapeStr(xs)} to ${shapeStr(S)} is not supported: only per-row [..., 1] and per-column [1, ..., L] broadcasts fuse`);
      }
      case "reduce": {
        const x = n.src[0];
        if (mode === "row" && x.shape[x.shape.length - 1] === L && numel(x.shape) === R * L)
          return mk("reduce", n.dtype, scalarShape, [rewrite(x, "elem")], n.arg);
        return load(materialize(n), mode, n.dtype);
      }
      case "contiguous":
        return n.src[0].op === "input" ? rewrite(n.src[0], mode) : load(materialize(n.src[0]), mode, n.dtype);
      case "gather": {
        const [table, index] = n.src;
        const tslot = slotOf(table);
        const fused = (idx: Node, width: number) => {
          gathers.push({ node: n, slot: tslot, index: idx });
          return load(tslot, "table", n.dtype, idx, width);
        };
        if (table.shape.length === 1) return fused(rewrite(index, mode), 1);
        const D = table.shape[1];
        if (mode === "elem" && D === L) return fused(rewrite(index, "row"), D);
        return load(materialize(n), mode, n.dtype);
      }
      default:
        if (ownKernel(n)) return load(materialize(n), mode, n.dtype);
        return mk(n.op, n.dtype, scalarShape, n.src.map((s) => rewrite(s, mode)), n.arg);
    }
  };
  const castTo = (v: Node, d: DType): Node => (d === "u32" ? v : mk("cast", d, scalarShape, [v], d));

  let outputs: KernelOutput[] = [];
  for (;;) {
    outputs = [];
    for (const t of group) {
      const mode: LoadMode = domainOf(t.node).rowOutput ? "row" : "elem";
      const node = rewrite(t.node, mode);
      outputs.push({ binding: bindingOf(t.slot, mode, true), node });
    }
    const roots = group.map((g) => g.node);
    const split = gathersToSplit(gathers, roots, outputs.map((o) => o.node), slots, target, L);
    if (split === "targets") return undefined; // two targets gather one large table differently: the caller splits them
    if (split.length) {
      // Computed by kernels of their own (materialized), so the runtime can chunk each table: see gathersToSplit.
      for (const g of split) forced.add(g.id);
      bindings.length = 0;
      memo.clear();
      gathers.length = 0;
      continue;
    }
    if (bindings.length <= target.maxStorageBuffers) break;
    if (!force) return undefined;
    // Too many buffers for one kernel: split off the fused subexpression that reads the most of them.
    const pick = widestSubexpression(group.map((g) => g.node), forced);
    if (!pick && group.length > 1) return undefined; // the caller splits the targets over several kernels
    if (!pick) throw new Error(`octet: ${name} needs ${bindings.length} storage bindings (limit ${target.maxStorageBuffers}) and cannot be split`);
    forced.add(pick.id);
    bindings.length = 0;
    memo.clear();
    gathers.length = 0;
  }
  for (const b of bindings) {
    if (!b.write) continue;
    const clash = bindings.find((o) => o !== b && o.slot === b.slot && o.read);
    if (clash) throw new Error(`octet: ${name} updates ${b.name} in place but also reads it at another position (${clash.mode}); write to a new tensor`);
  }

  const graph = toposort(outputs.map((o) => o.node));
  const hasReduce = graph.some((n) => n.op === "reduce");
  const usesRowCol = graph.some((n) => n.op === "iota") || bindings.some((b) => b.mode !== "elem" && b.mode !== "scalar");
  // A map kernel that only reads whole elements does not care how rows are cut: make it one long row
  // axis of length-1 rows, so its key (and WGSL) is the same for every shape.
  const flat = !hasReduce && !usesRowCol;
  const kL = flat ? 1 : L;
  const kR = flat ? R * L : R;
  const vec: 1 | 4 = kL === 1 || kL % 4 === 0 ? 4 : 1;
  if (hasReduce && kL > maxReduceRow(kL)) // the reduce lowering splits long rows before this point
    throw new Error(`octet: ${name} reduces rows of ${kL} elements, longer than one workgroup handles (${maxReduceRow(kL)}); codegen/lowerings/reduce.ts should have split it`);
  const kvec: 1 | 4 = hasReduce && kL === 1 ? 1 : vec;
  for (const b of bindings)
    if (b.write && isPacked(b.dtype) && (kvec !== 4 || b.mode !== "elem"))
      throw new Error(`octet: ${name} writes ${b.dtype} ${b.name} ${b.mode === "row" ? "per row" : "from a scalar kernel"}; ${DTYPES[b.dtype].bits}-bit outputs need rows that are a multiple of 4 elements`);

  const uniforms = [...new Map(graph.filter((n) => n.op === "uniform").map((n) => [n.arg as string, n.dtype])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, dtype]) => ({ name, dtype }));
  const source = printGraph(group.map((g) => g.node), group.map((g) => g.name));
  const kernel: Kernel = { name, kind: hasReduce ? "row" : "map", L: kL, vec: kvec, bindings, uniforms, outputs, source, target, key: "" };
  kernel.key = kernelKey(kernel);
  return { kernel, rows: kR };
}

/** A gather fused into a kernel: the graph node, the table's slot and the index as rewritten into the kernel. */
interface GatherUse {
  node: Node;
  slot: number;
  index: Node;
}

/** Bytes of a slot's buffer as the runtime allocates it. */
const slotBytes = (s: SlotInfo) => paddedBytes(s.dtype, numel(s.shape));

/**
 * The gathers that must not be fused into this kernel because the runtime could not chunk it otherwise. A
 * table larger than one storage binding is bound one chunk of its rows per dispatch, and each dispatch
 * stores only the elements whose index falls in its chunk (runtime/execute.ts). That is exact when every
 * stored value reads the table through one index: a second index (the same table gathered twice, or a
 * second large table) may need a row of another chunk, and in a row kernel a reduction over a per-element
 * index would combine rows of several chunks. Those gathers are computed by a map kernel of their own
 * (which the runtime chunks by itself) and read back elementwise. The kernel keeps the gather of a target
 * (which cannot be moved out of its own kernel), else the first one. Only tables above the target's binding
 * limit count, so kernels on small tensors are unchanged.
 */
function gathersToSplit(gathers: GatherUse[], roots: Node[], kernelOutputs: Node[], slots: SlotInfo[], target: DeviceTarget, L: number): Node[] | "targets" {
  const big = gathers.filter((g) => slotBytes(slots[g.slot]) > target.maxStorageBindingBytes);
  if (!big.length) return [];
  const isRoot = (g: GatherUse) => roots.includes(g.node);
  const keep = big.find(isRoot) ?? big[0];
  const other = (g: GatherUse) => g.slot !== keep.slot || g.index !== keep.index;
  if (big.some((g) => isRoot(g) && other(g))) return roots.length > 1 ? "targets" : [];
  const out = big.filter(other).map((g) => g.node);
  const rowKernel = toposort(kernelOutputs).some((n) => n.op === "reduce");
  if (rowKernel && L > 1 && variesInRow(keep.index)) {
    if (!isRoot(keep)) out.push(keep.node);
    else if (roots.length > 1) return "targets";
  }
  return [...new Set(out)];
}

/** Whether a kernel-IR value can differ between the elements of one row (it reads the column index or elements). */
function variesInRow(n: Node): boolean {
  return toposort([n]).some((x) => (x.op === "iota" && x.arg === 1) || (x.op === "load" && ["elem", "col"].includes((x.arg as { mode: LoadMode }).mode)));
}

const BOUNDARY = new Set(["input", "contiguous", "gather", "reduce"]);
const isBoundary = (n: Node) => BOUNDARY.has(n.op) || ownKernel(n);
/** The elementwise node (not a target, not yet forced) whose fused subtree reads the most distinct buffers. */
function widestSubexpression(roots: Node[], forced: Set<number>): Node | undefined {
  const reads = new Map<number, Set<number>>();
  let best: Node | undefined;
  let bestSize = 1;
  for (const n of toposort(roots)) {
    const own = new Set<number>();
    if (isBoundary(n) || forced.has(n.id)) own.add(n.id);
    if (n.op !== "input" && !forced.has(n.id)) for (const s of n.src) for (const r of reads.get(s.id)!) own.add(r);
    reads.set(n.id, own);
    const elementwise = !isBoundary(n) && !["const", "uniform", "iota", "reshape", "expand"].includes(n.op);
    if (elementwise && !roots.includes(n) && !forced.has(n.id) && own.size > bestSize) {
      best = n;
      bestSize = own.size;
    }
  }
  return best;
}

/** A stable hash of a kernel's structure (graph, bindings, geometry), not of any size. */
export function kernelKey(k: Kernel): string {
  const order = toposort(k.outputs.map((o) => o.node));
  const local = new Map<number, number>();
  // The name is left out: identical kernels from different programs share one pipeline (the WGSL header
  // shows the name of the first program that compiled it).
  const parts: (string | number)[] = [k.kind, k.L, k.vec, targetKey(k.target ?? DEFAULT_TARGET)];
  for (const b of k.bindings) parts.push(`${b.name}:${b.dtype}:${b.mode}:${b.tableWidth ?? ""}:${+b.read}${+b.write}`);
  for (const n of order) {
    local.set(n.id, local.size);
    const a = n.arg;
    const arg = a === undefined ? "" : typeof a === "object" ? ("binding" in a ? `b${a.binding}` : "?") : Object.is(a, -0) ? "-0" : String(a);
    parts.push(`${n.op}:${n.dtype}:${arg}:${nodeName(n) ?? ""}:${n.src.map((s) => local.get(s.id)).join(",")}`);
  }
  for (const o of k.outputs) parts.push(`out${o.binding}=${local.get(o.node.id)}`);
  return hashString(parts.join("|"));
}
