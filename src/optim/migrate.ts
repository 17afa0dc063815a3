// Late configuration changes: an optimizer places each parameter in a bucket by its state format (and, for
// LAMB/LARS norms, alone) at its first step. When `overrideConfig` or a param group later changes optimBits,
// stateFormat, min8bitSize or maxUnorm so that a parameter's placement changes, the optimizer re-buckets and
// carries the state over in the new format instead of silently keeping the old one:
//   8-bit -> f32   exact dequantization, fl(code[q] · absmax) per element, what every 8-bit step reads;
//   f32 -> 8-bit   blockwise quantization by the format's own write() (the kernels' encoder, run once on the
//                  GPU): new absmax = max |s| per block, nearest code, sign fix, exactly what a step would store;
//   8-bit -> 8-bit (dynamic <-> linear map, fp8, 4-bit, another blockSize) through f32.
import { Tensor } from "../dsl/tensor.ts";
import type { Parameter } from "../nn/parameter.ts";
import { tensor } from "../runtime/realize.ts";
import type { Options } from "./config.ts";
import type { OptimizerDef, StateSpec } from "./define.ts";
import { codeBytes, unpackCodes, type StateFormat } from "./formats.ts";
import { clips, formatOf, ownsBucket } from "./buckets.ts";
import { blocksOf, concat } from "./types.ts";
import { planOf, planTag } from "./paramstorage.ts";

/** The state format, block size and bucket kind a parameter gets under config `hp` (planBuckets' rule). */
export function placementOf(def: OptimizerDef<any>, p: Parameter, hp: Options): { format: StateFormat; blockSize: number; key: string } {
  const { format, blockSize, bits, rank1 } = formatOf(p, hp);
  const block = blockSize === format.defaultBlockSize ? "" : ` blockSize ${blockSize}`;
  // percentile clipping is part of the kind: turning it on later gives the tensor a bucket with a history
  // the parameter storage too (paramDtype, gradDtype, rounding, compensation: a change re-buckets and re-rounds)
  return { format, blockSize, key: `${format.name}${block}${planTag(planOf(hp, 0))}${ownsBucket(def, hp, bits) || rank1 ? "#own" : ""}${clips(hp) ? "+clip" : ""}` };
}

/** A state's format, block size and, for a 2-D tensor whose format normalizes some states rank-1, its [R, C]. */
export interface Layout {
  format: StateFormat;
  blockSize: number;
  rank1?: [number, number];
}

const rank1Of = (l: Layout, signed: boolean) => (l.rank1 && l.format.rank1?.(signed) ? l.rank1 : undefined);

type Entry = Record<string, number | Float32Array | Uint8Array>;

/** One state-dict entry (state1/state2 with their parts, absmax1/absmax2) re-encoded from one format to another. */
export async function convertEntry(entry: Entry, keys: { key: "state1" | "state2"; specs: StateSpec[] }[], n: number, fromLayout: Layout, toLayout: Layout): Promise<Entry> {
  const [from, to] = [fromLayout.format, toLayout.format];
  if (from.name === to.name && (!from.quantized || (fromLayout.blockSize === toLayout.blockSize && String(fromLayout.rank1) === String(toLayout.rank1)))) return entry;
  const nb = blocksOf(n, fromLayout.blockSize);
  const bytes = codeBytes(from, n);
  const out: Entry = { step: entry.step };
  for (const { key, specs } of keys) {
    const abs = key.replace("state", "absmax");
    const values = specs.map((sp, part) => {
      if (!from.quantized) return (entry[key] as Float32Array).slice(part * n, (part + 1) * n);
      const map = from.map(sp.signed)!;
      const codes = unpackCodes(from, (entry[key] as Uint8Array).subarray(part * bytes, (part + 1) * bytes), n);
      const r1 = rank1Of(fromLayout, sp.signed);
      const ns = r1 ? r1[0] + r1[1] : nb;
      const absmax = (entry[abs] as Float32Array).subarray(part * ns, (part + 1) * ns);
      // The scale the kernels read: the block's absmax, or min(row max, column max) (formats.ts rank1Scale).
      const scale = r1 ? (i: number) => Math.min(absmax[Math.min(Math.floor(i / r1[1]), r1[0] - 1)], absmax[r1[0] + (i % r1[1])]) : (i: number) => absmax[Math.floor(i / fromLayout.blockSize)];
      return Float32Array.from(codes, (q, i) => Math.fround(map[q] * scale(i)));
    });
    if (!to.quantized) {
      out[key] = concat(values, Float32Array);
      continue;
    }
    const coded = await Promise.all(specs.map((sp, part) => quantize(values[part], to, toLayout.blockSize, sp.signed, rank1Of(toLayout, sp.signed))));
    out[key] = concat(coded.map((c) => c.codes), Uint8Array);
    out[abs] = concat(coded.map((c) => c.absmax), Float32Array);
  }
  return out;
}

/** f32 state values -> blockwise codes + absmax with the format's write(), on the GPU (padded lanes hold 0). */
async function quantize(values: Float32Array, to: StateFormat, blockSize: number, signed: boolean, rank1?: [number, number]): Promise<{ codes: Uint8Array; absmax: Float32Array }> {
  const n = values.length;
  const nb = blocksOf(n, blockSize);
  const padded = new Float32Array(nb * blockSize);
  padded.set(values);
  const tables: Record<string, Tensor> = {};
  for (const [nm, t] of Object.entries(to.tables(signed))) tables[nm] = await tensor(t.data, [t.data.length], { dtype: t.dtype });
  const written = to.write(await tensor(padded, [nb, blockSize]), tables, signed, rank1 ? { rank1 } : {});
  const codes = (await written.codes.toArray()) as Uint8Array;
  const absmax = (await written.absmax.toArray()) as Float32Array;
  return { codes: Uint8Array.from(codes.subarray(0, codeBytes(to, n))), absmax: Float32Array.from(absmax) };
}

