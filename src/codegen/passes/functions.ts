// Repeated subgraphs of a kernel, rendered once as a WGSL function and called at each place (codegen/wgsl.ts).
// An optimizer with two states of one signedness (AdEMAMix8bit's m1 and m2) encodes both with the same
// ~50-operation encoder; inlined, the kernel carries it twice.
//
// Two nodes are twins when the graphs under them are the same computation on different inputs: the same ops,
// dtypes, constants and uniforms, node for node, down to the region's boundary. The boundary is what a
// function cannot compute itself: buffer reads at the element's position (they need the element index),
// values of an earlier phase (kept in registers, or a finished reduction), values that are one per row, and
// gathers from a chunked table (their stores are guarded). Boundary nodes become the function's parameters.
// A region is kept only if none of its inner nodes is used outside it (the value would be needed twice) and
// it is large enough to be worth a call.
import { nodeName } from "../../dsl/names.ts";
import type { LoadMode, Node } from "../../dsl/node.ts";
import type { Kernel } from "../kernel.ts";
import type { KernelPlan } from "./liveness.ts";

/** One function: the representative region (the first instance's nodes) and every call of it. */
export interface KernelFunction {
  /** The WGSL name (made unique by the emitter). */
  name: string;
  /** Parameters of the representative instance, in order. */
  params: Node[];
  /** The representative's root (its value is the function's result). */
  root: Node;
  /** Every instance (the representative first): its root and its arguments, aligned with `params`. */
  calls: { root: Node; args: Node[] }[];
}

/** Regions with fewer inner operations than this stay inline: a call would not make the kernel shorter. */
const MIN_OPS = 12;
/** Regions that would need more parameters than this stay inline (a call with many arguments reads worse). */
const MAX_PARAMS = 6;
/** Depth of the structural hash that proposes twin candidates (the pairing walk then checks them fully). */
const HASH_DEPTH = 4;

