// Sorting positions by index, on the GPU: the first half of scatter (lowerings/scatter.ts). Keys are pairs
// (index, position); a bitonic network sorts them ascending, so equal indices end up adjacent and in position
// order. Positions are distinct, so the order is total and the result unique: the same on every run and every
// device, whatever order threads run in (no atomics anywhere).
//
// Why bitonic: it needs no scratch beyond the keys and no atomics, it is a few lines of WGSL, and every step is
// a fixed compare-exchange pattern, so one pipeline serves each step with the step as a uniform. Its
// O(N log^2 N) work is small next to the scatter's N*D adds for the sizes it serves (N = B*T tokens).
//
// P = max(512, next power of two >= N) keys (positions past N are padding, (0xffffffff, p), sorting last).
// Indices outside [0, V) become V ("dropped": after every table row, before the padding). Dispatches:
//   bitonic_local (build)   read the indices, sort each 512-key block in workgroup memory (stages k = 2..512)
//   then for k = 1024..P:   bitonic_step for j = k/2 .. 512 (one global compare-exchange per thread),
//                           bitonic_local for j = 256 .. 1 of stage k (in workgroup memory)
// N = 8192 is 15 dispatches; N <= 512 is one.
import type { DType } from "../../dsl/dtype.ts";
import type { HostArray } from "../interpret.ts";
import { hashString, targetKey, type Binding, type Kernel, type ScheduledKernel } from "../kernel.ts";
import type { KernelKind, LowerContext } from "../lowering.ts";
import { DISPATCH_FIELDS, kernelBanner, paramsStruct } from "../banner.ts";

/** Keys sorted by one workgroup in its memory; the workgroup has half as many threads (one per pair). */
export const SORT_BLOCK = 512;
const WG = SORT_BLOCK / 2;
/** The most positions one sort handles: P keys of 8 bytes must stay far below a binding, and k fit a u32. */
export const MAX_SORT_KEYS = 2 ** 24;

/** Keys the sort of N positions uses: a power of two, at least one block. */
export function sortKeyCount(N: number): number {
  let p = SORT_BLOCK;
  while (p < N) p *= 2;
  return p;
}

const u32s = (names: string[]) => names.map((name) => ({ name, dtype: "u32" as DType }));

/**
 * The dispatches that sort positions 0..N-1 of `idsSlot` (i32 or u32 indices) by (index, position) into
 * `keysSlot` (u32 [P, 2]: index, position). `source` is the graph text for the WGSL headers.
 */
export function sortKernels(ctx: LowerContext, idsSlot: number, keysSlot: number, N: number, V: number, source: string): ScheduledKernel[] {
  const P = sortKeyCount(N);
  if (N > MAX_SORT_KEYS) throw new Error(`octet: scatter over ${N} positions; at most ${MAX_SORT_KEYS} are sorted in one program (split the batch)`);
  const ids = ctx.slots[idsSlot];
  const bind = (slot: number, read: boolean, write: boolean): Binding => ({ name: ctx.slots[slot].name, slot, dtype: ctx.slots[slot].dtype, mode: "col", read, write });
  const kernel = (kind: "bitonic_local" | "bitonic_step", bindings: Binding[], uniforms: string[]): Kernel => {
    const k: Kernel = { name: ctx.kernelName(), kind, L: 1, vec: 1, bindings, uniforms: u32s(uniforms), outputs: [], source, target: ctx.target, key: "" };
    k.key = hashString(`${kind}|${bindings.map((b) => `${b.name}:${b.dtype}:${+b.read}${+b.write}`).join(",")}|${targetKey(ctx.target)}`);
    return k;
  };
  const local = kernel("bitonic_local", [bind(idsSlot, true, false), bind(keysSlot, true, true)], ["N", "V", "k_first", "k_last", "build"]);
  const step = kernel("bitonic_step", [bind(keysSlot, true, true)], ["k", "j"]);
  const blocks = P / SORT_BLOCK;
  const out: ScheduledKernel[] = [{ kernel: local, rows: blocks, consts: { N, V, k_first: 2, k_last: SORT_BLOCK, build: 1 }, grid: [blocks, 1, 1] }];
  for (let k = 2 * SORT_BLOCK; k <= P; k *= 2) {
    for (let j = k / 2; j >= SORT_BLOCK; j /= 2) out.push({ kernel: step, rows: blocks, consts: { k, j }, grid: [P / 2 / WG, 1, 1] });
    out.push({ kernel: local, rows: blocks, consts: { N, V, k_first: k, k_last: k, build: 0 }, grid: [blocks, 1, 1] });
  }
  if (ids.dtype !== "i32" && ids.dtype !== "u32") throw new Error(`octet: scatter indices must be i32 or u32, got ${ids.dtype}`);
  return out;
}

const header = (k: Kernel, what: string, names: string[], access: string[]) =>
  kernelBanner(k, [what], [`${[...DISPATCH_FIELDS, ...k.uniforms.map((u) => u.name)].join(", ")})`], k.bindings.map((b, i) => `${names[i]}: ${b.dtype} ${access[i]}`));

const params = (k: Kernel) => paramsStruct(k.uniforms.map((u) => u.name));

/** (index, position) pairs in lexicographic order. */
const GREATER = `fn greater(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.x > b.x || (a.x == b.x && a.y > b.y);
}`;

