// Matrix multiply: the one kernel that is not elementwise-with-row-reductions. C[b] = op(A[b]) @ op(B[b]),
// op = optional transpose, batched over leading dims (B may be shared by every batch: a weight). It is always
// its own kernel. On GPUs it is tiled through workgroup memory: each 8x8 workgroup computes a 32x32 tile of C,
// each thread a 4x4 block, stepping K in slices of 32. On CPU adapters ("direct") each thread computes an 8x8
// block straight from memory (emitMatmulDirectWgsl says why); with subgroups ("broadcast", matmul-broadcast.ts)
// the 8 lanes of a workgroup share 32 rows and pass A between them by subgroupBroadcast. M, N, K and the batch
// strides are uniforms, so one pipeline serves every size; only the transposes and the variant are part of the key.
//
// Operands larger than one storage binding are chunked (matmulBlocks): a dispatch computes one block of C
// (a range of batches, rows M, columns N) from a range of K, binding only the windows of A, B and C that the
// block touches; blocks that split K accumulate into C. The block's ranges and each window's first element
// are uniforms, so a chunked product runs the same pipeline as a whole one.
import { DTYPES } from "../dsl/dtype.ts";
import { numel, type Node } from "../dsl/node.ts";
import { printGraph } from "../dsl/print.ts";
import { paramsStruct } from "./banner.ts";
import { BROADCAST_TILE, emitMatmulBroadcastWgsl, f16Directive } from "./matmul-broadcast.ts";
import { hashString, type Binding, type BindingLimits, type Kernel, type KernelDispatch, type ScheduledKernel, type SlotInfo } from "./kernel.ts";

export interface MatmulArg {
  ta: boolean;
  tb: boolean;
}

/** The tiled kernel's square tile (and its K slice). */
export const MM_TILE = 32;

/**
 * Which matmul kernel to generate, a device fact (DeviceTarget.matmulVariant). Measured on lavapipe (2 cores,
 * 512x64x256): tiled 2.2 GFLOP/s, direct (then 4x4 per thread) 5.5 GFLOP/s; workgroup barriers are costly on a
 * CPU device while its caches tile for free, so CPU adapters get "direct" and GPUs the tiled kernel.
 */
export type MatmulVariant = "tiled" | "direct" | "broadcast";

/** Rows and columns of C that one workgroup of each variant computes: the unit of the dispatch grid. */
export function matmulTile(variant: MatmulVariant): { m: number; n: number } {
  if (variant === "broadcast") return BROADCAST_TILE;
  return variant === "direct" ? { m: DIRECT_ROWS, n: DIRECT_COLS * DIRECT_THREADS } : { m: MM_TILE, n: MM_TILE };
}

/**
 * The variant a product of these sizes gets on a device whose target asks for `wanted`: the broadcast kernel
 * loads a transposed A and B in vec4s along their contiguous dimensions and stores C in vec4s along N, so it
 * needs N, for a transposed A also M and for a transposed B also K, to be multiples of 4; other sizes get the
 * direct kernel, which it replaces there.
 */
