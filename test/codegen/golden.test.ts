// Golden WGSL: the generated source of the kernels that matter, compared with files under test/codegen/golden/,
// so a change to codegen shows its diff on them in review.
//
// A change that alters one of these kernels on purpose regenerates the files:
//     OCTET_UPDATE_GOLDEN=1 npx bun test test/codegen/golden.test.ts
// then `git diff test/codegen/golden/` shows what changed; commit the files with the change and say so.
//
// The WGSL is generated for DEFAULT_TARGET without a device (as `npm run kernels` does), so the files are the
// same on every machine: nothing in them depends on a path, a time or the order tests run in.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

const DIR = join(import.meta.dir, "golden");
const UPDATE = process.env.OCTET_UPDATE_GOLDEN === "1";
const target = DEFAULT_TARGET;

/** One optimizer's fused 8-bit step for one tensor of 64 blocks (scalars as uniforms, as a single-tensor step runs). */
function step8bit(cls: OptimizerClass): string[] {
  const { def, defaults } = cls;
  const format = FORMATS.dynamic8;
  return traceUpdate(def!, format, 64, 4, updateScalarNames(def!, defaults!), Object.keys(formatTables(def!, format)), true, target).wgsl();
}

const KERNELS: Record<string, () => string[]> = {
  adamw8bit_step: () => step8bit(optim.AdamW),
  lion8bit_step: () => step8bit(optim.Lion),
  ademamix8bit_step: () => step8bit(optim.AdEMAMix), // two signed states: the encoder as one function, called twice
  layernorm: () => jit("layernorm", { x: { shape: [16, 768] }, weight: { shape: [768] }, bias: { shape: [768] } }, ({ x, weight, bias }) => ({ y: layerNorm(x, weight, bias) }), { target }).wgsl(),
  matmul: () => jit("matmul", { a: { shape: [64, 96] }, b: { shape: [96, 128] } }, ({ a, b }) => ({ c: a.matmul(b) }), { target }).wgsl(),
  cross_entropy: () =>
    jit("cross_entropy", { logits: { shape: [32, 1000] }, targets: { shape: [32], dtype: "i32" } }, ({ logits, targets }) => ({ loss: crossEntropy(constant(logits), targets).value }), { target }).wgsl(),
  attention_forward: () => jit("attention_forward", { qkv: { shape: [2 * 64, 3 * 128] } }, ({ qkv }) => ({ o: attention(qkv, 64, 4) }), { target }).wgsl(),
};

describe("golden WGSL", () => {
  for (const [name, make] of Object.entries(KERNELS))
    test(name, () => {
      const wgsl = make().join("\n");
      const file = join(DIR, `${name}.wgsl`);
      if (UPDATE) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, wgsl);
      }
      if (!existsSync(file)) throw new Error(`no golden file ${file}: run OCTET_UPDATE_GOLDEN=1 npx bun test test/codegen/golden.test.ts`);
      // Compare line by line first so a failure names the first line that differs.
      const want = readFileSync(file, "utf8");
      const a = wgsl.split("\n");
      const b = want.split("\n");
      const at = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => i).find((i) => a[i] !== b[i]);
      if (at !== undefined) expect({ line: at + 1, got: a[at] }).toEqual({ line: at + 1, got: b[at] });
      expect(wgsl).toBe(want);
    });

  test("the WGSL is the same when generated twice (no counters or ids leak between programs)", () => {
    expect(KERNELS.adamw8bit_step().join("\n")).toBe(KERNELS.adamw8bit_step().join("\n"));
    expect(KERNELS.layernorm().join("\n")).toBe(KERNELS.layernorm().join("\n"));
  });
});
