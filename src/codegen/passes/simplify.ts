// Simplification of the kernel IR, before it is rendered (codegen/wgsl.ts) or evaluated (codegen/interpret.ts):
// both see the same simplified graph, so the interpreter still checks what the GPU runs.
//
// What traced graphs carry that a kernel need not compute:
// - constants: an optimizer traced for one tensor has `is_active = 1 > 0`, which makes every
//   `select(is_active, new, old)` a plain `new` and drops the second read of the old 8-bit code words that
//   only fed that select (about 2 B/param per state);
// - identities: `x + 0` (integers; for floats only `x + -0`, since -0 + 0 is +0), `x - 0`, `x * 1`, `x / 1`,
//   shifts by 0, `x & ~0`, `x | 0`, the encoder's `0u + d` and `d + 0u` (a decade offset of 0);
// - selects: `select(c, x, x)`, `select(c, 1u, 0u)` (a cast of c), `select(c, true, false)`.
// Dead values need no pass: a kernel is its outputs' graph (toposort from them), so what nothing uses after
// these rewrites is simply not there.
//
// Folding evaluates with the primitive table's own rules (dsl/prims.ts), the ones the interpreter uses, and
// only primitives whose evaluation is exact in binary32: the transcendental ones (exp, log, sin, pow, ...)
// are approximate on GPUs, so a folded value could differ from the unfolded kernel's; those stay.
import { nameNode, nodeName } from "../../dsl/names.ts";
import { mk, toposort, type Node, type PrimName } from "../../dsl/node.ts";
import { bitcast, evalCast, isPrim, PRIMS } from "../../dsl/prims.ts";
import { DTYPES } from "../../dsl/dtype.ts";
import type { Kernel } from "../kernel.ts";

const APPROXIMATE = new Set<PrimName>(["exp", "log", "exp2", "log2", "tanh", "sin", "cos", "pow", "atan2"]);

const isConst = (n: Node, v?: number): boolean => n.op === "const" && (v === undefined || Object.is(n.arg, v));
const isInt = (n: Node) => n.dtype === "u32" || n.dtype === "i32";
const constOf = (like: Node, v: number): Node => mk("const", like.dtype, like.shape, [], v, like.site);

/** The value of an all-ones integer constant of n's dtype (-1 as i32, 2^32 - 1 as u32). */
const allOnes = (n: Node): number => (n.dtype === "i32" ? -1 : 0xffffffff);

/** One rewrite of n (whose sources are already simplified), or undefined when no rule applies. */
function rewrite(n: Node): Node | undefined {
  const s = n.src;
  if (n.op === "cast" || n.op === "bitcast") {
    const x = s[0];
    if (x.dtype === n.dtype) return x;
    if (isConst(x)) return constOf(n, n.op === "cast" ? evalCast(x.arg as number, x.dtype, n.dtype) : bitcast(x.arg as number, x.dtype, n.dtype));
    return undefined;
  }
  if (!isPrim(n.op)) return undefined;
  const op = n.op;
  if (!APPROXIMATE.has(op) && s.every((x) => isConst(x)))
    return constOf(n, PRIMS[op].eval(s.map((x) => x.arg as number), n.dtype, s.map((x) => x.dtype)));
  const [a, b] = s;
  const float = DTYPES[n.dtype].float;
  switch (op) {
    case "select": {
      const [c, t, f] = s;
      if (isConst(c)) return c.arg ? t : f;
      if (t === f) return t;
      if (isConst(t, 1) && isConst(f, 0) && (n.dtype === "u32" || n.dtype === "i32" || n.dtype === "bool")) return n.dtype === "bool" ? c : mk("cast", n.dtype, n.shape, [c], n.dtype, n.site);
      if (n.dtype === "bool" && isConst(t, 0) && isConst(f, 1)) return mk("not", "bool", n.shape, [c], undefined, n.site);
      return undefined;
    }
    case "add":
      // x + 0 is x for integers; for floats only x + -0 is (-0 + +0 = +0).
      if (isConst(b, float ? -0 : 0)) return a;
      if (isConst(a, float ? -0 : 0)) return b;
      return undefined;
    case "sub":
      return isConst(b, 0) ? a : undefined; // x - +0 is x for every x, -0 included
    case "mul":
      if (isConst(b, 1)) return a;
      if (isConst(a, 1)) return b;
      if (isInt(n) && (isConst(a, 0) || isConst(b, 0))) return constOf(n, 0);
      return undefined;
    case "div":
      return isConst(b, 1) ? a : undefined;
    case "shl":
    case "shr":
      return isConst(b) && ((b.arg as number) & 31) === 0 ? a : undefined;
    case "and":
      if (n.dtype === "bool") {
        if (isConst(a)) return a.arg ? b : a;
        if (isConst(b)) return b.arg ? a : b;
        return a === b ? a : undefined;
      }
      if (isConst(a, 0) || isConst(b, 0)) return constOf(n, 0);
      if (isConst(b, allOnes(n))) return a;
      if (isConst(a, allOnes(n))) return b;
      return a === b ? a : undefined;
    case "or":
      if (n.dtype === "bool") {
        if (isConst(a)) return a.arg ? a : b;
        if (isConst(b)) return b.arg ? b : a;
        return a === b ? a : undefined;
      }
      if (isConst(b, 0)) return a;
      if (isConst(a, 0)) return b;
      return a === b ? a : undefined;
    case "xor":
      if (isConst(b, 0)) return a;
      if (isConst(a, 0)) return b;
      return undefined;
    case "not":
      return a.op === "not" ? a.src[0] : undefined;
    default:
      return undefined;
  }
}

/** The simplified graphs of `roots` (nodes are hash-consed: an unchanged subgraph is the same object). */
export function simplifyGraph(roots: readonly Node[]): Node[] {
  const memo = new Map<number, Node>();
  for (const n of toposort(roots)) {
    const src = n.src.map((x) => memo.get(x.id)!);
    let m = src.every((x, i) => x === n.src[i]) ? n : mk(n.op, n.dtype, n.shape, src, n.arg, n.site);
    const name = nodeName(n);
    if (m !== n && name && n.op !== "input" && n.op !== "uniform") nameNode(m, name); // the DSL's names survive into the WGSL
    // A rewrite returns a node built from simplified sources (or one of them); rewriting it again reaches the
    // fixed point: select(c, x + 0u, x) -> select(c, x, x) -> x.
    for (let r = rewrite(m); r; r = rewrite(m)) m = r;
    memo.set(n.id, m);
  }
  return roots.map((r) => memo.get(r.id)!);
}

const simplified = new WeakMap<Kernel, Kernel>();

/**
 * The kernel with its outputs' graphs simplified (memoized per kernel object). Bindings, uniforms and the key
 * are left as they are: the pipeline layout and the runtime's uniform block are the unsimplified kernel's.
 */
export function simplifyKernel(k: Kernel): Kernel {
  const hit = simplified.get(k);
  if (hit) return hit;
  const nodes = simplifyGraph(k.outputs.map((o) => o.node));
  const out = nodes.every((n, i) => n === k.outputs[i].node) ? k : { ...k, outputs: k.outputs.map((o, i) => ({ binding: o.binding, node: nodes[i] })) };
  simplified.set(k, out);
  return out;
}
