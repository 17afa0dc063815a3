// Literals baked into kernels: every f32 value (tiny exponents, subnormals, NaN, infinities, -0) must reach
// the GPU exactly, integer literals wrap to 32 bits, and the interpreter sees the same value as the GPU.
import { describe, expect, test } from "bun:test";
import type { DType } from "../../src/dsl/dtype.ts";
import { DslError, Tensor } from "../../src/dsl/tensor.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";

await device();

/** x * c for x = 1: the literal c itself, from the GPU and from the interpreter. */
async function through(c: number, dtype: DType): Promise<[number, number]> {
  const one = await tensor([1, 1, 1, 1, 1], [5], { dtype });
  const gpu = (await one.mul(c).toArray())[4];
  const s = schedule([{ node: Tensor.input(0, "x", [5], dtype).mul(c).node, name: "y" }], "literal");
  const host = interpretSchedule(s, [[1, 1, 1, 1, 1]], {})[s.results[0]][4];
  return [Number(gpu), host];
}

describe("literals", () => {
  test("f32 literals reach the kernel exactly", async () => {
    const values = [1e-7, -1e-8, 1.5e-30, 1e-40, -1e-45, 3.4e38, 0.1, -2, 123456.789, -0, NaN, Infinity, -Infinity];
    for (const v of values) {
      const want = Math.fround(v);
      const [gpu, host] = await through(v, "f32");
      expect([v, gpu]).toEqual([v, want]); // the pair names the literal when it fails
      expect(Object.is(gpu, want)).toBe(true);
      expect(Object.is(host, want)).toBe(true);
    }
  });

  test.skipIf(!deviceInfo().hasF16)("f16 literals are rounded to f16 (70000 is Inf)", async () => {
    for (const v of [0.1, 1e-7, 70000, -65504]) {
      const [gpu, host] = await through(v, "f16");
      expect([v, gpu, host]).toEqual([v, Math.f16round(v), Math.f16round(v)]);
    }
  });

  test("integer literals wrap to 32 bits; fractions are refused", async () => {
    expect(await through(-1, "u32")).toEqual([4294967295, 4294967295]);
    expect(await through(-2147483648, "i32")).toEqual([-2147483648, -2147483648]);
    expect(await through(4294967295, "i32")).toEqual([-1, -1]);
    const i = Tensor.input(0, "i", [3], "i32");
    expect(() => i.mul(2.5)).toThrow(DslError);
    expect(() => i.mul(2.5)).toThrow("Tensor.const: 2.5 is not a valid i32 literal");
    expect(() => i.add(2 ** 32)).toThrow("is not a valid i32 literal");
  });
});
