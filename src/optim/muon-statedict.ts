// Muon's state dict, in octet's layout (statedict.ts): per-parameter entries { step, state1 } (Muon's momentum
// buffer, torch's "momentum_buffer": f32, or Muon8bit's 8-bit codes with absmax1, one f32 per 256-block), and
// a format record, so a dict is refused rather than misread.
// The dict numbers the Muon groups' parameters first (0..k-1, group after group), then the AdamW groups'
// (k..), whose entries and records are the side optimizer's own dict, renumbered; its groups come after the
// Muon groups, marked `useMuon: false`. The format record names the pair ("muon+adam"), so a dict of a Muon
// without AdamW groups, or of a plain AdamW, is refused.
// A load is checked whole before anything is written: the Muon part here, then the AdamW part by its own
// loadStateDict (which writes only once all of its checks passed); the Muon part is written only after that.
import type { Parameter } from "../nn/parameter.ts";
import { allocateOn, download, free, readBytes, type Storage } from "../runtime/storage.ts";
import { device } from "../runtime/device.ts";
import { BLOCK, FORMATS, type FormatName } from "./formats.ts";
import type { Optimizer } from "./optimizer.ts";
import { checkFormatRecord, checkGroupSizes, checkStateObject, mapChecksums, parseGroupOptions, refusingJson, savedBlockSize, viaJson } from "./statedict.ts";
import { checkEntryKeys, checkParamIndices, checkStep, checkValues } from "./statecheck.ts";
import { STATE_DICT_VERSION, blocksOf, type OptimizerStateDict } from "./types.ts";
import type { z } from "zod";

/** One weight's Muon state: its momentum buffer, f32 or 8-bit blockwise. */
export interface MuonState {
  step: number;
  bits: 8 | 32;
  buf?: Storage; // f32 [rows, cols]
  codes?: Storage; // u8 [blocks, 256]
  absmax?: Storage; // f32 [blocks, 1]
}

/** What the state dict code reads and writes of a Muon optimizer. */
export interface MuonStateOwner {
  className: string;
  paramGroups: ({ params: Parameter[] } & Record<string, unknown>)[];
  adamw?: Optimizer;
  state: Map<Parameter, MuonState>;
  /** The bits a parameter's state has (or will have, at its first step) under this optimizer's options. */
  bitsOf(p: Parameter, group: number): 8 | 32;
  /** Muon's group options, as the constructor checks them. */
  groupSchema: z.ZodType;
}

/** The format record's optimizer name: Muon, and its side optimizer if it has AdamW groups. */
const dictName = (o: MuonStateOwner) => (o.adamw ? `muon+${o.adamw.def.name}` : "muon");
const formatOf = (bits: 8 | 32): FormatName => (bits === 8 ? "dynamic8" : "f32");

/** Fresh (zeroed) state storages of one parameter, as its first step allocates them. */
export function newMuonState(dev: GPUDevice, n: number, bits: 8 | 32): MuonState {
  // Sized exactly (as the other optimizers' states): they live as long as the optimizer.
  const exact = (dtype: "f32" | "u8", k: number) => allocateOn(dev, dtype, k, "optimizer", true, true, "exact");
  const nb = blocksOf(n, BLOCK);
  return bits === 8 ? { step: 0, bits, codes: exact("u8", nb * BLOCK), absmax: exact("f32", nb) } : { step: 0, bits, buf: exact("f32", n) };
}

function freeState(s: MuonState): void {
  for (const st of [s.buf, s.codes, s.absmax]) if (st) free(st);
}

