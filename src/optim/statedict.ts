// State dicts: bnb's layout (state1/state2, absmax1/absmax2, step) per parameter index, plus a format record
// (version, block size, map checksums, each parameter's storage format) so a dict is refused rather than
// misread by an optimizer that keeps its state differently.
import type { z } from "zod";
import type { Parameter } from "../nn/parameter.ts";
import { download, readBytes, type Storage } from "../runtime/storage.ts";
import { formatZodError, type Options } from "./config.ts";
import type { OptimizerDef, StateSpec } from "./define.ts";
import { BLOCK, codeBytes, FORMATS, scaleCount, type FormatName } from "./formats.ts";
import { mapChecksum } from "./maps.ts";
import { groupOptionsSchema } from "./options.ts";
import { checkEntryKeys, checkParamIndices, checkStep, checkValues } from "./statecheck.ts";
import { compensationBytes } from "./compensation.ts";
import { GNORM_HISTORY, STATE_DICT_VERSION, blocksOf, concat, type Bucket, type OptimizerStateDict, type ParamGroup, type ParamRef } from "./types.ts";

/** What the state dict code reads of an optimizer. */
export interface StateOwner {
  def: OptimizerDef<any>;
  className: string;
  paramGroups: ParamGroup[];
  buckets: Bucket[];
  /** every parameter in param-group order (its position is its state-dict index) */
  all: ParamRef[];
  steps: Map<Parameter, number>;
}

export function mapChecksums(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of Object.values(FORMATS)) {
    if (!f.quantized) continue;
    for (const signed of [true, false]) out[`${f.name}_${signed ? "signed" : "unsigned"}`] = mapChecksum(f.map(signed)!);
  }
  return out;
}

/** The block size a dict saved parameter `idx` with (dicts before the blockSize option record one for all). */
export const savedBlockSize = (sd: OptimizerStateDict, idx: number): number => sd.format.blockSizes?.[idx] ?? sd.format.blockSize;

export function stateKeys(def: OptimizerDef<any>): { key: "state1" | "state2"; specs: StateSpec[] }[] {
  const keys: { key: "state1" | "state2"; specs: StateSpec[] }[] = [];
  for (const st of def.states) {
    let k = keys.find((x) => x.key === st.key);
    if (!k) keys.push((k = { key: st.key, specs: [] }));
    k.specs.push(st);
  }
  for (const k of keys) k.specs.sort((a, b) => (a.part ?? 0) - (b.part ?? 0));
  return keys;
}

/** A snapshot of every stepped parameter's state, downloaded from the GPU. */
export async function saveState(o: StateOwner): Promise<OptimizerStateDict> {
  const { def, buckets, steps } = o;
  const index = new Map(o.all.map((x, i) => [x.p, i]));
  const state: OptimizerStateDict["state"] = {};
  const stateFormats: Record<number, FormatName> = {};
  const blockSizes: Record<number, number> = {};
  const rank1: Record<number, [number, number]> = {};
  const compensations: Record<number, string> = {};
  for (const b of buckets) {
    const bs = b.blockSize;
    const host: Record<string, { codes?: Uint8Array; absmax?: Float32Array; value?: Float32Array }> = {};
    const raw = new Map<Storage, Uint8Array>(); // a packed codes buffer is read once for all its states
    const bytesOf = async (s: Storage) => raw.get(s) ?? raw.set(s, new Uint8Array(await readBytes(s))).get(s)!;
    for (const st of def.states) {
      const s = b.states[st.name];
      if (!b.format.quantized) host[st.name] = { value: (await download(s.value!)) as Float32Array };
      else host[st.name] = { codes: unpackLane(await bytesOf(s.codes!), s.lane, b.blocks * bs), absmax: (await download(s.absmax!)) as Float32Array };
    }
    // percentile clipping's history (bnb's gnorm_vec), once it holds norms: a clipping bucket has one tensor
    const gnormVec = b.gnorm?.filled ? ((await download(b.gnorm.vec)) as Float32Array) : undefined;
    // A compensation buffer (compensation.ts) is saved as its raw bytes: 2 (kahan's bf16) or 1 per element.
    const comp = b.comp && b.param.compensation ? { bytes: new Uint8Array(await readBytes(b.comp)), per: compensationBytes(b.param.compensation), name: b.param.compensation.name } : undefined;
    b.params.forEach((p, i) => {
      const t = steps.get(p) ?? 0;
      if (t === 0) return;
      const n = p.numel;
      const e0 = b.blockStart[i] * bs;
      const b0 = b.blockStart[i];
      const nb = blocksOf(n, bs);
      // Codes as stored: a byte per element, or (4-bit) two per byte from the block's first byte.
      const c0 = codeBytes(b.format, e0);
      const cn = codeBytes(b.format, n);
      const entry: Record<string, number | Float32Array | Uint8Array> = { step: t };
      for (const { key, specs } of stateKeys(def)) {
        if (b.format.quantized) {
          entry[key] = concat(specs.map((sp) => host[sp.name].codes!.slice(c0, c0 + cn)), Uint8Array);
          entry[key.replace("state", "absmax")] = concat(specs.map((sp) => host[sp.name].absmax!.slice(b0, b0 + scaleCount(b.format, sp.signed, nb, b.rank1))), Float32Array);
        } else entry[key] = concat(specs.map((sp) => host[sp.name].value!.slice(e0, e0 + n)), Float32Array);
      }
      if (gnormVec) entry.gnorm_vec = gnormVec.slice(0, GNORM_HISTORY);
      if (comp) {
        entry.compensation = comp.bytes.slice(e0 * comp.per, (e0 + n) * comp.per);
        compensations[index.get(p)!] = comp.name;
      }
      state[index.get(p)!] = entry;
      stateFormats[index.get(p)!] = b.format.name;
      if (b.format.quantized) blockSizes[index.get(p)!] = bs;
      if (b.rank1 && def.states.some((st) => b.format.rank1?.(st.signed))) rank1[index.get(p)!] = [...b.rank1];
    });
  }
  // Deep copies: a state dict is a snapshot; editing it (or the live groups) must not reach the other.
  const paramGroups = o.paramGroups.map((g) => {
    const { params, ...rest } = g;
    return { ...structuredClone(rest), params: params.map((p) => index.get(p)!) };
  });
  return refusingJson({ state, paramGroups, format: { version: STATE_DICT_VERSION, blockSize: BLOCK, mapChecksum: mapChecksums(), optimizer: def.name, stateFormats, blockSizes, rank1, ...(Object.keys(compensations).length ? { compensations } : {}) } });
}

