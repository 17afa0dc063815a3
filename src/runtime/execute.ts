// Runs a schedule: binds storages to slots, cuts each kernel's rows into chunks that fit one storage binding
// (so tensors larger than a binding work transparently), writes every dispatch's parameters into one
// uniform buffer, and submits all dispatches in one command buffer. Bind groups are cached, so a steady
// training loop creates no GPU objects per step.
import type { DType } from "../dsl/dtype.ts";
import { numel } from "../dsl/node.ts";
import { CHUNK_ROW_ALIGN, MAP_WORKGROUP, type Kernel } from "../codegen/kernel.ts";
import type { Schedule } from "../codegen/schedule.ts";
import { uniformLayout } from "../codegen/wgsl.ts";
import { device, deviceInfo, storageBindingLimit } from "./device.ts";
import { debugLevel, nameFilterMatches, validateEnabled } from "./env.ts";
import { compile, type CompiledKernel } from "./pipelines.ts";
import { allocateOn, free, paddedBytes, view, type Category, type Storage } from "./storage.ts";
import { planTemps } from "./temps.ts";

const UNIFORM_STRIDE = 256;

/**
 * Per-dispatch timing for benchmarks: while active, every dispatch is submitted and awaited on its own and
 * recorded (this serializes the GPU, so only use it to attribute time, not to measure throughput).
 */
export const profiler = {
  active: false,
  records: [] as { name: string; kind: string; rows: number; L: number; batched: boolean; ms: number }[],
}; // minUniformBufferOffsetAlignment on every adapter we target

interface Dispatch {
  /** The pipeline; its `kernel` may come from another program with the same key, so slots are taken from `k`. */
  ck: CompiledKernel;
  /** This program's kernel: its bindings say which of this program's slots each binding reads. */
  k: Kernel;
  rows: number;
  rowBase: number;
  count: number;
  groups: [number, number];
  z?: number;
  consts?: Record<string, number>;
}

export class Program {
  private compiled: CompiledKernel[] = [];
  private uniformBuf?: GPUBuffer;
  private bindGroups = new Map<string, GPUBindGroup>();
  private temps: Storage[] = [];
  /** The physical buffers the temps view (temps with disjoint lifetimes share one: temps.ts). */
  private tempBuffers: Storage[] = [];
  /** Input slots some kernel writes: each run bumps their storage's version (an in-place write). */
  private readonly written: number[];
  private running = 0;
  private released = false;
  dispatchCount = 0;

  constructor(readonly schedule: Schedule, readonly name: string) {
    const w = new Set<number>();
    for (const { kernel } of schedule.kernels) for (const b of kernel.bindings) if (b.write && schedule.slots[b.slot].kind === "input") w.add(b.slot);
    this.written = [...w];
  }

  /** Bytes of this program's own temporaries (after sharing by liveness). */
  get tempBytes(): number {
    return this.tempBuffers.reduce((a, s) => a + s.bytes, 0);
  }

  /**
   * Frees what the program owns (uniform buffer, bind groups, temporaries): an evicted cache entry. A run in
   * flight keeps them until it has submitted; running the program again afterwards re-creates them.
   */
  release(): void {
    if (this.running) {
      this.released = true;
      return;
    }
    this.released = false;
    this.uniformBuf?.destroy(); // destruction waits for submitted work (WebGPU)
    this.uniformBuf = undefined;
    this.bindGroups.clear();
    for (const t of this.tempBuffers) free(t);
    this.tempBuffers = [];
    this.temps = [];
  }

  /** Temp slot storages: views of physical buffers shared by liveness, made at the first run. */
  private ensureTemps(dev: GPUDevice): void {
    if (this.temps.length) return;
    const { slots } = this.schedule;
    const plan = planTemps(this.schedule);
    this.tempBuffers = plan.bytes.map((b) => allocateOn(dev, "u8", b, "temporaries", false, false));
    slots.forEach((s, i) => {
      if (s.kind !== "temp") return;
      const at = plan.bufferOf[i];
      this.temps[i] = at === undefined ? allocateOn(dev, s.dtype, numel(s.shape), "temporaries", false, false) : view(this.tempBuffers[at], 0, s.dtype, numel(s.shape), "temporaries");
    });
  }

  async prepare(dev: GPUDevice): Promise<void> {
    if (this.compiled.length === this.schedule.kernels.length) return;
    this.compiled = await Promise.all(this.schedule.kernels.map((k) => compile(dev, k.kernel)));
  }

