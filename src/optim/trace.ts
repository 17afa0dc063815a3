// Tracing: an optimizer definition and a state format become one fused update kernel over the bucket's
// [blocks, 256] arenas. States are read as f32 through the format and written back through it in place.
//
// Binding budget: WebGPU guarantees 8 storage buffers per kernel. The parameters, gradients and each state
// (codes and absmax, or the f32 value) are buffers of their own; everything else a kernel reads is packed
// into ONE u32 buffer, `packed`: every lookup table of the format (maps, thresholds, midpoints, as bit
// patterns), each block's tensor number, and the per-tensor scalars the host writes each step. So an update
// with s 8-bit states binds 2 + 2s + 1 buffers (AdamW8bit 7, Lion8bit 5), a 32-bit one 2 + s + 1.
// Where that is more than the device gives (AdEMAMix8bit's 9 at WebGPU's minimum of 8), the states' codes
// share ONE u32 buffer, a word per element holding each state's code in its own byte (`codes`, state k in
// bits 8k..8k+7): 2 + 1 + s + 1 buffers (AdEMAMix8bit 7), one kernel, at 4 bytes of codes per element instead
// of s. Only then: on a device with the room, each state keeps its own u8 buffer (s bytes).
import { Tensor } from "../dsl/tensor.ts";
import { JitFunction } from "../runtime/jit.ts";
import type { DeviceTarget } from "../codegen/kernel.ts";
import type { DType } from "../dsl/dtype.ts";
import { currentTarget } from "../runtime/target.ts";
import type { Lookup } from "../ops/quantize.ts";
import type { OptimizerDef } from "./define.ts";
import { scaleCount, type StateContext, type StateFormat, type TableData } from "./formats.ts";
import { sumAll } from "../ops/reduce.ts";
import { GNORM_HISTORY } from "./types.ts";
import { arenaRandom, F32_PARAMS, planTag, type ParamPlan } from "./paramstorage.ts";

/** Where each part of a bucket's packed table buffer starts (in u32 words). */
export interface TableLayout {
  /** Each lookup table (`<table>_<signedness>`, one word per entry: 256 for 8-bit maps, 16 for 4-bit) and how its words read. */
  lookups: Record<string, { offset: number; dtype: "f32" | "u32" }>;
  /** Word offset of the block -> tensor index: 16 bits per block, two blocks per word (the low half is the
   * even block), or a whole word per block when a bucket has more than 65536 tensors. At 16 bits the map costs
   * 2 bytes per 256-element block, which keeps AdamW8bit's state within 2.04 bytes per parameter. */
  blockTensor: number;
  blockTensorBits: 16 | 32;
  /** Word offset of the per-tensor scalars (f32 bits, `tensors x scalars`). */
  hyper: number;
  words: number;
}

/** Most states whose codes one u32 word can hold (a byte each). */
const CODES_PER_WORD = 4;

/**
 * Whether this definition's 8-bit states share one packed codes buffer on this target: only when their own u8
 * buffers would not fit its storage-buffer budget, and they fit in a word.
 */
export function packsCodes(def: OptimizerDef<any>, format: StateFormat, target?: DeviceTarget, extra = 0): boolean {
  const s = def.states.length;
  const budget = (target ?? currentTarget()).maxStorageBuffers;
  const over = format.quantized && 2 + 2 * s + 1 + extra > budget;
  // Byte lanes hold 8-bit codes; 4-bit ones (two per byte) have no shared layout: refused rather than misread.
  if (over && format.codeBits !== 8)
    throw new Error(`octet: ${def.name} with ${format.name} state binds ${2 + 2 * s + 1} storage buffers, this device allows ${budget}; use an 8-bit stateFormat or 32-bit state`);
  return over && s > 1 && s <= CODES_PER_WORD;
}

