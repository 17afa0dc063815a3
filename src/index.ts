// octet's public surface.
import "./runtime/realize.ts"; // installs the lazy-tensor runtime into the DSL
export { Tensor, DslError } from "./dsl/tensor.ts";
export type { DType } from "./dsl/dtype.ts";
export { printGraph } from "./dsl/print.ts";
export { acquireDevice as device, deviceInfo } from "./runtime/device.ts";
export { GpuError, DeviceLostError } from "./runtime/errors.ts";
export { tensor, tensorNow, zeros, realize } from "./runtime/realize.ts";
export { jit, JitFunction } from "./runtime/jit.ts";
export { compiledKernels, compileStats } from "./runtime/pipelines.ts";
export { memoryStats, resetPeakMemoryStats, type MemoryStats } from "./runtime/storage.ts";
export { tidy, keep, dispose } from "./runtime/scope.ts";
export { KNOBS } from "./runtime/env.ts";
export * as optim from "./optim/index.ts";
export type { SaveOptions, LoadOptions } from "./io/save.ts";
import type { SaveOptions, LoadOptions } from "./io/save.ts";
// Imported when called: the file formats use node:fs (src/io), which the rest of the library never touches, so
// importing octet stays runtime-neutral (Deno, browsers).
/** Writes `model`'s weights as safetensors (and, to a directory, `optimizer`'s state beside them). See io/save.ts. */
export const save = async (path: string, opts: SaveOptions): Promise<void> => (await import("./io/save.ts")).save(path, opts);
/** Reads what octet.save wrote into `model` (and `optimizer`); a refused load changes neither. */
export const load = async (path: string, opts: LoadOptions): Promise<void> => (await import("./io/save.ts")).load(path, opts);
export * as nn from "./nn/index.ts";
