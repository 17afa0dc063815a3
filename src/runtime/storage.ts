// GPU storage for tensors: allocation (padded to 16 bytes so vec4 kernels can touch a whole last vector),
// a size-class pool that recycles released buffers, byte accounting by category with peaks (benchmarks
// report it), versions for in-place writes, upload and readback through pooled staging buffers.
//
// A buffer goes back to the pool in one of two ways: deterministically (`free`, used by Tensor.dispose and
// octet.tidy, see scope.ts), or when its Storage is garbage-collected (the FinalizationRegistry below).
import { DTYPES, pad16, paddedBytes, storageBytes, type DType, type TypedArray } from "../dsl/dtype.ts";
export { paddedBytes };
import { adoptBuffer, bufferAlive, checkBuffer, device, deviceSettled, gpuWait, onDeviceLost } from "./device.ts";

export type Category = "parameters" | "gradients" | "optimizer" | "temporaries";
const CATEGORIES: Category[] = ["parameters", "gradients", "optimizer", "temporaries"];

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * The accounting of one owned buffer, shared by its Storage and the finalizer. It must never reference the
 * Storage: a FinalizationRegistry's held value that reaches its target keeps the target alive forever (the
 * 0.1 leak: the held value closed over the Storage to read its category, so no Storage was ever collected).
 */
export interface Ledger {
  buffer: GPUBuffer;
  size: number;
  category: Category;
  freed: boolean;
}

/** A tensor's bytes: a whole buffer, or an aligned window of one (an arena slice). */
export class Storage {
  /**
   * Bumped by every in-place write (a program writing an input slot, an upload). Only the root's counter is
   * meaningful: arenas are bound whole while parameters are views of them, so a write through either must be
   * seen by both. A lazy graph's buffer leaf records the root's version when it is built (realize.ts).
   */
  version = 0;
  /** Who made the last in-place write (a program name), for the stale-read error. */
  lastWriter = "";
  /** How errors name the tensor in these bytes when its leaf has no name (e.g. "parameter 'w'"), set by its owner. */
  label = "";

  constructor(
    readonly buffer: GPUBuffer,
    readonly offset: number,
    readonly bytes: number, // padded size of the window
    readonly dtype: DType,
    readonly numel: number,
    public category: Category,
    /** Set when this Storage owns `buffer` (returns it to the pool when freed or collected). */
    readonly ledger?: Ledger,
    /** For a view: the owning storage, kept alive by the view so its buffer is not recycled under it. */
    readonly parent?: Storage,
  ) {}

  get owned(): boolean {
    return this.ledger !== undefined;
  }
  /** Bytes of GPU memory this storage holds as the allocator counts them (its size class); 0 for a view. */
  get allocatedBytes(): number {
    return this.ledger && !this.ledger.freed ? this.ledger.size : 0;
  }
  /** The storage that owns the buffer (a view's parent, transitively). */
  get root(): Storage {
    let s: Storage = this;
    while (s.parent) s = s.parent;
    return s;
  }
  /** True once the buffer went back to the pool (dispose / tidy): reading it would read someone else's data. */
  get freed(): boolean {
    return this.root.ledger?.freed ?? false;
  }
  /** Records an in-place write into this storage's bytes (on the root, see `version`). */
  bump(writer: string): void {
    const r = this.root;
    r.version++;
    r.lastWriter = writer;
  }
}

const live: Record<Category, number> = { parameters: 0, gradients: 0, optimizer: 0, temporaries: 0 };
const peak: Record<Category | "total", number> = { parameters: 0, gradients: 0, optimizer: 0, temporaries: 0, total: 0 };
const pool = new Map<number, GPUBuffer[]>();
let pooledBytes = 0;
const POOL_LIMIT = 512 * 1024 * 1024;
// The pool never evicts: a few huge buffers (a 154 MB embedding table) kept in it would crowd out the small
// ones a training loop recycles every step, so buffers above a quarter of the pool are destroyed instead.
const POOL_LARGEST = POOL_LIMIT / 4;

// When an owned Storage is collected without having been freed, its buffer goes back to the pool.
const finalizer = new FinalizationRegistry<Ledger>((l) => retire(l));

