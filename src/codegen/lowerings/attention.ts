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
// Tile sizes come from the device target: threads per workgroup at most maxWorkgroupInvocations, and the
// staged tiles within maxWorkgroupStorageBytes (a head of 64 floats on WebGPU's guaranteed 16 KiB: key and
// value tiles of 32 rows). One pipeline serves every B, T and H (uniforms); the head size, vector width and
// tiles are in the key. On CPU adapters (lavapipe) instruction count per element is what costs, so the
// inner loops are plain: one vec4 multiply-add per 4 head elements, no masking inside a tile (each thread's
// loop simply stops at its diagonal).
import type { AttentionArg, Node } from "../../dsl/node.ts";
import { hashString, targetKey, type AttentionGeometry, type Binding, type DeviceTarget, type Kernel, type ScheduledKernel } from "../kernel.ts";
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

/** The geometry of one pass for head size d on this device; refuses a head too large for its workgroup memory. */
export function attentionGeometry(pass: AttentionGeometry["pass"], d: number, target: DeviceTarget): AttentionGeometry {
  const wg = Math.min(WG, 2 ** Math.floor(Math.log2(target.maxWorkgroupInvocations)));
  let tile = MAX_TILE;
  while (tile > 1 && tile * bytesPerTileRow(pass, d) > target.maxWorkgroupStorageBytes) tile /= 2;
  if (tile * bytesPerTileRow(pass, d) > target.maxWorkgroupStorageBytes)
    throw new Error(`octet: attention with head size ${d} needs ${bytesPerTileRow(pass, d)} bytes of workgroup memory per tile row; this device gives ${target.maxWorkgroupStorageBytes}`);
  return { pass, d, vec: d % 4 === 0 ? 4 : 1, wg, tile };
}

function kernelOf(ctx: LowerContext, n: Node, outSlot: number, g: AttentionGeometry, slots: number[], writes: number): Kernel {
  const bindings: Binding[] = slots.map((slot, i) => ({ name: ctx.slots[slot].name, slot, dtype: "f32", mode: "scalar", read: i < slots.length - writes, write: i >= slots.length - writes }));
  const kernel: Kernel = {
    name: ctx.kernelName(),
    kind: "attention",
    L: 1,
    vec: 1,
    bindings,
    uniforms: [{ name: "T", dtype: "u32" }, { name: "H", dtype: "u32" }],
    outputs: [],
    source: printGraph([n], [ctx.slots[outSlot].name]),
    target: ctx.target,
    attention: g,
    key: "",
  };
  const { pass, d, vec, wg, tile } = g;
  kernel.key = hashString(`attention|${pass}|d${d}|vec${vec}|wg${wg}|tile${tile}|${bindings.map((b) => b.name).join(",")}|${targetKey(ctx.target)}`);
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
    const grid = (g: AttentionGeometry): [number, number, number] => [Math.ceil(T / g.wg), BH, 1];
    const consts = { T, H };
    const x = ctx.slotOf(qkv);
    if (which === "forward") {
      const g = attentionGeometry("forward", d, ctx.target);
      return [{ kernel: kernelOf(ctx, n, outSlot, g, [x, outSlot], 1), rows: BH, consts, grid: grid(g) }];
    }
    const [o, dO] = [ctx.slotOf(n.src[1]), ctx.slotOf(n.src[2])];
    const stats = ctx.slots.push({ kind: "temp", name: `${ctx.slots[outSlot].name}_lse_D`, dtype: "f32", shape: [BH * T, 2] }) - 1;
    const gq = attentionGeometry("dq", d, ctx.target);
    const gkv = attentionGeometry("dkv", d, ctx.target);
    return [
      { kernel: kernelOf(ctx, n, outSlot, gq, [x, o, dO, outSlot, stats], 2), rows: BH, consts, grid: grid(gq) },
      { kernel: kernelOf(ctx, n, outSlot, gkv, [x, dO, stats, outSlot], 1), rows: BH, consts, grid: grid(gkv) },
    ];
  },
};

export const attentionKind: KernelKind = {
  emit: emitAttention,
  workgroupSize: (k) => k.attention!.wg,
  interpret: interpretAttention,
};
