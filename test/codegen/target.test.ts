// The device target is an argument of schedule() and part of every kernel key: kernels for two targets never
// share a pipeline, and a smaller storage-buffer budget splits a kernel that a larger one keeps whole.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { DEFAULT_TARGET, hashString, type DeviceTarget } from "../../src/codegen/kernel.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";

const at = (over: Partial<DeviceTarget>): DeviceTarget => ({ ...DEFAULT_TARGET, ...over });

describe("device target", () => {
  test("is part of the kernel key", () => {
    const x = Tensor.input(0, "x", [64]);
    const y = x.mul(2).add(1);
    const key = (t: DeviceTarget) => schedule([{ node: y.node, name: "y" }], "k", [], t).kernels[0].kernel.key;
    expect(key(DEFAULT_TARGET)).toBe(key(at({})));
    const keys = [DEFAULT_TARGET, at({ maxStorageBuffers: 8 }), at({ matmulVariant: "direct" }), at({ f16: false }), at({ maxStorageBindingBytes: 1 << 20 })].map(key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("picks the matmul variant", () => {
    const a = Tensor.input(0, "a", [5, 7]);
    const b = Tensor.input(1, "b", [7, 3]);
    for (const v of ["tiled", "direct"] as const) {
      const s = schedule([{ node: a.matmul(b).node, name: "c" }], "mm", [], at({ matmulVariant: v }));
      expect(emitWgsl(s.kernels[0].kernel)).toContain(`matmul kernel (${v})`);
    }
  });

  test("a smaller storage-buffer budget splits the kernel; the results do not change", () => {
    const xs = Array.from({ length: 10 }, (_, i) => Tensor.input(i, `x${i}`, [8]));
    const y = xs.reduce((acc, x, i) => acc.add(x.mul(i + 1)));
    const whole = schedule([{ node: y.node, name: "y" }], "wide", [], at({ maxStorageBuffers: 16 }));
    const split = schedule([{ node: y.node, name: "y" }], "wide", [], at({ maxStorageBuffers: 8 }));
    expect(whole.kernels).toHaveLength(1);
    expect(split.kernels.length).toBeGreaterThan(1);
    for (const k of split.kernels) expect(k.kernel.bindings.length).toBeLessThanOrEqual(8);
    const inputs = xs.map((_, i) => Array.from({ length: 8 }, (_, j) => i * 10 + j));
    const want = Array.from({ length: 8 }, (_, j) => inputs.reduce((a, x, i) => a + x[j] * (i + 1), 0));
    for (const s of [whole, split]) expect(Array.from(interpretSchedule(s, inputs, {})[s.results[0]])).toEqual(want);
  });

  test("f16 kernels are refused for a target without shader-f16, naming the kernel", () => {
    const x = Tensor.input(0, "x", [8], "f16");
    const s = schedule([{ node: x.mul(2).node, name: "y" }], "half", [], at({ f16: false }));
    expect(() => emitWgsl(s.kernels[0].kernel)).toThrow(/half computes in f16, but the target device has no shader-f16/);
  });

  test("hashString is a stable 64-bit hex digest", () => {
    expect(hashString("abc")).toMatch(/^[0-9a-f]{16}$/);
    expect(hashString("abc")).toBe(hashString("abc"));
    expect(hashString("abc")).not.toBe(hashString("abd"));
    expect(hashString("")).not.toBe(hashString(" "));
  });
});
