// Hand-written WGSL baselines and the minimal pipeline / bind-group code to run them: no octet codegen,
// only the shared device. Every kernel here is a "stream" kernel: one thread per vec4 of f32, workgroup
// 256, a 2-D grid when the workgroup count passes maxComputeWorkgroupsPerDimension (65535), and the
// dispatch cut into chunks so that no binding exceeds maxStorageBufferBindingSize.
//
// Kernel WGSL convention: @binding(0) is a uniform `Params` whose first field is `count: u32` (vec4s in
// this chunk) followed by the kernel's f32 scalars in the order given; @binding(1..) are the buffers.

import { storageBindingLimit } from "../src/runtime/device.ts";

const WORKGROUP = 256;
const PARAM_STRIDE = 256; // minUniformBufferOffsetAlignment

export type Access = "read" | "read_write";

export interface StreamKernelSpec {
  name: string;
  wgsl: string;
  buffers: Access[];
  scalars: string[];
  /** vec4s each thread handles (default 1); the grid shrinks by this factor. */
  vec4PerThread?: number;
}

/** The row-index prologue every stream kernel uses: `i` is this thread's vec4, bounds-checked. */
export const STREAM_PROLOGUE = `
  let i = (wid.x + wid.y * nwg.x) * ${WORKGROUP}u + lid;   // 2-D grid flattened: one vec4 per thread
  if (i >= params.count) { return; }`;
export const STREAM_ENTRY = `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32)`;

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;
const idOf = (b: GPUBuffer) => ids.get(b) ?? (ids.set(b, nextId), nextId++);

export class StreamKernel {
  private pipeline: GPUComputePipeline;
  private layout: GPUBindGroupLayout;
  private params?: GPUBuffer;
  private bindGroups = new Map<string, GPUBindGroup>();

  private constructor(
    private dev: GPUDevice,
    readonly spec: StreamKernelSpec,
    pipeline: GPUComputePipeline,
    layout: GPUBindGroupLayout,
    /** Largest binding in bytes. */
    readonly maxBinding: number,
  ) {
    this.pipeline = pipeline;
    this.layout = layout;
  }

  /** `maxBinding` defaults to octet's binding limit, so OCTET_MAX_BINDING chunks both sides alike. */
  static async create(dev: GPUDevice, spec: StreamKernelSpec, maxBinding = storageBindingLimit()): Promise<StreamKernel> {
    dev.pushErrorScope("validation");
    const module = dev.createShaderModule({ code: spec.wgsl, label: spec.name });
    const errs = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
    if (errs.length) {
      await dev.popErrorScope();
      throw new Error(`bench: ${spec.name} WGSL: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`);
    }
    const layout = dev.createBindGroupLayout({
      label: spec.name,
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } },
        ...spec.buffers.map((a, j) => ({
          binding: j + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: (a === "read" ? "read-only-storage" : "storage") as GPUBufferBindingType },
        })),
      ],
    });
    const pipeline = dev.createComputePipeline({
      label: spec.name,
      layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
    const err = await dev.popErrorScope();
    if (err) throw new Error(`bench: ${spec.name}: ${err.message}`);
    return new StreamKernel(dev, spec, pipeline, layout, maxBinding);
  }

  /** Elements per chunk: each f32 binding within maxBinding, chunk starts 256-byte aligned. */
  chunkElements(): number {
    return Math.floor(this.maxBinding / 4 / 1024) * 1024;
  }

  dispatches(n: number): number {
    return Math.max(1, Math.ceil(n / this.chunkElements()));
  }

  /**
   * Encodes one pass over the first n f32 elements of every buffer (n a multiple of 4) and writes the
   * chunks' params. One encode per submit: a second encode before submitting overwrites the params.
   */
  encode(enc: GPUCommandEncoder, buffers: GPUBuffer[], n: number, scalars: number[] = []): void {
    if (buffers.length !== this.spec.buffers.length) throw new Error(`bench: ${this.spec.name} takes ${this.spec.buffers.length} buffers`);
    if (scalars.length !== this.spec.scalars.length) throw new Error(`bench: ${this.spec.name} takes scalars ${this.spec.scalars.join(", ")}`);
    if (n % 4) throw new Error(`bench: ${this.spec.name}: n=${n} is not a multiple of 4`);
    const chunk = this.chunkElements();
    const chunks = this.dispatches(n);
    if (!this.params || this.params.size < chunks * PARAM_STRIDE) {
      this.params?.destroy();
      this.bindGroups.clear();
      this.params = this.dev.createBuffer({ size: chunks * PARAM_STRIDE, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    }
    const host = new ArrayBuffer(chunks * PARAM_STRIDE);
    const maxDim = this.dev.limits.maxComputeWorkgroupsPerDimension;
    for (let c = 0; c < chunks; c++) {
      const start = c * chunk;
      const len = Math.min(chunk, n - start);
      const count = len / 4;
      const u = new Uint32Array(host, c * PARAM_STRIDE, 1 + scalars.length);
      u[0] = count;
      new Float32Array(host, c * PARAM_STRIDE + 4, scalars.length).set(scalars);
      const pass = enc.beginComputePass({ label: this.spec.name });
      pass.setPipeline(this.pipeline);
      pass.setBindGroup(0, this.bindGroup(buffers, c, start * 4, len * 4));
      const groups = Math.ceil(count / (WORKGROUP * (this.spec.vec4PerThread ?? 1)));
      const x = Math.min(groups, maxDim);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x));
      pass.end();
    }
    this.dev.queue.writeBuffer(this.params, 0, host);
  }

  /** Encode + submit (the caller fences). */
  run(buffers: GPUBuffer[], n: number, scalars: number[] = []): void {
    const enc = this.dev.createCommandEncoder({ label: this.spec.name });
    this.encode(enc, buffers, n, scalars);
    this.dev.queue.submit([enc.finish()]);
  }

  private bindGroup(buffers: GPUBuffer[], c: number, offset: number, size: number): GPUBindGroup {
    const key = `${c}:${offset}:${size}:${buffers.map(idOf).join(",")}`;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      bg = this.dev.createBindGroup({
        label: this.spec.name,
        layout: this.layout,
        entries: [
          { binding: 0, resource: { buffer: this.params!, offset: c * PARAM_STRIDE, size: PARAM_STRIDE } },
          ...buffers.map((b, j) => ({ binding: j + 1, resource: { buffer: b, offset, size } })),
        ],
      });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }
}