/**
 * JSON turns a dict's typed arrays into objects of index keys, and such a dict cannot be loaded: JSON.stringify
 * says so at once, and what to use. Not enumerable, so structuredClone and spreading copy the dict without it.
 */
export function refusingJson(sd: OptimizerStateDict): OptimizerStateDict {
  Object.defineProperty(sd, "toJSON", { value: refuseJson, enumerable: false });
  return sd;
}

function refuseJson(): never {
  throw new TypeError(
    `Optimizer.stateDict(): a state dict holds typed arrays (8-bit codes, absmax, f32 states), which JSON turns into plain objects that cannot be loaded back. ` +
      "Save it with octet.save(path, { model, optimizer }) and read it with octet.load(path, { model, optimizer }) (safetensors), or copy it with structuredClone",
  );
}

/** A validated load, not yet applied: `write` issues the GPU writes; the caller then installs steps and groups. */
export interface PlannedLoad {
  write(): void;
  steps: Map<Parameter, number>;
  groups: Options[];
}

/** Checks the header of a state dict against this optimizer (before its buckets exist). */
export function checkHeader(o: Pick<StateOwner, "def" | "className" | "paramGroups">, sd: OptimizerStateDict): Options[] {
  const who = `${o.className}.loadStateDict`;
  checkFormatRecord(who, sd, o.def.name);
  const sizes = o.paramGroups.map((g) => g.params.length);
  checkGroupSizes(who, sd, sizes);
  checkParamIndices(who, sd.paramGroups, sizes);
  checkStateObject(who, sd);
  // The groups' hyper-parameters are validated as the constructor validates options (a dict is data that may
  // have been edited); they are installed only after every other check passed.
  return parseGroupOptions(who, groupOptionsSchema(o.def), sd.paramGroups);
}

/**
 * The format record: a dict of this octet's layout (version, block size, maps) saved by an optimizer named
 * `name` (`what`, if given, says in the error what this optimizer is).
 */
export function checkFormatRecord(who: string, sd: OptimizerStateDict, name: string, what = ""): void {
  if (!sd || typeof sd !== "object" || !sd.format) throw new Error(`${who}: not an octet optimizer state dict (no format record)`);
  if (sd.format.version !== STATE_DICT_VERSION) throw new Error(`${who}: format version ${sd.format.version}, this octet reads version ${STATE_DICT_VERSION}`);
  if (sd.format.blockSize !== BLOCK) throw new Error(`${who}: block size ${sd.format.blockSize}, expected ${BLOCK}`);
  if (sd.format.optimizer !== name) throw new Error(`${who}: state of a ${sd.format.optimizer} optimizer, this is ${name}${what ? ` (${what})` : ""}`);
  checkMaps(who, sd);
}

