// scatter (Tensor.scatterAdd, the embedding gradient) as a registered lowering: out[v] = sum of src[n] over the
// n with index[n] = v, in increasing n; zeros where no index is v; indices outside [0, V) add to nothing.
//
// Design (deterministic, memory O(N*D), no [N, V] one-hot, no float atomics, which WGSL does not have):
//   1. sort the positions by (index, position) (lowerings/sort.ts): equal indices become one run, in order;
//   2. segment_sum: one workgroup per table row v finds its run [lo, hi) by binary search in the sorted keys
//      (every thread searches the same few cached words: no barrier, no second kernel for run bounds) and
//      adds the run's rows of src column by column, in position order, writing zeros for an empty run.
// Each sum is the left-to-right sum in position order: the same value on every run and device, and the value
// the one-hot product onehot^T @ src computes in its k order. Memory: P = pow2(N) key pairs besides src
// and the output. The output is written per row, so the runtime cuts a table larger than one storage
// binding into windows of rows (row chunks of this kernel, runtime/execute.ts); the sorted keys and src are
// bound whole (each is O(N), not O(V)), and refused by the runtime's binding check if even they do not fit.
import { numel, type Node } from "../../dsl/node.ts";
import { printGraph } from "../../dsl/print.ts";
import type { HostArray } from "../interpret.ts";
import { hashString, targetKey, type Binding, type Kernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { sortKernels, sortKeyCount } from "./sort.ts";

/** Threads of a segment_sum workgroup over rows of `lanes` (vec4 or scalar) columns. */
function workgroup(lanes: number): number {
  let wg = 1;
  while (wg < lanes && wg < 64) wg *= 2;
  return wg;
}

export const scatterLowering: Lowering = {
  kernels(n: Node, outSlot, ctx) {
    const [src, index] = n.src;
    const V = n.shape[0];
    const N = numel(index.shape);
    const D = n.shape.length === 2 ? n.shape[1] : 1;
    const source = printGraph([n], [ctx.slots[outSlot].name]);
    const ids = ctx.slotOf(index);
    const vals = ctx.slotOf(src);
    const keys = ctx.slots.push({ kind: "temp", name: `${ctx.slots[outSlot].name}_order`, dtype: "u32", shape: [sortKeyCount(N), 2] }) - 1;
    const sort = sortKernels(ctx, ids, keys, N, V, source);
    const vec: 1 | 4 = D % 4 === 0 ? 4 : 1;
    const bind = (slot: number, mode: "col" | "elem", write: boolean): Binding => ({ name: ctx.slots[slot].name, slot, dtype: ctx.slots[slot].dtype, mode, read: !write, write });
    const kernel: Kernel = {
      name: ctx.kernelName(),
      kind: "segment_sum",
      L: D,
      vec,
      bindings: [bind(keys, "col", false), bind(vals, "col", false), bind(outSlot, "elem", true)],
      uniforms: [{ name: "N", dtype: "u32" }, { name: "lanes", dtype: "u32" }],
      outputs: [],
      source,
      target: ctx.target,
      key: "",
    };
    // Sizes are uniforms; the key has the vector width and the workgroup size (which follows the row width).
    kernel.key = hashString(`segment_sum|vec${vec}|wg${workgroup(D / vec)}|${kernel.bindings.map((b) => `${b.name}:${b.dtype}`).join(",")}|${targetKey(ctx.target)}`);
    // No fixed grid: one workgroup per table row, rows chunked by the runtime to fit the output's binding.
    return [...sort, { kernel, rows: V, consts: { N, lanes: D / vec } }];
  },
};

function emit(k: Kernel, names: string[]): string {
  const [KEYS, SRC, OUT] = names.map((n) => n.replace(/_col$/, ""));
  const V4 = k.vec === 4;
  const lanes = k.L / k.vec;
  const wg = workgroup(lanes);
  const t = V4 ? "vec4<f32>" : "f32";
  return `// octet kernel: ${k.name}
// key: ${k.key}
// segment_sum kernel (scatter, second half): one workgroup per table row v; its run [lo, hi) of the sorted
// (index, position) keys by binary search; out[v] = sum of ${SRC}[position] over the run, in position order
// (zeros for an empty run); rows of \`lanes\` ${V4 ? "vec4s" : "scalars"}, workgroup ${wg}
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, N, lanes)
//   @binding(1) ${KEYS}: u32 read ([P, 2] as vec2: index, position; sorted)
//   @binding(2) ${SRC}: f32 read ([N, lanes${V4 ? " * 4" : ""}])
//   @binding(3) ${OUT}: f32 write ([V, lanes${V4 ? " * 4" : ""}], this dispatch's window of rows)
// source graph:
${k.source.split("\n").map((l) => `//   ${l}`).join("\n")}

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  N: u32,
  lanes: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ${KEYS}: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ${SRC}: array<${t}>;
@group(0) @binding(3) var<storage, read_write> ${OUT}: array<${t}>;

// The first sorted position whose index is >= v (N if none).
fn lower_bound(v: u32) -> u32 {
  var lo = 0u;
  var hi = params.N;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (${KEYS}[mid].x < v) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // this dispatch's row (the output window starts at row_base)
  if (row >= params.rows) { return; }
  let v = params.row_base + row; // the table row
  let lo = lower_bound(v);
  let hi = lower_bound(v + 1u);
  for (var c = lid; c < params.lanes; c += ${wg}u) {
    var acc = ${t}(0.0);
    for (var i = lo; i < hi; i++) {
      acc += ${SRC}[${KEYS}[i].y * params.lanes + c];
    }
    ${OUT}[row * params.lanes + c] = acc;
  }
}
`;
}

function interpret(k: Kernel, rows: number, slots: HostArray[], u: Record<string, number>): void {
  const [K, src, out] = k.bindings.map((b) => slots[b.slot]);
  const D = k.L;
  const lowerBound = (v: number) => {
    let lo = 0, hi = u.N;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (K[2 * mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let v = 0; v < rows; v++) {
    const lo = lowerBound(v), hi = lowerBound(v + 1);
    for (let c = 0; c < D; c++) {
      let acc = 0;
      for (let i = lo; i < hi; i++) acc = Math.fround(acc + src[K[2 * i + 1] * D + c]);
      out[v * D + c] = acc;
    }
  }
}

export const segmentSumKind: KernelKind = { emit, workgroupSize: (k) => workgroup(k.L / k.vec), interpret };