/** The data of table `<table>_<signedness>` for this format. */
function lookupData(format: StateFormat, name: string): TableData {
  const signed = name.endsWith("_signed");
  const base = name.slice(0, name.lastIndexOf("_"));
  const t = format.tables(signed)[base];
  if (!t || t.data.length === 0) throw new Error(`octet: ${format.name} has no table "${base}" (${name})`);
  return t;
}

export function tableLayout(format: StateFormat, tableNames: string[], blocks: number, tensors: number, scalars: number): TableLayout {
  const lookups: TableLayout["lookups"] = {};
  let at = 0;
  for (const nm of tableNames) {
    const t = lookupData(format, nm);
    lookups[nm] = { offset: at, dtype: t.dtype };
    at += t.data.length;
  }
  const blockTensor = at;
  const blockTensorBits = tensors <= 1 << 16 ? 16 : 32;
  const hyper = blockTensor + (blockTensorBits === 16 ? Math.ceil(blocks / 2) : blocks);
  return { lookups, blockTensor, blockTensorBits, hyper, words: hyper + tensors * scalars };
}

/** The packed table's initial contents: the lookup tables' bits and each block's tensor number (scalars 0). */
export function tableWords(format: StateFormat, layout: TableLayout, blockTensor: Uint32Array): Uint32Array {
  const out = new Uint32Array(layout.words);
  for (const [nm, { offset }] of Object.entries(layout.lookups)) {
    const d = lookupData(format, nm).data;
    out.set(new Uint32Array(d.buffer, d.byteOffset, d.length), offset);
  }
  if (layout.blockTensorBits === 32) out.set(blockTensor, layout.blockTensor);
  else blockTensor.forEach((t, b) => (out[layout.blockTensor + (b >> 1)] |= t << ((b & 1) * 16)));
  return out;
}

/** Traces an update definition once into one fused kernel over [blocks, blockSize]. */
/**
 * `uniformScalars`: the variant for the common step where every tensor of the bucket steps with the same
 * scalars: they arrive as uniforms (no per-block table lookups) and no tensor is skipped.
 */
/**
 * `kind.own`: the bucket holds one tensor alone, so the update may take whole-tensor norms (UpdateContext.ownTensor).
 * `kind.clip`: percentile clipping (bnb before 0.50): the kernel also binds the tensor's history of squared
 * gradient norms (`gnorm_vec`, f32[100]) and scales the gradient before the update; see clipScale.
 * `kind.rank1`: [R, C] of the bucket's one 2-D tensor, whose format normalizes some states rank-1 (formats.ts).
 * `kind.param`: how the parameters and gradients are stored (f32, bf16, f16), rounded back, and compensated
 * (paramstorage.ts, compensation.ts: the compensation buffer `comp` is bound right after `g`).
 */
