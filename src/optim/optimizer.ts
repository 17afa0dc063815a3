// The optimizer runtime shared by every family. At the first step, parameters are grouped into buckets by
// state format (f32 / 8-bit dynamic / 8-bit linear): each bucket keeps its parameters, gradients and states
// in flat arenas with every tensor starting on a 256-element block, so ONE fused kernel dispatch updates
// every tensor of the bucket (a model of 200 small tensors costs one dispatch, not 200). Per-tensor
// scalars (bias corrections, lr, an "active" flag for tensors without a gradient) live in a small table
// indexed by each block's tensor number. Parameters are adopted into the arena: their Tensor now views it.
import { z } from "zod";
import { Tensor } from "../dsl/tensor.ts";
import { JitFunction } from "../runtime/jit.ts";
import { bufferNode, realize, storageOf } from "../runtime/realize.ts";
import { device } from "../runtime/device.ts";
import { allocateOn, download, readBytes, view, type Storage } from "../runtime/storage.ts";
import { emitWgsl } from "../codegen/wgsl.ts";
import type { Parameter } from "../nn/parameter.ts";
import { BLOCK, FORMATS, type FormatName, type StateFormat, type TableData } from "./formats.ts";
import type { OptimizerDef, StateSpec } from "./define.ts";
import { formatZodError, type Options } from "./config.ts";
import { GlobalOptimManager } from "./manager.ts";
import { mapChecksum } from "./maps.ts";

export const STATE_DICT_VERSION = 1;

export interface ParamGroup {
  params: Parameter[];
  [option: string]: unknown;
}

export type ParamsArg = Parameter[] | ({ params: Parameter[] } & Options)[];

interface StateStore {
  value?: Storage; // f32 states
  codes?: Storage; // 8-bit states
  absmax?: Storage;
}

interface Bucket {
  format: StateFormat;
  params: Parameter[];
  groupIndex: number[];
  blockStart: number[];
  blocks: number;
  p: Storage;
  g: Storage;
  states: Record<string, StateStore>;
  tables: Record<string, Storage>;
  blockTensor: Storage;
  hyper: Storage;
  scalarNames: string[];
  fn: JitFunction<string, string>;
  /** The same update with scalars as uniforms, for steps where every tensor has the same scalars. */
  fnUniform?: JitFunction<string, string>;
  tableNames: string[];
}

export interface OptimizerStateDict {
  state: Record<number, Record<string, number | Float32Array | Uint8Array>>;
  paramGroups: Record<string, unknown>[];
  format: {
    version: number;
    blockSize: number;
    mapChecksum: Record<string, string>;
    optimizer: string;
    /** Storage format of each saved parameter's state: two 8-bit formats (dynamic / linear map) share dtypes and sizes. */
    stateFormats: Record<number, FormatName>;
  };
}

const blocksOf = (n: number) => Math.max(1, Math.ceil(n / BLOCK));

export class Optimizer<H extends Options = Options> {
  readonly paramGroups: ParamGroup[];
  private buckets?: Bucket[];
  private steps = new Map<Parameter, number>();
  private building?: Promise<Bucket[]>;

  constructor(
    readonly def: OptimizerDef<H>,
    readonly className: string,
    readonly defaults: H,
    params: ParamsArg,
    options: Options = {},
    private forced: Options = {},
  ) {
    const schema = def.schema as unknown as z.ZodObject<z.ZodRawShape>;
    const partial = schema.partial().strict();
    const check = (o: Options, where: string) => {
      const r = partial.safeParse(o);
      if (!r.success) throw new Error(formatZodError(`${className}${where}`, r.error));
    };
    check(options, "");
    if (!Array.isArray(params) || params.length === 0) throw new Error(`${className}: params must be a non-empty array of Parameters or param groups`);
    const groups: ParamGroup[] = (params[0] as { params?: unknown }).params !== undefined ? (params as ParamGroup[]).map((g) => ({ ...g })) : [{ params: params as Parameter[] }];
    groups.forEach((g, i) => {
      const { params: ps, ...rest } = g;
      if (!Array.isArray(ps) || ps.length === 0) throw new Error(`${className}: param group ${i} has no params`);
      check(rest, ` param group ${i}`);
      // Cloned: the class defaults' and the caller's arrays (betas) must not be shared with the live groups.
      Object.assign(g, structuredClone({ ...defaults, ...options, ...rest, ...forced }));
    });
    const seen = new Set<Parameter>();
    for (const g of groups) for (const p of g.params) {
      if (seen.has(p)) throw new Error(`${className}: a parameter appears in more than one param group`);
      seen.add(p);
    }
    this.paramGroups = groups;
  }

