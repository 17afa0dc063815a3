// Buckets: at the first step, parameters are grouped by state format (f32 / 8-bit dynamic / 8-bit linear);
// each bucket keeps its parameters, gradients and states in flat arenas with every tensor starting on a
// 256-element block, so ONE fused kernel dispatch updates every tensor of the bucket (a model of 200 small
// tensors costs one dispatch, not 200). Per-tensor scalars live in a small table (`hyper`) indexed by each
// block's tensor number (`block_tensor`). Parameters are adopted into the arena: their Tensor now views it.
import { Tensor } from "../dsl/tensor.ts";
import { bufferNode, realize, storageOf } from "../runtime/realize.ts";
import { allocateOn, view, type Category, type Storage } from "../runtime/storage.ts";
import type { Parameter } from "../nn/parameter.ts";
import { blockSizeOf, codeBytes, FORMATS, scaleCount, type FormatName, type StateFormat, type TableData } from "./formats.ts";
import type { OptimizerDef } from "./define.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { Options } from "./config.ts";
import { DTYPES, type DType } from "../dsl/dtype.ts";
import { F32_PARAMS, paramStorageProblem, planOf, planTag, ROUNDING_SCALARS, STORAGE_OF, type ParamPlan } from "./paramstorage.ts";
import { packsCodes, tableLayout, tableWords, traceUpdate } from "./trace.ts";
import { GNORM_HISTORY, blocksOf, type Bucket, type ParamRef, type StateStore } from "./types.ts";

/** One parameter to place, with the config it steps with. */
export interface Placement extends ParamRef {
  hp: Options;
}

/**
 * The state format and block size a parameter gets under config `hp`: quantized (stateFormat, blockSize or the
 * format's default block) when optimBits is 8 and it has at least min8bitSize elements, else f32. `bits` is
 * what the definition's checks see (8 for every quantized format).
 */
export function formatOf(p: Parameter, hp: Options): { format: StateFormat; blockSize: number; bits: 8 | 32; rank1?: [number, number] } {
  const bits = hp.optimBits === 8 && p.numel >= (hp.min8bitSize as number) ? 8 : 32;
  const format = FORMATS[bits === 8 ? ((hp.stateFormat as FormatName) ?? "dynamic8") : "f32"];
  // A 2-D parameter of a format with rank-1 states: its row and column maxima need a bucket of its own.
  const rank1 = format.rank1 && p.shape.length === 2 ? ([p.shape[0], p.shape[1]] as [number, number]) : undefined;
  return { format, blockSize: blockSizeOf(format, hp.blockSize), bits, rank1 };
}

/** Whether percentile clipping is on for a config (bnb: percentile_clipping < 100). */
export const clips = (hp: Options): boolean => typeof hp.percentileClipping === "number" && hp.percentileClipping < 100;

/**
 * Whether a parameter gets a bucket of its own: its config needs a whole-tensor norm (the family's perTensor,
 * e.g. maxUnorm on 32-bit state) or percentile clipping (the norm of its gradient). `bits` is the resolved state
 * precision (not hp.optimBits): a *8bit class keeps 32-bit state for small tensors, and those need the norm too.
 */
export function ownsBucket(def: OptimizerDef<any>, hp: Options, bits: 8 | 32): boolean {
  return !!def.perTensor?.(hp as never, bits) || clips(hp);
}

/** One planned bucket: its state format and block size, parameter storage (paramstorage.ts) and parameters. */
export interface PlannedBucket {
  format: StateFormat;
  blockSize: number;
  rank1?: [number, number];
  items: Placement[];
  own: boolean;
  clip: boolean;
  param: ParamPlan;
}

/**
 * Groups parameters by bucket: one per state format, block size and parameter storage (paramDtype, gradDtype,
 * rounding, compensation), or one per tensor when the config needs a tensor norm. `seed`: the optimizer's roundingSeed.
 */
