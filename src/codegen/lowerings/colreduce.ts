// Reductions over the leading axis (`colreduce`: [R, C] -> [1, C], one value per column: bias and layer-norm
// gain gradients) as kernels of their own. Each thread owns one column and loops over a block of S rows,
// so the 64 threads of a workgroup read 64 adjacent columns of a row at a time (the row-reduction kernel over
// the transposed view instead reads one column per workgroup with a stride of C: 4-5x slower on lavapipe).
// A pass turns [R, C] into [ceil(R / S), C] partials; passes repeat until one row is left.
//
// Operands larger than one storage binding: the kernel kind cuts each pass into dispatches over windows of
// rows (`chunks`, called by runtime/execute.ts when it plans a program for the device's limits). The
// schedule (passes, partial buffers) does not depend on the binding limit; only the dispatches do, so a
// kernel planned under any cap gives the same numbers, bit for bit. Why here and not as a graph rewrite
// into more passes: the runtime knows the actual limit (a test or OCTET_MAX_BINDING may lower it after a jit
// was traced), and a row window is all a pass needs, so no extra buffer or pass is paid for. A dispatch binds
// the rows [row_first, row_end) of X and the partial rows of the blocks they touch, each window starting at
// an aligned byte offset below its first element (x_origin / y_origin elements earlier). Windows are cut at
// block boundaries (S rows) when a block fits; when even one block of S rows does not, a window covers part
// of a block and the block's partial is continued by the next dispatch (it reads the partial back and keeps
// adding rows in order), so the summation order is the unchunked one.
//
// Summation order: for each column, rows in order within each block of S = 256 rows, then the block
// partials in order (and so on for a third level past 65536 rows). max and min are exact in any order.
import { DTYPES, type DType } from "../../dsl/dtype.ts";
import type { Node, ReduceOp } from "../../dsl/node.ts";
import { roundTo } from "../../dsl/prims.ts";
import { printGraph } from "../../dsl/print.ts";
import type { HostArray } from "../interpret.ts";
import { BindingLimitError, hashString, targetKey, type Binding, type BindingLimits, type Kernel, type KernelDispatch, type ScheduledKernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { DISPATCH_FIELDS, kernelBanner, paramsStruct } from "../banner.ts";

/** The uniforms of a column-reduction dispatch, after the runtime's four (see execute.ts and chunks below). */
const PARAMS = ["C", "S", "row_first", "row_end", "block_first", "x_origin", "y_origin"];

/** Rows one thread sums per pass. */
const BLOCK_ROWS = 256;
const WG = 64;
/** C, S: the [R, C] operand and the block; the rest say which rows this dispatch reduces and where its windows start. */
const UNIFORMS = ["C", "S", "row_first", "row_end", "block_first", "x_origin", "y_origin"];

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
        uniforms: UNIFORMS.map((u) => ({ name: u, dtype: "u32" as DType })),
        outputs: [],
        source: printGraph([n], [ctx.slots[outSlot].name]),
        target: ctx.target,
        colreduce: op,
        key: "",
      };
      kernel.key = hashString(`colreduce|${op}|${n.dtype}|vec${vec}|${kernel.bindings.map((b) => b.name).join(",")}|${targetKey(ctx.target)}`);
      // The whole pass as one dispatch; `chunks` re-plans it when a binding or the grid would not fit.
      const consts = { C, S: BLOCK_ROWS, row_first: 0, row_end: rows, block_first: 0, x_origin: 0, y_origin: 0 };
      out.push({ kernel, rows: blocks, consts, grid: [Math.ceil(C / vec / WG), blocks, 1] });
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
  const cols = V ? "(params.C / 4u)" : "params.C";
  const at = `${X}[r * ${cols} + c - params.x_origin]`;
  const combine = op === "sum" ? `acc + ${at}` : `${op}(acc, ${at})`;
  const banner = kernelBanner(
    k,
    [`column ${op} kernel: each thread reduces ${V ? "4 adjacent columns (vec4)" : "one column"} over a block of S rows; workgroup ${WG}`],
    [`${[...DISPATCH_FIELDS, ...PARAMS].join(", ")})`],
    [
      `${X}: ${d} read ([R, C]: rows [row_first, row_end), bound from element x_origin)`,
      `${Y}: ${d} write ([ceil(R / S), C]: the blocks those rows touch, bound from element y_origin)`,
    ],
  );
  return `${banner}
${d === "f16" ? "enable f16;\n" : ""}
${paramsStruct(PARAMS)}
@group(0) @binding(1) var<storage, read> ${X}: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ${Y}: array<${t}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * ${WG}u + lid; // this thread's ${V ? "vec4 of columns" : "column"}
  let block = params.block_first + wid.y;
  if (c >= ${cols}) { return; }
  let r0 = max(params.row_first, block * params.S);
  let r1 = min(params.row_end, block * params.S + params.S);
  let out = block * ${cols} + c - params.y_origin;
  // A dispatch that starts inside the block continues the partial the previous dispatch wrote.
  var acc: ${t} = ${V ? `${t}(${identity(op, d)})` : identity(op, d)};
  if (r0 != block * params.S) { acc = ${Y}[out]; }
  for (var r = r0; r < r1; r++) {
    acc = ${combine};
  }
  ${Y}[out] = acc;
}
`;
}