  /** The config one parameter steps with: group options, then the override manager's (by identity). */
  resolvedConfig(p: Parameter, groupIndex: number, paramIndex: number): H {
    const { params: _p, ...group } = this.paramGroups[groupIndex];
    const over = GlobalOptimManager.getInstance().overridesFor(p, groupIndex, paramIndex);
    const merged = { ...group, ...over, ...this.forcedAfterOverrides(over) };
    const r = (this.def.schema as unknown as z.ZodObject<z.ZodRawShape>).strict().safeParse(merged);
    if (!r.success) throw new Error(formatZodError(this.className, r.error));
    return r.data as H;
  }

  // A `*8bit` class forces optimBits 8, but a per-parameter override (optimBits: 32) still wins, as in bnb.
  private forcedAfterOverrides(over: Options): Options {
    return "optimBits" in over ? { optimBits: over.optimBits } : {};
  }

  private allParams(): { p: Parameter; g: number; i: number }[] {
    return this.paramGroups.flatMap((grp, g) => grp.params.map((p, i) => ({ p, g, i })));
  }

  private async ensureBuckets(): Promise<Bucket[]> {
    if (this.buckets) return this.buckets;
    this.building ??= this.build();
    this.buckets = await this.building;
    return this.buckets;
  }

  private async build(): Promise<Bucket[]> {
    const dev = await device();
    GlobalOptimManager.getInstance().resolveModuleOverrides(this.allParams().map((x) => x.p));
    const groups = new Map<string, { format: StateFormat; items: { p: Parameter; g: number }[] }>();
    for (const { p, g, i } of this.allParams()) {
      const hp = this.resolvedConfig(p, g, i);
      const bits = hp.optimBits === 8 && p.numel >= (hp.min8bitSize as number) ? 8 : 32;
      const err = this.def.check?.(hp, bits);
      if (err) throw new Error(`${this.className}: ${err}`);
      const format = FORMATS[bits === 8 ? ((hp.stateFormat as "dynamic8" | "linear8") ?? "dynamic8") : "f32"];
      // `bits` (not hp.optimBits): a *8bit class keeps 32-bit state for small tensors, and those need the norm too.
      const per = this.def.perTensor?.(hp, bits) ? `#${p.id}` : "";
      const key = `${format.name}${per}`;
      if (!groups.has(key)) groups.set(key, { format, items: [] });
      groups.get(key)!.items.push({ p, g });
    }
    const buckets: Bucket[] = [];
    for (const { format, items } of groups.values()) buckets.push(await this.makeBucket(dev, format, items));
    return buckets;
  }

