// Fused causal self-attention (dsl/attention.ts) as a kernel-level lowering, FlashAttention-2 style (Dao
// 2023): scores and probabilities live only in registers and workgroup memory, tile by tile, so memory is
// O(B*H*T*d) and no [T, T] buffer exists.
//
//   forward   one kernel. A workgroup owns `wg` query rows of one (sequence, head), one thread per row, and
//             streams the keys and values in tiles of `tile` rows through workgroup memory with an online
//             softmax (running max m and sum l; acc rescaled by exp(m_old - m_new) once per tile). Tiles
//             wholly above the diagonal are never visited.
//   backward  two kernels, writing d qkv [B*T, 3C] directly (no split or merge gathers):
//             dq:  per query row, D = dO.O, then one pass over the key tiles for the row's log-sum-exp
//                  (the forward's, recomputed: a node has one output, see dsl/attention.ts), then a pass for
//                  dQ = scale * sum_j P (dP - D) k_j, P = exp(s - lse), dP = dO.v_j. Writes (lse, D) per
//                  row into a [B*H*T, 2] temporary for the next kernel.
//             dkv: per key row, loops over the query tiles at or below the diagonal: dV = sum_i P dO_i,
//                  dK = scale * sum_i P (dP - D_i) q_i.
//
// Where the device's subgroups hold 8 lanes or more (lavapipe), every pass is instead one subgroup per
// workgroup, 2 rows per lane, the other side's tile rows passed between lanes by subgroupBroadcast: no
// workgroup memory, no barrier, every private index a constant (attention-subgroup.ts says why that is what
// lavapipe needs). Otherwise:
// Tile sizes come from the device target: threads per workgroup at most maxWorkgroupInvocations, and the
// staged tiles within maxWorkgroupStorageBytes (a head of 64 floats on WebGPU's guaranteed 16 KiB: key and
// value tiles of 32 rows). One pipeline serves every B, T and H (uniforms); the head size, vector width and
// tiles are in the key. On CPU adapters (lavapipe) instruction count per element is what costs, so the
// inner loops are plain: one vec4 multiply-add per 4 head elements, no masking inside a tile (each thread's
// loop simply stops at its diagonal).
import type { AttentionArg, Node } from "../../dsl/node.ts";
import {
  BindingLimitError,
  hashString,
  targetKey,
  type AttentionGeometry,
  type Binding,
  type BindingLimits,
  type DeviceTarget,
  type Kernel,
  type KernelDispatch,
  type ScheduledKernel,
} from "../kernel.ts";
import type { KernelKind, LowerContext, Lowering } from "../lowering.ts";
import { printGraph } from "../../dsl/print.ts";
import { emitAttention } from "./attention-wgsl.ts";
import { interpretAttention } from "./attention-interpret.ts";

/** Threads per workgroup (rows owned) when the device allows: 64 keeps B*H*T/64 workgroups busy at small T. */
const WG = 64;
/** Rows per staged tile at most. */
const MAX_TILE = 64;

/** Workgroup bytes a pass stages per tile row: k and v rows (forward, dq) or q and dO rows plus lse and D (dkv). */
function bytesPerTileRow(pass: AttentionGeometry["pass"], d: number): number {
  return pass === "dkv" ? (2 * d + 2) * 4 : 2 * d * 4;
}

/**
 * Lanes of the subgroup kernels: one workgroup is one subgroup of this many lanes, and each tile is one row
 * per lane (lavapipe runs 8 invocations per AVX2 register).
 */
const SUBGROUP_LANES = 8;
/** Rows each lane owns in the subgroup kernels: each broadcast vector feeds that many rows. */
const SUBGROUP_ROWS = 2;

/** The geometry of one pass for head size d on this device; refuses a head too large for its workgroup memory. */
export function attentionGeometry(pass: AttentionGeometry["pass"], d: number, target: DeviceTarget): AttentionGeometry {
  const vec = d % 4 === 0 ? 4 : 1;
  // The subgroup kernels (attention-subgroup.ts) hold no tile in workgroup memory and have no barrier: where
  // the device's smallest subgroup holds the workgroup, every lane's tile row can be broadcast to the others.
  if (target.subgroupMinSize >= SUBGROUP_LANES)
    return { pass, d, vec, wg: SUBGROUP_LANES, rows: SUBGROUP_ROWS, tile: SUBGROUP_LANES, subgroup: true };
  const wg = Math.min(WG, 2 ** Math.floor(Math.log2(target.maxWorkgroupInvocations)));
  let tile = MAX_TILE;
  while (tile > 1 && tile * bytesPerTileRow(pass, d) > target.maxWorkgroupStorageBytes) tile /= 2;
  if (tile * bytesPerTileRow(pass, d) > target.maxWorkgroupStorageBytes)
    throw new Error(`octet: attention with head size ${d} needs ${bytesPerTileRow(pass, d)} bytes of workgroup memory per tile row; this device gives ${target.maxWorkgroupStorageBytes}`);
  return { pass, d, vec, wg, rows: 1, tile, subgroup: false };
}

function kernelOf(ctx: LowerContext, n: Node, outSlot: number, g: AttentionGeometry, slots: number[], writes: number): Kernel {
  const bindings: Binding[] = slots.map((slot, i) => ({ name: ctx.slots[slot].name, slot, dtype: "f32", mode: "scalar", read: i < slots.length - writes, write: i >= slots.length - writes }));
  const kernel: Kernel = {
    name: ctx.kernelName(),
    kind: "attention",
    L: 1,
    vec: 1,
    bindings,
    uniforms: ["T", "H", "b0", ...bindings.map((_, i) => `first${i}`)].map((name) => ({ name, dtype: "u32" as const })),
    outputs: [],
    source: printGraph([n], [ctx.slots[outSlot].name]),
    target: ctx.target,
    attention: g,
    key: "",
  };
  const { pass, d, vec, wg, rows, tile, subgroup } = g;
  kernel.key = hashString(`attention|${pass}|d${d}|vec${vec}|wg${wg}|rows${rows}|tile${tile}|${subgroup ? "subgroup|" : ""}${bindings.map((b) => b.name).join(",")}|${targetKey(ctx.target)}`);
  return kernel;
}