function retire(l: Ledger): void {
  if (l.freed) return;
  l.freed = true;
  live[l.category] -= l.size;
  release(l.buffer, l.size);
}

// Size classes: powers of two up to 64 KiB (good reuse, little absolute waste); eight classes per doubling
// up to 1 MiB (a power of two wasted up to half: an optimizer's 258 KiB table took 512 KiB); whole MiB up to
// the largest pooled size; above it the padded size itself (such a buffer is destroyed when released, never
// reused, so rounding it up would only waste memory).
export const sizeClass = (bytes: number) => {
  const b = pad16(bytes);
  if (b <= 1 << 16) return 1 << Math.ceil(Math.log2(b));
  if (b <= 1 << 20) {
    const step = (1 << Math.floor(Math.log2(b - 1))) / 8;
    return Math.ceil(b / step) * step;
  }
  if (b > POOL_LARGEST) return b;
  return Math.ceil(b / (1 << 20)) * (1 << 20);
};

/**
 * How an allocation is sized. "class": rounded up to its size class, so that buffers of similar sizes recycle
 * each other (temporaries, tensors). "exact": the padded size itself, for long-lived buffers that are sized
 * once and kept (an optimizer's arenas and states, whose bytes per parameter are a promise: AdamW8bit's
 * 2.04 B/param would be missed by the rounding of one table). Exact buffers are pooled too, by their size:
 * the next optimizer of the same model reuses them.
 */
export type Fit = "class" | "exact";

// Queue order makes reuse safe: work already submitted on a buffer runs before any later user's work.

// Buffers of a lost device are dead: never hand them out again.
onDeviceLost(() => {
  pool.clear();
  pooledBytes = 0;
  staging.clear();
  stagingBytes = 0;
});

function release(buffer: GPUBuffer, size: number): void {
  if (size > POOL_LARGEST || pooledBytes + size > POOL_LIMIT || !bufferAlive(buffer)) return buffer.destroy();
  (pool.get(size) ?? pool.set(size, []).get(size)!).push(buffer);
  pooledBytes += size;
}

/**
 * Returns an owned storage's buffer to the pool now. Views (arena slices) own nothing and are left alone:
 * their parent is shared. Returns whether a buffer was released.
 */
export function free(s: Storage): boolean {
  const l = s.ledger;
  if (!l || l.freed) return false;
  finalizer.unregister(l);
  retire(l);
  return true;
}


/** New storage for n elements (contents undefined unless `zero`). */
export async function allocate(dtype: DType, n: number, category: Category, zero = false): Promise<Storage> {
  const dev = await device();
  return allocateOn(dev, dtype, n, category, zero);
}

/** Told of every allocation (scope.ts records them for octet.tidy); installed, so storage knows no scopes. */
let allocationObserver: ((s: Storage) => void) | undefined;
export function observeAllocations(f: (s: Storage) => void): void {
  allocationObserver = f;
}

// A garbage-collection hint, not a forced collection on the allocation path. Buffers are freed
// deterministically by dispose/tidy, and otherwise when their Storage is collected; but GPU bytes are
// invisible to the JS collector (a training step allocates megabytes of buffers and only kilobytes of JS
// objects), so a loop that relies on collection alone could run far ahead of it. After GC_HINT_BYTES of
// *new* buffers (pool misses: a loop that recycles creates none), ask the runtime for a collection, from a
// timer so that it never runs inside an allocation (0.1 ran a synchronous `Bun.gc(true)` there). Only hooks
// a runtime exposes are used: `globalThis.gc` (Node / Deno with --expose-gc) or Bun's non-blocking
// `Bun.gc(false)`; where neither exists this does nothing and collection happens on the runtime's schedule.
const GC_HINT_BYTES = 256 * 1024 * 1024;
let createdSinceHint = 0;
let hintPending = false;
function gcHint(bytes: number): void {
  createdSinceHint += bytes;
  if (createdSinceHint < GC_HINT_BYTES || hintPending) return;
  createdSinceHint = 0;
  hintPending = true;
  setTimeout(() => {
    hintPending = false;
    const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
    if (typeof g.gc === "function") g.gc();
    else g.Bun?.gc(false);
  }, 0);
}