export function planBuckets(def: OptimizerDef<any>, className: string, items: Placement[], seed = 0): PlannedBucket[] {
  const groups = new Map<string, PlannedBucket>();
  for (const it of items) {
    const { p, hp } = it;
    const { format, blockSize, bits, rank1 } = formatOf(p, hp);
    const err = def.check?.(hp, bits) ?? paramStorageProblem(hp);
    if (err) throw new Error(`${className}: ${err}`);
    const own = ownsBucket(def, hp, bits);
    const param = planOf(hp, seed);
    // A rank-1 state's row and column maxima are whole-tensor reductions: its parameter is alone in its bucket too.
    const key = `${format.name}/${blockSize}${planTag(param)}${own || rank1 ? `#${p.id}` : ""}`;
    if (!groups.has(key)) groups.set(key, { format, blockSize, rank1, items: [], own, clip: own && clips(hp), param });
    groups.get(key)!.items.push(it);
  }
  return [...groups.values()];
}

/**
 * Blocks a bucket's tensors start on a multiple of: every parameter's and gradient's slot is bound (as a model's
 * view of its weights, or as a gradient's realize target) at its byte offset, which must be a multiple of 256
 * (WebGPU's largest minStorageBufferOffsetAlignment). A 64-element block of 2-byte values is 128 bytes: tensors
 * start on even blocks, and the block between two tensors is padding (zeros, which every update keeps at zero).
 */
export function slotStride(blockSize: number, param: ParamPlan): number {
  const bytes = Math.min(DTYPES[param.storage.storage].bits, DTYPES[param.grad.storage].bits) / 8;
  let stride = 1;
  while ((stride * blockSize * bytes) % 256) stride++;
  return stride;
}

/** Allocates a bucket's arenas and tables, adopts its parameters into the parameter arena, traces its kernel. */
export async function makeBucket(dev: GPUDevice, def: OptimizerDef<any>, className: string, defaults: Options, format: StateFormat, blockSize: number, items: Placement[], target?: DeviceTarget, own = false, clip = false, rank1?: [number, number], param: ParamPlan = F32_PARAMS): Promise<Bucket> {
  const params = items.map((x) => x.p);
  await realize(params.map((p) => p.data));
  const blockStart: number[] = [];
  const stride = slotStride(blockSize, param);
  let blocks = 0;
  for (const p of params) {
    if (p.dtype !== "f32") throw new Error(`${className}: only f32 parameters are supported (got ${p.dtype}); for 16-bit weights give f32 parameters and the option paramDtype "bf16" or "f16"`);
    blocks = Math.ceil(blocks / stride) * stride;
    blockStart.push(blocks);
    blocks += blocksOf(p.numel, blockSize);
  }
  const n = blocks * blockSize;
  // Every buffer of a bucket is sized exactly (storage.ts "exact"): they live as long as the optimizer, and
  // its state bytes per parameter are the format's own (AdamW8bit: 2 + 8/256 + 2/256), no size-class rounding.
  const exact = (dtype: DType, count: number, category: Category, zero: boolean) => allocateOn(dev, dtype, count, category, zero, true, "exact");
  const pArena = exact(param.storage.storage, n, "parameters", true);
  const gArena = exact(param.grad.storage, n, "gradients", true);
  // The compensation buffer is the optimizer's (what the weights' rounding dropped), beside the parameter arena.
  const comp = param.compensation ? exact(param.compensation.storage, n, "optimizer", true) : undefined;
  // Adopt the parameters: copy their values into the arena and make their tensors view it.
  await adoptInto(dev, pArena, param, params.map((p, i) => [p, blockStart[i] * blockSize]), `${className} (adopting its parameters)`, comp);
  const states: Record<string, StateStore> = {};
  // One u32 word of codes per element for all states where their own buffers would not fit the budget.
  const shared = packsCodes(def, format, target, comp ? 1 : 0) ? exact("u32", n, "optimizer", true) : undefined;
  def.states.forEach((st, k) => {
    const scales = scaleCount(format, st.signed, blocks, rank1);
    states[st.name] = !format.quantized
      ? { value: exact("f32", n, "optimizer", true) }
      : shared
        ? { codes: shared, lane: k, absmax: exact("f32", scales, "optimizer", true) }
        : { codes: exact("u8", codeBytes(format, n), "optimizer", true), absmax: exact("f32", scales, "optimizer", true) };
  });
  // Lookup tables, block -> tensor numbers and per-tensor scalars share one buffer (trace.ts: binding budget).
  const tableNames = Object.keys(formatTables(def, format));
  const scalarNames = [...updateScalarNames(def, defaults, clip), ...(param.stochastic ? ROUNDING_SCALARS : [])];
  const layout = tableLayout(format, tableNames, blocks, params.length, scalarNames.length);
  const bt = new Uint32Array(blocks);
  // A padding block before the next tensor (slotStride) is its predecessor's: it steps with it, at zero.
  params.forEach((_, i) => bt.fill(i, blockStart[i], blockStart[i + 1] ?? blocks));
  const table = exact("u32", layout.words, "optimizer", false);
  dev.queue.writeBuffer(table.buffer, table.offset, tableWords(format, layout, bt));
  const gnorm = clip ? { vec: exact("f32", GNORM_HISTORY, "optimizer", true), filled: false } : undefined;
  const fn = traceUpdate(def, format, blocks, params.length, scalarNames, tableNames, false, target, blockSize, { own, clip, rank1, param });
  return { format, blockSize, rank1, params, groupIndex: items.map((x) => x.g), paramIndex: items.map((x) => x.i), blockStart, blocks, p: pArena, g: gArena, states, table, layout, scalarNames, fn, tableNames, target, own, gnorm, param, comp };
}

