// The kernel cache: a kernel's key is its structure, never a size or a uniform's value, so running a graph
// again, on another size, or with a new learning rate compiles nothing.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { programCacheSize, tensor } from "../../src/runtime/realize.ts";
import { compiledKernels, compileStats } from "../../src/runtime/pipelines.ts";

const fl = Math.fround;
const ramp = (n: number) => Array.from({ length: n }, (_, i) => (i % 17) - 8 + i / n);
const compiles = () => compileStats().compiles;

describe("pipeline cache", () => {
  test("the same lazy graph again, and on other sizes, compiles nothing new", async () => {
    const f = (x: Tensor) => x.mul(0.75).sub(2.25).abs();
    const first = compiles();
    await f(await tensor(ramp(1001))).toArray();
    expect(compiles() - first).toBe(1);
    const after = compiles();
    for (const n of [1001, 4099, 3, 1]) {
      const xs = ramp(n);
      const got = await f(await tensor(xs)).toArray();
      expect(Array.from(got)).toEqual(xs.map((v) => Math.abs(fl(fl(fl(v) * 0.75) - 2.25))));
    }
    expect(compiles()).toBe(after);
  });

  test("a row kernel over a different number of rows reuses its pipeline", async () => {
    const f = (x: Tensor) => x.max(false).add(x.sum(false));
    await f(await tensor(ramp(5 * 12), [5, 12])).toArray();
    const after = compiles();
    for (const rows of [1, 7, 300]) {
      const xs = ramp(rows * 12);
      const got = await f(await tensor(xs, [rows, 12])).toArray();
      const want = Array.from({ length: rows }, (_, r) => {
        const row = xs.slice(r * 12, r * 12 + 12).map(fl);
        return fl(Math.max(...row) + row.reduce((a, b) => fl(a + b), 0));
      });
      want.forEach((w, r) => expect(got[r]).toBeCloseTo(w, 4));
    }
    expect(compiles()).toBe(after);
  });

  test("a lazy graph keeps its program across garbage collections", async () => {
    const step = async () => (await tensor([1, 2, 3])).mul(5).add(0.125).toArray();
    await step();
    const programs = programCacheSize();
    for (let i = 0; i < 3; i++) {
      Bun.gc(true);
      expect(Array.from(await step())).toEqual([5.125, 10.125, 15.125]);
    }
    expect(programCacheSize()).toBe(programs);
  });

  test("a new uniform value recompiles nothing and changes the result", async () => {
    const n = 1003;
    const f = jit("cache_axpy", { x: { shape: [n] }, y: { shape: [n] } }, ({ x, y }) => ({
      z: x.mul(Tensor.uniform("alpha")).add(y),
    }));
    expect(f.schedule.uniforms).toEqual(["alpha"]);
    const xs = ramp(n);
    const ys = ramp(n).reverse();
    const x = await tensor(xs);
    const y = await tensor(ys);
    const a = await (await f.run({ x, y }, { alpha: 0.5 })).z.toArray();
    const before = compiles();
    const b = await (await f.run({ x, y }, { alpha: -3 })).z.toArray();
    expect(compiles()).toBe(before);
    expect(Array.from(a)).toEqual(xs.map((v, i) => fl(fl(fl(v) * 0.5) + fl(ys[i]))));
    expect(Array.from(b)).toEqual(xs.map((v, i) => fl(fl(fl(v) * -3) + fl(ys[i]))));
    // The uniform is a runtime parameter: no value of it appears in the kernel.
    const wgsl = f.wgsl()[0];
    expect(wgsl).toContain("params.alpha");
    await expect(f.run({ x, y }, {})).rejects.toThrow('octet: cache_axpy needs a value for uniform "alpha"');
  });

  test("compiledKernels lists what was built, with its WGSL and source graph", async () => {
    const f = jit("cache_listed", { x: { shape: [8] } }, ({ x }) => ({ y: x.square() }));
    await f.run({ x: await tensor(ramp(8)) });
    const k = compiledKernels().find((c) => c.name === "cache_listed")!;
    expect(k.key).toBe(f.schedule.kernels[0].kernel.key);
    expect(k.wgsl).toContain("// octet kernel: cache_listed");
    expect(k.source).toContain("mul %0_x %0_x");
    expect(k.bytesPerElement).toBe(8); // one f32 read, one f32 write
  });
});