  /** The dispatches (kernel x chunk) this program issues for its shapes. */
  private plan(): Dispatch[] {
    const maxBind = storageBindingLimit();
    const maxDim = deviceInfo().maxWorkgroupsPerDimension;
    const out: Dispatch[] = [];
    this.schedule.kernels.forEach(({ kernel: k, rows, consts, grid }, i) => {
      const ck = this.compiled[i];
      if (grid) {
        if (grid[2] > maxDim || grid[0] > maxDim || grid[1] > maxDim) throw new Error(`octet: ${k.name}: grid ${grid.join("x")} exceeds ${maxDim} workgroups per dimension`);
        out.push({ ck, k, rows, rowBase: 0, count: rows, groups: [grid[0], grid[1]], z: grid[2], consts });
        return;
      }
      const chunk = chunkRows(k, rows, maxBind);
      for (let base = 0; base < rows || (rows === 0 && base === 0); base += chunk) {
        const n = Math.min(chunk, rows - base);
        if (n <= 0) break;
        const count = k.kind === "map" ? Math.ceil((n * k.L) / k.vec) : n;
        const wgs = k.kind === "map" ? Math.ceil(count / MAP_WORKGROUP) : n;
        out.push({ ck, k, rows: n, rowBase: base, count, groups: dispatchGrid(wgs, maxDim) });
      }
    });
    return out;
  }

  /** Runs the program; `storages[slot]` gives inputs (and receives outputs/temps). */
  async run(storages: (Storage | undefined)[], uniforms: Record<string, number>, category: Category = "temporaries"): Promise<Storage[]> {
    this.running++;
    try {
      return await this.runOnce(storages, uniforms, category);
    } finally {
      if (--this.running === 0 && this.released) this.release();
    }
  }

  private async runOnce(storages: (Storage | undefined)[], uniforms: Record<string, number>, category: Category): Promise<Storage[]> {
    const dev = await device();
    await this.prepare(dev);
    const { slots } = this.schedule;
    for (const u of this.schedule.uniforms)
      if (typeof uniforms[u] !== "number") throw new Error(`octet: ${this.name} needs a value for uniform "${u}"`);
    slots.forEach((s, i) => {
      if (s.kind === "input") {
        const st = storages[i];
        if (!st) throw new Error(`octet: ${this.name}: no buffer bound to input ${s.name}`);
        if (st.freed) throw new Error(`octet: ${this.name}: input ${s.name} is a disposed tensor's buffer`);
        if (st.dtype !== s.dtype || st.numel !== numel(s.shape))
          throw new Error(`octet: ${this.name}: input ${s.name} wants ${s.dtype}[${numel(s.shape)}], got ${st.dtype}[${st.numel}]`);
      } else if (s.kind === "temp") {
        // Temporaries never leave the program: one set, reused by every run (queue order serializes runs).
        this.ensureTemps(dev);
        storages[i] = this.temps[i];
      } else storages[i] ??= allocateOn(dev, s.dtype, numel(s.shape), category);
    });
    const all = storages as Storage[];
    const dispatches = this.plan();
    this.ensureUniforms(dev, dispatches.length);
    const params = new ArrayBuffer(dispatches.length * UNIFORM_STRIDE);
    const enc = dev.createCommandEncoder({ label: this.name });
    const timed = debugLevel() >= 2 || profiler.active;
    const validate = validateEnabled();
    const before = validate ? await snapshotInputs(all, this.schedule) : undefined;
    dispatches.forEach((d, i) => writeParams(params, i * UNIFORM_STRIDE, d, d.consts ? { ...uniforms, ...d.consts } : uniforms));
    dev.queue.writeBuffer(this.uniformBuf!, 0, params);
    const encodeOne = (e: GPUCommandEncoder, d: Dispatch, i: number) => {
      const pass = e.beginComputePass();
      pass.setPipeline(d.ck.pipeline);
      pass.setBindGroup(0, this.bindGroup(dev, d, i, all));
      pass.dispatchWorkgroups(d.groups[0], d.groups[1], d.z ?? 1);
      pass.end();
    };
    if (!timed) {
      dispatches.forEach((d, i) => encodeOne(enc, d, i));
      dev.queue.submit([enc.finish()]);
    } else {
      dev.queue.submit([enc.finish()]);
      await dev.queue.onSubmittedWorkDone(); // earlier work must not be billed to the first dispatch
      for (const [i, d] of dispatches.entries()) {
        const e = dev.createCommandEncoder();
        encodeOne(e, d, i);
        const t0 = performance.now();
        dev.queue.submit([e.finish()]);
        await dev.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        if (profiler.active) profiler.records.push({ name: d.k.name, kind: d.k.kind, rows: d.rows, L: d.k.L, batched: (d.z ?? 1) > 1, ms });
        if (debugLevel() >= 2 && nameFilterMatches(d.k.name)) {
          const bytes = d.ck.bytesPerElement * d.rows * d.k.L;
          console.error(`octet: ${d.k.name} rows=${d.rows} ${ms.toFixed(3)} ms ${(bytes / ms / 1e6).toFixed(2)} GB/s`);
        }
      }
    }
    this.dispatchCount += dispatches.length;
    for (const slot of this.written) all[slot].bump(this.name);
    if (before) await (await import("./validate.ts")).validateRun(this.schedule, before, all, uniforms);
    return all;
  }