export function matmulVariantFor(wanted: MatmulVariant, M: number, N: number, K: number, ta: boolean, tb: boolean): MatmulVariant {
  if (wanted !== "broadcast") return wanted;
  return N % 4 === 0 && (!ta || M % 4 === 0) && (!tb || K % 4 === 0) ? "broadcast" : "direct";
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

export function lowerMatmul(n: Node, aSlot: number, bSlot: number, outSlot: number, slots: SlotInfo[], name: string, wanted: MatmulVariant = "tiled"): ScheduledKernel {
  const { ta, tb } = n.arg as unknown as MatmulArg;
  const { batch, M, N, K, sharedB } = matmulDims(n);
  const variant = matmulVariantFor(wanted, M, N, K, ta, tb);
  const bind = (slot: number, read: boolean): Binding => ({ name: slots[slot].name, slot, dtype: slots[slot].dtype, mode: "scalar", read, write: !read });
  const kernel: Kernel = {
    name,
    kind: "matmul",
    L: 1,
    vec: 1,
    bindings: [bind(aSlot, true), bind(bSlot, true), bind(outSlot, false)],
    uniforms: MATMUL_UNIFORMS.map((u) => ({ name: u, dtype: "u32" as const })),
    outputs: [],
    source: printGraph([n], [slots[outSlot].name]),
    key: "",
    matmul: { ta, tb, variant },
  };
  kernel.key = hashString(`matmul|${variant}|${ta}|${tb}|${kernel.bindings.map((b) => `${b.name}:${b.dtype}`).join(",")}`);
  // The whole product as one block; the runtime replaces the block uniforms per dispatch when it chunks.
  const consts = { M, N, K, stride_a: M * K, stride_b: sharedB ? 0 : K * N, stride_c: M * N, ...wholeBlock(M, N, K) };
  const tile = matmulTile(variant);
  return { kernel, rows: batch, consts, grid: [Math.ceil(N / tile.n), Math.ceil(M / tile.m), batch] };
}

/**
 * Uniforms of a matmul kernel: the full sizes and batch strides (they define the layout), then the block this
 * dispatch computes (batches from z0, rows m0..m_end, columns n0..n_end, K from k0 to k_end), the first
 * element of each bound window (a_off, b_off, c_off: indices into the whole tensor minus these index the
 * window), and whether this block adds to C (a later slice of a K split) or writes it.
 */
const MATMUL_UNIFORMS = ["M", "N", "K", "stride_a", "stride_b", "stride_c", "z0", "m0", "m_end", "n0", "n_end", "k0", "k_end", "a_off", "b_off", "c_off", "accumulate"];

function wholeBlock(M: number, N: number, K: number): Record<string, number> {
  return { z0: 0, m0: 0, m_end: M, n0: 0, n_end: N, k0: 0, k_end: K, a_off: 0, b_off: 0, c_off: 0, accumulate: 0 };
}

/** One dispatch of a (possibly chunked) product; its windows are those of A, B and C, in that order. */
export type MatmulBlock = KernelDispatch;

type Range = [number, number];

/**
 * Cuts a product into blocks whose windows of A, B and C each fit one binding, preferring cuts that keep the
 * windows contiguous: batches first, then rows of A and C (M), columns of C with rows of a transposed B (N),
 * and K last (its blocks accumulate). One block when everything fits. Throws, naming the operand and the
 * sizes, when even one element row cannot be bound.
 */
export function matmulBlocks(sk: ScheduledKernel, slotBytes: number[], limits: BindingLimits): MatmulBlock[] {
  const k = sk.kernel;
  const { ta, tb } = k.matmul!;
  const c = sk.consts!;
  const { M, N, K, stride_a: sa, stride_b: sb, stride_c: sc } = c;
  const batch = sk.rows;
  const es = k.bindings[0].dtype === "f16" ? 2 : 4;
  // Flat index of element (z, m, n, k) of each operand; every coefficient is >= 0, so a block's lowest and
  // highest indices are at its first and last corner.
  const at = [
    (z: number, m: number, _n: number, kk: number) => z * sa + (ta ? kk * M + m : m * K + kk),
    (z: number, _m: number, n: number, kk: number) => z * sb + (tb ? n * K + kk : kk * N + n),
    (z: number, m: number, n: number, _k: number) => z * sc + m * N + n,
  ];
  const ops = ["A", "B", "C"];
  if (M === 0 || N === 0 || batch === 0) return [];
  const whole = slotBytes.slice(0, 3);
  const tile = matmulTile(k.matmul!.variant);
  if (whole.every((b) => b <= limits.maxBinding) && batch <= limits.maxWorkgroups && Math.ceil(M / tile.m) <= limits.maxWorkgroups && Math.ceil(N / tile.n) <= limits.maxWorkgroups)
    return [{ grid: [Math.ceil(N / tile.n), Math.ceil(M / tile.m), batch], consts: wholeBlock(M, N, K), windows: whole.map((size) => ({ offset: 0, size })) }];

  // Block sizes; a window of a block starting anywhere fits when its span plus the alignment slack does.
  const size = { z: Math.min(batch, limits.maxWorkgroups), m: Math.min(M, limits.maxWorkgroups * tile.m), n: Math.min(N, limits.maxWorkgroups * tile.n), k: Math.max(K, 1) };
  type Dim = keyof typeof size;
  const spanBytes = (op: number, s: typeof size) => (at[op](s.z - 1, s.m - 1, s.n - 1, s.k - 1) + 1) * es + limits.offsetAlign;
  const fits = (op: number, s: typeof size) => spanBytes(op, s) <= limits.maxBinding;
  const prefer: Dim[][] = [
    ["z", ...(ta ? ["k", "m"] : ["m", "k"])] as Dim[],
    [...(sb ? ["z"] : []), ...(tb ? ["n", "k"] : ["k", "n"])] as Dim[],
    ["z", "m", "n"] as Dim[],
  ];
  for (;;) {
    const over = [0, 1, 2].find((op) => !fits(op, size));
    if (over === undefined) break;
    const dim = prefer[over].find((d) => size[d] > 1);
    if (!dim) {
      const one = spanBytes(over, { z: 1, m: 1, n: 1, k: 1 });
      throw new Error(`octet: ${k.name}: operand ${ops[over]} (${k.bindings[over].name}) cannot be cut to fit one storage binding of ${limits.maxBinding} bytes (one element needs ${one})`);
    }
    // The largest size along `dim` that fits (binary search: the span grows with it), kept a multiple of the
    // tile (K: of the tiled kernel's slice) where it can be; 1 when none fits, and the next dimension is cut.
    let lo = 1, hi = size[dim] - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(over, { ...size, [dim]: mid })) lo = mid;
      else hi = mid - 1;
    }
    const unit = dim === "m" ? tile.m : dim === "n" ? tile.n : MM_TILE;
    // The broadcast kernel reads and writes in vec4s along M (A^T), N and K (B^T): its cuts stay multiples of 4.
    const quantum = k.matmul!.variant === "broadcast" && (dim === "n" || (dim === "m" && ta) || (dim === "k" && tb)) ? 4 : 1;
    size[dim] = dim !== "z" && lo >= unit ? Math.floor(lo / unit) * unit : Math.floor(lo / quantum) * quantum;
    if (size[dim] === 0)
      throw new Error(`octet: ${k.name}: operand ${ops[over]} (${k.bindings[over].name}) cannot be cut to fit one storage binding of ${limits.maxBinding} bytes (the broadcast kernel reads 4 elements at a time along ${dim.toUpperCase()})`);
  }

  const ranges = (n: number, step: number): Range[] => {
    const out: Range[] = [];
    for (let i = 0; i < n; i += step) out.push([i, Math.min(n, i + step)]);
    return out.length ? out : [[0, 0]];
  };
  const window = (op: number, z: Range, m: Range, n: Range, kk: Range) => {
    const first = at[op](z[0], m[0], n[0], kk[0]);
    const last = at[op](z[1] - 1, m[1] - 1, n[1] - 1, Math.max(kk[0], kk[1] - 1));
    const offset = Math.floor((first * es) / limits.offsetAlign) * limits.offsetAlign;
    const end = Math.min(whole[op], Math.ceil(((last + 1) * es) / 16) * 16);
    return { offset, size: end - offset, first: offset / es };
  };
  const blocks: MatmulBlock[] = [];
  for (const z of ranges(batch, size.z))
    for (const m of ranges(M, size.m))
      for (const n of ranges(N, size.n))
        ranges(K, size.k).forEach((kk, slice) => {
          const w = [0, 1, 2].map((op) => window(op, z, m, n, kk));
          blocks.push({
            grid: [Math.ceil((n[1] - n[0]) / tile.n), Math.ceil((m[1] - m[0]) / tile.m), z[1] - z[0]],
            consts: { z0: z[0], m0: m[0], m_end: m[1], n0: n[0], n_end: n[1], k0: kk[0], k_end: kk[1], a_off: w[0].first, b_off: w[1].first, c_off: w[2].first, accumulate: slice > 0 ? 1 : 0 },
            windows: w.map(({ offset, size }) => ({ offset, size })),
          });
        });
  return blocks;
}

