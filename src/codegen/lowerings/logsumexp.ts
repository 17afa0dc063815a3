// logsumexp over the last axis as a registered lowering: [R, L] -> [R, 1], lse = m + log(sum exp(x - m)), in
// one pass over the row with an online max and sum (Milakov & Gimelshein 2018, "Online normalizer calculation
// for softmax"): each thread keeps (m, s) over its strided share of the row, updating s <- s exp(m - m') +
// exp(x - m') as the max grows, and the workgroup merges the pairs the same way. A row of any length is one
// workgroup and one read of each element (rows longer than a row kernel holds need no partial passes), which
// is what the fused cross-entropy of nn/functional.ts stands on: 50257-wide rows in one pass, no [N, V]
// buffer but the logits.
//
// Summation order: thread t takes columns t, t + WG, ... (vec4 lanes when L is a multiple of 4, merged
// x, y, z, w), then the workgroup's pairs (up to 256 threads) merge in a radix-2 tree. m starts at -FLT_MAX, not -inf: a
// row of -inf then gives s = 0 and lse = -inf, without the NaN of (-inf) - (-inf); a NaN element makes s
// NaN (as PyTorch's logsumexp).
import { numel, type Node } from "../../dsl/node.ts";
import { printGraph } from "../../dsl/print.ts";
import type { HostArray } from "../interpret.ts";
import { hashString, targetKey, type Binding, type Kernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { DISPATCH_FIELDS, kernelBanner, paramsStruct } from "../banner.ts";

/** Threads per row: enough for the row's lanes, at most 256 (short rows waste no threads or barriers). */
function workgroup(lanes: number): number {
  let wg = 1;
  while (wg < lanes && wg < 256) wg *= 2;
  return wg;
}
const LOWEST = -3.4028234663852886e38; // -FLT_MAX

export const logsumexpLowering: Lowering = {
  kernels(n: Node, outSlot, ctx) {
    const x = n.src[0];
    const L = x.shape[x.shape.length - 1];
    const R = numel(x.shape) / L;
    const xs = ctx.slotOf(x);
    const vec: 1 | 4 = L % 4 === 0 ? 4 : 1;
    const bind = (slot: number, mode: "elem" | "row", write: boolean): Binding => ({ name: ctx.slots[slot].name, slot, dtype: "f32", mode, read: !write, write });
    const kernel: Kernel = {
      name: ctx.kernelName(),
      kind: "logsumexp",
      L,
      vec,
      bindings: [bind(xs, "elem", false), bind(outSlot, "row", true)],
      uniforms: [{ name: "lanes", dtype: "u32" }],
      outputs: [],
      source: printGraph([n], [ctx.slots[outSlot].name]),
      target: ctx.target,
      key: "",
    };
    // The row length is a uniform, not part of the key: one pipeline per vector width serves every L.
    kernel.key = hashString(`logsumexp|vec${vec}|wg${workgroup(L / vec)}|${kernel.bindings.map((b) => b.name).join(",")}|${targetKey(ctx.target)}`);
    // One workgroup per row; the runtime cuts the rows into chunks whose windows of x fit one binding.
    return [{ kernel, rows: R, consts: { lanes: L / vec } }];
  },
};

function emit(k: Kernel, names: string[]): string {
  const [X, Y] = names;
  const WG = workgroup(k.L / k.vec);
  const V4 = k.vec === 4;
  const t = V4 ? "vec4<f32>" : "f32";
  const merges: string[] = [];
  for (let h = WG / 2; h >= 1; h /= 2)
    merges.push(`if (lid < ${h}u) { let o = merge(sm[lid], ss[lid], sm[lid + ${h}u], ss[lid + ${h}u]); sm[lid] = o.x; ss[lid] = o.y; }`, "workgroupBarrier();");
  const laneMerge = V4
    ? `var r = merge(m.x, s.x, m.y, s.y);
  r = merge(r.x, r.y, m.z, s.z);
  r = merge(r.x, r.y, m.w, s.w);`
    : "let r = vec2<f32>(m, s);";
  const banner = kernelBanner(
    k,
    [`logsumexp kernel: one workgroup of ${WG} per row of \`lanes\` ${V4 ? "vec4s" : "elements"}; online max and sum in one pass, pairs merged in a tree`],
    [`${[...DISPATCH_FIELDS, "lanes"].join(", ")})`],
    [`${X}: f32 read ([R, lanes${V4 ? " * 4" : ""}], this dispatch's rows)`, `${Y}: f32 write ([R, 1])`],
  );
  return `${banner}

${paramsStruct(["lanes"])}
@group(0) @binding(1) var<storage, read> ${X}: array<${t}>;
@group(0) @binding(2) var<storage, read_write> ${Y}: array<f32>;
var<workgroup> sm: array<f32, ${WG}>;
var<workgroup> ss: array<f32, ${WG}>;

// (m, s) of the union of two parts: the larger max, the other part's sum rescaled to it.
fn merge(ma: f32, sa: f32, mb: f32, sb: f32) -> vec2<f32> {
  let m = max(ma, mb);
  return vec2<f32>(m, sa * exp(ma - m) + sb * exp(mb - m));
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  var m = ${t}(${LOWEST.toExponential()}f); // -FLT_MAX: see the file's header in codegen/lowerings/logsumexp.ts
  var s = ${t}(0.0);
  for (var c = lid; c < params.lanes; c += ${WG}u) {
    let x = ${X}[row * params.lanes + c];
    let m1 = max(m, x);
    s = s * exp(m - m1) + exp(x - m1); // s <- s e^(m - m') + e^(x - m')
    m = m1;
  }
  ${laneMerge}
  sm[lid] = r.x;
  ss[lid] = r.y;
  workgroupBarrier();
  ${merges.join("\n  ")}
  if (lid == 0u) { ${Y}[row] = sm[0] + log(ss[0]); }
}
`;
}

const fl = Math.fround;
const maxNaN = (a: number, b: number) => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : a > b ? a : b); // lavapipe's max
function merge(ma: number, sa: number, mb: number, sb: number): [number, number] {
  const m = maxNaN(ma, mb);
  return [m, fl(fl(sa * fl(Math.exp(ma - m))) + fl(sb * fl(Math.exp(mb - m))))];
}