  private ensureUniforms(dev: GPUDevice, n: number): void {
    const size = Math.max(1, n) * UNIFORM_STRIDE;
    if (this.uniformBuf && this.uniformBuf.size >= size) return;
    this.uniformBuf?.destroy();
    this.bindGroups.clear();
    this.uniformBuf = dev.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: `${this.name} params` });
  }

  private bindGroup(dev: GPUDevice, d: Dispatch, i: number, storages: Storage[]): GPUBindGroup {
    const k = d.k;
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuf!, offset: i * UNIFORM_STRIDE, size: UNIFORM_STRIDE } }];
    const keyParts: (string | number)[] = [d.ck.kernel.key, i];
    k.bindings.forEach((b, j) => {
      const st = storages[b.slot];
      const w = window(k, b.mode, b.dtype, st, d);
      entries.push({ binding: j + 1, resource: { buffer: st.buffer, offset: w.offset, size: w.size } });
      keyParts.push(bufferId(st.buffer), w.offset, w.size);
    });
    const key = keyParts.join(":");
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 4096) this.bindGroups.clear();
      bg = dev.createBindGroup({ layout: d.ck.layout, entries, label: k.name });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }
}

const ids = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextBufferId++));
  return id;
}

const bytesFor = (dtype: DType, n: number) => paddedBytes(dtype, n);

/** The part of a storage one dispatch chunk binds. */
function window(k: Kernel, mode: string, dtype: DType, st: Storage, d: Dispatch): { offset: number; size: number } {
  if (k.kind === "matmul") return { offset: st.offset, size: st.bytes };
  if (mode === "elem" || mode === "row") {
    const perRow = mode === "elem" ? k.L : 1;
    const startEl = d.rowBase * perRow;
    const offset = st.offset + Math.floor((startEl * (dtype === "u8" ? 1 : elemSize(dtype))));
    const remaining = st.numel - startEl;
    const size = Math.min(bytesFor(dtype, Math.min(d.rows * perRow, remaining)), st.bytes - (offset - st.offset));
    return { offset, size };
  }
  return { offset: st.offset, size: st.bytes };
}
const elemSize = (d: DType) => (d === "f16" ? 2 : d === "u8" ? 1 : 4);

/**
 * A 2-D grid of at least `workgroups` workgroups, neither side above the device's per-dimension limit
 * (65535): kernels recover their linear index as wid.x + wid.y * nwg.x and return past the end.
 */
export function dispatchGrid(workgroups: number, maxDim: number): [number, number] {
  // Balanced rather than [maxDim, ceil(n / maxDim)]: 65536 workgroups become 32768 x 2, not 65535 x 2
  // (which would launch 65534 idle workgroups).
  const y = Math.max(1, Math.ceil(workgroups / maxDim));
  return [Math.ceil(workgroups / y), y];
}

/** Rows per dispatch so that every per-element and per-row binding fits the storage-binding limit. */
export function chunkRows(k: Kernel, rows: number, maxBind: number): number {
  let perRow = 0;
  for (const b of k.bindings) {
    if (b.mode === "elem") perRow = Math.max(perRow, k.L * elemSize(b.dtype));
    else if (b.mode === "row") perRow = Math.max(perRow, elemSize(b.dtype));
  }
  if (perRow === 0 || rows * perRow <= maxBind) return Math.max(rows, 1);
  const fit = Math.floor(maxBind / perRow);
  const aligned = Math.floor(fit / CHUNK_ROW_ALIGN) * CHUNK_ROW_ALIGN;
  if (aligned === 0) throw new Error(`octet: ${k.name}: one block of ${CHUNK_ROW_ALIGN} rows of ${perRow} bytes exceeds the storage-binding limit (${maxBind} bytes)`);
  return aligned;
}

function writeParams(buf: ArrayBuffer, at: number, d: Dispatch, uniforms: Record<string, number>): void {
  const dv = new DataView(buf, at, UNIFORM_STRIDE);
  for (const f of uniformLayout(d.k)) {
    const v = f.name === "rows" ? d.rows : f.name === "row_base" ? d.rowBase : f.name === "count" ? d.count : f.name === "zero" ? 0 : uniforms[f.name];
    if (f.dtype === "f32" || f.dtype === "f16") dv.setFloat32(f.offset, v, true);
    else if (f.dtype === "i32") dv.setInt32(f.offset, v, true);
    else dv.setUint32(f.offset, v >>> 0, true);
  }
}

async function snapshotInputs(storages: Storage[], s: Schedule) {
  const { download } = await import("./storage.ts");
  return Promise.all(s.slots.map((sl, i) => (sl.kind === "input" ? download(storages[i]) : undefined)));
}