/**
 * `scoped` = false for buffers with an owner of their own that outlives any tidy scope (a program's
 * temporaries, kept with the cached program).
 */
export function allocateOn(dev: GPUDevice, dtype: DType, n: number, category: Category, zero = false, scoped = true, fit: Fit = "class"): Storage {
  const bytes = paddedBytes(dtype, n);
  const size = fit === "exact" ? bytes : sizeClass(bytes);
  const reused = pool.get(size)?.pop();
  let buffer: GPUBuffer;
  if (reused) {
    pooledBytes -= size;
    buffer = reused;
    if (zero) {
      const enc = dev.createCommandEncoder();
      enc.clearBuffer(buffer, 0, size);
      dev.queue.submit([enc.finish()]);
    }
  } else {
    if (size > dev.limits.maxBufferSize)
      throw new Error(`octet: a ${dtype} tensor of ${n} elements needs ${size} bytes, more than this device's largest buffer (${dev.limits.maxBufferSize})`);
    buffer = dev.createBuffer({ size, usage: USAGE() }); // new buffers are zero-filled by WebGPU
    gcHint(size);
    adoptBuffer(buffer);
  }
  const ledger: Ledger = { buffer, size, category, freed: false };
  const s = new Storage(buffer, 0, bytes, dtype, n, category, ledger);
  account(category, size);
  finalizer.register(s, ledger, ledger);
  if (scoped) allocationObserver?.(s);
  return s;
}

function account(c: Category, size: number): void {
  live[c] += size;
  if (live[c] > peak[c]) peak[c] = live[c];
  const total = live.parameters + live.gradients + live.optimizer + live.temporaries;
  if (total > peak.total) peak.total = total;
}

/** A window of an existing storage (for arenas); offset (bytes, from the parent's start) must be 256-byte aligned. */
export function view(parent: Storage, offset: number, dtype: DType, n: number, category: Category): Storage {
  if (offset % 256) throw new Error(`octet: storage views must start 256-byte aligned (got ${offset})`);
  return new Storage(parent.buffer, parent.offset + offset, paddedBytes(dtype, n), dtype, n, category, undefined, parent);
}

export function recategorize(s: Storage, c: Category): void {
  const l = s.ledger;
  if (!l || l.freed || l.category === c) return;
  live[l.category] -= l.size;
  l.category = c;
  s.category = c;
  account(c, l.size);
}

export interface MemoryStats extends Record<Category, number> {
  /** Bytes of released buffers kept for reuse (storage pool; staging buffers are in `staging`). */
  pooled: number;
  /** Live bytes, all categories. */
  live: number;
  /** The most live bytes seen, by category and in total, since the start or `resetPeakMemoryStats()`. */
  peak: Record<Category | "total", number>;
  /** Bytes of pooled readback (MAP_READ) buffers. */
  staging: number;
}

/**
 * Live bytes by category (buffers of tensors that are neither disposed nor collected), pooled bytes and
 * peaks. The top-level category fields and `pooled` are what 0.1 reported.
 */
export function memoryStats(): MemoryStats {
  const total = CATEGORIES.reduce((a, c) => a + live[c], 0);
  return { ...live, pooled: pooledBytes, live: total, peak: { ...peak }, staging: stagingBytes };
}

/** Starts the peaks again from the current live bytes (as torch.cuda.reset_peak_memory_stats). */
export function resetPeakMemoryStats(): void {
  for (const c of CATEGORIES) peak[c] = live[c];
  peak.total = CATEGORIES.reduce((a, c) => a + live[c], 0);
}