  private async makeBucket(dev: GPUDevice, format: StateFormat, items: { p: Parameter; g: number }[]): Promise<Bucket> {
    const params = items.map((x) => x.p);
    await realize(params.map((p) => p.data));
    const blockStart: number[] = [];
    let blocks = 0;
    for (const p of params) {
      if (p.dtype !== "f32") throw new Error(`${this.className}: only f32 parameters are supported (got ${p.dtype})`);
      blockStart.push(blocks);
      blocks += blocksOf(p.numel);
    }
    const n = blocks * BLOCK;
    const pArena = allocateOn(dev, "f32", n, "parameters", true);
    const gArena = allocateOn(dev, "f32", n, "gradients", true);
    // Adopt the parameters: copy their values into the arena and make their tensors view it.
    const enc = dev.createCommandEncoder();
    params.forEach((p, i) => {
      const src = storageOf(p.data);
      enc.copyBufferToBuffer(src.buffer, src.offset, pArena.buffer, blockStart[i] * BLOCK * 4, p.numel * 4);
    });
    dev.queue.submit([enc.finish()]);
    params.forEach((p, i) => {
      p.data.node = bufferNode(view(pArena, blockStart[i] * BLOCK * 4, "f32", p.numel, "parameters"), p.data.shape);
    });
    const states: Record<string, StateStore> = {};
    for (const st of this.def.states) {
      states[st.name] = format.quantized
        ? { codes: allocateOn(dev, "u8", n, "optimizer", true), absmax: allocateOn(dev, "f32", blocks, "optimizer", true) }
        : { value: allocateOn(dev, "f32", n, "optimizer", true) };
    }
    const tables: Record<string, Storage> = {};
    const tableData = formatTables(this.def, format);
    for (const [nm, t] of Object.entries(tableData)) {
      const st = allocateOn(dev, t.dtype, t.data.length, "optimizer");
      dev.queue.writeBuffer(st.buffer, st.offset, t.data);
      tables[nm] = st;
    }
    const blockTensor = allocateOn(dev, "u32", blocks, "optimizer");
    const bt = new Uint32Array(blocks);
    params.forEach((p, i) => bt.fill(i, blockStart[i], blockStart[i] + blocksOf(p.numel)));
    dev.queue.writeBuffer(blockTensor.buffer, 0, bt);
    // Not "active": names become WGSL identifiers when the scheduler materializes a value, and `active` is a
    // WGSL reserved word (a shader that failed to compile).
    const scalarNames = updateScalarNames(this.def, this.defaults);
    const hyper = allocateOn(dev, "f32", params.length * scalarNames.length, "optimizer");
    const fn = traceUpdate(this.def, format, blocks, params.length, scalarNames, Object.keys(tableData));
    const tableNames = Object.keys(tableData);
    return { format, params, groupIndex: items.map((x) => x.g), blockStart, blocks, p: pArena, g: gArena, states, tables, blockTensor, hyper, scalarNames, fn, tableNames };
  }

  /** One fused update of every parameter that has a gradient. */
  async step(): Promise<void> {
    const buckets = await this.ensureBuckets();
    const dev = await device();
    const grads = buckets.flatMap((b) => b.params.map((p) => p.grad).filter((g): g is Tensor => g !== null));
    await realize(grads);
    const enc = dev.createCommandEncoder({ label: `${this.className} gradients` });
    const work: { b: Bucket; table: Float32Array; steps: [Parameter, number][] }[] = [];
    for (const b of buckets) {
      const S = b.scalarNames.length;
      const table = new Float32Array(b.params.length * S);
      const steps: [Parameter, number][] = [];
      b.params.forEach((p, i) => {
        if (!p.grad) return;
        const src = storageOf(p.grad);
        const dst = b.blockStart[i] * BLOCK * 4;
        if (src.buffer !== b.g.buffer || src.offset !== dst) enc.copyBufferToBuffer(src.buffer, src.offset, b.g.buffer, dst, p.numel * 4);
        const t = (this.steps.get(p) ?? 0) + 1;
        steps.push([p, t]);
        const g = b.groupIndex[i];
        const hp = this.resolvedConfig(p, g, this.paramGroups[g].params.indexOf(p));
        const sc = this.def.scalars(hp, t);
        table[i * S] = 1;
        b.scalarNames.slice(1).forEach((nm, k) => (table[i * S + 1 + k] = sc[nm]));
      });
      if (steps.length) work.push({ b, table, steps });
    }
    dev.queue.submit([enc.finish()]);
    for (const { b, table, steps } of work) {
      const S = b.scalarNames.length;
      const same = steps.length === b.params.length && b.params.every((_, i) => table.subarray(i * S, i * S + S).every((v, k) => v === table[k]));
      if (same) {
        // Every tensor steps with the same scalars: the uniform variant skips the per-block table lookups.
        b.fnUniform ??= traceUpdate(this.def, b.format, b.blocks, b.params.length, b.scalarNames, b.tableNames, true);
        const uniforms = Object.fromEntries(b.scalarNames.map((nm, k) => [nm, table[k]]));
        await b.fnUniform.runStorages(this.inputsOf(b), uniforms);
      } else {
        dev.queue.writeBuffer(b.hyper.buffer, b.hyper.offset, table);
        await b.fn.runStorages(this.inputsOf(b), {});
      }
    }
    for (const { steps } of work) for (const [p, t] of steps) this.steps.set(p, t);
  }

