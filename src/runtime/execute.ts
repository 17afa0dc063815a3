// Runs a schedule: binds storages to slots, cuts each kernel into dispatches whose bindings fit the device's
// limits (rows of map and row kernels, chunks of gather tables; a lowering's own kernel kinds plan theirs:
// blocks of C and slices of K for matmuls, windows of rows for column reductions), checks
// every binding of every dispatch before anything is encoded, writes every dispatch's parameters into one
// uniform buffer, and submits all dispatches in one command buffer inside error scopes, so a GPU error
// becomes a JS error naming the kernel (errors.ts). Bind groups are cached, so a steady training loop
// creates no GPU objects per step.
import { DTYPES, type DType } from "../dsl/dtype.ts";
import { numel } from "../dsl/node.ts";
import { BindingLimitError, CHUNK_ROW_ALIGN, hashString, MAP_WORKGROUP, type BindingLimits, type Kernel, type Schedule } from "../codegen/kernel.ts";
import { kernelKindOf } from "../codegen/lowerings/index.ts";
import { uniformLayout } from "../codegen/wgsl.ts";
import { checkBuffer, device, deviceErrors, deviceInfo, gpuWait, storageBindingLimit } from "./device.ts";
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

/** Bytes of a storage one binding sees, relative to the storage's first byte. */
interface Window {
  offset: number;
  size: number;
}

interface Dispatch {
  /** The pipeline; its `kernel` may come from another program with the same key, so slots are taken from `k`. */
  ck: CompiledKernel;
  /** This program's kernel: its bindings say which of this program's slots each binding reads. */
  k: Kernel;
  /** Where user code built what this kernel computes, for error messages. */
  site?: string;
  rows: number;
  rowBase: number;
  count: number;
  groups: [number, number];
  z?: number;
  consts?: Record<string, number>;
  /** One window per binding, checked against the device limits when the plan is made. */
  windows: Window[];
}

/** A dispatch as planned: its pipeline is compiled after planning when the plan made its kernel. */
type Planned = Omit<Dispatch, "ck"> & { ck?: CompiledKernel };

