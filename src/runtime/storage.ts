// GPU storage for tensors: allocation (padded to 16 bytes so vec4 kernels can touch a whole last vector),
// a size-class pool that recycles buffers of collected tensors, byte accounting by category (benchmarks
// report it), upload and readback.
import { DTYPES, storageBytes, type DType, type TypedArray } from "../dsl/dtype.ts";
import { device } from "./device.ts";

export type Category = "parameters" | "gradients" | "optimizer" | "temporaries";

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A tensor's bytes: a whole buffer, or an aligned window of one (an arena slice). */
export class Storage {
  constructor(
    readonly buffer: GPUBuffer,
    readonly offset: number,
    readonly bytes: number, // padded size of the window
    readonly dtype: DType,
    readonly numel: number,
    public category: Category,
    readonly owned: boolean, // true when this Storage owns `buffer` (returns it to the pool when collected)
    /** For a view: the owning storage, kept alive by the view so its buffer is not recycled under it. */
    readonly parent?: Storage,
  ) {}
}

const live: Record<Category, number> = { parameters: 0, gradients: 0, optimizer: 0, temporaries: 0 };
const pool = new Map<number, GPUBuffer[]>();
let pooledBytes = 0;
const POOL_LIMIT = 512 * 1024 * 1024;

// When a Storage is collected, its buffer goes back to the pool and its bytes leave the accounting.
const finalizer = new FinalizationRegistry<{ buffer: GPUBuffer; size: number; category: () => Category }>((h) => {
  live[h.category()] -= h.size;
  release(h.buffer, h.size);
});

const sizeClass = (bytes: number) => {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 1 << Math.ceil(Math.log2(b)); // small buffers: powers of two, good reuse
  return Math.ceil(b / (1 << 20)) * (1 << 20); // large ones: whole MiB, little waste
};

function release(buffer: GPUBuffer, size: number): void {
  if (pooledBytes + size > POOL_LIMIT) return buffer.destroy();
  (pool.get(size) ?? pool.set(size, []).get(size)!).push(buffer);
  pooledBytes += size;
}

export function paddedBytes(dtype: DType, n: number): number {
  return Math.max(16, Math.ceil(storageBytes(dtype, n) / 16) * 16);
}

/** New storage for n elements (contents undefined unless `zero`). */
export async function allocate(dtype: DType, n: number, category: Category, zero = false): Promise<Storage> {
  const dev = await device();
  return allocateOn(dev, dtype, n, category, zero);
}

// GPU buffers are freed when their Storage is collected, but the JS heap barely grows while GPU memory does,
// so the collector may not run for a long time (a training run reached 23 GB on lavapipe, where GPU memory is
// host memory). After this many bytes of fresh allocations, force a collection so finalizers recycle them.
const GC_EVERY_BYTES = 256 * 1024 * 1024;
let allocatedSinceGc = 0;

export function allocateOn(dev: GPUDevice, dtype: DType, n: number, category: Category, zero = false): Storage {
  const bytes = paddedBytes(dtype, n);
  const size = sizeClass(bytes);
  allocatedSinceGc += size;
  if (allocatedSinceGc > GC_EVERY_BYTES) {
    allocatedSinceGc = 0;
    Bun.gc(true);
  }
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
  }
  const s = new Storage(buffer, 0, bytes, dtype, n, category, true);
  live[category] += size;
  finalizer.register(s, { buffer, size, category: () => s.category });
  return s;
}

/** A window of an existing storage (for arenas); offset (bytes, from the parent's start) must be 256-byte aligned. */
export function view(parent: Storage, offset: number, dtype: DType, n: number, category: Category): Storage {
  if (offset % 256) throw new Error(`octet: storage views must start 256-byte aligned (got ${offset})`);
  return new Storage(parent.buffer, parent.offset + offset, paddedBytes(dtype, n), dtype, n, category, false, parent);
}

export function recategorize(s: Storage, c: Category): void {
  if (!s.owned || s.category === c) return;
  const size = sizeClass(s.bytes);
  live[s.category] -= size;
  live[c] += size;
  s.category = c;
}

/** Live bytes by category (buffers held by tensors that are still reachable). */
export function memoryStats(): Record<Category, number> & { pooled: number } {
  return { ...live, pooled: pooledBytes };
}

/** Host data converted to the bytes the GPU layout wants (bool as u32, u8 packed, f16 as raw bits). */
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
  const bytes = toBytes(s.dtype, data);
  dev.queue.writeBuffer(s.buffer, s.offset, bytes, 0, Math.min(bytes.byteLength, s.bytes));
}

export async function readBytes(s: Storage): Promise<Uint8Array> {
  const dev = await device();
  const size = Math.ceil(storageBytes(s.dtype, s.numel) / 4) * 4 || 4;
  const staging = dev.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(s.buffer, s.offset, staging, 0, size);
  dev.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint8Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

export async function download(s: Storage): Promise<TypedArray | Float16Array> {
  return fromBytes(s.dtype, await readBytes(s), s.numel);
}

export const elementBytes = (d: DType): number => DTYPES[d].bits / 8;