  private inputsOf(b: Bucket): Storage[] {
    const out: Storage[] = [b.p, b.g];
    for (const st of this.def.states) {
      const s = b.states[st.name];
      if (b.format.quantized) out.push(s.codes!, s.absmax!);
      else out.push(s.value!);
    }
    for (const t of Object.keys(b.tables)) out.push(b.tables[t]);
    out.push(b.blockTensor, b.hyper);
    return out;
  }

  /**
   * A tensor viewing this parameter's slot in the optimizer's gradient arena. Writing gradients there (e.g.
   * `p.grad = await opt.gradientSlot(p)` then filling it) saves step() the copy into the arena.
   */
  async gradientSlot(p: Parameter): Promise<Tensor> {
    const buckets = await this.ensureBuckets();
    for (const b of buckets) {
      const i = b.params.indexOf(p);
      if (i >= 0) return new Tensor(bufferNode(view(b.g, b.blockStart[i] * BLOCK * 4, "f32", p.numel, "gradients"), p.shape));
    }
    throw new Error(`${this.className}.gradientSlot: the parameter is not in this optimizer`);
  }

  zeroGrad(setToNone = true): void {
    // setToNone = false keeps a gradient of zeros (torch's grad.zero_()); not grad.mul(0), which keeps NaN/Inf.
    for (const g of this.paramGroups) for (const p of g.params) p.grad = setToNone || !p.grad ? null : Tensor.const(0, p.grad.dtype).expand(p.grad.shape);
  }

  /** Dispatches issued so far by this optimizer's kernels (a model's step should cost one per bucket). */
  get dispatchCount(): number {
    return (this.buckets ?? []).reduce((a, b) => a + b.fn.dispatchCount + (b.fnUniform?.dispatchCount ?? 0), 0);
  }

  /** The compiled kernels: name, key, WGSL, bindings, bytes moved per parameter. */
  kernels(): { name: string; key: string; wgsl: string; bindings: unknown; bytesPerElement: number; tensors: number }[] {
    return (this.buckets ?? []).flatMap((b) =>
      [...(b.fnUniform ? [b.fnUniform] : []), ...(b.fn.dispatchCount || !b.fnUniform ? [b.fn] : [])].flatMap((fn) => fn.schedule.kernels).map(({ kernel }) => ({
        name: kernel.name,
        key: kernel.key,
        wgsl: emitWgsl(kernel),
        bindings: kernel.bindings,
        bytesPerElement: kernel.bindings.filter((x) => x.mode === "elem").reduce((a, x) => a + (x.dtype === "u8" ? 1 : 4) * (+x.read + +x.write), 0),
        tensors: b.params.length,
      })),
    );
  }

