// The kernel IR: what one compute kernel does, before it is WGSL.
//
// A kernel iterates over an [R, L] domain: R rows (a runtime count, so one pipeline serves every size) of a
// static length L. Its body is an expression graph in the DSL's own node type whose leaves are `load` nodes
// (a binding read at the element's position), consts, uniforms and `iota` (0: the row index r, 1: the
// column index c). A `reduce` node inside a kernel reduces its source over the row (c = 0..L-1) through
// workgroup memory: kernels with reductions are "row" kernels, one workgroup per row; the others are "map"
// kernels, one thread per element (or per vec4 of elements).
//
// Load modes, for element (r, c) with flat index e = r*L + c:
//   elem: buf[e]   row: buf[r]   col: buf[c]   scalar: buf[0]   table: buf[idx*tableWidth + c] (gather)
//
// This file also holds the types every part of codegen shares (slots, scheduled kernels, schedules, the
// device target), so lowerings import them from here and never from the scheduler that calls them.
import type { DType } from "../dsl/dtype.ts";
import type { LoadMode, Node, Shape } from "../dsl/node.ts";

/**
 * The facts about a device that change what the scheduler and the emitter produce. They are passed in
 * explicitly (never module globals set when a device is acquired) and are part of every kernel's key, so
 * kernels built for two targets never share a pipeline.
 */
export interface DeviceTarget {
  /** Storage buffers one kernel may bind (WebGPU guarantees 8; most adapters give 16 or more). */
  maxStorageBuffers: number;
  /** Bytes one storage binding may span (the runtime chunks rows to fit it). */
  maxStorageBindingBytes: number;
  /** Which matmul kernel to generate: "direct" or "broadcast" (with subgroups) on CPU adapters (see codegen/matmul.ts). */
  matmulVariant: "tiled" | "direct" | "broadcast";
  /** Whether the device has shader-f16 (kernels over f16 need it). */
  f16: boolean;
  /** Bytes of workgroup memory one kernel may declare (maxComputeWorkgroupStorageSize): attention's tiles. */
  maxWorkgroupStorageBytes: number;
  /** Invocations one workgroup may have (maxComputeInvocationsPerWorkgroup). */
  maxWorkgroupInvocations: number;
  /**
   * Fewest invocations one subgroup has, 0 when the device has no subgroup ops: a row kernel whose workgroup
   * fits in one subgroup reduces max/min with subgroupMax/subgroupMin, without workgroup memory or barriers.
   */
  subgroupMinSize: number;
  /**
   * Most threads a row kernel gives one row (a power of 2; more only when a row needs them to stay within
   * MAX_ROW_STEPS vectors per thread). GPUs: 256. CPU adapters: one SIMD group of lanes (lavapipe runs 8
   * invocations per AVX2 vector and switches coroutines at every barrier), so a 256-element 8-bit block is 8
   * threads of 8 vec4s and its absmax a subgroupMax: the 8-bit Adam step took 0.57-0.67x the time of 64 threads
   * of one vec4 (bench/optim-levers.ts).
   */
  rowThreads: number;
}

/**
 * The target used when no device is at hand (the kernels CLI, schedule() in unit tests): a typical desktop
 * GPU, which is also what lavapipe reports apart from its CPU matmul variant: 16 storage buffers per stage,
 * 128 MiB bindings, the tiled matmul, shader-f16, and WebGPU's guaranteed 16 KiB of workgroup memory and 256
 * invocations per workgroup (lavapipe gives 32 KiB); no subgroup ops (WebGPU's optional `subgroups`) and 256 threads per row.
 */
export const DEFAULT_TARGET: DeviceTarget = Object.freeze({
  maxStorageBuffers: 16,
  maxStorageBindingBytes: 128 * 1024 * 1024,
  matmulVariant: "tiled",
  f16: true,
  maxWorkgroupStorageBytes: 16384,
  maxWorkgroupInvocations: 256,
  subgroupMinSize: 0,
  rowThreads: 256,
});

/** The target as a short stable string (part of kernel keys and program-cache keys). */
export function targetKey(t: DeviceTarget): string {
  return `sb${t.maxStorageBuffers}:bind${t.maxStorageBindingBytes}:mm-${t.matmulVariant}:${t.f16 ? "f16" : "nof16"}:wg${t.maxWorkgroupStorageBytes}x${t.maxWorkgroupInvocations}:sg${t.subgroupMinSize}:rt${t.rowThreads}`;
}

/**
 * A 64-bit non-cryptographic hash of a string as 16 hex digits: two 32-bit multiply-xorshift lanes
 * (cyrb53's mixing, with the full second lane kept). Pure JS, so keys are the same under Bun, Deno and
 * browsers.
 */
