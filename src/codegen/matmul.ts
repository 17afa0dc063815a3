// Matrix multiply: the one kernel that is not elementwise-with-row-reductions. C[b] = op(A[b]) @ op(B[b]),
// op = optional transpose, batched over leading dims (B may be shared by every batch: a weight). It is always
// its own kernel, tiled through workgroup memory: each 8x8 workgroup computes a 32x32 tile of C, each thread
// a 4x4 block, stepping K in slices of 32. M, N, K and the batch strides are uniforms, so one pipeline
// serves every size; only the transposes are part of the key.
import { DTYPES } from "../dsl/dtype.ts";
import { numel, type Node } from "../dsl/node.ts";
import { printGraph } from "../dsl/print.ts";
import type { Binding, Kernel } from "./kernel.ts";
import type { ScheduledKernel, SlotInfo } from "./kernel.ts";

export interface MatmulArg {
  ta: boolean;
  tb: boolean;
}

export const MM_TILE = 32;

export type MatmulVariant = "tiled" | "direct";
/**
 * Which matmul kernel to generate. Measured on lavapipe (2 cores, 512x64x256): tiled 2.2 GFLOP/s, direct
 * 5.5 GFLOP/s; workgroup barriers are costly on a CPU device while its caches tile for free. The runtime sets
 * "direct" when the adapter is a CPU; GPUs keep the tiled kernel.
 */
let variant: MatmulVariant = "tiled";
export function setMatmulVariant(v: MatmulVariant): void {
  variant = v;
}

/** Shapes of a matmul node's operands: batch count, M, N, K, and whether B is shared across the batch. */
export function matmulDims(n: Node): { batch: number; M: number; N: number; K: number; sharedB: boolean } {
  const [a, b] = n.src;
  const { ta, tb } = n.arg as unknown as MatmulArg;
  const as = a.shape, bs = b.shape;
  const M = ta ? as[as.length - 1] : as[as.length - 2];
  const K = ta ? as[as.length - 2] : as[as.length - 1];
  const N = tb ? bs[bs.length - 2] : bs[bs.length - 1];
  const batch = numel(as.slice(0, -2));
  const sharedB = bs.length === 2 && batch !== 1 ? true : numel(bs.slice(0, -2)) === 1 && batch > 1;
  return { batch, M, N, K, sharedB };
}

export function lowerMatmul(n: Node, aSlot: number, bSlot: number, outSlot: number, slots: SlotInfo[], name: string): ScheduledKernel {
  const { ta, tb } = n.arg as unknown as MatmulArg;
  const { batch, M, N, K, sharedB } = matmulDims(n);
  const bind = (slot: number, read: boolean): Binding => ({ name: slots[slot].name, slot, dtype: slots[slot].dtype, mode: "scalar", read, write: !read });
  const kernel: Kernel = {
    name,
    kind: "matmul",
    L: 1,
    vec: 1,
    bindings: [bind(aSlot, true), bind(bSlot, true), bind(outSlot, false)],
    uniforms: ["M", "N", "K", "stride_a", "stride_b", "stride_c"].map((u) => ({ name: u, dtype: "u32" as const })),
    outputs: [],
    source: printGraph([n], [slots[outSlot].name]),
    key: "",
    matmul: { ta, tb, variant },
  };
  kernel.key = Bun.hash(`matmul|${variant}|${ta}|${tb}|${kernel.bindings.map((b) => `${b.name}:${b.dtype}`).join(",")}`).toString(16).padStart(16, "0");
  const consts = { M, N, K, stride_a: M * K, stride_b: sharedB ? 0 : K * N, stride_c: M * N };
  return { kernel, rows: batch, consts, grid: [Math.ceil(N / MM_TILE), Math.ceil(M / MM_TILE), batch] };
}

/** The uniform struct and the A, B, C bindings both matmul variants share. */
function declarations(k: Kernel, [A, B, C]: string[]): string {
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  return `struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
${k.uniforms.map((u) => `  ${u.name}: u32,`).join("\n")}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ${A}: array<${t}>;
@group(0) @binding(2) var<storage, read> ${B}: array<${t}>;
@group(0) @binding(3) var<storage, read_write> ${C}: array<${t}>;
`;
}

/**
 * The same product without workgroup memory: each thread owns a 4x4 block of C and streams its rows of A and
 * columns of B straight from memory. On CPU devices (lavapipe) caches do the tiling and workgroup barriers
 * are expensive, so this variant is faster there.
 */