  // --- state dicts ------------------------------------------------------------------------------------------
  private mapChecksums(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of Object.values(FORMATS)) {
      if (!f.quantized) continue;
      for (const signed of [true, false]) out[`${f.name}_${signed ? "signed" : "unsigned"}`] = mapChecksum(f.map(signed)!);
    }
    return out;
  }

  private stateKeys(): { key: "state1" | "state2"; specs: StateSpec[] }[] {
    const keys: { key: "state1" | "state2"; specs: StateSpec[] }[] = [];
    for (const st of this.def.states) {
      let k = keys.find((x) => x.key === st.key);
      if (!k) keys.push((k = { key: st.key, specs: [] }));
      k.specs.push(st);
    }
    for (const k of keys) k.specs.sort((a, b) => (a.part ?? 0) - (b.part ?? 0));
    return keys;
  }

  async stateDict(): Promise<OptimizerStateDict> {
    const buckets = await this.ensureBuckets();
    const index = new Map(this.allParams().map((x, i) => [x.p, i]));
    const state: OptimizerStateDict["state"] = {};
    const stateFormats: Record<number, FormatName> = {};
    for (const b of buckets) {
      const host: Record<string, { codes?: Uint8Array; absmax?: Float32Array; value?: Float32Array }> = {};
      for (const st of this.def.states) {
        const s = b.states[st.name];
        host[st.name] = b.format.quantized ? { codes: new Uint8Array(await readBytes(s.codes!)), absmax: (await download(s.absmax!)) as Float32Array } : { value: (await download(s.value!)) as Float32Array };
      }
      b.params.forEach((p, i) => {
        const t = this.steps.get(p) ?? 0;
        if (t === 0) return;
        const n = p.numel;
        const e0 = b.blockStart[i] * BLOCK;
        const b0 = b.blockStart[i];
        const nb = blocksOf(n);
        const entry: Record<string, number | Float32Array | Uint8Array> = { step: t };
        for (const { key, specs } of this.stateKeys()) {
          if (b.format.quantized) {
            entry[key] = concat(specs.map((sp) => host[sp.name].codes!.slice(e0, e0 + n)), Uint8Array);
            entry[key.replace("state", "absmax")] = concat(specs.map((sp) => host[sp.name].absmax!.slice(b0, b0 + nb)), Float32Array);
          } else entry[key] = concat(specs.map((sp) => host[sp.name].value!.slice(e0, e0 + n)), Float32Array);
        }
        state[index.get(p)!] = entry;
        stateFormats[index.get(p)!] = b.format.name;
      });
    }
    // Deep copies: a state dict is a snapshot; editing it (or the live groups) must not reach the other.
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...rest } = g;
      return { ...structuredClone(rest), params: params.map((p) => index.get(p)!) };
    });
    return { state, paramGroups, format: { version: STATE_DICT_VERSION, blockSize: BLOCK, mapChecksum: this.mapChecksums(), optimizer: this.def.name, stateFormats } };
  }

  /** Restores a state dict exactly; refuses (changing nothing) one that does not match this optimizer. */
  async loadStateDict(sd: OptimizerStateDict): Promise<void> {
    const who = `${this.className}.loadStateDict`;
    if (!sd || typeof sd !== "object" || !sd.format) throw new Error(`${who}: not an octet optimizer state dict (no format record)`);
    if (sd.format.version !== STATE_DICT_VERSION) throw new Error(`${who}: format version ${sd.format.version}, this octet reads version ${STATE_DICT_VERSION}`);
    if (sd.format.blockSize !== BLOCK) throw new Error(`${who}: block size ${sd.format.blockSize}, expected ${BLOCK}`);
    if (sd.format.optimizer !== this.def.name) throw new Error(`${who}: state of a ${sd.format.optimizer} optimizer, this is ${this.def.name}`);
    const mine = this.mapChecksums();
    for (const [k, v] of Object.entries(mine)) if (sd.format.mapChecksum?.[k] !== v) throw new Error(`${who}: quantization map checksum mismatch for ${k} (${sd.format.mapChecksum?.[k]} vs ${v})`);
    const all = this.allParams();
    if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== this.paramGroups.length) throw new Error(`${who}: ${sd.paramGroups?.length} param groups, this optimizer has ${this.paramGroups.length}`);
    sd.paramGroups.forEach((g, i) => {
      const n = (g.params as unknown[] | undefined)?.length;
      if (n !== this.paramGroups[i].params.length) throw new Error(`${who}: param group ${i} has ${n} parameters, expected ${this.paramGroups[i].params.length}`);
    });
    // The groups' hyper-parameters are validated as the constructor validates options (a dict is data that may
    // have been edited); they are installed only after every other check passed.
    const groupSchema = (this.def.schema as unknown as z.ZodObject<z.ZodRawShape>).partial().strict();
    const groupsIn = sd.paramGroups.map((g, i) => {
      const { params: _p, ...rest } = g;
      const r = groupSchema.safeParse(rest);
      if (!r.success) throw new Error(formatZodError(`${who}: param group ${i}`, r.error));
      return structuredClone(rest);
    });
    const buckets = await this.ensureBuckets();
    const where = new Map<Parameter, { b: Bucket; i: number }>();
    for (const b of buckets) b.params.forEach((p, i) => where.set(p, { b, i }));
    // Validate everything before touching the GPU, so a refused dict changes nothing.
    const writes: (() => void)[] = [];
    const newSteps = new Map<Parameter, number>();
    const dev = await device();
    for (const [k, entry] of Object.entries(sd.state ?? {})) {
      const idx = Number(k);
      const item = all[idx];
      if (!item) throw new Error(`${who}: state for parameter ${k}, but the optimizer has ${all.length}`);
      const { b, i } = where.get(item.p)!;
      const n = item.p.numel;
      // dynamic8 and linear8 codes have the same dtype and length: only this record tells them apart.
      const saved = sd.format.stateFormats?.[idx];
      if (saved !== b.format.name) throw new Error(`${who}: parameter ${k} was saved with ${saved ?? "unrecorded"} state, this optimizer keeps ${b.format.name} state for it`);
      if (!Number.isInteger(entry.step) || (entry.step as number) < 1) throw new Error(`${who}: parameter ${k}: bad step ${entry.step}`);
      newSteps.set(item.p, entry.step as number);
      for (const { key, specs } of this.stateKeys()) {
        const parts = specs.length;
        const v = entry[key];
        const want = b.format.quantized ? Uint8Array : Float32Array;
        if (!(v instanceof want) || v.length !== n * parts)
          throw new Error(`${who}: parameter ${k} ${key}: expected ${want.name}(${n * parts}) for ${b.format.name} state, got ${v?.constructor?.name}(${(v as ArrayLike<number>)?.length})`);
        const nb = blocksOf(n);
        const am = entry[key.replace("state", "absmax")];
        if (b.format.quantized && (!(am instanceof Float32Array) || am.length !== nb * parts))
          throw new Error(`${who}: parameter ${k} ${key.replace("state", "absmax")}: expected Float32Array(${nb * parts}) (block size ${BLOCK})`);
        specs.forEach((sp, part) => {
          const s = b.states[sp.name];
          const e0 = b.blockStart[i] * BLOCK;
          // The whole block span is written: the kernels read the last block's padded lanes too (they take part
          // in the new absmax, §2.3), so those lanes get the state a normal step leaves there, exactly 0: the
          // map's zero code (127 signed, 0 unsigned). Padding them with byte 0 (as before) put the signed
          // map's code[0] = -0.993·absmax into those lanes after a load.
          if (b.format.quantized) {
            const span = new Uint8Array(nb * BLOCK).fill(b.format.map(sp.signed)!.indexOf(0));
            span.set((v as Uint8Array).subarray(part * n, (part + 1) * n));
            const abs = (am as Float32Array).slice(part * nb, (part + 1) * nb);
            writes.push(() => {
              dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset + e0, span);
              dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, abs);
            });
          } else {
            const span = new Float32Array(nb * BLOCK);
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
      const e0 = b.blockStart[i] * BLOCK;
      const nb = blocksOf(p.numel);
      for (const st of this.def.states) {
        const s = b.states[st.name];
        writes.push(() => {
          if (b.format.quantized) {
            dev.queue.writeBuffer(s.codes!.buffer, s.codes!.offset + e0, new Uint8Array(nb * BLOCK));
            dev.queue.writeBuffer(s.absmax!.buffer, s.absmax!.offset + b.blockStart[i] * 4, new Float32Array(nb));
          } else dev.queue.writeBuffer(s.value!.buffer, s.value!.offset + e0 * 4, new Float32Array(nb * BLOCK));
        });
      }
    });
    for (const w of writes) w();
    this.steps = newSteps;
    groupsIn.forEach((rest, i) => Object.assign(this.paramGroups[i], rest));
  }
}

