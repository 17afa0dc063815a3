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
import type { DType } from "../dsl/dtype.ts";
import type { LoadMode, Node } from "../dsl/node.ts";

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
  kind: "map" | "row" | "matmul";
  L: number;
  vec: 1 | 4;
  bindings: Binding[];
  uniforms: { name: string; dtype: DType }[];
  outputs: KernelOutput[];
  /** The traced graph this kernel came from (printGraph text), for the WGSL header and inspection. */
  source: string;
  /** Matmul kernels only (codegen/matmul.ts): which operands are transposed. */
  matmul?: { ta: boolean; tb: boolean; variant: "tiled" | "direct" };
  /** Hash of everything above except `source`: the pipeline-cache key. */
  key: string;
}

/** Rows handled by one dispatch chunk are kept a multiple of this, so every binding offset stays aligned. */
export const CHUNK_ROW_ALIGN = 256;
/** Threads per workgroup of map kernels. */
export const MAP_WORKGROUP = 256;
/** Row kernels keep each thread's share of a row in registers: at most this many vectors per thread. */
export const MAX_ROW_STEPS = 16;
export const MAX_ROW_WORKGROUP = 256;

/** Workgroup size and per-thread steps of a row kernel over rows of L elements at vector width vec. */
export function rowGeometry(L: number, vec: number): { wg: number; steps: number } {
  const lanes = Math.ceil(L / vec);
  let wg = 1;
  while (wg < lanes && wg < MAX_ROW_WORKGROUP) wg *= 2;
  return { wg, steps: Math.ceil(lanes / wg) };
}
