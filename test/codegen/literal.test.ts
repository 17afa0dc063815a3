// Literals baked into kernels: every f32 value (tiny exponents, subnormals, NaN, infinities, -0) must reach
// the GPU exactly, integer literals wrap to 32 bits, and the interpreter sees the same value as the GPU.
import { describe, expect, test } from "bun:test";
import type { DType } from "../../src/dsl/dtype.ts";
import { DslError, Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";

await device();

/** x * c for x = 1: each literal c itself, from the GPU and from the interpreter (one kernel for all). */
async function through(cs: number[], dtype: DType): Promise<[number, number][]> {
  const f = jit(`literals_${dtype}`, { x: { shape: [5], dtype } }, ({ x }) => Object.fromEntries(cs.map((c, i) => [`y${i}`, x.mul(c)])));
  expect(f.schedule.kernels).toHaveLength(1);
  const out = await f.run({ x: await tensor([1, 1, 1, 1, 1], [5], { dtype }) });
  const host = interpretSchedule(f.schedule, [[1, 1, 1, 1, 1]], {});
  return Promise.all(cs.map(async (_, i) => [Number((await out[`y${i}`].toArray())[4]), host[f.schedule.results[i]][4]] as [number, number]));
}

describe("literals", () => {
  test("f32 literals reach the kernel exactly", async () => {
    const values = [1e-7, -1e-8, 1.5e-30, 1e-40, -1e-45, 3.4e38, 0.1, -2, 123456.789, -0, NaN, Infinity, -Infinity];
    const got = await through(values, "f32");
    values.forEach((v, i) => {
      const want = Math.fround(v);
      const [gpu, host] = got[i];
      expect([v, gpu]).toEqual([v, want]); // the pair names the literal when it fails
      expect(Object.is(gpu, want)).toBe(true);
      expect(Object.is(host, want)).toBe(true);
    });
  });

  test.skipIf(!deviceInfo().hasF16)("f16 literals are rounded to f16 (70000 is Inf)", async () => {
    const values = [0.1, 1e-7, 70000, -65504];
    const got = await through(values, "f16");
    values.forEach((v, i) => expect([v, ...got[i]]).toEqual([v, Math.f16round(v), Math.f16round(v)]));
  });

  test("integer literals wrap to 32 bits; fractions are refused", async () => {
    expect(await through([-1], "u32")).toEqual([[4294967295, 4294967295]]);
    expect(await through([-2147483648, 4294967295], "i32")).toEqual([
      [-2147483648, -2147483648],
      [-1, -1],
    ]);
    const i = Tensor.input(0, "i", [3], "i32");
    expect(() => i.mul(2.5)).toThrow(DslError);
    expect(() => i.mul(2.5)).toThrow("Tensor.const: 2.5 is not a valid i32 literal");
    expect(() => i.add(2 ** 32)).toThrow("is not a valid i32 literal");
  });
});