function interpret(k: Kernel, rows: number, slots: HostArray[]): void {
  const [x, y] = k.bindings.map((b) => slots[b.slot]);
  const L = k.L, V = k.vec, lanes = L / V;
  const WG = workgroup(lanes);
  for (let r = 0; r < rows; r++) {
    const sm: number[] = [], ss: number[] = [];
    for (let t = 0; t < WG; t++) {
      const m = new Array<number>(V).fill(LOWEST), s = new Array<number>(V).fill(0);
      for (let c = t; c < lanes; c += WG)
        for (let q = 0; q < V; q++) {
          const v = x[r * L + c * V + q];
          const m1 = maxNaN(m[q], v);
          s[q] = fl(fl(s[q] * fl(Math.exp(m[q] - m1))) + fl(Math.exp(v - m1)));
          m[q] = m1;
        }
      let p: [number, number] = [m[0], s[0]];
      for (let q = 1; q < V; q++) p = merge(p[0], p[1], m[q], s[q]);
      sm.push(p[0]);
      ss.push(p[1]);
    }
    for (let h = WG / 2; h >= 1; h /= 2)
      for (let t = 0; t < h; t++) [sm[t], ss[t]] = merge(sm[t], ss[t], sm[t + h], ss[t + h]);
    y[r] = fl(sm[0] + fl(Math.log(ss[0])));
  }
}

export const logsumexpKind: KernelKind = { emit, workgroupSize: (k) => workgroup(k.L / k.vec), interpret };