/** A snapshot of every stepped parameter's Muon state (and the AdamW groups' dict, renumbered after them). */
export async function saveMuonState(o: MuonStateOwner): Promise<OptimizerStateDict> {
  const mine = o.paramGroups.flatMap((g) => g.params);
  const state: OptimizerStateDict["state"] = {};
  const stateFormats: Record<number, FormatName> = {};
  const blockSizes: Record<number, number> = {};
  const rank1: Record<number, [number, number]> = {};
  for (const [i, p] of mine.entries()) {
    const s = o.state.get(p);
    if (!s || s.step === 0) continue;
    const n = p.numel;
    state[i] =
      s.bits === 8
        ? { step: s.step, state1: (await readBytes(s.codes!)).slice(0, n), absmax1: Float32Array.from((await download(s.absmax!)) as Float32Array) }
        : { step: s.step, state1: Float32Array.from((await download(s.buf!)) as Float32Array) };
    stateFormats[i] = formatOf(s.bits);
    if (s.bits === 8) blockSizes[i] = BLOCK;
  }
  const paramGroups: Record<string, unknown>[] = [];
  let next = 0;
  for (const { params, ...rest } of o.paramGroups) paramGroups.push({ ...structuredClone(rest), params: params.map(() => next++) });
  if (o.adamw) {
    const side = await o.adamw.stateDict();
    const k = mine.length;
    for (const [i, e] of Object.entries(side.state)) state[k + Number(i)] = e;
    for (const [i, f] of Object.entries(side.format.stateFormats)) stateFormats[k + Number(i)] = f;
    for (const [i, b] of Object.entries(side.format.blockSizes ?? {})) blockSizes[k + Number(i)] = b;
    for (const [i, r] of Object.entries(side.format.rank1 ?? {})) rank1[k + Number(i)] = r;
    for (const g of side.paramGroups) paramGroups.push({ ...g, useMuon: false, params: (g.params as number[]).map((i) => k + i) });
  }
  return refusingJson({ state, paramGroups, format: { version: STATE_DICT_VERSION, blockSize: BLOCK, mapChecksum: mapChecksums(), optimizer: dictName(o), stateFormats, blockSizes, rank1 } });
}

/**
 * Restores a dict saveMuonState wrote; refuses, changing nothing, one that does not match this optimizer.
 * Parameters without an entry (not stepped when it was saved) restart from a fresh state.
 */
