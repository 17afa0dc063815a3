// The kernels test/codegen/golden.test.ts snapshots, generated for DEFAULT_TARGET without a device. Run as a
// script it prints them as JSON ({ name: wgsl }): the test generates them in a fresh process, because node names
// are first-come (dsl/names.ts) and hash-consed nodes are shared by every program in a process, so a kernel
// traced after other tests may show names those tests gave the same nodes.
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { attention } from "../../src/dsl/attention.ts";
import { constant } from "../../src/autograd/var.ts";
import { crossEntropy } from "../../src/nn/functional.ts";
import { layerNorm } from "../../src/ops/layernorm.ts";
import { FORMATS } from "../../src/optim/formats.ts";
import { formatTables, updateScalarNames } from "../../src/optim/buckets.ts";
import { traceUpdate } from "../../src/optim/trace.ts";
import * as optim from "../../src/optim/index.ts";
import type { OptimizerClass } from "../../src/optim/classes.ts";
import { jit } from "../../src/runtime/jit.ts";

const target = DEFAULT_TARGET;

/** One optimizer's fused 8-bit step for one tensor of 64 blocks (scalars as uniforms, as a single-tensor step runs). */
function step8bit(cls: OptimizerClass): string[] {
  const { def, defaults } = cls;
  const format = FORMATS.dynamic8;
  return traceUpdate(def!, format, 64, 4, updateScalarNames(def!, defaults!), Object.keys(formatTables(def!, format)), true, target).wgsl();
}

export const KERNELS: Record<string, () => string[]> = {
  adamw8bit_step: () => step8bit(optim.AdamW),
  lion8bit_step: () => step8bit(optim.Lion),
  ademamix8bit_step: () => step8bit(optim.AdEMAMix), // two signed states: the encoder as one function, called twice
  layernorm: () => jit("layernorm", { x: { shape: [16, 768] }, weight: { shape: [768] }, bias: { shape: [768] } }, ({ x, weight, bias }) => ({ y: layerNorm(x, weight, bias) }), { target }).wgsl(),
  matmul: () => jit("matmul", { a: { shape: [64, 96] }, b: { shape: [96, 128] } }, ({ a, b }) => ({ c: a.matmul(b) }), { target }).wgsl(),
  cross_entropy: () =>
    jit("cross_entropy", { logits: { shape: [32, 1000] }, targets: { shape: [32], dtype: "i32" } }, ({ logits, targets }) => ({ loss: crossEntropy(constant(logits), targets).value }), { target }).wgsl(),
  attention_forward: () => jit("attention_forward", { qkv: { shape: [2 * 64, 3 * 128] } }, ({ qkv }) => ({ o: attention(qkv, 64, 4) }), { target }).wgsl(),
};

if (import.meta.main) console.log(JSON.stringify(Object.fromEntries(Object.entries(KERNELS).map(([name, make]) => [name, make().join("\n")]))));
