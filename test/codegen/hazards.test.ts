// Splitting a kernel that overwrites its inputs in place (to fit the device's storage-buffer budget) must
// keep every read of an old value before the write that replaces it. Programs run on the GPU at a reduced
// budget of 8 storage buffers (WebGPU's guaranteed minimum) against plain TS.
import { describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { schedule } from "../../src/codegen/schedule.ts";

const N = 1000;
const vals = (k: number) => Float32Array.from({ length: N }, (_, i) => Math.fround(Math.sin(i * 0.37 + k) * (1 + k * 0.1)));
const fl = Math.fround;

async function run<I extends string, O extends string>(fn: ReturnType<typeof jit<I, O>>, inputs: Record<I, Float32Array>) {
  const ts = {} as Record<I, Tensor>;
  for (const k of Object.keys(inputs) as I[]) ts[k] = await octet.tensor(inputs[k]);
  await fn.run(ts);
  const out = {} as Record<I, number[]>;
  for (const k of Object.keys(inputs) as I[]) out[k] = Array.from(await ts[k].toArray());
  return out;
}

describe("in-place updates split to fit 8 storage buffers", () => {
  test("a parameter update that reads states it also overwrites runs before the state updates", async () => {
    await octet.device();
    const target = { ...deviceTarget(), maxStorageBuffers: 8 };
    const names = ["p", "m", "v", "g", "c1", "c2", "c3", "c4", "c5"] as const;
    const specs = Object.fromEntries(names.map((n) => [n, { shape: [N] }])) as Record<(typeof names)[number], { shape: number[] }>;
    const fn = jit(
      "update9",
      specs,
      ({ p, m, v, g, c1, c2, c3, c4, c5 }) => {
        const m1 = m.mul(0.9).add(g); // new states read only themselves and g
        const v1 = v.mul(0.99).add(g.mul(g));
        const extra = c1.add(c2).mul(c3).sub(c4.mul(c5));
        return { p: p.sub(m1.div(v1.abs().add(1)).add(extra).mul(0.01)), m: m1, v: v1 };
      },
      { inPlace: { p: "p", m: "m", v: "v" }, target },
    );
    expect(fn.schedule.kernels.length).toBeGreaterThan(1);
    for (const k of fn.schedule.kernels) expect(k.kernel.bindings.length).toBeLessThanOrEqual(8);
    const x = Object.fromEntries(names.map((n, i) => [n, vals(i)])) as Record<(typeof names)[number], Float32Array>;
    const got = await run(fn, x);
    for (let i = 0; i < N; i++) {
      const m1 = fl(fl(x.m[i] * fl(0.9)) + x.g[i]);
      const v1 = fl(fl(x.v[i] * fl(0.99)) + fl(x.g[i] * x.g[i]));
      const extra = fl(fl(fl(x.c1[i] + x.c2[i]) * x.c3[i]) - fl(x.c4[i] * x.c5[i]));
      const p1 = fl(x.p[i] - fl(fl(fl(m1 / fl(Math.abs(v1) + 1)) + extra) * fl(0.01)));
      expect([got.p[i], got.m[i], got.v[i]]).toEqual([p1, m1, v1]);
    }
  });

  test("nine states that each read the next one's old value go through temporaries", async () => {
    await octet.device();
    const target = { ...deviceTarget(), maxStorageBuffers: 8 };
    const names = Array.from({ length: 9 }, (_, i) => `s${i}`);
    const specs = Object.fromEntries(names.map((n) => [n, { shape: [N] }]));
    const fn = jit("ring9", specs, (x) => Object.fromEntries(names.map((n, i) => [n, x[n].add(x[names[(i + 1) % 9]].mul(0.5))])), {
      inPlace: Object.fromEntries(names.map((n) => [n, n])),
      target,
    });
    for (const k of fn.schedule.kernels) expect(k.kernel.bindings.length).toBeLessThanOrEqual(8);
    const x = Object.fromEntries(names.map((n, i) => [n, vals(i)]));
    const got = await run(fn, x);
    names.forEach((n, j) => {
      const next = x[names[(j + 1) % 9]];
      for (let i = 0; i < N; i++) expect(got[n][i]).toBe(fl(x[n][i] + fl(next[i] * 0.5)));
    });
  });

  test("in-place outputs of two shapes that read each other's old values (any budget)", async () => {
    await octet.device();
    const fn = jit(
      "swap",
      { a: { shape: [25, 40] }, b: { shape: [N] } },
      ({ a, b }) => ({ a: a.add(b.reshape([25, 40]).sum()), b: b.sub(a.reshape([N])) }),
      { inPlace: { a: "a", b: "b" } },
    );
    const a = vals(1), b = vals(2);
    const ta = await octet.tensor(a, [25, 40]), tb = await octet.tensor(b);
    await fn.run({ a: ta, b: tb });
    const ga = await ta.toArray(), gb = await tb.toArray();
    for (let r = 0; r < 25; r++) {
      let s = 0;
      for (let c = 0; c < 40; c++) s += b[r * 40 + c];
      for (let c = 0; c < 40; c++) expect(Math.abs(ga[r * 40 + c] - (a[r * 40 + c] + s))).toBeLessThan(1e-5);
    }
    for (let i = 0; i < N; i++) expect(gb[i]).toBe(fl(b[i] - a[i]));
  });

  test("AdEMAMix8bit's update schedules at 8, 10 and 12 storage buffers", async () => {
    const { AdEMAMix } = octet.optim;
    const { traceUpdate } = await import("../../src/optim/trace.ts");
    const { formatTables, updateScalarNames } = await import("../../src/optim/buckets.ts");
    const { FORMATS } = await import("../../src/optim/formats.ts");
    const format = FORMATS.dynamic8;
    for (const maxStorageBuffers of [8, 10, 12])
      for (const uniform of [true, false]) {
        const fn = traceUpdate(AdEMAMix.def!, format, 4, 2, updateScalarNames(AdEMAMix.def!, AdEMAMix.defaults!), Object.keys(formatTables(AdEMAMix.def!, format)), uniform, { ...DEFAULT_TARGET, maxStorageBuffers });
        for (const k of fn.schedule.kernels) expect(k.kernel.bindings.length).toBeLessThanOrEqual(maxStorageBuffers);
      }
  });

  test("schedule() itself orders a split group: reads of an old value never follow its overwrite", () => {
    const x = Array.from({ length: 6 }, (_, i) => Tensor.input(i, `x${i}`, [64]));
    const sum = x.reduce((a, b) => a.add(b));
    const targets = x.map((xi, i) => ({ node: xi.add(i === 0 ? sum : x[(i + 1) % 6]).node, name: `x${i}`, into: i }));
    // throws "reads ... after ... overwrote it in place" if the order were wrong (checkHazards)
    const s = schedule(targets, "order", [], { ...DEFAULT_TARGET, maxStorageBuffers: 4 });
    for (const k of s.kernels) expect(k.kernel.bindings.length).toBeLessThanOrEqual(4);
  });
});