export function traceUpdate(def: OptimizerDef<any>, format: StateFormat, blocks: number, tensors: number, scalarNames: string[], tableNames: string[], uniformScalars = false, target?: DeviceTarget, blockSize: number = format.defaultBlockSize, kind: { own?: boolean; clip?: boolean; rank1?: [number, number]; param?: ParamPlan } = {}): JitFunction<string, string> {
  const rank1 = kind.rank1;
  const param = kind.param ?? F32_PARAMS;
  const shape = [blocks, blockSize];
  // Stored codes per block: a byte per element, or two 4-bit codes per byte.
  const codeShape = [blocks, (blockSize * format.codeBits) / 8];
  const layout = tableLayout(format, tableNames, blocks, tensors, scalarNames.length);
  const specs: Record<string, { shape: number[]; dtype?: DType }> = { p: { shape, dtype: param.storage.storage }, g: { shape, dtype: param.grad.storage } };
  const comp = param.compensation;
  if (comp) specs.comp = { shape, dtype: comp.storage };
  const packed = packsCodes(def, format, target, comp ? 1 : 0);
  if (packed) specs.codes = { shape, dtype: "u32" };
  for (const st of def.states) {
    if (format.quantized) {
      if (!packed) specs[`${st.name}_codes`] = { shape: codeShape, dtype: "u8" };
      specs[`${st.name}_absmax`] = { shape: [scaleCount(format, st.signed, blocks, rank1), 1] };
    } else specs[st.name] = { shape };
  }
  specs.packed = { shape: [layout.words], dtype: "u32" };
  if (kind.clip) specs.gnorm_vec = { shape: [1, GNORM_HISTORY] };
  const budget = (target ?? currentTarget()).maxStorageBuffers;
  if (comp && Object.keys(specs).length > budget)
    throw new Error(`octet: ${def.name} with ${format.name} state, ${kind.clip ? "percentile clipping, " : ""}and compensation "${comp.name}" binds ${Object.keys(specs).length} storage buffers, this device allows ${budget}; leave out the compensation (or percentile clipping), or use 32-bit state`);
  const inPlace: Record<string, string> = { p: "p" };
  // The one 2-D tensor of a rank-1 bucket: the states the format normalizes rank-1 are told its shape.
  const ctxOf = (signed: boolean): StateContext => (rank1 && format.rank1?.(signed) ? { rank1 } : {});
  if (rank1 && tensors !== 1) throw new Error(`octet: ${def.name}: a rank-1 bucket holds one tensor, got ${tensors}`);
  const name = `${def.name}${format.kernelTag}${planTag(param)}${uniformScalars ? "" : "_multi"}`;
  return new JitFunction(
    name,
    specs,
    (x) => {
      const word = (offset: number, index: Tensor) => x.packed.gather(offset ? index.add(offset) : index);
      const lookup = (offset: number, dtype: "f32" | "u32"): Lookup => ({
        gather: (index) => {
          const w = word(offset, index.dtype === "u32" ? index : index.cast("u32"));
          return dtype === "f32" ? w.bitcast("f32") : w;
        },
      });
      const s: Record<string, Tensor> = {};
      if (uniformScalars) scalarNames.forEach((nm) => (s[nm] = nm === "is_active" ? Tensor.const(1) : Tensor.uniform(nm)));
      else {
        const block = Tensor.iota([blocks, 1], 0, "u32");
        const tid = (layout.blockTensorBits === 32
          ? word(layout.blockTensor, block)
          : word(layout.blockTensor, block.shr(1)).shr(block.and(1).mul(16)).and(0xffff)
        ).named("block_tensor");
        scalarNames.forEach((nm, k) => (s[nm] = word(layout.hyper + k, tid.mul(scalarNames.length)).bitcast("f32").named(nm)));
      }
      const active = s.is_active.gt(0).named("is_active");
      const tablesFor = (signed: boolean) => {
        const suffix = signed ? "_signed" : "_unsigned";
        const t: Record<string, Lookup> = {};
        for (const nm of tableNames) if (nm.endsWith(suffix)) t[nm.slice(0, -suffix.length)] = lookup(layout.lookups[nm].offset, layout.lookups[nm].dtype);
        return t;
      };
      // The parameter (with its compensation) and the gradient in registers as f32, whatever their storage (paramstorage.ts).
      const pf = param.storage.read(x.p);
      const cur: Record<string, Tensor> = { p: (comp ? comp.read(pf, x.comp) : pf).named("p"), g: param.grad.read(x.g).named("g") };
      cur.gRaw = cur.g;
      let history: Tensor | undefined;
      if (kind.clip) {
        // Tensor 0's scalars as [1, 1] (a clipping bucket holds one tensor).
        const first = (nm: string) => (uniformScalars ? Tensor.uniform(nm) : word(layout.hyper + scalarNames.indexOf(nm), Tensor.iota([1, 1], 0, "u32")).bitcast("f32"));
        const clip = clipScale(cur.g, x.gnorm_vec, first("gnorm_slot"), first("gnorm_fill"), first("gnorm_rank"));
        history = clip.history;
        cur.g = cur.g.mul(clip.scale).named("g_clipped"); // bnb: g = gnorm_scale·g, before everything else
      }
      // State k's codes: its own u8 buffer, or byte k of the shared word.
      const codesOf = (k: number, name: string) => (packed ? (k ? x.codes.shr(8 * k) : x.codes).and(0xff).named(`${name}_codes`) : x[`${name}_codes`]);
      def.states.forEach((st, k) => {
        const t = { ...tablesFor(st.signed), value: x[st.name], codes: format.quantized ? codesOf(k, st.name) : undefined, absmax: x[`${st.name}_absmax`] };
        cur[st.name] = format.read(t, st.signed, ctxOf(st.signed)).named(st.name);
      });
      const next = def.update(cur, s, { quantized: format.quantized, ownTensor: !!kind.own });
      const random = param.stochastic ? arenaRandom(shape, s) : undefined;
      const out: Record<string, Tensor> = {};
      if (comp) {
        const w = comp.write(next.p);
        out.p = active.where(w.p, x.p);
        out.comp = active.where(w.c.named("comp_new"), x.comp);
        inPlace.comp = "comp";
      } else out.p = active.where(param.storage.write(next.p, random), x.p);
      let codeWord: Tensor | undefined;
      def.states.forEach((st, k) => {
        const written = format.write(next[st.name].named(`${st.name}_new`), tablesFor(st.signed), st.signed, ctxOf(st.signed));
        for (const [key, v] of Object.entries(written)) {
          if (packed && key === "codes") {
            const byte = v.cast("u32");
            codeWord = codeWord ? codeWord.or(byte.shl(8 * k)) : byte;
            continue;
          }
          const inName = key === "value" ? st.name : `${st.name}_${key}`;
          // Rank-1 maxima ([R + C, 1]) are not per block: their bucket holds one tensor, whose flag is block 0's.
          const on = v.shape[0] === blocks || active.ndim === 0 ? active : s.is_active.reshape([blocks]).gather(Tensor.const(0, "u32")).gt(0);
          out[inName] = on.where(v, x[inName]);
          inPlace[inName] = inName;
        }
      });
      if (codeWord) {
        out.codes = active.where(codeWord.named("codes_new"), x.codes);
        inPlace.codes = "codes";
      }
      if (history) {
        out.gnorm_vec = history; // a clipping bucket runs only when its one tensor has a gradient
        inPlace.gnorm_vec = "gnorm_vec";
      }
      return out;
    },
    { inPlace, target },
  );
}