/** As many param groups as `sizes`, each with as many parameters (`what`, if given, details the count in the error). */
export function checkGroupSizes(who: string, sd: OptimizerStateDict, sizes: number[], what = ""): void {
  if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== sizes.length)
    throw new Error(`${who}: ${sd.paramGroups?.length} param groups, this optimizer has ${sizes.length}${what ? ` (${what})` : ""}`);
  sd.paramGroups.forEach((g, i) => {
    const n = (g?.params as unknown[] | undefined)?.length;
    if (n !== sizes[i]) throw new Error(`${who}: param group ${i} has ${n} parameters, expected ${sizes[i]}`);
  });
}

/** `state` is an object of per-parameter entries. */
export function checkStateObject(who: string, sd: OptimizerStateDict): void {
  if (sd.state === null || typeof sd.state !== "object" || Array.isArray(sd.state)) throw new Error(`${who}: state is ${sd.state === null ? "null" : typeof sd.state}, expected an object of per-parameter entries`);
}

/** Each group's options (all but `params`) checked against `schema`, as the constructor checks them; copies. */
export function parseGroupOptions(who: string, schema: z.ZodType, groups: OptimizerStateDict["paramGroups"]): Options[] {
  return groups.map((g, i) => {
    const { params: _p, ...rest } = g;
    const r = schema.safeParse(rest);
    if (!r.success) throw new Error(formatZodError(`${who}: param group ${i}`, r.error));
    return structuredClone(rest);
  });
}

/**
 * Every map the dict records must be this octet's; a format's maps must be recorded where a parameter uses it
 * (a dict from before a format existed records no map of it, and holds no state in it).
 */
function checkMaps(who: string, sd: OptimizerStateDict): void {
  const mine = mapChecksums();
  const used = new Set(Object.values(sd.format.stateFormats ?? {}));
  for (const [k, v] of Object.entries(mine)) {
    const theirs = sd.format.mapChecksum?.[k];
    if (theirs === undefined ? used.has(k.slice(0, k.lastIndexOf("_")) as FormatName) : theirs !== v)
      throw new Error(`${who}: quantization map checksum mismatch for ${k} (${theirs} vs ${v})`);
  }
}

/**
 * Validates a whole state dict against the optimizer's buckets; nothing is written until `write()`. `migrating`:
 * a re-bucketing's own dict, where a compensation buffer without an entry keeps what adoption wrote there.
 */
