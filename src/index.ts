// octet's public surface.
import "./runtime/realize.ts"; // installs the lazy-tensor runtime into the DSL
export { Tensor, DslError } from "./dsl/tensor.ts";
export type { DType } from "./dsl/dtype.ts";
export { printGraph } from "./dsl/print.ts";
export { acquireDevice as device, deviceInfo } from "./runtime/device.ts";
export { GpuError, DeviceLostError } from "./runtime/errors.ts";
export { tensor, zeros, realize } from "./runtime/realize.ts";
export { jit, JitFunction } from "./runtime/jit.ts";
export { compiledKernels, compileStats } from "./runtime/pipelines.ts";
export { memoryStats, resetPeakMemoryStats, type MemoryStats } from "./runtime/storage.ts";
export { tidy, keep, dispose } from "./runtime/scope.ts";
export { KNOBS } from "./runtime/env.ts";
export * as optim from "./optim/index.ts";
export * as nn from "./nn/index.ts";