/**
 * Copies parameters' current values into their slots of a parameter arena (from their first element), then makes
 * their tensors view it. An f32 arena takes a raw copy; a bf16 or f16 one the values rounded to nearest by
 * one program (the first rounding of a master-free run). With a compensation buffer `comp`, that rounding's
 * error goes into it, except where the new value is exactly the weight the arena holds (`p.data = p.data`): the
 * compensation kept there is the only copy of those bits. For the parameters in `loaded` (whose compensation a
 * state dict wrote since their last step: a checkpoint's weights are loaded after its optimizer state) it is kept
 * wherever the new value is a bf16 value.
 */
export async function adoptInto(dev: GPUDevice, arena: Storage, param: ParamPlan, slots: [Parameter, number][], writer: string, comp?: Storage, loaded?: Set<Parameter>): Promise<void> {
  if (comp && param.compensation) {
    const c = param.compensation;
    const outs: Tensor[] = [];
    const into: Storage[] = [];
    for (const [p, start] of slots) {
      const v = p.data.cast("f32").reshape([p.numel]);
      const oldCodes = new Tensor(bufferNode(arenaSlot(p, arena, start), [p.numel]));
      const oldC = new Tensor(bufferNode(compSlot(p, comp, start), [p.numel]));
      const w = c.write(v);
      const same = param.storage.read(loaded?.has(p) ? w.p : oldCodes).bitcast("u32").eq(v.bitcast("u32"));
      outs.push(w.p, same.where(oldC, w.c));
      into.push(arenaSlot(p, arena, start), compSlot(p, comp, start));
    }
    await realize(outs, { into });
    comp.bump(writer);
  } else if (param.storage.name === "f32") {
    const enc = dev.createCommandEncoder({ label: writer });
    for (const [p, start] of slots) {
      const src = storageOf(p.data);
      const dst = start * 4;
      if (src.buffer !== arena.buffer || src.offset !== dst) enc.copyBufferToBuffer(src.buffer, src.offset, arena.buffer, dst, p.numel * 4);
    }
    dev.queue.submit([enc.finish()]);
  } else {
    const into = slots.map(([p, start]) => arenaSlot(p, arena, start));
    await realize(slots.map(([p]) => param.storage.write(p.data.cast("f32").reshape([p.numel]))), { into });
  }
  // A raw copy is an in-place write like any other: a lazy value over the arena's old bytes is refused.
  arena.bump(writer);
  for (const [p, start] of slots) viewArena(p, arena, start);
}

/** Parameter p's slot in a parameter arena (of any storage dtype, from element `start`), named for errors. */
function arenaSlot(p: Parameter, arena: Storage, start: number): Storage {
  const st = view(arena, start * (DTYPES[arena.dtype].bits / 8), arena.dtype, p.numel, "parameters");
  st.label = `parameter ${p.name ? `'${p.name}'` : `#${p.id}`}`;
  return st;
}