/**
 * bnb's percentile clipping (kPercentileClipping + F.percentile_clipping @ffadf57e), on the GPU with no readback:
 * gsq = Σ g² is written into slot `slot` of the history (into every slot when `fill`, bnb's step 1); with
 * current = √gsq and clip = √(the rank-th smallest of the 100), the gradient is scaled by clip / current when
 * current > clip, else 1. The rank-th smallest is found by counting, for each slot, the slots before it in
 * (value, index) order: 100 x 100 comparisons, one row reduction, then the one slot whose count is `rank`.
 */
export function clipScale(g: Tensor, old: Tensor, slot: Tensor, fill: Tensor, rank: Tensor): { scale: Tensor; history: Tensor } {
  const H = GNORM_HISTORY;
  const gsq = sumAll(g.mul(g)).named("gnorm_sq"); //                                          [1, 1]
  const at = Tensor.iota([1, H], 1).cast("f32");
  const history = at.eq(slot).or(fill.gt(0)).where(gsq.expand([1, H]), old).named("gnorm_vec_new");
  const mine = history.reshape([H, 1]);
  const i = Tensor.iota([H, H], 0), j = Tensor.iota([H, H], 1);
  const before = history.lt(mine).or(history.eq(mine).and(j.lt(i))); //                           [H, H]: slot j before slot i
  const order = before.cast("f32").sum().named("gnorm_order"); //                              [H, 1]
  const kth = order.eq(rank).where(mine, 0).reshape([1, H]).sum().named("gnorm_kth"); //        [1, 1]
  const current = gsq.sqrt(), clip = kth.sqrt();
  return { scale: current.gt(clip).where(clip.div(current), 1).named("gnorm_scale"), history };
}