export function emitMatmulDirectWgsl(k: Kernel, header: string, names: string[]): string {
  const { ta, tb } = k.matmul!;
  const [A, B, C] = names;
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  const aAt = (m: string) => (ta ? `a_base + kk * params.M + ${m}` : `a_base + ${m} * params.K + kk`);
  const bAt = (n: string) => (tb ? `b_base + ${n} * params.K + kk` : `b_base + kk * params.N + ${n}`);
  const clampA = (i: string) => `${A}[min(${i}, arrayLength(&${A}) - 1u)]`;
  const clampB = (i: string) => `${B}[min(${i}, arrayLength(&${B}) - 1u)]`;
  return `${header}
${declarations(k, names)}
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) tid: vec3<u32>) {
  let batch = wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m = wid.y * ${MM_TILE}u + tid.y * 4u; // this thread's 4x4 block of C
  let n = wid.x * ${MM_TILE}u + tid.x * 4u;
  if (m >= params.M || n >= params.N) { return; }
  let m1 = min(m + 1u, params.M - 1u); let m2 = min(m + 2u, params.M - 1u); let m3 = min(m + 3u, params.M - 1u);
  let n1 = min(n + 1u, params.N - 1u); let n2 = min(n + 2u, params.N - 1u); let n3 = min(n + 3u, params.N - 1u);
  var acc0 = vec4<${t}>(0); var acc1 = vec4<${t}>(0); var acc2 = vec4<${t}>(0); var acc3 = vec4<${t}>(0);
  for (var kk = 0u; kk < params.K; kk++) {
    let b = vec4<${t}>(${clampB(bAt("n"))}, ${clampB(bAt("n1"))}, ${clampB(bAt("n2"))}, ${clampB(bAt("n3"))});
    acc0 = acc0 + ${clampA(aAt("m"))} * b;
    acc1 = acc1 + ${clampA(aAt("m1"))} * b;
    acc2 = acc2 + ${clampA(aAt("m2"))} * b;
    acc3 = acc3 + ${clampA(aAt("m3"))} * b;
  }
  let c_base = batch * params.stride_c;
  let rowsC = array<vec4<${t}>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let gm = m + i;
    if (gm >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (n + j < params.N) { ${C}[c_base + gm * params.N + n + j] = rowsC[i][j]; }
    }
  }
}
`;
}

export function emitMatmulWgsl(k: Kernel, header: string, names: string[]): string {
  if (k.matmul!.variant === "direct") return emitMatmulDirectWgsl(k, header, names);
  const { ta, tb } = k.matmul!;
  const [A, B, C] = names;
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  const aAt = ta ? "a_base + gk * params.M + gm" : "a_base + gm * params.K + gk";
  const bAt = tb ? "b_base + gn * params.K + gk" : "b_base + gk * params.N + gn";
  return `${header}
${declarations(k, names)}var<workgroup> a_tile: array<${t}, ${MM_TILE * MM_TILE}>; // [m][k] of this K slice
var<workgroup> b_tile: array<${t}, ${MM_TILE * MM_TILE}>; // [k][n]

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) tid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m0 = wid.y * ${MM_TILE}u;
  let n0 = wid.x * ${MM_TILE}u;
  let tm = tid.y * 4u; // this thread's 4x4 block inside the tile
  let tn = tid.x * 4u;
  var acc: array<vec4<${t}>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += ${MM_TILE}u) {
    // 64 threads stage a 32x32 slice of ${A} and of ${B}: 16 elements each (out-of-range ones are 0).
    for (var i = 0u; i < 16u; i++) {
      let idx = lid + i * 64u;
      let r = idx / ${MM_TILE}u;
      let c = idx % ${MM_TILE}u;
      let gm = m0 + r;
      var gk = k0 + c;
      a_tile[idx] = select(${t}(0), ${A}[min(${aAt}, arrayLength(&${A}) - 1u)], gm < params.M && gk < params.K);
      gk = k0 + r;
      let gn = n0 + c;
      b_tile[idx] = select(${t}(0), ${B}[min(${bAt}, arrayLength(&${B}) - 1u)], gk < params.K && gn < params.N);
    }
    workgroupBarrier();
    for (var k = 0u; k < ${MM_TILE}u; k++) {
      let b = vec4<${t}>(b_tile[k * ${MM_TILE}u + tn], b_tile[k * ${MM_TILE}u + tn + 1u], b_tile[k * ${MM_TILE}u + tn + 2u], b_tile[k * ${MM_TILE}u + tn + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = acc[i] + a_tile[(tm + i) * ${MM_TILE}u + k] * b;
      }
    }
    workgroupBarrier();
  }
  let c_base = batch * params.stride_c;
  for (var i = 0u; i < 4u; i++) {
    let gm = m0 + tm + i;
    if (gm >= params.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = n0 + tn + j;
      if (gn < params.N) { ${C}[c_base + gm * params.N + gn] = acc[i][j]; }
    }
  }
}
`;
}
