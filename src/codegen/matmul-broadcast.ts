// The matmul kernel for CPU adapters with subgroup operations (lavapipe: 8 lanes, one SIMD vector). The lanes
// of a workgroup share BROADCAST_ROWS rows of C and each lane owns BROADCAST_QUADS * 4 columns. Per 8 values of
// k, each lane loads one element of A per row (at its own k) and hands it to every lane with subgroupBroadcast,
// a register permute (A^T, whose rows are contiguous, in vec4s of 4 rows); B is loaded in vec4s along its
// contiguous dimension (N, or K for a transposed B), C stored in vec4s along N. Sizes that do not allow the
// vec4s get the direct kernel (matmulVariantFor).
//
// Why (Mesa 25.0.7's llvmpipe, read off GALLIVM_DEBUG=asm): a storage load whose index is not a compile-time
// constant becomes a loop over the 8 lanes with a bounds check per component (~35 instructions per lane for a
// vec4, ~14 for a scalar), while a broadcast costs two vector instructions. Here each loaded element of A serves
// 8 lanes x 8 columns and each element of B 32 rows, against 8 and 8 in the direct kernel. The 8 products of
// one pass over k are summed in one expression before they are added to the accumulator: a loop-carried
// variable costs a masked blend, a load and a store per update, a temporary none.
// Measured on lavapipe (2 cores, a loaded machine, GFLOP per CPU-second of lavapipe's threads, 1024x256x64 /
// 1024x64x256): the direct kernel 5.0 / 2.9; rows x columns per lane 16x4 6.2 / 5.5, 32x4 7.6 / 7.2, 64x4
// 8.5 / 7.8, 32x8 9.4 / 10.0 (taken). A^T in vec4s of 4 rows instead of 32 scalar loads: 1.11-1.16x at the
// GPT's four dW shapes (64x192x1024, 64x256x1024, 256x64x1024, 64x96x1024; 7 interleaved rounds).
import { DTYPES } from "../dsl/dtype.ts";
import { paramsStruct } from "./banner.ts";
import type { Kernel } from "./kernel.ts";

/**
 * WGSL's directive for f16 operands (it must precede every declaration); a device without shader-f16 is refused
 * here, as the elementwise emitter refuses it, rather than failing in the shader compiler.
 */
export function f16Directive(k: Kernel): string {
  if (DTYPES[k.bindings[0].dtype].wgsl !== "f16") return "";
  if (k.target && !k.target.f16) throw new Error(`octet: ${k.name} multiplies f16 matrices, but the target device has no shader-f16; cast to f32 first`);
  return "enable f16;\n";
}

const BROADCAST_ROWS = 32;
const BROADCAST_QUADS = 2;
/** Invocations of one workgroup, all in one subgroup (the device's subgroupMinSize must be at least this). */
export const BROADCAST_LANES = 8;
/** Rows and columns of C one workgroup computes. */
export const BROADCAST_TILE = { m: BROADCAST_ROWS, n: BROADCAST_LANES * 4 * BROADCAST_QUADS };