/** The uniform struct, the A, B, C bindings and C's store, which both matmul variants share. */
function declarations(k: Kernel, [A, B, C]: string[]): string {
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  return `${paramsStruct(k.uniforms.map((u) => u.name))}
@group(0) @binding(1) var<storage, read> ${A}: array<${t}>;
@group(0) @binding(2) var<storage, read> ${B}: array<${t}>;
@group(0) @binding(3) var<storage, read_write> ${C}: array<${t}>;

// Each operand is bound as a window that starts at element a_off / b_off / c_off of the whole tensor. A block
// that is a later slice of a split K adds to what the earlier slices wrote.
fn load_a(at: u32) -> ${t} { return ${A}[min(at - params.a_off, arrayLength(&${A}) - 1u)]; }
fn load_b(at: u32) -> ${t} { return ${B}[min(at - params.b_off, arrayLength(&${B}) - 1u)]; }
fn store_c(at: u32, v: ${t}) {
  let i = at - params.c_off;
  if (params.accumulate != 0u) { ${C}[i] = ${C}[i] + v; } else { ${C}[i] = v; }
}
`;
}

/**
 * The same product without workgroup memory, register-blocked for CPU devices. lavapipe (Mesa 25.0's llvmpipe)
 * runs a workgroup's invocations as the lanes of 8-wide SIMD vectors, but a storage-buffer load whose index is not
 * a compile-time constant becomes a loop over the lanes with a bounds check per element (~12 instructions per
 * loaded f32 per lane), while arithmetic runs on whole vectors. So the cost is loads: each thread owns an 8x8 block
 * of C (DIRECT_ROWS x DIRECT_COLS) and reuses every loaded element of A 8 times and of B 8 times, against 4 and 4
 * for the earlier 4x4 block. Workgroup memory does not pay there: its reads are per-lane loops too, and barriers
 * switch coroutines. Measured on lavapipe (2 cores, a busy machine, GFLOP per CPU-second, 1024x256x256 /
 * 256x256x1024 A^T / 1000x250x250 B^T): 4x4 per thread 1.7 / 1.4 / 2.0; 8x8 with 8 threads 2.7 / 1.9 / 2.8 (16
 * threads the same, 32 and 64 slower); 32x32 and 64x64 workgroup-memory tiles 0.7-1.9. Where the device has
 * subgroups, the broadcast kernel (matmul-broadcast.ts) shares each load of A across the lanes instead.
 */