export { BindingLimitError };

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
  /** The device the compiled pipelines, temporaries and bind groups belong to. */
  private dev?: GPUDevice;
  private planned?: { limits: string; dispatches: Planned[] };
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
    if (this.dev !== dev) {
      // A new device (the old one was lost): nothing made on the old one can be used.
      this.dev = dev;
      this.compiled = [];
      this.temps = []; // dropped, not freed: the old device's buffers must not reach the pool
      this.tempBuffers = [];
      this.bindGroups.clear();
      this.uniformBuf = undefined;
      this.planned = undefined;
    }
    if (this.compiled.length === this.schedule.kernels.length) return;
    this.compiled = await Promise.all(this.schedule.kernels.map((k) => compile(dev, k.kernel)));
  }

  /**
   * The dispatches (kernel x chunk) this program issues for its shapes, every binding checked against the
   * device limits. Made once per set of limits (a test may lower the binding cap between runs).
   */
  private plan(): Planned[] {
    const info = deviceInfo();
    const limits: BindingLimits = { maxBinding: storageBindingLimit(), offsetAlign: info.minStorageOffsetAlignment, maxWorkgroups: info.maxWorkgroupsPerDimension };
    const key = `${limits.maxBinding}:${limits.offsetAlign}:${limits.maxWorkgroups}:${info.maxStorageBuffersPerStage}`;
    if (this.planned?.limits === key) return this.planned.dispatches;
    const out: Planned[] = [];
    const slotBytes = this.schedule.slots.map((s) => paddedBytes(s.dtype, numel(s.shape)));
    this.schedule.kernels.forEach((sk, i) => {
      const { kernel: k, rows, consts, grid } = sk;
      const ck = this.compiled[i];
      const site = sk.site;
      const bytes = k.bindings.map((b) => slotBytes[b.slot]);
      // A lowering's kernel kind that cuts its own operands (matmul: blocks of C and slices of K; column
      // reductions: windows of rows) plans its dispatches itself.
      const planner = kernelKindOf(k.kind)?.chunks;
      if (planner) {
        for (const b of planner(sk, bytes, limits))
          out.push({ ck, k, site, rows, rowBase: 0, count: rows, groups: [b.grid[0], b.grid[1]], z: b.grid[2], consts: { ...consts, ...b.consts }, windows: b.windows });
        return;
      }
      if (grid) {
        // A fixed grid binds whole buffers: the checks below refuse what does not fit.
        out.push({ ck, k, site, rows, rowBase: 0, count: rows, groups: [grid[0], grid[1]], z: grid[2], consts, windows: bytes.map((size) => ({ offset: 0, size })) });
        return;
      }
      const chunk = chunkRows(k, rows, limits.maxBinding, limits.offsetAlign);
      // A gather table larger than one binding: every chunk of rows runs once per chunk of the table. The
      // scheduler leaves at most one such table in a kernel (codegen/schedule.ts gathersToSplit).
      const tables = k.bindings.map((b, j) => j).filter((j) => k.bindings[j].mode === "table" && slotBytes[k.bindings[j].slot] > limits.maxBinding);
      if (tables.length > 1)
        throw new BindingLimitError(`octet: kernel ${k.name} (${k.kind}${site ? `, built at ${site}` : ""}) gathers from ${tables.length} tables larger than one storage binding of ${limits.maxBinding} bytes (${tables.map((j) => k.bindings[j].name).join(", ")}); the scheduler computes all but one of them in kernels of their own when it knows the limit, but this kernel was scheduled for ${this.schedule.target.maxStorageBindingBytes} bytes (trace it again, e.g. the jit, after lowering the limit)`);
      const table = tables.length ? tables[0] : -1;
      for (let base = 0; base < rows || (rows === 0 && base === 0); base += chunk) {
        const n = Math.min(chunk, rows - base);
        if (n <= 0) break;
        const count = k.kind === "map" ? Math.ceil((n * k.L) / k.vec) : n;
        const wgs = k.kind === "map" ? Math.ceil(count / MAP_WORKGROUP) : n;
        const windows = k.bindings.map((b) => window(k, b.mode, b.dtype, numel(this.schedule.slots[b.slot].shape), slotBytes[b.slot], base, n));
        // consts: uniforms a lowering fixed for this program (segment_sum's N), the same for every chunk.
        const d: Planned = { ck, k, site, rows: n, rowBase: base, count, groups: dispatchGrid(wgs, limits.maxWorkgroups), windows, consts };
        if (table < 0) out.push(d);
        else out.push(...tableChunks(d, table, this.schedule, slotBytes, limits));
      }
    });
    for (const d of out) checkDispatch(d, this.schedule, slotBytes, limits, info.maxStorageBuffersPerStage);
    this.planned = { limits: key, dispatches: out };
    return out;
  }

  /** What a GPU error message is about: the kernel whose label it names (passes and bind groups carry it). */
  private describe(gpuMessage: string, dispatches: Dispatch[]): string {
    const d = dispatches.find((x) => gpuMessage.includes(`"${x.k.name}"`));
    if (!d) return `program ${this.name} (kernels ${[...new Set(dispatches.map((x) => x.k.name))].join(", ")})`;
    return `program ${this.name}, kernel ${d.k.name} (${d.k.kind}${d.site ? `, built at ${d.site}` : ""})`;
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
    const align = deviceInfo().minStorageOffsetAlignment;
    slots.forEach((s, i) => {
      if (s.kind !== "input") return;
      const st = storages[i];
      if (!st) throw new Error(`octet: ${this.name}: no buffer bound to input ${s.name}`);
      if (st.freed) throw new Error(`octet: ${this.name}: input ${s.name} is a disposed tensor's buffer`);
      if (st.dtype !== s.dtype || st.numel !== numel(s.shape))
        throw new Error(`octet: ${this.name}: input ${s.name} wants ${s.dtype}[${numel(s.shape)}], got ${st.dtype}[${st.numel}]`);
      checkBuffer(st.buffer, `running ${this.name} (input ${s.name})`);
      if (st.offset % align) throw new BindingLimitError(`octet: ${this.name}: input ${s.name} starts at byte ${st.offset} of its buffer, not a multiple of the device's storage offset alignment (${align})`);
    });
    const planned = this.plan();
    // Kernels made for the plan (chunked gather tables) are compiled once, when the plan is made.
    for (const d of planned) d.ck ??= await compile(dev, d.k);
    const dispatches = planned as Dispatch[];
    const validate = validateEnabled();
    const before = validate ? await snapshotInputs(storages as Storage[], this.schedule) : undefined;
    const errors = deviceErrors();
    const where = (msg: string) => this.describe(msg, dispatches);
    const timed = debugLevel() >= 2 || profiler.active;
    const encodeOne = (e: GPUCommandEncoder, d: Dispatch, i: number, all: Storage[]) => {
      const pass = e.beginComputePass({ label: d.k.name }); // the label lets a GPU error name the kernel
      pass.setPipeline(d.ck.pipeline);
      pass.setBindGroup(0, this.bindGroup(dev, d, i, all));
      pass.dispatchWorkgroups(d.groups[0], d.groups[1], d.z ?? 1);
      pass.end();
    };
    // No await while a scope is open: two runs interleaving would pop each other's scopes.
    let close = errors.open(dev, where);
    try {
      slots.forEach((s, i) => {
        if (s.kind === "input") return;
        if (s.kind === "temp") {
          // Temporaries never leave the program: one set, reused by every run (queue order serializes runs).
          this.ensureTemps(dev);
          storages[i] = this.temps[i];
        } else storages[i] ??= allocateOn(dev, s.dtype, numel(s.shape), category);
      });
      this.ensureUniforms(dev, dispatches.length);
      const params = new ArrayBuffer(dispatches.length * UNIFORM_STRIDE);
      dispatches.forEach((d, i) => writeParams(params, i * UNIFORM_STRIDE, d, d.consts ? { ...uniforms, ...d.consts } : uniforms));
      dev.queue.writeBuffer(this.uniformBuf!, 0, params);
      const enc = dev.createCommandEncoder({ label: this.name });
      if (!timed) dispatches.forEach((d, i) => encodeOne(enc, d, i, storages as Storage[]));
      dev.queue.submit([enc.finish()]);
    } finally {
      close();
    }
    const all = storages as Storage[];
    if (timed) {
      await gpuWait(dev.queue.onSubmittedWorkDone()); // earlier work must not be billed to the first dispatch
      for (const [i, d] of dispatches.entries()) {
        const e = dev.createCommandEncoder({ label: this.name });
        const t0 = performance.now();
        close = errors.open(dev, where);
        try {
          encodeOne(e, d, i, all);
          dev.queue.submit([e.finish()]);
        } finally {
          close();
        }
        await gpuWait(dev.queue.onSubmittedWorkDone());
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
    if (before) await (await import("./validate.ts")).validateRun(this.schedule, before, all, uniforms, this.name);
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
      const w = d.windows[j];
      entries.push({ binding: j + 1, resource: { buffer: st.buffer, offset: st.offset + w.offset, size: w.size } });
      keyParts.push(bufferId(st.buffer), st.offset + w.offset, w.size);
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


/**
 * The part of a slot (numel elements, `bytes` padded bytes) one dispatch chunk of rows [rowBase, rowBase +
 * rows) binds: its rows for per-element and per-row bindings, one element for a scalar, the whole slot for
 * per-column and table (gather) bindings (checkDispatch refuses those that do not fit).
 */
function window(k: Kernel, mode: string, dtype: DType, numelOf: number, bytes: number, rowBase: number, rows: number): Window {
  if (mode === "elem" || mode === "row") {
    const perRow = mode === "elem" ? k.L : 1;
    const startEl = rowBase * perRow;
    const offset = Math.floor(startEl * (dtype === "u8" ? 1 : elemSize(dtype)));
    const remaining = numelOf - startEl;
    const size = Math.min(paddedBytes(dtype, Math.min(rows * perRow, remaining)), bytes - offset);
    return { offset, size };
  }
  if (mode === "scalar") return { offset: 0, size: Math.min(bytes, 16) };
  return { offset: 0, size: bytes };
}

/**
 * A dispatch over a gather table larger than one binding, as one dispatch per chunk of table rows: each binds
 * its chunk (offsets aligned) and stores only the elements whose index falls in it (Kernel.tableChunk); the
 * last chunk also takes indices past the end, so every element is written exactly once, as unchunked.
 */
function tableChunks(d: Planned, j: number, s: Schedule, slotBytes: number[], limits: BindingLimits): Planned[] {
  const b = d.k.bindings[j];
  const width = b.tableWidth ?? 1;
  const rowBytes = width * (b.dtype === "u8" ? 1 : elemSize(b.dtype));
  const tableRows = Math.ceil(numel(s.slots[b.slot].shape) / width);
  const step = limits.offsetAlign / gcd(limits.offsetAlign, rowBytes); // rows per aligned offset
  const per = Math.floor(Math.floor(limits.maxBinding / rowBytes) / step) * step;
  if (per < 1)
    throw new BindingLimitError(`octet: kernel ${d.k.name}: gather table ${b.name} (${b.dtype}[${numel(s.slots[b.slot].shape)}]) has rows of ${rowBytes} bytes; ${step} of them (one aligned chunk) exceed the storage-binding limit of ${limits.maxBinding} bytes`);
  const k = tableChunked(d.k, j);
  const out: Planned[] = [];
  for (let first = 0; first < tableRows; first += per) {
    const offset = first * rowBytes;
    const windows = d.windows.slice();
    windows[j] = { offset, size: Math.min(slotBytes[b.slot] - offset, Math.ceil((per * rowBytes) / 16) * 16) };
    const last = first + per >= tableRows ? 0xffffffff : first + per - 1;
    out.push({ ...d, k, ck: undefined, windows, consts: { ...d.consts, table_first: first, table_last: last } });
  }
  return out;
}

/** The kernel reading binding j as a chunked gather table: two more uniforms, its own key (and pipeline). */
const chunkedKernels = new WeakMap<Kernel, Map<number, Kernel>>();
function tableChunked(k: Kernel, j: number): Kernel {
  const byBinding = chunkedKernels.get(k) ?? chunkedKernels.set(k, new Map()).get(k)!;
  let c = byBinding.get(j);
  if (!c) {
    const uniforms = [...k.uniforms, { name: "table_first", dtype: "u32" as const }, { name: "table_last", dtype: "u32" as const }];
    byBinding.set(j, (c = { ...k, tableChunk: j, uniforms, key: hashString(`${k.key}|table-chunk:${j}`) }));
  }
  return c;
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/**
 * Never bind what was not checked: every binding of a dispatch fits the binding limit, starts aligned and
 * inside its slot; the kernel binds no more storage buffers than a shader stage may; the grid fits.
 */
function checkDispatch(d: Planned, s: Schedule, slotBytes: number[], limits: BindingLimits, maxBuffers: number): void {
  const k = d.k;
  const at = `octet: kernel ${k.name} (${k.kind}${d.site ? `, built at ${d.site}` : ""})`;
  if (k.bindings.length > maxBuffers)
    throw new BindingLimitError(`${at} binds ${k.bindings.length} storage buffers; this device allows ${maxBuffers} per shader stage`);
  k.bindings.forEach((b, j) => {
    const w = d.windows[j];
    const slot = s.slots[b.slot];
    const what = `binding ${j + 1} (${b.name}: ${b.dtype}[${numel(slot.shape)}], ${b.mode})`;
    if (w.size > limits.maxBinding) {
      const why =
        b.mode === "col" ? "per-column operands are not chunked"
        : b.mode === "table" ? "even one aligned chunk of the gather table does not fit"
        : k.kind === "matmul" ? "the product could not be cut smaller"
        : "this binding is not chunked";
      throw new BindingLimitError(`${at}: ${what} needs ${w.size} bytes in one binding, more than the storage-binding limit of ${limits.maxBinding} bytes (${why})`);
    }
    if (w.offset % limits.offsetAlign) throw new BindingLimitError(`${at}: ${what} would be bound at byte ${w.offset}, not a multiple of the storage offset alignment (${limits.offsetAlign})`);
    if (w.size <= 0 || w.size % 4 || w.offset + w.size > slotBytes[b.slot])
      throw new BindingLimitError(`${at}: ${what}: window of ${w.size} bytes at ${w.offset} does not lie inside its ${slotBytes[b.slot]}-byte buffer`);
  });
  const [x, y] = d.groups;
  const z = d.z ?? 1;
  if (x > limits.maxWorkgroups || y > limits.maxWorkgroups || z > limits.maxWorkgroups)
    throw new BindingLimitError(`${at}: grid ${x}x${y}x${z} exceeds ${limits.maxWorkgroups} workgroups per dimension`);
}
const elemSize = (d: DType) => DTYPES[d].bits / 8;

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

/**
 * Rows per dispatch so that every per-element and per-row binding fits the storage-binding limit, and every
 * chunk's window of every binding starts at a multiple of the offset alignment: a multiple of the fewest rows
 * whose bytes are (for 12-byte rows and 256-byte alignment: 64 rows; for 1-byte u8 rows: 256).
 */
export function chunkRows(k: Kernel, rows: number, maxBind: number, offsetAlign = CHUNK_ROW_ALIGN): number {
  let perRow = 0;
  let widest = "";
  let step = 1;
  for (const b of k.bindings) {
    const bytes = b.mode === "elem" ? k.L * elemSize(b.dtype) : b.mode === "row" ? elemSize(b.dtype) : 0;
    if (!bytes) continue;
    step = Math.max(step, offsetAlign / gcd(offsetAlign, bytes)); // powers of two: the largest is a multiple of all
    if (bytes > perRow) [perRow, widest] = [bytes, `${b.name}: ${b.dtype} ${b.mode}`];
  }
  if (perRow === 0 || rows * perRow <= maxBind) return Math.max(rows, 1);
  const aligned = Math.floor(Math.floor(maxBind / perRow) / step) * step;
  if (aligned === 0)
    throw new BindingLimitError(`octet: ${k.name}: rows of ${perRow} bytes do not fit the storage-binding limit (${maxBind} bytes) ${step > 1 ? `${step} at a time (the fewest that keep windows aligned)` : "one at a time"} (binding ${widest})`);
  return aligned;
}

function writeParams(buf: ArrayBuffer, at: number, d: Dispatch, uniforms: Record<string, number>): void {
  const dv = new DataView(buf, at, UNIFORM_STRIDE);
  for (const f of uniformLayout(d.k)) {
    // The dispatch fields by their WGSL field (a DSL uniform called "rows" has the field u_rows), the rest by name.
    const v = f.field === "rows" ? d.rows : f.field === "row_base" ? d.rowBase : f.field === "count" ? d.count : f.field === "zero" ? 0 : uniforms[f.name];
    if (f.dtype === "f32" || f.dtype === "f16") dv.setFloat32(f.offset, v, true);
    else if (f.dtype === "i32") dv.setInt32(f.offset, v, true);
    else dv.setUint32(f.offset, v >>> 0, true);
  }
}

async function snapshotInputs(storages: Storage[], s: Schedule) {
  const { download } = await import("./storage.ts");
  return Promise.all(s.slots.map((sl, i) => (sl.kind === "input" ? download(storages[i]) : undefined)));
}