export const attentionLowering: Lowering = {
  kernels(n, outSlot, ctx): ScheduledKernel[] {
    const { attention: which, T, H } = n.arg as AttentionArg;
    const qkv = n.src[0];
    const rows = qkv.shape[0];
    const C = qkv.shape[1] / 3;
    const d = C / H;
    const BH = (rows / T) * H;
    const grid = (g: AttentionGeometry): [number, number, number] => [Math.ceil(T / (g.wg * g.rows)), BH, 1];
    // The whole batch as one dispatch; `chunks` cuts it by sequences when a binding would not fit.
    const whole = (k: number) => Object.fromEntries(Array.from({ length: k }, (_, i) => [`first${i}`, 0]));
    const consts = (k: number) => ({ T, H, b0: 0, ...whole(k) });
    const x = ctx.slotOf(qkv);
    if (which === "forward") {
      const g = attentionGeometry("forward", d, ctx.target);
      return [{ kernel: kernelOf(ctx, n, outSlot, g, [x, outSlot], 1), rows: BH, consts: consts(2), grid: grid(g) }];
    }
    const [o, dO] = [ctx.slotOf(n.src[1]), ctx.slotOf(n.src[2])];
    const stats = ctx.slots.push({ kind: "temp", name: `${ctx.slots[outSlot].name}_lse_D`, dtype: "f32", shape: [BH * T, 2] }) - 1;
    const gq = attentionGeometry("dq", d, ctx.target);
    const gkv = attentionGeometry("dkv", d, ctx.target);
    return [
      { kernel: kernelOf(ctx, n, outSlot, gq, [x, o, dO, outSlot, stats], 2), rows: BH, consts: consts(5), grid: grid(gq) },
      { kernel: kernelOf(ctx, n, outSlot, gkv, [x, dO, stats, outSlot], 1), rows: BH, consts: consts(4), grid: grid(gkv) },
    ];
  },
};

/**
 * Dispatches for the device's limits: one for the whole batch when every binding and the grid fit, else runs
 * of whole sequences (every pass reads only its own sequence's rows), each binding bound as the window
 * holding those sequences' rows, from an aligned offset at or below their first element (`first<i>` tells
 * the kernel where the window starts). Numbers do not depend on the cut. A binding whose one sequence does
 * not fit is refused, naming it.
 */
function chunks(sk: ScheduledKernel, slotBytes: number[], limits: BindingLimits): KernelDispatch[] {
  const k = sk.kernel;
  const { T, H } = sk.consts!;
  const B = sk.rows / H;
  const g = k.attention!;
  const C = H * g.d;
  const tiles = Math.ceil(T / (g.wg * g.rows));
  // f32 elements of one sequence in each binding, and whether the kernel reads it as head vectors.
  const qkv = { floats: T * 3 * C, vectors: true }, rows = { floats: T * C, vectors: true }, stats = { floats: H * T * 2, vectors: false };
  const layout = { forward: [qkv, rows], dq: [qkv, rows, rows, qkv, stats], dkv: [qkv, rows, stats, qkv] }[g.pass];
  const perSeq = layout.map((l) => l.floats * 4);
  const fits = (n: number) => n * H <= limits.maxWorkgroups && perSeq.every((p, i) => Math.min(slotBytes[i], n * p + limits.offsetAlign) <= limits.maxBinding);
  if (tiles > limits.maxWorkgroups) throw new BindingLimitError(`octet: kernel ${k.name} (attention): T = ${T} needs ${tiles} workgroups of ${g.wg * g.rows} rows, more than ${limits.maxWorkgroups} per grid dimension`);
  if (!fits(1)) {
    const i = Math.max(0, perSeq.findIndex((p) => p + limits.offsetAlign > limits.maxBinding));
    throw new BindingLimitError(`octet: kernel ${k.name} (attention): one sequence of ${k.bindings[i].name} (T = ${T}, C = ${C}) spans ${perSeq[i]} bytes, which with the ${limits.offsetAlign}-byte offset alignment does not fit one storage binding of ${limits.maxBinding} bytes`);
  }
  let n = 1;
  while (n < B && fits(Math.min(B, n * 2))) n = Math.min(B, n * 2);
  while (n < B && fits(n + 1)) n++;
  const out: KernelDispatch[] = [];
  for (let b0 = 0; b0 < B; b0 += n) {
    const b1 = Math.min(B, b0 + n);
    const consts: Record<string, number> = { b0 };
    const windows = perSeq.map((p, i) => {
      const elemBytes = layout[i].vectors ? 4 * g.vec : 4;
      const offset = n === B ? 0 : Math.floor((b0 * p) / limits.offsetAlign) * limits.offsetAlign;
      const end = n === B ? slotBytes[i] : Math.min(slotBytes[i], Math.ceil((b1 * p) / 16) * 16);
      consts[`first${i}`] = offset / elemBytes;
      return { offset, size: end - offset };
    });
    out.push({ grid: [tiles, (b1 - b0) * H, 1], consts, windows });
  }
  return out;
}

export const attentionKind: KernelKind = {
  emit: emitAttention,
  workgroupSize: (k) => k.attention!.wg,
  interpret: interpretAttention,
  chunks,
};