const DIRECT_ROWS = 8;
const DIRECT_COLS = 8;
const DIRECT_THREADS = 8; // one SIMD vector of lavapipe's 256-bit lanes: a workgroup covers 8 rows x 64 columns

export function emitMatmulDirectWgsl(k: Kernel, header: string, names: string[]): string {
  const { ta, tb } = k.matmul!;
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  const aAt = (m: string) => (ta ? `a_base + kk * params.M + ${m}` : `a_base + ${m} * params.K + kk`);
  const bAt = (n: string) => (tb ? `b_base + ${n} * params.K + kk` : `b_base + kk * params.N + ${n}`);
  const rows = [...Array(DIRECT_ROWS).keys()], cols = [...Array(DIRECT_COLS).keys()], quads = [...Array(DIRECT_COLS / 4).keys()];
  const lines = (f: (i: number) => string, over = rows) => over.map(f).join("\n");
  return `${f16Directive(k)}${header}
${declarations(k, names)}
@compute @workgroup_size(${DIRECT_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) tid: vec3<u32>) {
  let batch = params.z0 + wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m = params.m0 + wid.y * ${DIRECT_ROWS}u; // this thread's ${DIRECT_ROWS}x${DIRECT_COLS} block of C: rows m.., columns n..
  let n = params.n0 + wid.x * ${DIRECT_COLS * DIRECT_THREADS}u + tid.x * ${DIRECT_COLS}u;
  // Rows and columns past the block's end are clamped for loading (and not stored), so no thread leaves early.
${lines((i) => `  let row${i} = min(m + ${i}u, params.m_end - 1u);`)}
${lines((j) => `  let col${j} = min(n + ${j}u, params.n_end - 1u);`, cols)}
${lines((i) => `  ${quads.map((q) => `var acc${i}_${q} = vec4<${t}>(0);`).join(" ")}`)}
  for (var kk = params.k0; kk < params.k_end; kk++) {
${lines((q) => `    let b${q} = vec4<${t}>(${[0, 1, 2, 3].map((j) => `load_b(${bAt(`col${4 * q + j}`)})`).join(", ")});`, quads)}
${lines((i) => `    let a${i} = vec4<${t}>(load_a(${aAt(`row${i}`)})); ${quads.map((q) => `acc${i}_${q} = fma(a${i}, b${q}, acc${i}_${q});`).join(" ")}`)}
  }
  let c_base = batch * params.stride_c;
  // Unrolled plain stores; a later slice of a split K (rare: a product too large for one binding) adds to C in a
  // loop instead: 64 unrolled read-modify-writes would cost lavapipe seconds of compile time per pipeline.
  if (params.accumulate == 0u) {
${lines((i) => `    if (m + ${i}u < params.m_end) {\n${cols.map((j) => `      if (n + ${j}u < params.n_end) { ${names[2]}[c_base + (m + ${i}u) * params.N + n + ${j}u - params.c_off] = acc${i}_${j >> 2}.${"xyzw"[j & 3]}; }`).join("\n")}\n    }`)}
  } else {
    let block = array<vec4<${t}>, ${DIRECT_ROWS * quads.length}>(${rows.flatMap((i) => quads.map((q) => `acc${i}_${q}`)).join(", ")});
    for (var e = 0u; e < ${DIRECT_ROWS * DIRECT_COLS}u; e++) {
      let i = e / ${DIRECT_COLS}u;
      let j = e % ${DIRECT_COLS}u;
      if (m + i < params.m_end && n + j < params.n_end) { store_c(c_base + (m + i) * params.N + n + j, block[e / 4u][e % 4u]); }
    }
  }
}
`;
}