/** The per-tensor scalars an update kernel reads: the active flag, then what `def.scalars` computes. */
export function updateScalarNames(def: OptimizerDef<any>, defaults: Options): string[] {
  return ["is_active", ...Object.keys(def.scalars(defaults, 1))];
}

/** The lookup tables a format's kernels bind for this optimizer's states, named `<table>_<signedness>`. */
export function formatTables(def: OptimizerDef<any>, format: StateFormat): Record<string, TableData> {
  const out: Record<string, TableData> = {};
  for (const signed of [true, false]) {
    if (!def.states.some((s) => s.signed === signed)) continue;
    for (const [nm, t] of Object.entries(format.tables(signed))) out[`${nm}_${signed ? "signed" : "unsigned"}`] = t;
  }
  return out;
}

function concat<T extends Uint8Array | Float32Array>(parts: T[], C: { new (n: number): T }): T {
  if (parts.length === 1) return parts[0];
  const out = new C(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}

/** Traces an update definition once into one fused kernel over [blocks, 256]. */
/**
 * `uniformScalars`: the variant for the common step where every tensor of the bucket steps with the same
 * scalars: they arrive as uniforms (no per-block table lookups) and no tensor is skipped.
 */
export function traceUpdate(def: OptimizerDef<any>, format: StateFormat, blocks: number, tensors: number, scalarNames: string[], tableNames: string[], uniformScalars = false): JitFunction<string, string> {
  const shape = [blocks, BLOCK];
  const specs: Record<string, { shape: number[]; dtype?: "f32" | "u8" | "u32" }> = { p: { shape }, g: { shape } };
  for (const st of def.states) {
    if (format.quantized) {
      specs[`${st.name}_codes`] = { shape, dtype: "u8" };
      specs[`${st.name}_absmax`] = { shape: [blocks, 1] };
    } else specs[st.name] = { shape };
  }
  for (const t of tableNames) specs[t] = { shape: [256], dtype: t.startsWith("thresholds") ? "u32" : "f32" };
  specs.block_tensor = { shape: [blocks, 1], dtype: "u32" };
  specs.hyper = { shape: [tensors * scalarNames.length] };
  const inPlace: Record<string, string> = { p: "p" };
  const name = `${def.name}${format.quantized ? (format.name === "linear8" ? "8bit_linear" : "8bit") : "32bit"}${uniformScalars ? "" : "_multi"}`;
  return new JitFunction(
    name,
    specs,
    (x) => {
      const tid = x.block_tensor;
      const s: Record<string, Tensor> = {};
      if (uniformScalars) scalarNames.forEach((nm) => (s[nm] = nm === "is_active" ? Tensor.const(1) : Tensor.uniform(nm)));
      else scalarNames.forEach((nm, k) => (s[nm] = x.hyper.gather(tid.mul(scalarNames.length).add(k)).named(nm)));
      const active = s.is_active.gt(0).named("is_active");
      const tablesFor = (signed: boolean) => {
        const suffix = signed ? "_signed" : "_unsigned";
        const t: Record<string, Tensor> = {};
        for (const nm of tableNames) if (nm.endsWith(suffix)) t[nm.slice(0, -suffix.length)] = x[nm];
        return t;
      };
      const cur: Record<string, Tensor> = { p: x.p.named("p"), g: x.g.named("g") };
      for (const st of def.states) {
        const t = { ...tablesFor(st.signed), value: x[st.name], codes: x[`${st.name}_codes`], absmax: x[`${st.name}_absmax`] };
        cur[st.name] = format.read(t, st.signed).named(st.name);
      }
      const next = def.update(cur, s, { quantized: format.quantized });
      const out: Record<string, Tensor> = { p: active.where(next.p, x.p) };
      for (const st of def.states) {
        const written = format.write(next[st.name].named(`${st.name}_new`), tablesFor(st.signed), st.signed);
        for (const [k, v] of Object.entries(written)) {
          const inName = k === "value" ? st.name : `${st.name}_${k}`;
          out[inName] = active.where(v, x[inName]);
          inPlace[inName] = inName;
        }
      }
      return out;
    },
    { inPlace },
  );
}