export function planLoad(dev: GPUDevice, o: StateOwner, sd: OptimizerStateDict, groups: Options[], migrating = false): PlannedLoad {
  const { def, buckets, all } = o;
  const who = `${o.className}.loadStateDict`;
  const where = new Map<Parameter, { b: Bucket; i: number }>();
  for (const b of buckets) b.params.forEach((p, i) => where.set(p, { b, i }));
  const writes: (() => void)[] = [];
  const newSteps = new Map<Parameter, number>();
  // Parameter i's span of a bucket's packed codes words, filled state by state, written once.
  const spans = new Map<Bucket, Map<number, Uint32Array>>();
  const packedSpan = (b: Bucket, i: number, nb: number): Uint32Array => {
    const of = spans.get(b) ?? spans.set(b, new Map()).get(b)!;
    let words = of.get(i);
    if (!words) {
      const w = new Uint32Array(nb * b.blockSize);
      of.set(i, (words = w));
      const s = b.states[def.states[0].name].codes!;
      writes.push(() => dev.queue.writeBuffer(s.buffer, s.offset + b.blockStart[i] * b.blockSize * 4, w));
    }
    return words;
  };
  for (const [k, entry] of Object.entries(sd.state)) {
    const idx = Number(k);
    const item = String(idx) === k ? all[idx] : undefined;
    if (!item) throw new Error(`${who}: state[${k}]: state for parameter ${k}, but the optimizer has parameters 0..${all.length - 1}`);
    const { b, i } = where.get(item.p)!;
    const n = item.p.numel;
    // dynamic8 and linear8 codes have the same dtype and length: only this record tells them apart.
    const saved = sd.format.stateFormats?.[idx];
    if (saved !== b.format.name) throw new Error(`${who}: parameter ${k} was saved with ${saved ?? "unrecorded"} state, this optimizer keeps ${b.format.name} state for it`);
    const bs = b.blockSize;
    if (b.format.quantized && savedBlockSize(sd, idx) !== bs)
      throw new Error(`${who}: parameter ${k} was saved with block size ${savedBlockSize(sd, idx)}, this optimizer quantizes it in blocks of ${bs} (option blockSize); construct it with blockSize: ${savedBlockSize(sd, idx)} to load this state`);
    const bytes = codeBytes(b.format, n);
    const mineRank1 = b.rank1 && def.states.some((st) => b.format.rank1?.(st.signed)) ? b.rank1 : undefined;
    const theirRank1 = sd.format.rank1?.[idx];
    if (String(mineRank1) !== String(theirRank1))
      throw new Error(`${who}: parameter ${k} was saved with ${theirRank1 ? `rank-1 normalized second moments [${theirRank1}]` : "blockwise scales"}, this optimizer keeps ${mineRank1 ? `rank-1 scales [${mineRank1}]` : "blockwise scales"} for it`);
    const keys = stateKeys(def).flatMap(({ key }) => (b.format.quantized ? [key, key.replace("state", "absmax")] : [key]));
    if (b.gnorm) keys.push("gnorm_vec");
    else if ((entry as Record<string, unknown> | null)?.gnorm_vec !== undefined)
      throw new Error(`${who}: state[${k}] holds percentile clipping's gnorm_vec, but this optimizer does not clip parameter ${k} (percentileClipping is 100): construct it with the percentileClipping it was saved with`);
    if (b.gnorm) {
      const gv = (entry as Record<string, unknown> | null)?.gnorm_vec;
      const gnorm = b.gnorm;
      if (gv === undefined) writes.push(() => void (gnorm.filled = false)); // no history saved: it restarts
      else {
        if (!(gv instanceof Float32Array) || gv.length !== GNORM_HISTORY) throw new Error(`${who}: state[${k}].gnorm_vec: expected Float32Array(${GNORM_HISTORY}) (the last ${GNORM_HISTORY} squared gradient norms), got ${(gv as object)?.constructor?.name}(${(gv as ArrayLike<number>)?.length})${viaJson(gv)}`);
        checkValues(who, `state[${k}].gnorm_vec`, gv, true);
        writes.push(() => {
          dev.queue.writeBuffer(gnorm.vec.buffer, gnorm.vec.offset, gv);
          gnorm.filled = true;
        });
      }
    }
    const mineComp = b.param.compensation?.name;
    const theirComp = sd.format.compensations?.[idx];
    if (mineComp !== theirComp && !(migrating && theirComp === undefined))
      throw new Error(`${who}: parameter ${k} was saved with ${theirComp ? `compensation "${theirComp}"` : "no compensation buffer"}, this optimizer keeps ${mineComp ? `compensation "${mineComp}"` : "none"} for it (option compensation)`);
    if (b.comp && theirComp !== undefined) {
      keys.push("compensation");
      const per = compensationBytes(b.param.compensation!);
      const c = (entry as Record<string, unknown> | null)?.compensation;
      if (!(c instanceof Uint8Array) || c.length !== n * per)
        throw new Error(`${who}: state[${k}].compensation: expected Uint8Array(${n * per}) (${per} byte${per > 1 ? "s" : ""} per element of compensation "${mineComp}"), got ${(c as object)?.constructor?.name}(${(c as ArrayLike<number>)?.length})${viaJson(c)}`);
      const span = new Uint8Array(blocksOf(n, b.blockSize) * b.blockSize * per);
      span.set(c);
      const st = b.comp;
      writes.push(() => dev.queue.writeBuffer(st.buffer, st.offset + b.blockStart[i] * b.blockSize * per, span));
    }
    checkEntryKeys(who, `state[${k}]`, entry, ["step", ...keys]);
    newSteps.set(item.p, checkStep(who, `state[${k}]`, entry.step));
    for (const { key, specs } of stateKeys(def)) {
      const parts = specs.length;
      const v = entry[key];
      const want = b.format.quantized ? Uint8Array : Float32Array;
      const len = (b.format.quantized ? bytes : n) * parts;
      if (!(v instanceof want) || v.length !== len)
        throw new Error(`${who}: parameter ${k} ${key}: expected ${want.name}(${len}) for ${b.format.name} state, got ${v?.constructor?.name}(${(v as ArrayLike<number>)?.length})${viaJson(v)}`);
      const nb = blocksOf(n, bs);
      // The parts of one key share their signedness, so their number of scales (per block, or R + C for rank-1).
      const ns = scaleCount(b.format, specs[0].signed, nb, b.rank1);
      const am = entry[key.replace("state", "absmax")];
      if (b.format.quantized && (!(am instanceof Float32Array) || am.length !== ns * parts))
        throw new Error(`${who}: parameter ${k} ${key.replace("state", "absmax")}: expected Float32Array(${ns * parts}) (${ns === nb ? `block size ${bs}` : "rank-1: row then column maxima"})`);
      if (b.format.quantized) checkValues(who, `state[${k}].${key.replace("state", "absmax")}`, am as Float32Array, true);
      else checkValues(who, `state[${k}].${key}`, v as Float32Array, false);
      specs.forEach((sp, part) => {
        const s = b.states[sp.name];
        const e0 = b.blockStart[i] * bs;
        if (b.format.quantized && s.lane !== undefined) {
          // Packed codes: this state's byte of each word; the words are written once, with every state's byte.
          const words = packedSpan(b, i, nb);
          const zero = b.format.zeroCode(sp.signed);
          const codes = (v as Uint8Array).subarray(part * n, (part + 1) * n);
          for (let e = 0; e < nb * bs; e++) words[e] |= (e < n ? codes[e] : zero) << (8 * s.lane);
          const abs = (am as Float32Array).slice(part * nb, (part + 1) * nb);
          writes.push(() => dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, abs));
          return;
        }
        // The whole block span is written: the kernels read the last block's padded lanes too (they take part
        // in the new absmax, §2.3), so those lanes get the state a normal step leaves there, exactly 0: the
        // map's zero code (127 signed, 0 unsigned). Padding them with byte 0 (as before) put the signed
        // map's code[0] = -0.993·absmax into those lanes after a load.
        if (b.format.quantized) {
          const z = b.format.zeroCode(sp.signed); // 4-bit: both nibbles of a padding byte
          const span = new Uint8Array(codeBytes(b.format, nb * bs)).fill(b.format.codeBits === 4 ? (z << 4) | z : z);
          span.set((v as Uint8Array).subarray(part * bytes, (part + 1) * bytes));
          const abs = (am as Float32Array).slice(part * ns, (part + 1) * ns);
          writes.push(() => {
            dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset + codeBytes(b.format, e0), span);
            dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, abs);
          });
        } else {
          const span = new Float32Array(nb * bs);
          span.set((v as Float32Array).subarray(part * n, (part + 1) * n));
          writes.push(() => dev.queue.writeBuffer(s.value!.buffer, s.value!.offset + e0 * 4, span));
        }
      });
    }
  }
  // A parameter without state in the dict has not stepped there: it restarts from a fresh state (zero codes
  // and absmax, or zero f32), as in a new optimizer. Keeping its old GPU state would feed stale moments into
  // its next "first" step.
  for (const b of buckets) b.params.forEach((p, i) => {
    if (newSteps.has(p)) return;
    const gnorm = b.gnorm;
    if (gnorm) writes.push(() => void (gnorm.filled = false));
    const e0 = b.blockStart[i] * b.blockSize;
    const nb = blocksOf(p.numel, b.blockSize);
    const comp = b.comp;
    if (comp && !migrating) {
      const per = compensationBytes(b.param.compensation!);
      writes.push(() => dev.queue.writeBuffer(comp.buffer, comp.offset + e0 * per, new Uint8Array(nb * b.blockSize * per)));
    }
    for (const st of def.states) {
      const s = b.states[st.name];
      writes.push(() => {
        if (b.format.quantized && s.lane !== undefined) {
          // packed codes: every state of this parameter restarts, so its whole words are zeroed
          dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset + e0 * 4, new Uint32Array(nb * b.blockSize));
          dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, new Float32Array(nb));
        } else if (b.format.quantized) {
          dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset + codeBytes(b.format, e0), new Uint8Array(codeBytes(b.format, nb * b.blockSize)));
          dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, new Float32Array(scaleCount(b.format, st.signed, nb, b.rank1)));
        } else dev.queue.writeBuffer(s.value!.buffer, s.value!.offset + e0 * 4, new Float32Array(nb * b.blockSize));
      });
    }
  });
  return { write: () => writes.forEach((w) => w()), steps: newSteps, groups };
}

/** The advice for a typed array that went through JSON (it comes back as a plain object of index keys). */
export function viaJson(v: unknown): string {
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return "";
  return (
    ": the dict went through JSON, which turns typed arrays into plain objects. Save it with octet.save(path, { model, optimizer }) " +
    "and read it with octet.load(path, { model, optimizer }) (safetensors), or keep it in memory (structuredClone copies it)"
  );
}

/** One state's codes from a codes buffer's bytes: the buffer itself, or byte `lane` of each u32 word (packed). */
function unpackLane(bytes: Uint8Array, lane: number | undefined, n: number): Uint8Array {
  if (lane === undefined) return bytes;
  const out = new Uint8Array(n);
  for (let e = 0; e < n; e++) out[e] = bytes[4 * e + lane];
  return out;
}