/** Host data converted to the bytes the GPU layout wants (bool as u32, u8 and u16 packed, f16 as raw bits). */
export function toBytes(dtype: DType, data: ArrayLike<number>): Uint8Array {
  const n = data.length;
  const out = new Uint8Array(paddedBytes(dtype, n));
  switch (dtype) {
    case "f32":
      new Float32Array(out.buffer, 0, n).set(data);
      break;
    case "i32":
      new Int32Array(out.buffer, 0, n).set(data);
      break;
    case "u32":
      new Uint32Array(out.buffer, 0, n).set(data);
      break;
    case "bool": {
      const u = new Uint32Array(out.buffer, 0, n);
      for (let i = 0; i < n; i++) u[i] = data[i] ? 1 : 0;
      break;
    }
    case "u8":
      out.set(data);
      break;
    case "u16":
      new Uint16Array(out.buffer, 0, n).set(data);
      break;
    case "f16": {
      if (data instanceof Uint16Array) new Uint16Array(out.buffer, 0, n).set(data);
      else new Float16Array(out.buffer, 0, n).set(data);
      break;
    }
  }
  return out;
}

export function fromBytes(dtype: DType, bytes: Uint8Array, n: number): TypedArray | Float16Array {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case "f32":
      return new Float32Array(buf, 0, n);
    case "i32":
      return new Int32Array(buf, 0, n);
    case "u32":
      return new Uint32Array(buf, 0, n);
    case "bool":
      return Uint8Array.from(new Uint32Array(buf, 0, n), (v) => (v ? 1 : 0));
    case "u8":
      return new Uint8Array(buf, 0, n);
    case "u16":
      return new Uint16Array(buf, 0, n);
    case "f16":
      return new Float16Array(buf, 0, n);
  }
}

export async function upload(s: Storage, data: ArrayLike<number>): Promise<void> {
  uploadOn(await device(), s, data);
}

/** Queues a write of host data into a storage (synchronous: the device is given). */
export function uploadOn(dev: GPUDevice, s: Storage, data: ArrayLike<number>): void {
  if (data.length !== s.numel) throw new Error(`octet: upload of ${data.length} values into a tensor of ${s.numel}`);
  if (s.freed) throw new Error("octet: upload into a disposed tensor's storage");
  checkBuffer(s.buffer, `uploading into a ${s.dtype}[${s.numel}] tensor`);
  const bytes = toBytes(s.dtype, data);
  dev.queue.writeBuffer(s.buffer, s.offset, bytes, 0, Math.min(bytes.byteLength, s.bytes));
  s.bump("an upload");
}

// Readback buffers by size class: reading a scalar loss every step must not create a GPU buffer each time.
// A staging buffer is taken out while it is mapped, so concurrent reads never share one.
const staging = new Map<number, GPUBuffer[]>();
let stagingBytes = 0;
const STAGING_LIMIT = 64 * 1024 * 1024;

export async function readBytes(s: Storage): Promise<Uint8Array> {
  if (s.freed) throw new Error("octet: read of a disposed tensor's storage");
  const dev = await device();
  checkBuffer(s.buffer, `reading a ${s.dtype}[${s.numel}] tensor`);
  const size = Math.ceil(storageBytes(s.dtype, s.numel) / 4) * 4 || 4;
  const cls = sizeClass(size);
  let buf = staging.get(cls)?.pop();
  if (buf) stagingBytes -= cls;
  else buf = dev.createBuffer({ size: cls, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(s.buffer, s.offset, buf, 0, size);
  dev.queue.submit([enc.finish()]);
  let out: Uint8Array;
  try {
    await gpuWait(buf.mapAsync(GPUMapMode.READ, 0, size)); // how the thread waits: wait.ts
    out = new Uint8Array(buf.getMappedRange(0, size).slice(0));
    buf.unmap();
  } catch (e) {
    buf.destroy();
    await deviceSettled(); // a lost device explains the failure better than mapAsync's (often empty) message
    throw e;
  }
  if (stagingBytes + cls <= STAGING_LIMIT) {
    (staging.get(cls) ?? staging.set(cls, []).get(cls)!).push(buf);
    stagingBytes += cls;
  } else buf.destroy();
  await deviceSettled(); // errors of the work this readback waited for are thrown here, not at some later call
  return out;
}

export async function download(s: Storage): Promise<TypedArray | Float16Array> {
  return fromBytes(s.dtype, await readBytes(s), s.numel);
}

export const elementBytes = (d: DType): number => DTYPES[d].bits / 8;