export function emitMatmulWgsl(k: Kernel, header: string, names: string[]): string {
  if (k.matmul!.variant === "direct") return emitMatmulDirectWgsl(k, header, names);
  if (k.matmul!.variant === "broadcast") return emitMatmulBroadcastWgsl(k, header, names);
  const { ta, tb } = k.matmul!;
  const [A, B] = names;
  const t = DTYPES[k.bindings[0].dtype].wgsl;
  const aAt = ta ? "a_base + gk * params.M + gm" : "a_base + gm * params.K + gk";
  const bAt = tb ? "b_base + gn * params.K + gk" : "b_base + gk * params.N + gn";
  return `${f16Directive(k)}${header}
${declarations(k, names)}var<workgroup> a_tile: array<${t}, ${MM_TILE * MM_TILE}>; // [m][k] of this K slice
var<workgroup> b_tile: array<${t}, ${MM_TILE * MM_TILE}>; // [k][n]

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) tid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = params.z0 + wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m0 = params.m0 + wid.y * ${MM_TILE}u;
  let n0 = params.n0 + wid.x * ${MM_TILE}u;
  let tm = tid.y * 4u; // this thread's 4x4 block inside the tile
  let tn = tid.x * 4u;
  var acc: array<vec4<${t}>, 4>;
  for (var k0 = params.k0; k0 < params.k_end; k0 += ${MM_TILE}u) {
    // 64 threads stage a 32x32 slice of ${A} and of ${B}: 16 elements each (out-of-range ones are 0).
    for (var i = 0u; i < 16u; i++) {
      let idx = lid + i * 64u;
      let r = idx / ${MM_TILE}u;
      let c = idx % ${MM_TILE}u;
      let gm = m0 + r;
      var gk = k0 + c;
      a_tile[idx] = select(${t}(0), load_a(${aAt}), gm < params.m_end && gk < params.k_end);
      gk = k0 + r;
      let gn = n0 + c;
      b_tile[idx] = select(${t}(0), load_b(${bAt}), gk < params.k_end && gn < params.n_end);
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
    if (gm >= params.m_end) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = n0 + tn + j;
      if (gn < params.n_end) { store_c(c_base + gm * params.N + gn, acc[i][j]); }
    }
  }
}
`;
}
