// The IR: one node type for every expression, tagged by `op`, hash-consed so equal subexpressions are one
// object (and so one computation in a kernel). Nodes never change after construction.
//
// Leaves:   input (a buffer slot of a traced program), buffer (a realized lazy tensor's storage),
//           const (a literal baked into the kernel), uniform (a runtime scalar: never baked, so changing it
//           never recompiles), iota (the element's index along an axis).
// Interior: every primitive of prims.ts (elementwise, typed by the primitive table), plus the structural
//           ops reshape, expand (broadcast), reduce (over the last axis, keeping it as 1), colreduce (over the
//           leading axis of an [R, C] source: one value per column, shape [1, C]), gather, scatter (the
//           transpose of gather: rows of src summed into the table rows their indices name; indices outside
//           the table add nothing) and logsumexp (log(sum(exp(x))) over the last axis, kept as 1, any length), and
//           attention (fused causal self-attention on packed q|k|v rows, forward or backward: dsl/attention.ts).
import type { DType } from "./dtype.ts";

export type ReduceOp = "sum" | "max" | "min";

export type Op =
  | "input"
  | "buffer"
  | "const"
  | "uniform"
  | "iota"
  | "reshape"
  | "expand"
  | "reduce"
  | "colreduce"
  | "gather"
  | "scatter"
  | "logsumexp"
  | "matmul"
  | "attention"
  | "contiguous"
  | "cast"
  | "bitcast"
  | "load" // kernel IR only: a read of binding `arg.binding` at the element's position (see codegen/kernel.ts)
  | PrimName;

// Elementwise primitive names; their rules live in prims.ts.
export type PrimName =
  | "neg" | "abs" | "sqrt" | "rsqrt" | "recip" | "exp" | "log" | "exp2" | "log2" | "tanh" | "sin" | "cos"
  | "sign" | "floor" | "ceil" | "trunc" | "round" | "not"
  | "add" | "sub" | "mul" | "div" | "mod" | "pow" | "min" | "max" | "atan2"
  | "lt" | "le" | "gt" | "ge" | "eq" | "ne" | "and" | "or" | "xor" | "shl" | "shr"
  | "select";

export type Shape = readonly number[];

/** What a leaf or structural node carries besides its sources. */
export type Arg =
  | undefined
  | number // const value; iota axis
  | string // uniform name; reduce / colreduce op; cast/bitcast target
  | { slot: number; name: string } // input
  | { storage: object; name: string; version: number } // buffer: the storage object, and its version when captured
  | { binding: number; mode: LoadMode } // load (kernel IR)
  | { ta: boolean; tb: boolean } // matmul
  | AttentionArg; // attention

/**
 * Fused causal self-attention over T positions and H heads (dsl/attention.ts). "forward": src [qkv] -> O
 * [B*T, C]; "backward": src [qkv, O, dO] -> d qkv [B*T, 3C].
 */
export interface AttentionArg {
  attention: "forward" | "backward";
  T: number;
  H: number;
}

/** How a kernel over an [R, L] domain reads a binding at element (r, c): see codegen/kernel.ts. */
export type LoadMode = "elem" | "row" | "col" | "scalar" | "table";

export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly src: readonly Node[];
  readonly arg: Arg;
  /** Where user code created this node (first creator wins), for error messages. */
  readonly site: string;
}

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);
export const shapeStr = (s: Shape): string => `[${s.join(",")}]`;
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

// Hash-consing table. Values are weak so that graphs over dead buffers (a training loop makes new ones every
// step) can be collected; the registry removes their keys.
const table = new Map<string, WeakRef<Node>>();
const registry = new FinalizationRegistry<string>((key) => {
  const ref = table.get(key);
  if (ref && ref.deref() === undefined) table.delete(key);
});
const storageIds = new WeakMap<object, number>();
let nextId = 1;
let nextStorageId = 1;

function argKey(arg: Arg): string {
  if (arg === undefined) return "";
  if (typeof arg === "number") return Object.is(arg, -0) ? "-0" : String(arg); // NaN, Infinity print fine
  if (typeof arg === "string") return arg;
  // An input's name is part of it: it names the WGSL binding (and so the kernel key). Keyed by slot alone,
  // Tensor.input(1, "g") would be whichever input 1 was made first in the process (say a lazy graph's "x1").
  if ("slot" in arg) return `slot${arg.slot}:${arg.name}`;
  if ("binding" in arg) return `b${arg.binding}:${arg.mode}`;
  if ("ta" in arg) return `${+arg.ta}${+arg.tb}`;
  if ("attention" in arg) return `${arg.attention}:T${arg.T}:H${arg.H}`;
  let sid = storageIds.get(arg.storage);
  if (sid === undefined) storageIds.set(arg.storage, (sid = nextStorageId++));
  // The version is part of the key: a leaf captured before an in-place write and one made after it are two
  // nodes, so a graph built before the write keeps the old one and realize can tell (runtime/realize.ts).
  return `buf${sid}@${arg.version}`;
}

/**
 * The one constructor of nodes: returns the existing node when an equal one is alive. `site` may be a
 * function (the DSL passes callSite), called only when the node is new: a stack trace per cache hit would
 * make re-tracing slow.
 */
export function mk(op: Op, dtype: DType, shape: Shape, src: readonly Node[], arg: Arg, site: string | (() => string) = ""): Node {
  const key = `${op}|${dtype}|${shape.join(",")}|${argKey(arg)}|${src.map((s) => s.id).join(",")}`;
  const hit = table.get(key)?.deref();
  if (hit) return hit;
  const where = typeof site === "function" ? site() : site;
  const node: Node = Object.freeze({ id: nextId++, op, dtype, shape: Object.freeze([...shape]), src, arg, site: where });
  table.set(key, new WeakRef(node));
  registry.register(node, key);
  return node;
}

/** Nodes reachable from the roots, sources before users (a topological order). */
export function toposort(roots: readonly Node[]): Node[] {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: [Node, boolean][] = roots.map((r) => [r, false]);
  stack.reverse();
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) {
      out.push(n);
      continue;
    }
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    stack.push([n, true]);
    for (let i = n.src.length - 1; i >= 0; i--) if (!seen.has(n.src[i].id)) stack.push([n.src[i], false]);
  }
  return out;
}

/** Rebuilds a graph bottom-up, replacing nodes for which `leaf` returns a substitute. */
export function substitute(roots: readonly Node[], leaf: (n: Node) => Node | undefined): Node[] {
  const memo = new Map<number, Node>();
  for (const n of toposort(roots)) {
    const sub = leaf(n);
    if (sub) {
      memo.set(n.id, sub);
      continue;
    }
    const src = n.src.map((s) => memo.get(s.id)!);
    memo.set(n.id, src.every((s, i) => s === n.src[i]) ? n : mk(n.op, n.dtype, n.shape, src, n.arg, n.site));
  }
  return roots.map((r) => memo.get(r.id)!);
}
