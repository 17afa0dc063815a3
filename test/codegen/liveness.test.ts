// Where a row kernel stores its outputs and what it keeps across phases (codegen/passes/liveness.ts): the
// 8-bit steps keep only their new states across the block max (AdamW8bit: m and v), store p in phase 0, and
// an in-place output whose slot a later phase still reads waits for that phase. Results against plain TS.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { nodeName } from "../../src/dsl/names.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device } from "../../src/runtime/device.ts";
import { DEFAULT_TARGET, type DeviceTarget, type Kernel } from "../../src/codegen/kernel.ts";
import { planKernel } from "../../src/codegen/passes/liveness.ts";
import { simplifyKernel } from "../../src/codegen/passes/simplify.ts";
import { FORMATS } from "../../src/optim/formats.ts";
import { formatTables, updateScalarNames } from "../../src/optim/buckets.ts";
import { traceUpdate } from "../../src/optim/trace.ts";
import * as optim from "../../src/optim/index.ts";
import type { OptimizerClass } from "../../src/optim/classes.ts";

const LAVAPIPE_LIKE: DeviceTarget = { ...DEFAULT_TARGET, rowThreads: 8, subgroupMinSize: 8 };

function stepKernel(cls: OptimizerClass, target: DeviceTarget): Kernel {
  const { def, defaults } = cls;
  const format = FORMATS.dynamic8;
  const fn = traceUpdate(def!, format, 64, 1, updateScalarNames(def!, defaults!), Object.keys(formatTables(def!, format)), true, target);
  const kernels = fn.schedule.kernels;
  expect(kernels.length).toBe(1);
  return simplifyKernel(kernels[0].kernel);
}

/** What a plan keeps (DSL names), and each output binding's store phase. */
function placement(k: Kernel) {
  const plan = planKernel(k);
  return {
    kept: plan.kept.map((n) => nodeName(n) ?? n.op),
    stores: Object.fromEntries(k.outputs.map((o, i) => [k.bindings[o.binding].name, plan.storePhase[i]])),
  };
}

describe("8-bit steps keep only their new states across the block max", () => {
  for (const [name, target] of [["DEFAULT_TARGET", DEFAULT_TARGET], ["8 threads per block, subgroups", LAVAPIPE_LIKE]] as const)
    test(name, () => {
      const adamw = placement(stepKernel(optim.AdamW, target));
      expect(adamw.kept).toEqual(["m_new", "v_new"]);
      // p is final before the reduction: stored in phase 0; the codes after the block max, the absmax last.
      expect(adamw.stores).toEqual({ p: 0, m_codes: 1, m_absmax: 1, v_codes: 1, v_absmax: 1 });
      expect(placement(stepKernel(optim.Lion, target)).kept).toEqual(["m_new"]);
      expect(placement(stepKernel(optim.SGD, target)).kept.length).toBe(1);
    });
});

describe("in-place stores wait for the last phase that loads their slot", async () => {
  await device();
  const R = 6, L = 256;
  const fl = Math.fround;
  const x0 = Float32Array.from({ length: R * L }, (_, i) => fl(Math.sin(i * 0.37) * (1 + (i % 5))));
  const rowMax = (a: Float32Array, r: number) => Math.max(...a.subarray(r * L, (r + 1) * L));

  test("x <- 2x while y = x - max(x) reloads x after the max: x is stored in phase 1", async () => {
    const fn = jit("inplace_reload", { x: { shape: [R, L] } }, ({ x }: { x: Tensor }) => ({ x: x.mul(2), y: x.sub(x.max(-1, true).expand([R, L])) }), { inPlace: { x: "x" } });
    const k = fn.schedule.kernels.map((s) => simplifyKernel(s.kernel)).find((s) => s.kind === "row")!;
    expect(placement(k).stores.x).toBe(1);
    const xt = await tensor(x0.slice(), [R, L]);
    const { y } = await fn.run({ x: xt });
    const [gx, gy] = [await xt.toArray(), await y.toArray()];
    for (let r = 0; r < R; r++)
      for (let c = 0; c < L; c++) {
        const i = r * L + c;
        expect([gx[i], gy[i]]).toEqual([fl(2 * x0[i]), fl(x0[i] - rowMax(x0, r))]);
      }
  });

  test("x <- 2x while y = 3x - max(3x) keeps 3x: x is stored in phase 0", async () => {
    const fn = jit("inplace_early", { x: { shape: [R, L] } }, ({ x }: { x: Tensor }) => {
      const t = x.mul(3);
      return { x: x.mul(2), y: t.sub(t.max(-1, true).expand([R, L])) };
    }, { inPlace: { x: "x" } });
    const k = fn.schedule.kernels.map((s) => simplifyKernel(s.kernel)).find((s) => s.kind === "row")!;
    expect(placement(k).stores.x).toBe(0);
    const xt = await tensor(x0.slice(), [R, L]);
    const { y } = await fn.run({ x: xt });
    const [gx, gy] = [await xt.toArray(), await y.toArray()];
    const t = x0.map((v) => fl(3 * v));
    for (let r = 0; r < R; r++)
      for (let c = 0; c < L; c++) {
        const i = r * L + c;
        expect([gx[i], gy[i]]).toEqual([fl(2 * x0[i]), fl(t[i] - rowMax(t, r))]);
      }
  });
});