function interpret(k: Kernel, _rows: number, slots: HostArray[], u: Record<string, number>): void {
  const [x, y] = k.bindings.map((b) => slots[b.slot]);
  const op = k.colreduce!;
  const d = k.bindings[0].dtype;
  // The whole pass at once (the interpreter has no binding limit): rows [row_first, row_end) from 0.
  for (let b = 0; b * u.S < u.row_end; b++)
    for (let c = 0; c < u.C; c++) {
      let acc = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
      for (let r = b * u.S; r < Math.min(u.row_end, (b + 1) * u.S); r++) {
        const v = x[r * u.C + c];
        acc = op === "sum" ? roundTo(d, acc + v) : op === "max" ? Math.max(acc, v) : Math.min(acc, v);
      }
      y[b * u.C + c] = acc;
    }
}

/**
 * The dispatches of one pass for the device's limits: the whole pass when both operands fit one binding and
 * the grid fits, else windows of rows (see the header). Throws when even one row of the operand (plus the
 * alignment slack of its window) cannot be bound: a column reduction is cut by rows only.
 */
function chunks(sk: ScheduledKernel, slotBytes: number[], limits: BindingLimits): KernelDispatch[] {
  const k = sk.kernel;
  const c = sk.consts!;
  const R = c.row_end, C = c.C, S = c.S;
  const es = elemBytes(k.bindings[0].dtype);
  const unit = es * k.vec; // bytes of one array element of the bindings
  const rowBytes = C * es;
  const gridX = Math.ceil(C / k.vec / WG);
  const bytes = slotBytes.slice(0, 2);
  if (bytes.every((b) => b <= limits.maxBinding) && sk.grid![1] <= limits.maxWorkgroups && gridX <= limits.maxWorkgroups)
    return [{ grid: sk.grid!, consts: {}, windows: bytes.map((size) => ({ offset: 0, size })) }];
  // Rows a window may span, leaving room for the aligned start below its first row and the 16-byte rounding.
  const fit = Math.floor((limits.maxBinding - limits.offsetAlign - 16) / rowBytes);
  const operand = `${k.bindings[0].name} (${k.bindings[0].dtype}[${R}, ${C}])`;
  if (fit < 1)
    throw new BindingLimitError(`octet: kernel ${k.name} (column ${k.colreduce}${sk.site ? `, built at ${sk.site}` : ""}): one row of ${operand} is ${rowBytes} bytes; with the ${limits.offsetAlign}-byte offset alignment it does not fit one storage binding of ${limits.maxBinding} bytes (a column reduction is cut by rows only)`);
  if (gridX > limits.maxWorkgroups)
    throw new BindingLimitError(`octet: kernel ${k.name}: ${C} columns need ${gridX} workgroups in one dimension; this device allows ${limits.maxWorkgroups}`);
  const per = fit >= S ? Math.min(Math.floor(fit / S), limits.maxWorkgroups) * S : fit;
  const window = (first: number, end: number, total: number) => {
    const offset = Math.floor((first * rowBytes) / limits.offsetAlign) * limits.offsetAlign;
    return { offset, size: Math.min(total, Math.ceil((end * rowBytes) / 16) * 16) - offset };
  };
  const out: KernelDispatch[] = [];
  for (let g0 = 0; g0 < R; g0 += per) {
    const g1 = Math.min(R, g0 + per);
    const b0 = Math.floor(g0 / S), b1 = Math.ceil(g1 / S);
    const windows = [window(g0, g1, bytes[0]), window(b0, b1, bytes[1])];
    out.push({ grid: [gridX, b1 - b0, 1], consts: { row_first: g0, row_end: g1, block_first: b0, x_origin: windows[0].offset / unit, y_origin: windows[1].offset / unit }, windows });
  }
  return out;
}
const elemBytes = (d: DType) => (d === "f16" ? 2 : 4);

export const colReduceKind: KernelKind = { emit, workgroupSize: () => WG, interpret, chunks };