export function emitMatmulBroadcastWgsl(k: Kernel, header: string, [A, B, C]: string[]): string {
  const { ta, tb } = k.matmul!;
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  const v4 = `vec4<${t}>`;
  const rows = [...Array(BROADCAST_ROWS).keys()], quads = [...Array(BROADCAST_QUADS).keys()], ks = [...Array(BROADCAST_LANES).keys()];
  const lines = (over: number[], f: (i: number) => string) => over.map(f).join("\n");
  // A at k = ka for row i: A^T holds the block's rows contiguously, so it is read in vec4s of 4 rows.
  const aLoads = ta
    ? lines([...Array(BROADCAST_ROWS / 4).keys()], (g) => `    let ag${g} = select(${v4}(0), load_a4(a_base + ka * params.M + rowq${g}), ka_in);`)
    : lines(rows, (i) => `    let a${i} = select(${t}(0), load_a(a_row${i} + ka), ka_in);`);
  const aOf = (i: number) => (ta ? `ag${i >> 2}.${"xyzw"[i & 3]}` : `a${i}`);
  // B's vec4 for k = k0 + j and columns col_q..col_q+3: one load along N, or (B^T) 4 values of one column along
  // K per load, 2 loads per column per pass. Past k_end it is 0 (as A is), so a non-finite B there cannot leak in.
  const bLoads = tb
    ? lines(quads, (q) => lines([0, 1, 2, 3], (c) => [0, 1].map((h) => `    let bt${q}_${c}_${h} = load_b4(b_base + (col${q} + ${c}u) * params.K + kb${h});`).join("\n"))) +
      "\n" +
      lines(ks, (j) => lines(quads, (q) => `    let b${j}_${q} = select(${v4}(0), ${v4}(${[0, 1, 2, 3].map((c) => `bt${q}_${c}_${j >> 2}.${"xyzw"[j & 3]}`).join(", ")}), k0 + ${j}u < params.k_end);`))
    : lines(ks, (j) => `    let kn${j} = b_base + min(k0 + ${j}u, params.k_end - 1u) * params.N;\n` + lines(quads, (q) => `    let b${j}_${q} = select(${v4}(0), load_b4(kn${j} + col${q}), k0 + ${j}u < params.k_end);`));
  const pass = (i: number, q: number) => ks.reduce((e, j) => (e ? `fma(${v4}(subgroupBroadcast(${aOf(i)}, ${j}u)), b${j}_${q}, ${e})` : `${v4}(subgroupBroadcast(${aOf(i)}, ${j}u)) * b${j}_${q}`), "");
  return `${f16Directive(k)}enable subgroups;
${header}
${paramsStruct(k.uniforms.map((u) => u.name))}
@group(0) @binding(1) var<storage, read> ${A}: array<${ta ? `${v4}>; // A^T, in vec4s along M` : `${t}>;`}
@group(0) @binding(2) var<storage, read> ${B}: array<${v4}>; // in vec4s along its contiguous dimension
@group(0) @binding(3) var<storage, read_write> ${C}: array<${v4}>; // in vec4s along N

// Each operand is bound as a window that starts at element a_off / b_off / c_off of the whole tensor (all
// three, and every index of a vec4 used here, are multiples of 4).
${ta ? `fn load_a4(at: u32) -> ${v4} { return ${A}[min((at - params.a_off) / 4u, arrayLength(&${A}) - 1u)]; }` : `fn load_a(at: u32) -> ${t} { return ${A}[min(at - params.a_off, arrayLength(&${A}) - 1u)]; }`}
fn load_b4(at: u32) -> ${v4} { return ${B}[min((at - params.b_off) / 4u, arrayLength(&${B}) - 1u)]; }

@compute @workgroup_size(${BROADCAST_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let batch = params.z0 + wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m = params.m0 + wid.y * ${BROADCAST_ROWS}u; // rows m..m+${BROADCAST_ROWS - 1} of C, shared by the ${BROADCAST_LANES} lanes
  let n = params.n0 + wid.x * ${BROADCAST_TILE.n}u + lane * ${4 * BROADCAST_QUADS}u; // this lane's columns n..n+${4 * BROADCAST_QUADS - 1}
  // Rows and column quads past the block's end are clamped for loading (and not stored), so no lane leaves early.
${ta ? lines([...Array(BROADCAST_ROWS / 4).keys()], (g) => `  let rowq${g} = min(m + ${4 * g}u, params.m_end - 4u);`) : lines(rows, (i) => `  let a_row${i} = a_base + min(m + ${i}u, params.m_end - 1u) * params.K;`)}
${lines(quads, (q) => `  let col${q} = min(n + ${4 * q}u, params.n_end - 4u);`)}
${lines(rows, (i) => `  ${quads.map((q) => `var acc${i}_${q} = ${v4}(0);`).join(" ")}`)}
  for (var k0 = params.k0; k0 < params.k_end; k0 += ${BROADCAST_LANES}u) {
    // Lane l loads A at k = k0 + l for every row; subgroupBroadcast(a, j) is then A[row][k0 + j] in every lane.
    let ka_in = k0 + lane < params.k_end;
    let ka = min(k0 + lane, params.k_end - 1u);
${aLoads}
${tb ? "    let kb0 = min(k0, params.k_end - 4u);\n    let kb1 = min(k0 + 4u, params.k_end - 4u);\n" : ""}${bLoads}
${lines(rows, (i) => lines(quads, (q) => `    acc${i}_${q} += ${pass(i, q)};`))}
  }
  // C from a loop over a copy of the accumulators: ${BROADCAST_ROWS * BROADCAST_QUADS} unrolled stores (each a per-lane loop with bounds
  // checks) took lavapipe ~2x the compile time of the rest of the kernel. A later slice of a split K adds to C.
  let c_base = batch * params.stride_c;
  var block = array<${v4}, ${BROADCAST_ROWS * BROADCAST_QUADS}>(${rows.flatMap((i) => quads.map((q) => `acc${i}_${q}`)).join(", ")});
  for (var e = 0u; e < ${BROADCAST_ROWS * BROADCAST_QUADS}u; e++) {
    let i = e / ${BROADCAST_QUADS}u;
    let j = (e % ${BROADCAST_QUADS}u) * 4u;
    if (m + i < params.m_end && n + j < params.n_end) {
      let at = (c_base + (m + i) * params.N + n + j - params.c_off) / 4u;
      if (params.accumulate != 0u) { ${C}[at] = ${C}[at] + block[e]; } else { ${C}[at] = block[e]; }
    }
  }
}
`;
}
