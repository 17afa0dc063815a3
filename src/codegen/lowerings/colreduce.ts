// Reductions over the leading axis (`colreduce`: [R, C] -> [1, C], one value per column: bias and layer-norm
// gain gradients) as kernels of their own. Each thread owns one column and loops over a block of S rows,
// so the 64 threads of a workgroup read 64 adjacent columns of a row at a time (the row-reduction kernel over
// the transposed view instead reads one column per workgroup with a stride of C: 4-5x slower on lavapipe).
// A pass turns [R, C] into [ceil(R / S), C] partials; passes repeat until one row is left.
//
// Summation order: for each column, rows in order within each block of S = 256 rows, then the block
// partials in order (and so on for a third level past 65536 rows). max and min are exact in any order.
import { DTYPES, type DType } from "../../dsl/dtype.ts";
import type { Node, ReduceOp } from "../../dsl/node.ts";
import { roundTo } from "../../dsl/prims.ts";
import { printGraph } from "../../dsl/print.ts";
import type { HostArray } from "../interpret.ts";
import { hashString, targetKey, type Binding, type Kernel, type ScheduledKernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";

/** Rows one thread sums per pass. */
const BLOCK_ROWS = 256;
const WG = 64;

export const colReduceLowering: Lowering = {
  kernels(n: Node, outSlot, ctx) {
    const op = n.arg as ReduceOp;
    const [R, C] = n.src[0].shape;
    let src = ctx.slotOf(n.src[0]);
    let rows = R;
    // vec4: a thread owns 4 adjacent columns (one vector load per row): 4x fewer loads, which is what costs
    // on lavapipe. f16 stays scalar (4 x f16 is 8 bytes, not a vec4 of words).
    const vec: 1 | 4 = C % 4 === 0 && n.dtype !== "f16" ? 4 : 1;
    const out: ScheduledKernel[] = [];
    do {
      const blocks = Math.ceil(rows / BLOCK_ROWS);
      const dst = blocks === 1 ? outSlot : ctx.slots.push({ kind: "temp", name: `${ctx.slots[outSlot].name}_partial`, dtype: n.dtype, shape: [blocks, C] }) - 1;
      const bind = (slot: number, read: boolean): Binding => ({ name: ctx.slots[slot].name, slot, dtype: n.dtype, mode: "scalar", read, write: !read });
      const kernel: Kernel = {
        name: ctx.kernelName(),
        kind: "colreduce",
        L: 1,
        vec,
        bindings: [bind(src, true), bind(dst, false)],
        uniforms: ["R", "C", "S"].map((u) => ({ name: u, dtype: "u32" as DType })),
        outputs: [],
        source: printGraph([n], [ctx.slots[outSlot].name]),
        target: ctx.target,
        colreduce: op,
        key: "",
      };
      kernel.key = hashString(`colreduce|${op}|${n.dtype}|vec${vec}|${kernel.bindings.map((b) => b.name).join(",")}|${targetKey(ctx.target)}`);
      out.push({ kernel, rows: blocks, consts: { R: rows, C, S: BLOCK_ROWS }, grid: [Math.ceil(C / vec / WG), blocks, 1] });
      src = dst;
      rows = blocks;
    } while (rows > 1);
    return out;
  },
};

function identity(op: ReduceOp, d: DType): string {
  if (op === "sum") return `${DTYPES[d].wgsl}(0)`;
  const lowest = op === "max";
  if (d === "u32") return lowest ? "0u" : "4294967295u";
  if (d === "i32") return lowest ? "i32(-2147483647 - 1)" : "2147483647i";
  const bits = lowest ? "0xff800000u" : "0x7f800000u"; // -inf / +inf, built at runtime (WGSL refuses inf literals)
  return d === "f16" ? `f16(bitcast<f32>(${bits} | params.zero))` : `bitcast<f32>(${bits} | params.zero)`;
}

/** `names`: the bindings' WGSL names; both are whole-buffer ("scalar" mode) bindings, a suffix dropped here. */
function emit(k: Kernel, names: string[]): string {
  const [X, Y] = names.map((n) => n.replace(/_scalar$/, ""));
  const op = k.colreduce!;
  const d = k.bindings[0].dtype;
  const s = DTYPES[d].wgsl;
  const V = k.vec === 4;
  const t = V ? `vec4<${s}>` : s;
  const at = `${X}[r * ${V ? "(params.C / 4u)" : "params.C"} + c]`;
  const combine = op === "sum" ? `acc + ${at}` : `${op}(acc, ${at})`;
  const cols = V ? "(params.C / 4u)" : "params.C";
  return `// octet kernel: ${k.name}
// key: ${k.key}
// column ${op} kernel: each thread reduces ${V ? "4 adjacent columns (vec4)" : "one column"} over a block of S rows; workgroup ${WG}
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, R, C, S)
//   @binding(1) ${X}: ${d} read ([R, C])
//   @binding(2) ${Y}: ${d} write ([ceil(R / S), C])
// source graph:
${k.source.split("\n").map((l) => `//   ${l}`).join("\n")}
${d === "f16" ? "enable f16;\n" : ""}
struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  R: u32,
  C: u32,
  S: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ${X}: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ${Y}: array<${t}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * ${WG}u + lid; // this thread's ${V ? "vec4 of columns" : "column"}
  let block = wid.y;
  if (c >= ${cols}) { return; }
  let r0 = block * params.S;
  let r1 = min(params.R, r0 + params.S);
  var acc: ${t} = ${V ? `${t}(${identity(op, d)})` : identity(op, d)};
  for (var r = r0; r < r1; r++) {
    acc = ${combine};
  }
  ${Y}[block * ${cols} + c] = acc;
}
`;
}

function interpret(k: Kernel, _rows: number, slots: HostArray[], u: Record<string, number>): void {
  const [x, y] = k.bindings.map((b) => slots[b.slot]);
  const op = k.colreduce!;
  const d = k.bindings[0].dtype;
  for (let b = 0; b * u.S < u.R; b++)
    for (let c = 0; c < u.C; c++) {
      let acc = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
      for (let r = b * u.S; r < Math.min(u.R, (b + 1) * u.S); r++) {
        const v = x[r * u.C + c];
        acc = op === "sum" ? roundTo(d, acc + v) : op === "max" ? Math.max(acc, v) : Math.min(acc, v);
      }
      y[b * u.C + c] = acc;
    }
}

export const colReduceKind: KernelKind = { emit, workgroupSize: () => WG, interpret };