const plain = (names: string[]) => names.map((n) => n.replace(/_col$/, ""));

function emitLocal(k: Kernel, names: string[]): string {
  const [IDS, KEYS] = plain(names);
  const idT = k.bindings[0].dtype;
  return `${header(k, `bitonic sort, in workgroup memory: blocks of ${SORT_BLOCK} keys (index, position), stages k_first..k_last, steps j < ${SORT_BLOCK}; build = 1 reads the indices first`, [IDS, KEYS], ["read", "read_write (u32 [P, 2] as vec2: index, position)"])}

${params(k)}
@group(0) @binding(1) var<storage, read> ${IDS}: array<${idT}>;
@group(0) @binding(2) var<storage, read_write> ${KEYS}: array<vec2<u32>>;
var<workgroup> tile: array<vec2<u32>, ${SORT_BLOCK}>;

${GREATER}

// Position p's key: an index outside [0, V) (a negative i32 reads as a large u32) becomes V, which sorts after
// every table row; positions past N are padding that sorts last.
fn key_of(p: u32) -> vec2<u32> {
  if (p >= params.N) { return vec2<u32>(0xffffffffu, p); }
  let id = u32(${IDS}[p]);
  return vec2<u32>(select(params.V, id, id < params.V), p);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * ${SORT_BLOCK}u;
  for (var h = 0u; h < 2u; h++) {
    let i = lid + h * ${WG}u;
    if (params.build == 1u) { tile[i] = key_of(base + i); } else { tile[i] = ${KEYS}[base + i]; }
  }
  workgroupBarrier();
  for (var k = params.k_first; k <= params.k_last; k = k << 1u) {
    for (var j = min(k >> 1u, ${WG}u); j > 0u; j = j >> 1u) {
      let a = 2u * j * (lid / j) + lid % j; // this thread's pair (a, a + j)
      let up = ((base + a) & k) == 0u; // ascending where bit k of the global position is clear
      let x = tile[a];
      let y = tile[a + j];
      if (greater(x, y) == up) {
        tile[a] = y;
        tile[a + j] = x;
      }
      workgroupBarrier();
    }
  }
  for (var h = 0u; h < 2u; h++) {
    let i = lid + h * ${WG}u;
    ${KEYS}[base + i] = tile[i];
  }
}
`;
}

function emitStep(k: Kernel, names: string[]): string {
  const [KEYS] = plain(names);
  return `${header(k, `bitonic sort, one global step (k, j) with j >= ${SORT_BLOCK}: one compare-exchange per thread`, [KEYS], ["read_write (u32 [P, 2] as vec2: index, position)"])}

${params(k)}
@group(0) @binding(1) var<storage, read_write> ${KEYS}: array<vec2<u32>>;

${GREATER}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let j = params.j;
  let a = 2u * j * (t / j) + t % j; // this thread's pair (a, a + j)
  let up = (a & params.k) == 0u;
  let x = ${KEYS}[a];
  let y = ${KEYS}[a + j];
  if (greater(x, y) == up) {
    ${KEYS}[a] = y;
    ${KEYS}[a + j] = x;
  }
}
`;
}

// --- the interpreter: the same network on host arrays (keys as interleaved index, position) -----------------
const gt = (K: HostArray, a: number, b: number) => K[2 * a] > K[2 * b] || (K[2 * a] === K[2 * b] && K[2 * a + 1] > K[2 * b + 1]);
function exchange(K: HostArray, a: number, b: number, up: boolean): void {
  if (gt(K, a, b) !== up) return;
  for (const o of [0, 1]) [K[2 * a + o], K[2 * b + o]] = [K[2 * b + o], K[2 * a + o]];
}

function interpretLocal(k: Kernel, blocks: number, slots: HostArray[], u: Record<string, number>): void {
  const [ids, K] = k.bindings.map((b) => slots[b.slot]);
  const signed = k.bindings[0].dtype === "i32";
  for (let base = 0; base < blocks * SORT_BLOCK; base += SORT_BLOCK) {
    if (u.build)
      for (let i = 0; i < SORT_BLOCK; i++) {
        const p = base + i;
        const id = p < u.N ? (signed ? ids[p] >>> 0 : ids[p]) : 0xffffffff;
        K[2 * p] = p >= u.N ? id : id < u.V ? id : u.V;
        K[2 * p + 1] = p;
      }
    for (let kk = u.k_first; kk <= u.k_last; kk *= 2)
      for (let j = Math.min(kk / 2, WG); j >= 1; j >>= 1)
        for (let t = 0; t < WG; t++) {
          const a = 2 * j * Math.floor(t / j) + (t % j);
          exchange(K, base + a, base + a + j, ((base + a) & kk) === 0);
        }
  }
}

function interpretStep(k: Kernel, _rows: number, slots: HostArray[], u: Record<string, number>): void {
  const K = slots[k.bindings[0].slot];
  const P = K.length / 2;
  for (let t = 0; t < P / 2; t++) {
    const a = 2 * u.j * Math.floor(t / u.j) + (t % u.j);
    exchange(K, a, a + u.j, (a & u.k) === 0);
  }
}

export const bitonicLocalKind: KernelKind = { emit: emitLocal, workgroupSize: () => WG, interpret: interpretLocal };
export const bitonicStepKind: KernelKind = { emit: emitStep, workgroupSize: () => WG, interpret: interpretStep };