export function hashString(s: string): string {
  let h1 = 0xdeadbeef ^ s.length;
  let h2 = 0x41c6ce57 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

/** A buffer slot of a scheduled program. */
export interface SlotInfo {
  kind: "input" | "temp" | "output";
  name: string;
  dtype: DType;
  shape: Shape;
}

export interface ScheduledKernel {
  kernel: Kernel;
  /** Rows of the domain for this program's shapes (the runtime part, not in the kernel key). */
  rows: number;
  /** Uniform values fixed by this program's shapes (matmul sizes), merged into the run's uniforms. */
  consts?: Record<string, number>;
  /** A fixed dispatch grid (matmul); others are derived from rows. */
  grid?: [number, number, number];
  /** Where user code built what this kernel computes (a node's site), for error messages. */
  site?: string;
}

/** One value a program computes. */
export interface Target {
  node: Node;
  name: string;
  /** Write into this input slot (an in-place update) instead of a new output buffer. */
  into?: number;
}

export interface Schedule {
  slots: SlotInfo[];
  kernels: ScheduledKernel[];
  /** Slot holding each target's result, in target order. */
  results: number[];
  uniforms: string[];
  /** The device facts this schedule was built for. */
  target: DeviceTarget;
}

export interface Binding {
  /** Name in the WGSL source: the DSL input or output name. */
  name: string;
  /** The program's buffer slot bound here. */
  slot: number;
  dtype: DType;
  mode: LoadMode;
  /** For table (gather) bindings: elements per table row (1 for a 1-D table). */
  tableWidth?: number;
  read: boolean;
  write: boolean;
}

export interface KernelOutput {
  binding: number;
  node: Node;
}

export interface Kernel {
  name: string;
  /** "map" and "row" kernels are codegen/wgsl.ts's own; other kinds belong to a lowering (matmul). */
  kind: "map" | "row" | (string & {});
  L: number;
  vec: 1 | 4;
  bindings: Binding[];
  uniforms: { name: string; dtype: DType }[];
  outputs: KernelOutput[];
  /** The traced graph this kernel came from (printGraph text), for the WGSL header and inspection. */
  source: string;
  /**
   * The binding of a gather table larger than one storage binding, bound one chunk of its rows per dispatch
   * (runtime/execute.ts): the kernel reads table row `idx - table_first` and stores only the elements whose
   * index lies in [table_first, table_last] (two more uniforms), so each element is written by one chunk.
   */
  tableChunk?: number;
  /** Matmul kernels only (codegen/matmul.ts): which operands are transposed. */
  matmul?: { ta: boolean; tb: boolean; variant: "tiled" | "direct" | "broadcast" };
  /** Column-reduction kernels only (codegen/lowerings/colreduce.ts): the reduction. */
  colreduce?: "sum" | "max" | "min";
  /** Attention kernels only (codegen/lowerings/attention.ts): which pass, head size and tile geometry. */
  attention?: AttentionGeometry;
  /**
   * The device this kernel was lowered for: the emitter reads its facts from here. Always set on a scheduled
   * kernel (a kernel-level lowering's adapter sets it on what its kernel builder returns).
   */
  target?: DeviceTarget;
  /** Hash of everything above except `source` (the target included): the pipeline-cache key. */
  key: string;
}

/** What the runtime must respect when it cuts a kernel into dispatches (the device's limits, maybe capped). */
export interface BindingLimits {
  /** Largest storage binding, bytes. */
  maxBinding: number;
  /** Storage binding offsets must be multiples of this (minStorageBufferOffsetAlignment). */
  offsetAlign: number;
  /** Workgroups per grid dimension. */
  maxWorkgroups: number;
}

/**
 * One dispatch of a kernel kind that plans its own dispatches (KernelKind.chunks): its grid, the uniforms
 * that differ from the scheduled kernel's consts, and the byte window of each binding, relative to the start
 * of the binding's storage (offsets multiples of the alignment; the runtime checks every one).
 */
export interface KernelDispatch {
  grid: [number, number, number];
  consts: Record<string, number>;
  windows: { offset: number; size: number }[];
}

/** A kernel binding that cannot be cut to fit the device: names the kernel, the binding and the sizes. */
export class BindingLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BindingLimitError";
  }
}

/**
 * One fused-attention kernel's shape: `pass` (forward; the backward's dQ pass, which also writes the rows'
 * statistics; its dK/dV pass), head size `d` read as `vec`-wide vectors, `wg` threads per workgroup, each
 * owning `rows` query rows (key rows in the dK/dV pass), and `tile`: rows of the other side staged per step.
 * `subgroup`: the forward for a workgroup that is one subgroup, which passes key rows between lanes with
 * subgroupBroadcast instead of staging them in workgroup memory.
 */
export interface AttentionGeometry {
  pass: "forward" | "dq" | "dkv";
  d: number;
  vec: 1 | 4;
  wg: number;
  rows: number;
  tile: number;
  subgroup: boolean;
}

/**
 * The storage offset alignment assumed when no device says otherwise (WebGPU's minStorageBufferOffsetAlignment
 * is at most 256): dispatch chunks of rows start where every binding's window is aligned to it.
 */
export const CHUNK_ROW_ALIGN = 256;
/** Threads per workgroup of map kernels. */
export const MAP_WORKGROUP = 256;
/** Row kernels keep each thread's share of a row in registers: at most this many vectors per thread. */
export const MAX_ROW_STEPS = 16;
export const MAX_ROW_WORKGROUP = 256;

/**
 * Workgroup size and per-thread steps of a row kernel over rows of L elements at vector width vec: the fewest
 * threads (a power of 2) that cover the row, at most `rowThreads` (the target's) unless the row needs more
 * to keep each thread's share within MAX_ROW_STEPS vectors.
 */
export function rowGeometry(L: number, vec: number, rowThreads = MAX_ROW_WORKGROUP): { wg: number; steps: number } {
  const lanes = Math.ceil(L / vec);
  let wg = 1;
  while (wg < lanes && wg < MAX_ROW_WORKGROUP && (wg < rowThreads || Math.ceil(lanes / wg) > MAX_ROW_STEPS)) wg *= 2;
  return { wg, steps: Math.ceil(lanes / wg) };
}

/** The longest row one row kernel reduces (vec4 rows when L is a multiple of 4); longer ones are split. */
export function maxReduceRow(L: number): number {
  return MAX_ROW_STEPS * MAX_ROW_WORKGROUP * (L % 4 === 0 ? 4 : 1);
}
