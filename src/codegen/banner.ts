// The comment banner every generated kernel starts with, and the uniform block most kernels declare. One
// place, so every kernel kind (map/row, matmul, colreduce, scatter, sort, logsumexp, attention) tells a reader
// the same things in the same order: its name, its pipeline key, what it computes, each binding, and the DSL
// graph it came from.
import type { Kernel } from "./kernel.ts";

/**
 * `what`: lines describing the kernel; `params`: the uniform's fields as described (continuation lines are
 * indented under it); `bindings[i]`: binding i+1, e.g. "x: f32 read ([R, C])".
 */
export function kernelBanner(k: Kernel, what: string[], params: string[], bindings: string[]): string {
  return [
    `// octet kernel: ${k.name}`,
    `// key: ${k.key}`,
    ...what.map((l) => `// ${l}`),
    `// bindings:`,
    `//   @binding(0) params: uniform (${params[0]}`,
    ...params.slice(1).map((l) => `//     ${l}`),
    ...bindings.map((b, i) => `//   @binding(${i + 1}) ${b}`),
    `// source graph:`,
    ...k.source.split("\n").map((l) => `//   ${l}`),
  ].join("\n");
}

/** The uniform block at binding 0: the runtime's four dispatch fields (rows, row_base, count, zero), then `extra`. */
export const DISPATCH_FIELDS = ["rows", "row_base", "count", "zero"] as const;
export function paramsStruct(extra: string[]): string {
  return ["struct Params {", ...[...DISPATCH_FIELDS, ...extra].map((n) => `  ${n}: u32,`), "}", "@group(0) @binding(0) var<uniform> params: Params;"].join("\n");
}