export function findFunctions(k: Kernel, plan: KernelPlan): KernelFunction[] {
  const { order, phase, home, elem, users } = plan;
  const outputs = new Set(k.outputs.map((o) => o.node.id));
  /** Whether n may be inside a region rooted in phase p (the alternative: a parameter). */
  const inner = (n: Node, p: number, banned: Set<number>): boolean => {
    // A computed value must be computed in the region's phase; a gather is issued wherever it is used.
    if (banned.has(n.id) || !elem.get(n.id) || (n.op === "load" ? phase.get(n.id)! > p : home.get(n.id) !== p)) return false;
    if (n.op === "iota" || n.op === "reduce" || n.op === "const" || n.op === "uniform") return false;
    if (n.op === "load") {
      const { mode, binding } = n.arg as { mode: LoadMode; binding: number };
      return mode === "table" && (k.bindings[binding].tableWidth ?? 1) === 1 && k.tableChunk !== binding && n.src.length > 0;
    }
    return true;
  };
  const leaf = (s: Node) => s.op === "const" || s.op === "uniform";
  const argText = (n: Node) => (n.op === "load" ? `b${(n.arg as { binding: number }).binding}` : typeof n.arg === "object" ? "" : String(n.arg));

  // Candidates: nodes whose graphs agree to a small depth (ops, dtypes, constants, uniforms).
  const hash = new Map<number, string>();
  const shallow = (n: Node, d: number): string =>
    leaf(n) ? `${n.op}:${n.dtype}:${String(n.arg)}` : d === 0 || !elem.get(n.id) ? `*${n.dtype}` : `${n.op}:${n.dtype}:${argText(n)}(${n.src.map((s) => shallow(s, d - 1)).join(",")})`;
  const groups = new Map<string, Node[]>();
  for (const n of order) {
    if (n.op === "load" || !inner(n, home.get(n.id) ?? -1, new Set())) continue;
    const h = shallow(n, HASH_DEPTH);
    hash.set(n.id, h);
    (groups.get(h) ?? groups.set(h, []).get(h)!).push(n);
  }

  const index = new Map(order.map((n, i) => [n.id, i]));
  const claimed = new Set<number>();
  const out: KernelFunction[] = [];
  // Later nodes first: the largest regions are found before the twins inside them.
  for (const n of [...order].reverse()) {
    const h = hash.get(n.id);
    if (h === undefined || claimed.has(n.id)) continue;
    const others = groups.get(h)!.filter((m) => m !== n && !claimed.has(m.id) && index.get(m.id)! < index.get(n.id)!);
    if (!others.length) continue;
    // n (the last instance) is the representative: paired with each earlier twin, keeping the pairings whose
    // region of n (and parameters) agree with the first one's.
    const pairs = others.map((m) => pairUp(n, m)).filter((x): x is Pairing => !!x);
    if (!pairs.length) continue;
    const rep = pairs[0];
    const same = pairs.filter((x) => x.a.size === rep.a.size && [...x.a].every((id) => rep.a.has(id)) && x.params.length === rep.params.length && x.params.every((q, i) => q[0] === rep.params[i][0]));
    const all = new Set<number>();
    if ([rep.a, ...same.map((x) => x.b)].some((r) => [...r].some((id) => all.has(id) || !all.add(id)))) continue; // regions overlap
    for (const id of all) claimed.add(id);
    out.push({
      name: functionName(n, rep.a),
      params: rep.params.map((q) => q[0]),
      root: n,
      calls: [{ root: n, args: rep.params.map((q) => q[0]) }, ...same.map((x) => ({ root: x.root[1], args: x.params.map((q) => q[1]) }))],
    });
  }
  return out;

  interface Pairing {
    root: [Node, Node];
    /** Region (node ids) of each instance. */
    a: Set<number>;
    b: Set<number>;
    /** Parameter pairs (first instance's node, second's), in the order the walk met them. */
    params: [Node, Node][];
  }
  /**
   * The largest common region under roots ra and rb (anti-unification): walking down from the roots, two nodes
   * are matched when they compute the same op on the same constants and uniforms; where they differ, the pair
   * becomes a parameter. Inner nodes used outside their region are made parameters too (and the walk redone).
   */
  function pairUp(ra: Node, rb: Node): Pairing | undefined {
    const banned = new Set<number>();
    for (let attempt = 0; attempt < 8; attempt++) {
      const pa = home.get(ra.id)!;
      const pb = home.get(rb.id)!;
      const ab = new Map<number, Node>();
      const ba = new Map<number, Node>();
      const params: [Node, Node][] = [];
      const matches = (x: Node, y: Node): boolean => {
        if (ab.has(x.id)) return ab.get(x.id) === y;
        if (ba.has(y.id) || x === y || !inner(x, pa, banned) || !inner(y, pb, banned)) return false;
        if (x.op !== y.op || x.dtype !== y.dtype || argText(x) !== argText(y) || x.src.length !== y.src.length) return false;
        if (x.src.some((s, i) => (leaf(s) || leaf(y.src[i])) && s !== y.src[i])) return false;
        ab.set(x.id, y);
        ba.set(y.id, x);
        x.src.forEach((s, i) => {
          const t = y.src[i];
          if (leaf(s) || matches(s, t)) return;
          const prev = argOf.get(s.id);
          if (!prev) (argOf.set(s.id, t), params.push([s, t]));
          else if (prev !== t) conflict = true; // one parameter of the first instance, two different arguments
        });
        return true;
      };
      const argOf = new Map<number, Node>();
      let conflict = false;
      if (!matches(ra, rb) || conflict) return undefined;
      const a = new Set(ab.keys());
      const b = new Set(ba.keys());
      // Inner nodes used outside their region, or stored, must be computed outside: they become parameters.
      const leaks = (r: Set<number>, root: Node) => [...r].filter((id) => id !== root.id && (outputs.has(id) || (users.get(id) ?? []).some((u) => !r.has(u.id))));
      const leaked = [...leaks(a, ra), ...leaks(b, rb)];
      if (leaked.length) {
        for (const id of leaked) banned.add(id);
        continue;
      }
      if (a.size < MIN_OPS || params.length > MAX_PARAMS) return undefined;
      return { root: [ra, rb], a, b, params };
    }
    return undefined;
  }
  /** The root's DSL name, else the name nearest the root inside the region, else the root's op. */
  function functionName(root: Node, region: Set<number>): string {
    const named = order.filter((n) => region.has(n.id)).reverse().map((n) => nodeName(n)).find((x) => x);
    return `${nodeName(root) ?? named ?? root.op}_fn`;
  }
}
