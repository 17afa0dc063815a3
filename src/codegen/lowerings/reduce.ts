// Row reductions longer than one workgroup handles (16384 elements, 4096 when the length is not a multiple
// of 4), as a graph-level lowering: a partial pass over chunks of each row and a final pass over the
// partials. It rebuilds the reduced expression's elementwise work over the new domain (it fuses into the partial
// pass: softmax's exp(x - max) is not written out first); anything else it reads is gathered from its buffer.
//
// Summation order (sum is not associative in f32): a row of L elements is cut into B = ceil(L / 16384)
// chunks of S = ceil(L / B) rounded up to 4 elements (the tail padded with the op's identity). Each chunk
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
 * u32 index tensors of shape P). Elementwise ops, broadcasts and iotas are rebuilt over P; other nodes are
 * read with a gather from their flat buffer (the scheduler computes a computed one into a temporary).
 */
function reindex(x: Node, L: number, P: Shape, row: Tensor, col: Tensor): Node {
  const memo = new Map<number, Node>();
  const gatherAt = (n: Node, idx: Tensor) => new Tensor(n).reshape([numel(n.shape)]).gather(idx).node;
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
      else r = gatherAt(n, row.mul(L).add(col));
    } else if (n.op === "iota" && last === L) r = (n.arg === 1 ? col : row).cast(n.dtype).node;
    else if (n.op === "reshape" && last === L && n.src[0].shape[n.src[0].shape.length - 1] === L) r = visit(n.src[0]);
    else if (isPrim(n.op) || n.op === "cast" || n.op === "bitcast") r = mk(n.op, n.dtype, P, n.src.map(visit), n.arg, n.site);
    else r = gatherAt(n, row.mul(L).add(col));
    memo.set(n.id, r);
    return r;
  };
  return visit(x);
}

/**
 * `lines` reductions of `len` elements each over x (viewed as [rows, L]); `at(line, k)` is the (row, col) of
 * the k-th element of a line. Returns the [lines, 1] result. A final pass that is itself too long is split
 * again when the scheduler expands the result.
 */
function reduceLines(x: Node, L: number, op: ReduceOp, lines: number, len: number, at: (line: Tensor, k: Tensor) => [Tensor, Tensor], site: string): Node {
  if (len <= maxReduceRow(len)) {
    const P = [lines, len];
    const [row, col] = at(Tensor.iota(P, 0, "u32"), Tensor.iota(P, 1, "u32"));
    return mk("reduce", x.dtype, [lines, 1], [reindex(x, L, P, row, col)], op, site);
  }
  const B = Math.ceil(len / CHUNK);
  const S = Math.ceil(Math.ceil(len / B) / 4) * 4;
  const P = [lines * B, S];
  const rp = Tensor.iota(P, 0, "u32");
  const k = rp.mod(B).mul(S).add(Tensor.iota(P, 1, "u32")); // this element's position in its line
  const [row, col] = at(rp.div(B), k.minimum(len - 1));
  let v = new Tensor(reindex(x, L, P, row, col));
  if (B * S > len) v = k.lt(len).where(v, identity(op, x)); // the padded tail of the last chunk
  const partial = mk("reduce", x.dtype, [lines * B, 1], [v.node], op, site);
  return mk("reduce", x.dtype, [lines, 1], [new Tensor(partial).reshape([lines, B]).node], op, site);
}

export const longReduceLowering: Lowering = {
  expand(n) {
    const x = n.src[0];
    const L = x.shape[x.shape.length - 1];
    if (L <= maxReduceRow(L)) return undefined;
    const R = numel(x.shape) / L;
    const out = reduceLines(x, L, n.arg as ReduceOp, R, L, (line, k) => [line, k], n.site);
    return new Tensor(out).reshape([...n.shape]).node;
  },
};
