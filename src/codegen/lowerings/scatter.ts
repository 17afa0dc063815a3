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
// and the output.
//
// Operands larger than one storage binding (`chunks`, planned by runtime/execute.ts for the device's
// limits): the table gradient is written in windows of rows [v0, v_end), and src is read in windows of
// positions [p0, p1); each dispatch adds, for the rows of its table window, the run entries whose position
// lies in its src window (a sub-run: a run is sorted by position, so two binary searches on (v, p) find it).
// Later src windows start from the value the earlier ones wrote (`accumulate`), so each sum is still the
// left-to-right one in position order: the same bits under any binding limit. The sorted keys (8 bytes per
// position) are bound whole.
import { numel, type Node } from "../../dsl/node.ts";
import { printGraph } from "../../dsl/print.ts";
import type { HostArray } from "../interpret.ts";
import { BindingLimitError, hashString, targetKey, type Binding, type BindingLimits, type Kernel, type KernelDispatch, type ScheduledKernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { DISPATCH_FIELDS, kernelBanner, paramsStruct } from "../banner.ts";
import { sortKernels, sortKeyCount } from "./sort.ts";

/**
 * N positions and `lanes` vectors per row; this dispatch's table rows [v0, v_end) and positions [p0, p1)
 * (its windows of the output and of src start there); accumulate = 1 adds to what earlier windows wrote.
 */
const UNIFORMS = ["N", "lanes", "v0", "v_end", "p0", "p1", "accumulate"];

/** A 2-D grid of at least n workgroups, each side at most maxDim (kernels take row = wid.x + wid.y * nwg.x). */
function grid2d(n: number, maxDim: number): [number, number, number] {
  const y = Math.max(1, Math.ceil(n / maxDim));
  return [Math.max(1, Math.ceil(n / y)), y, 1];
}

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
    const bind = (slot: number, write: boolean): Binding => ({ name: ctx.slots[slot].name, slot, dtype: ctx.slots[slot].dtype, mode: "scalar", read: true, write });
    const kernel: Kernel = {
      name: ctx.kernelName(),
      kind: "segment_sum",
      L: D,
      vec,
      bindings: [bind(keys, false), bind(vals, false), bind(outSlot, true)],
      uniforms: UNIFORMS.map((name) => ({ name, dtype: "u32" as const })),
      outputs: [],
      source,
      target: ctx.target,
      key: "",
    };
    // Sizes are uniforms; the key has the vector width and the workgroup size (which follows the row width).
    kernel.key = hashString(`segment_sum|vec${vec}|wg${workgroup(D / vec)}|${kernel.bindings.map((b) => `${b.name}:${b.dtype}`).join(",")}|${targetKey(ctx.target)}`);
    // One workgroup per table row; the whole table and all positions in one dispatch unless `chunks` cuts them.
    const consts = { N, lanes: D / vec, v0: 0, v_end: V, p0: 0, p1: N, accumulate: 0 };
    return [...sort, { kernel, rows: V, consts, grid: grid2d(V, 65535) }];
  },
};

function emit(k: Kernel, names: string[]): string {
  const [KEYS, SRC, OUT] = names.map((n) => n.replace(/_scalar$/, ""));
  const V4 = k.vec === 4;
  const lanes = k.L / k.vec;
  const wg = workgroup(lanes);
  const t = V4 ? "vec4<f32>" : "f32";
  const banner = kernelBanner(
    k,
    [
      "segment_sum kernel (scatter, second half): one workgroup per table row v; its run [lo, hi) of the sorted",
      `(index, position) keys by binary search; out[v] = sum of ${SRC}[position] over the run, in position order`,
      `(zeros for an empty run); rows of \`lanes\` ${V4 ? "vec4s" : "scalars"}, workgroup ${wg}`,
    ],
    [`${[...DISPATCH_FIELDS, ...UNIFORMS].join(", ")})`],
    [
      `${KEYS}: u32 read ([P, 2] as vec2: index, position; sorted)`,
      `${SRC}: f32 read ([N, lanes${V4 ? " * 4" : ""}]: positions [p0, p1))`,
      `${OUT}: f32 read_write ([V, lanes${V4 ? " * 4" : ""}]: table rows [v0, v_end))`,
    ],
  );
  return `${banner}

${paramsStruct([...UNIFORMS])}
@group(0) @binding(1) var<storage, read> ${KEYS}: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> ${SRC}: array<${t}>;
@group(0) @binding(3) var<storage, read_write> ${OUT}: array<${t}>;

// The first of the sorted keys that is >= (v, p) (N if none): keys are (index, position) pairs.
fn lower_bound(v: u32, p: u32) -> u32 {
  var lo = 0u;
  var hi = params.N;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    let key = ${KEYS}[mid];
    if (key.x < v || (key.x == v && key.y < p)) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // this dispatch's row (the output window starts at v0)
  let v = params.v0 + row; // the table row
  if (v >= params.v_end) { return; }
  // v's run, restricted to the positions of this dispatch's src window
  let lo = lower_bound(v, params.p0);
  let hi = lower_bound(v, params.p1);
  for (var c = lid; c < params.lanes; c += ${wg}u) {
    var acc = ${t}(0.0);
    if (params.accumulate == 1u) { acc = ${OUT}[row * params.lanes + c]; } // continue the earlier windows' sum
    for (var i = lo; i < hi; i++) {
      acc += ${SRC}[(${KEYS}[i].y - params.p0) * params.lanes + c];
    }
    ${OUT}[row * params.lanes + c] = acc;
  }
}
`;
}