export async function loadMuonState(o: MuonStateOwner, sd: OptimizerStateDict): Promise<void> {
  const who = `${o.className}.loadStateDict`;
  checkFormatRecord(who, sd, dictName(o), o.adamw ? `Muon with AdamW groups (${o.adamw.className})` : "Muon without AdamW groups");

  // Groups: the Muon groups, then the AdamW groups (useMuon: false), each with as many parameters as ours.
  const side = o.adamw?.paramGroups ?? [];
  const sizes = [...o.paramGroups, ...side].map((g) => g.params.length);
  checkGroupSizes(who, sd, sizes, `${o.paramGroups.length} Muon, ${side.length} AdamW`);
  sd.paramGroups.forEach((g, i) => {
    const muon = i < o.paramGroups.length;
    if ((g.useMuon === false) === muon) throw new Error(`${who}: param group ${i} is ${muon ? "an AdamW group (useMuon: false)" : "a Muon group"} in the dict; here it is ${muon ? "a Muon group" : "an AdamW group"}`);
  });
  checkParamIndices(who, sd.paramGroups, sizes);
  const groups = parseGroupOptions(who, o.groupSchema, sd.paramGroups.slice(0, o.paramGroups.length));
  groups.forEach((rest, i) => {
    // The state's storage follows these two: a dict may not switch it under the parameters' saved state.
    for (const k of ["optimBits", "min8bitSize"])
      if (k in rest && rest[k] !== o.paramGroups[i][k]) throw new Error(`${who}: param group ${i} was saved with ${k} ${rest[k]}, this optimizer's is ${o.paramGroups[i][k]}: construct it with the options the dict was saved with`);
  });
  checkStateObject(who, sd);

  // The Muon entries, checked; the AdamW ones set aside for the side optimizer.
  const mine = o.paramGroups.flatMap((g, gi) => g.params.map((p) => ({ p, gi })));
  const total = mine.length + side.reduce((a, g) => a + g.params.length, 0);
  const loaded = new Map<Parameter, { step: number; bits: 8 | 32; values?: Float32Array; codes?: Uint8Array; absmax?: Float32Array }>();
  const sideState: OptimizerStateDict["state"] = {};
  for (const [k, entry] of Object.entries(sd.state)) {
    const idx = Number(k);
    if (String(idx) !== k || idx < 0 || idx >= total) throw new Error(`${who}: state[${k}]: state for parameter ${k}, but the optimizer has parameters 0..${total - 1}`);
    if (idx >= mine.length) {
      sideState[idx - mine.length] = entry;
      continue;
    }
    const { p, gi } = mine[idx];
    const bits = o.state.get(p)?.bits ?? o.bitsOf(p, gi);
    const saved = sd.format.stateFormats?.[idx];
    if (saved !== formatOf(bits)) throw new Error(`${who}: parameter ${k} was saved with ${saved ?? "unrecorded"} state, this optimizer keeps ${formatOf(bits)} momentum for it`);
    if (bits === 8 && savedBlockSize(sd, idx) !== BLOCK) throw new Error(`${who}: parameter ${k} was saved with block size ${savedBlockSize(sd, idx)}; Muon8bit quantizes in blocks of ${BLOCK}`);
    const e = checkEntryKeys(who, `state[${k}]`, entry, bits === 8 ? ["step", "state1", "absmax1"] : ["step", "state1"]);
    const step = checkStep(who, `state[${k}]`, e.step);
    const n = p.numel;
    const nb = blocksOf(n, BLOCK);
    const want = bits === 8 ? Uint8Array : Float32Array;
    const v = e.state1;
    if (!(v instanceof want) || v.length !== n)
      throw new Error(`${who}: parameter ${k} state1: expected ${want.name}(${n}) for ${formatOf(bits)} momentum, got ${(v as object)?.constructor?.name}(${(v as ArrayLike<number>)?.length})${viaJson(v)}`);
    if (bits === 32) {
      checkValues(who, `state[${k}].state1`, v as Float32Array, false);
      loaded.set(p, { step, bits, values: v as Float32Array });
      continue;
    }
    const am = e.absmax1;
    if (!(am instanceof Float32Array) || am.length !== nb) throw new Error(`${who}: parameter ${k} absmax1: expected Float32Array(${nb}) (block size ${BLOCK}), got ${(am as object)?.constructor?.name}(${(am as ArrayLike<number>)?.length})${viaJson(am)}`);
    checkValues(who, `state[${k}].absmax1`, am, true);
    loaded.set(p, { step, bits, codes: v as Uint8Array, absmax: am });
  }
  if (Object.keys(sideState).length && !o.adamw) throw new Error(`${who}: the dict holds AdamW state, but this optimizer has no AdamW groups`);

  // Storages for parameters that have none yet, made before anything is written (an allocation may fail) and
  // installed only if the load goes through.
  const dev = await device();
  const made = new Map<Parameter, MuonState>();
  for (const [p, l] of loaded) if (!o.state.has(p)) made.set(p, newMuonState(dev, p.numel, l.bits));
  if (o.adamw) {
    const first = mine.length;
    const renumber = <T>(r: Record<number, T> | undefined): Record<number, T> =>
      Object.fromEntries(Object.entries(r ?? {}).flatMap(([i, v]) => (Number(i) >= first ? [[Number(i) - first, v]] : [])));
    const sub: OptimizerStateDict = {
      state: sideState,
      paramGroups: sd.paramGroups.slice(o.paramGroups.length).map(({ useMuon: _u, params, ...rest }) => ({ ...rest, params: (params as number[]).map((i) => i - first) })),
      format: { ...sd.format, optimizer: o.adamw.def.name, stateFormats: renumber(sd.format.stateFormats), blockSizes: renumber(sd.format.blockSizes), rank1: renumber(sd.format.rank1) },
    };
    try {
      await o.adamw.loadStateDict(sub);
    } catch (e) {
      for (const s of made.values()) freeState(s);
      (e as Error).message = `${who}: the AdamW groups' state (the dict's parameters ${first}.., numbered from 0 in what follows): ${(e as Error).message}`;
      throw e;
    }
  }

  // Everything checked: write.
  for (const [p, s] of made) o.state.set(p, s);
  for (const { p } of mine) {
    const s = o.state.get(p);
    const l = loaded.get(p);
    if (!s) continue;
    if (!l) {
      // Not stepped where the dict was saved: a fresh state at the next step, as in a new optimizer.
      freeState(s);
      o.state.delete(p);
      continue;
    }
    s.step = l.step;
    if (l.values) dev.queue.writeBuffer(s.buf!.buffer, s.buf!.offset, l.values);
    else {
      // The last block's padded lanes hold what a step leaves there: the code of 0 (the buffer is padded with zeros).
      const nb = blocksOf(p.numel, BLOCK);
      const span = new Uint8Array(nb * BLOCK).fill(FORMATS.dynamic8.zeroCode(true));
      span.set(l.codes!);
      dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset, span);
      dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset, l.absmax!);
    }
    for (const st of [s.buf, s.codes, s.absmax]) st?.bump(`${who}`);
  }
  groups.forEach((rest, i) => Object.assign(o.paramGroups[i], rest));
}