// ------------------------------------------------------------------------------------------------------
// Buffers

export function f32Buffer(dev: GPUDevice, n: number, label?: string): GPUBuffer {
  return dev.createBuffer({ label, size: Math.ceil((n * 4) / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
}

/** Fills the first n floats of `buf` with f(i), uploading a window of at most 4 Mi floats at a time. */
export function fillF32(dev: GPUDevice, buf: GPUBuffer, n: number, f: (i: number) => number, offsetElements = 0): void {
  const W = 1 << 22;
  const host = new Float32Array(Math.min(W, n));
  for (let s = 0; s < n; s += W) {
    const len = Math.min(W, n - s);
    for (let i = 0; i < len; i++) host[i] = f(s + i);
    dev.queue.writeBuffer(buf, (offsetElements + s) * 4, host, 0, len);
  }
}

/** Reads back floats [start, start + len) of `buf`. */
export async function readF32(dev: GPUDevice, buf: GPUBuffer, start: number, len: number): Promise<Float32Array> {
  const staging = dev.createBuffer({ size: len * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(buf, start * 4, staging, 0, len * 4);
  dev.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

// ------------------------------------------------------------------------------------------------------
// The elementwise baselines

/** The Params struct and vec4<f32> buffer declarations of a stream kernel. */
export const wgslHeader = (bindings: [Access, string][], scalars: string[]) => `struct Params {
  count: u32,${scalars.map((s) => `\n  ${s}: f32,`).join("")}
}
@group(0) @binding(0) var<uniform> params: Params;
${bindings.map(([a, name], j) => `@group(0) @binding(${j + 1}) var<storage, ${a}> ${name}: array<vec4<f32>>;`).join("\n")}
`;

/** A two-buffer (x read, y read_write) stream kernel whose body `op` uses `i`, the vec4 index. */
function xyKernel(name: string, op: string, scalars: string[], perThread = 1): StreamKernelSpec {
  // perThread > 1: each thread handles vec4s i, i + 256, ... of its workgroup's block, so neighbouring
  // threads still touch neighbouring vec4s; lavapipe pays a fixed cost per invocation, which this spreads.
  const body =
    perThread === 1
      ? `${STREAM_PROLOGUE}\n  ${op}`
      : `
  let base = (wid.x + wid.y * nwg.x) * ${WORKGROUP * perThread}u + lid;
  for (var k = 0u; k < ${perThread}u; k++) {
    let i = base + k * ${WORKGROUP}u;
    if (i < params.count) { ${op} }
  }`;
  return {
    name,
    buffers: ["read", "read_write"],
    scalars,
    vec4PerThread: perThread,
    wgsl: `${wgslHeader([["read", "x"], ["read_write", "y"]], scalars)}
${STREAM_ENTRY} {${body}
}
`,
  };
}

/** y = x, one vec4 per thread. */
export const COPY_VEC4 = xyKernel("hand_copy_vec4", "y[i] = x[i];", []);
/** y = a * x + y in place, a a uniform, one vec4 per thread. */
export const AXPY_VEC4 = xyKernel("hand_axpy_vec4", "y[i] = params.a * x[i] + y[i];", ["a"]);
/** The same with 4 vec4s per thread: not the baseline the target is set against, a measure of headroom. */
export const COPY_VEC4_X4 = xyKernel("hand_copy_vec4_x4", "y[i] = x[i];", [], 4);
export const AXPY_VEC4_X4 = xyKernel("hand_axpy_vec4_x4", "y[i] = params.a * x[i] + y[i];", ["a"], 4);