/** The whole table at once (the interpreter has no binding limit): rows [v0, v_end), positions [p0, p1). */
function interpret(k: Kernel, _rows: number, slots: HostArray[], u: Record<string, number>): void {
  const [K, src, out] = k.bindings.map((b) => slots[b.slot]);
  const D = k.L;
  const lowerBound = (v: number, p: number) => {
    let lo = 0, hi = u.N;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (K[2 * mid] < v || (K[2 * mid] === v && K[2 * mid + 1] < p)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (let v = u.v0; v < u.v_end; v++) {
    const lo = lowerBound(v, u.p0), hi = lowerBound(v, u.p1);
    for (let c = 0; c < D; c++) {
      let acc = u.accumulate ? out[v * D + c] : 0;
      for (let i = lo; i < hi; i++) acc = Math.fround(acc + src[K[2 * i + 1] * D + c]);
      out[v * D + c] = acc;
    }
  }
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/**
 * The dispatches for the device's limits: one when the keys, src and the table gradient each fit a binding;
 * else windows of table rows times windows of positions (see the header), src windows in position order.
 * Windows start on rows whose byte offset is aligned. Throws, naming the sizes, when even one aligned group
 * of rows, or the sorted keys, cannot be bound.
 */
function chunks(sk: ScheduledKernel, slotBytes: number[], limits: BindingLimits): KernelDispatch[] {
  const k = sk.kernel;
  const { N, v_end: V } = sk.consts!;
  const rowBytes = k.L * 4;
  const [keyBytes, srcBytes, outBytes] = slotBytes;
  const at = `octet: kernel ${k.name} (segment_sum${sk.site ? `, built at ${sk.site}` : ""})`;
  if (keyBytes > limits.maxBinding)
    throw new BindingLimitError(`${at}: the sorted keys of ${N} positions (${keyBytes} bytes) do not fit one storage binding of ${limits.maxBinding} bytes; scatter fewer positions at a time`);
  const step = limits.offsetAlign / gcd(limits.offsetAlign, rowBytes); // rows per aligned offset
  const per = Math.floor(Math.floor(limits.maxBinding / rowBytes) / step) * step;
  if (per < 1)
    throw new BindingLimitError(`${at}: rows of ${rowBytes} bytes; ${step} of them (one aligned window) exceed the storage-binding limit of ${limits.maxBinding} bytes`);
  const whole = (rows: number, bytes: number) => (bytes <= limits.maxBinding ? [[0, rows]] : Array.from({ length: Math.ceil(rows / per) }, (_, i) => [i * per, Math.min(rows, (i + 1) * per)]));
  const window = (first: number, bytes: number, rows: number) => ({ offset: first * rowBytes, size: Math.min(bytes - first * rowBytes, Math.ceil((rows * rowBytes) / 16) * 16) });
  const out: KernelDispatch[] = [];
  for (const [p0, p1] of whole(N, srcBytes))
    for (const [v0, v1] of whole(V, outBytes))
      out.push({
        grid: grid2d(v1 - v0, limits.maxWorkgroups),
        consts: { v0, v_end: v1, p0, p1, accumulate: p0 > 0 ? 1 : 0 },
        windows: [{ offset: 0, size: keyBytes }, window(p0, srcBytes, Math.max(1, p1 - p0)), window(v0, outBytes, v1 - v0)],
      });
  return out;
}

export const segmentSumKind: KernelKind = { emit, workgroupSize: (k) => workgroup(k.L / k.vec), interpret, chunks };
