// Row reductions longer than one workgroup handles (16384 elements, 4096 when the length is not a multiple
// of 4), as a graph-level lowering: a partial pass over chunks of each row and a final pass over the
// partials. It rebuilds the reduced expression's elementwise work over the new domain (it fuses into the partial
// pass: softmax's exp(x - max) is not written out first); anything else it reads is gathered from its buffer.
//
// Summation order (sum is not associative in f32): a row of L elements is cut into B chunks of S elements:
// S the largest multiple of 4 in [1024, 16384] that divides L, else B = ceil(L / 16384) and S = ceil(L / B)
// rounded up to 4 (the tail padded with the op's identity). Each chunk
// is reduced by one workgroup (each thread sums its strided vec4s in order, lanes combine, then a radix-4
// tree); the B partials are then reduced the same way. max and min are exact in any order.
import { mk, numel, type Node, type ReduceOp, type Shape } from "../../dsl/node.ts";
import { isPrim } from "../../dsl/prims.ts";
import { Tensor } from "../../dsl/tensor.ts";
import { maxReduceRow } from "../kernel.ts";
import type { Lowering } from "../lowering.ts";

/** Chunk length of a partial pass: the longest vec4 row one workgroup reduces. */
const CHUNK = maxReduceRow(4);

function identity(op: ReduceOp, n: Node): Tensor {
  if (op === "sum") return Tensor.const(0, n.dtype);
  const lowest = op === "max";
  const v = n.dtype === "i32" ? (lowest ? -(2 ** 31) : 2 ** 31 - 1) : n.dtype === "u32" ? (lowest ? 0 : 2 ** 32 - 1) : lowest ? -Infinity : Infinity;
  return Tensor.const(v, n.dtype);
}

/**
 * x's value at element (row, col) of its [rows, L] view, for every element of a new domain P (row and col:
 * u32 index tensors of shape P). Elementwise ops, broadcasts and iotas are rebuilt over P. Other nodes are
 * leaves: read as a reshape when P keeps x's flat order (`flat`; then the runtime can cut them into chunks
 * that fit one binding), else with a gather from their flat buffer (bound whole; a computed one is written
 * to a temporary first).
 */
function reindex(x: Node, L: number, P: Shape, row: Tensor, col: Tensor, flat: boolean): Node {
  const memo = new Map<number, Node>();
  const gatherAt = (n: Node, idx: Tensor) => new Tensor(n).reshape([numel(n.shape)]).gather(idx).node;
  const leaf = (n: Node) => (flat ? new Tensor(n).reshape([...P]).node : gatherAt(n, row.mul(L).add(col)));
  const visit = (n: Node): Node => {
    const hit = memo.get(n.id);
    if (hit) return hit;
    const last = n.shape[n.shape.length - 1];
    let r: Node;
    if (n.op === "expand") {
      const s = n.src[0];
      const sl = s.shape[s.shape.length - 1];
      if (numel(s.shape) === 1) r = new Tensor(s).reshape([]).expand(P).node;
      else if (sl === 1 && numel(s.shape) * L === numel(n.shape)) r = gatherAt(s, row); // per-row value
      else if (sl === L && numel(s.shape) === L) r = gatherAt(s, col); // per-column value
      else r = leaf(n);
    } else if (n.op === "iota" && last === L) r = (n.arg === 1 ? col : row).cast(n.dtype).node;
    else if (n.op === "reshape" && last === L && n.src[0].shape[n.src[0].shape.length - 1] === L) r = visit(n.src[0]);
    else if (isPrim(n.op) || n.op === "cast" || n.op === "bitcast") r = mk(n.op, n.dtype, P, n.src.map(visit), n.arg, n.site);
    else r = leaf(n);
    memo.set(n.id, r);
    return r;
  };
  return visit(x);
}

/** A chunk length that divides L exactly (a multiple of 4, at least 1024), so no tail needs padding. */
function exactChunk(L: number): number | undefined {
  for (let s = CHUNK; s >= 1024; s -= 4) if (L % s === 0) return s;
  return undefined;
}

/**
 * The rows reduction n (over rows of L elements of x, R rows) as a partial pass over chunks and a final pass
 * over the [R, B] partials; the final pass is split again by the scheduler if B is itself too long.
 */
function splitRows(x: Node, R: number, L: number, op: ReduceOp, site: string): Node {
  const exact = exactChunk(L);
  const B = exact ? L / exact : Math.ceil(L / CHUNK);
  const S = exact ?? Math.ceil(Math.ceil(L / B) / 4) * 4;
  const P = [R * B, S];
  const rp = Tensor.iota(P, 0, "u32");
  const k = rp.mod(B).mul(S).add(Tensor.iota(P, 1, "u32")); // this element's position in its row
  let v = new Tensor(reindex(x, L, P, rp.div(B), k.minimum(L - 1), !!exact));
  if (B * S > L) v = k.lt(L).where(v, identity(op, x)); // the padded tail of the last chunk
  const partial = mk("reduce", x.dtype, [R * B, 1], [v.node], op, site);
  return mk("reduce", x.dtype, [R, 1], [new Tensor(partial).reshape([R, B]).node], op, site);
}

export const longReduceLowering: Lowering = {
  expand(n) {
    const x = n.src[0];
    const L = x.shape[x.shape.length - 1];
    if (L <= maxReduceRow(L)) return undefined;
    const R = numel(x.shape) / L;
    const out = splitRows(x, R, L, n.arg as ReduceOp, n.site);
    return new Tensor(out).reshape([...n.shape]).node;
  },
};