/** Parameter p's slot in a compensation buffer (from element `start`). */
function compSlot(p: Parameter, comp: Storage, start: number): Storage {
  const st = view(comp, (start * DTYPES[comp.dtype].bits) / 8, comp.dtype, p.numel, "optimizer");
  st.label = `compensation of parameter ${p.name ? `'${p.name}'` : `#${p.id}`}`;
  return st;
}

/**
 * Makes parameter p's tensor view its slot in a parameter arena (from element `start`). A 16-bit arena is seen
 * through its f32 decoding: a lazy value, which a realize of p.data would turn into a copy; every step and
 * load that writes the arena calls this again, so the parameter never stands for old values.
 */
export function viewArena(p: Parameter, arena: Storage, start: number): void {
  const node = bufferNode(arenaSlot(p, arena, start), p.data.shape);
  p.data.node = arena.dtype === "f32" ? node : STORAGE_OF[arena.dtype]!.read(new Tensor(node)).node;
}

/** Records a write the optimizer made into a bucket (a step, a load) on every storage it may have touched. */
export function bumpBucket(b: Bucket, writer: string, params = true): void {
  if (params) b.p.bump(writer);
  b.comp?.bump(writer);
  for (const st of Object.values(b.states)) for (const s of [st.value, st.codes, st.absmax]) s?.bump(writer);
}

/** The storages a bucket's kernel binds, in the order traceUpdate declares its inputs. */
export function inputsOf(def: OptimizerDef<any>, b: Bucket): Storage[] {
  const out: Storage[] = [b.p, b.g, ...(b.comp ? [b.comp] : [])];
  const packed = b.format.quantized && b.states[def.states[0].name].lane !== undefined;
  if (packed) out.push(b.states[def.states[0].name].codes!);
  for (const st of def.states) {
    const s = b.states[st.name];
    if (b.format.quantized) out.push(...(packed ? [] : [s.codes!]), s.absmax!);
    else out.push(s.value!);
  }
  out.push(b.table);
  if (b.gnorm) out.push(b.gnorm.vec);
  return out;
}

/** Parameter i's slot in the bucket's gradient arena (f32, or the u16 / f16 elements of gradDtype bf16 / f16). */
export function gradientStorage(b: Bucket, i: number): Storage {
  return view(b.g, (b.blockStart[i] * b.blockSize * DTYPES[b.g.dtype].bits) / 8, b.g.dtype, b.params[i].numel, "gradients");
}

/**
 * A tensor viewing parameter i's slot in the bucket's gradient arena: the slot itself (f32), or its f32 decoding
 * (a 16-bit gradDtype: a lazy value over the slot, which a realize turns into a copy).
 */
export function gradientView(b: Bucket, i: number): Tensor {
  const slot = new Tensor(bufferNode(gradientStorage(b, i), b.params[i].shape));
  return b.g.dtype === "f32" ? slot : b.param.grad.read(slot);
}

/** The per-tensor scalars an update kernel reads: the active flag, then what `def.scalars` computes. */
// Not "active": names become WGSL identifiers when the scheduler materializes a value, and `active` is a
// WGSL reserved word (a shader that failed to compile).
// With percentile clipping, three more: the history slot written this step (bnb: step % 100), whether every slot
// is written (the first clipped step), and the percentile (the rank of the clip norm among the 100).
export function updateScalarNames(def: OptimizerDef<any>, defaults: Options, clip = false): string[] {
  return ["is_active", ...Object.keys(def.scalars(defaults, 1)), ...(clip ? CLIP_SCALARS : [])];
}
export const CLIP_SCALARS = ["gnorm_slot", "gnorm_fill", "gnorm_rank"];

/** The lookup tables a format's kernels bind for this optimizer's states, named `<table>_<signedness>`. */
export function formatTables(def: OptimizerDef<any>, format: StateFormat): Record<string, TableData> {
  const out: Record<string, TableData> = {};
  for (const signed of [true, false]) {
    if (!def.states.some((s) => s.signed === signed)) continue;
    for (const [nm, t] of Object.entries(format.tables(signed))) out[`${nm}_${signed ? "signed" : "unsigned"}`] = t;
  }
  return out;
}
