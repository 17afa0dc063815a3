// Fusion and lowering: an elementwise chain is one kernel, a layer norm is one row kernel, gathers read
// tables in place; results against plain TS (test/reference), and the kernel-IR interpreter against the GPU.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { compileStats } from "../../src/runtime/pipelines.ts";
import { layerNormRef } from "../reference/layernorm.ts";

const fl = Math.fround;
/** Deterministic test data: a few magnitudes and signs, no randomness. */
const data = (n: number, k = 1) => Array.from({ length: n }, (_, i) => fl(Math.sin(i * 0.731 * k + 0.3) * (1 + (i % 5)) + (i % 3) * 0.25));

function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs = 0): string[] {
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= abs + rel * Math.abs(want[i]))) bad.push(`[${i}] ${got[i]} vs ${want[i]}`);
  }
  return bad.slice(0, 10);
}

// The layer norm as a user writes it in the DSL (mean, variance, normalize, per-column gain and bias).
function layerNorm(x: Tensor, g: Tensor, b: Tensor, eps = 1e-5): Tensor {
  const mean = x.mean().named("mean");
  const centered = x.sub(mean).named("centered");
  const variance = centered.square().mean().named("variance");
  return centered.mul(variance.add(eps).rsqrt()).mul(g).add(b);
}

describe("elementwise fusion", () => {
  test("a 6-op chain is one kernel and compiles one pipeline", async () => {
    const n = 1001; // 250 vec4s and a tail of 1
    const chain = (x: Tensor) => x.mul(1.25).add(0.5).sub(x.mul(x)).abs().sqrt().mul(3.5);
    const traced = chain(Tensor.input(0, "x", [n]));
    const s = schedule([{ node: traced.node, name: "y" }], "chain6");
    expect(s.kernels).toHaveLength(1);
    expect(s.kernels[0].kernel.kind).toBe("map");
    expect(s.slots.map((sl) => sl.kind)).toEqual(["input", "output"]); // no temporaries

    const xs = data(n);
    const before = compileStats().compiles;
    const got = await chain(await tensor(xs)).toArray();
    expect(compileStats().compiles - before).toBe(1);
    // Oracle: the same chain in JS, each step rounded to f32 (sqrt is the only inexact-in-WGSL step).
    const want = xs.map((x) => fl(fl(Math.sqrt(Math.abs(fl(fl(fl(x * 1.25) + 0.5) - fl(x * x))))) * 3.5));
    expect(closeTo(got, want, 4e-7)).toEqual([]);
  });

  test("outputs over the same domain share one kernel; a temporary appears only where rows do not line up", () => {
    const x = Tensor.input(0, "x", [6, 8]);
    const two = schedule(
      [
        { node: x.mul(2).node, name: "a" },
        { node: x.exp().node, name: "b" },
      ],
      "two",
    );
    expect(two.kernels).toHaveLength(1);
    expect(two.kernels[0].kernel.outputs).toHaveLength(2);
    // Row sums of x laid out as one row of 6 columns, added to a [3, 6] tensor: the sums are rows of one
    // kernel and columns of the next, so they go through a temporary buffer.
    const y = Tensor.input(1, "y", [3, 6]);
    const mixed = schedule([{ node: y.add(x.sum(false).reshape(1, 6)).node, name: "z" }], "mixed");
    expect(mixed.kernels.map((k) => k.kernel.kind)).toEqual(["row", "map"]);
    expect(mixed.slots.filter((s) => s.kind === "temp")).toHaveLength(1);
  });

  test("per-row results stay in their row kernel, with or without the kept axis", () => {
    const x = Tensor.input(0, "x", [5, 12]);
    const b = Tensor.input(1, "b", [5]);
    for (const y of [x.sum(), x.sum(false), x.max(false).add(x.sum(false)).mul(b), x.mean(false).reshape(1, 5), x.sum(false).reshape(5, 1, 1)]) {
      const s = schedule([{ node: y.node, name: "y" }], "per_row");
      expect(s.kernels.map((k) => `${k.kernel.kind} L=${k.kernel.L} rows=${k.rows}`)).toEqual(["row L=12 rows=5"]);
      expect(s.slots.filter((sl) => sl.kind === "temp")).toHaveLength(0);
    }
  });

  test("a whole-tensor sum to a scalar is one kernel", async () => {
    const x = Tensor.input(0, "x", [37]);
    expect(schedule([{ node: x.sum(false).node, name: "s" }], "scalar_sum").kernels).toHaveLength(1);
    const xs = data(37);
    expect((await (await tensor(xs)).sum(false).toArray())[0]).toBeCloseTo(xs.reduce((a, b) => a + b, 0), 4);
  });

  test("a reduction over a broadcast of another reduction runs in its own domain", async () => {
    // [5,12] -> row sums [5,1] -> broadcast to [5,3], times the column index -> row sums again.
    const f = (x: Tensor) => x.sum().expand([5, 3]).mul(Tensor.iota([5, 3], 1, "f32")).sum();
    const s = schedule([{ node: f(Tensor.input(0, "x", [5, 12])).node, name: "y" }], "nested");
    expect(s.kernels.map((k) => `${k.kernel.kind} L=${k.kernel.L}`)).toEqual(["row L=12", "row L=3"]);
    const xs = data(60);
    const got = await f(await tensor(xs, [5, 12])).toArray();
    Array.from({ length: 5 }, (_, r) => xs.slice(r * 12, r * 12 + 12).reduce((a, b) => a + b, 0) * 3).forEach((w, r) => expect(got[r]).toBeCloseTo(w, 4));
  });

  test("a column sum (by matmul) of a tensor with as many rows as columns is not taken for a per-row result", async () => {
    // centered has 4 rows of 4: its row means are 4 values, and so are its column sums, in another order.
    const xs = data(16);
    const x = await tensor(xs, [4, 4]);
    const centered = x.sub(x.mean());
    const got = await Tensor.const(1).expand([1, 4]).matmul(centered).reshape([4]).toArray();
    const means = [0, 1, 2, 3].map((r) => xs.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0) / 4);
    const want = [0, 1, 2, 3].map((c) => [0, 1, 2, 3].reduce((a, r) => a + xs[r * 4 + c] - means[r], 0));
    expect(closeTo(got, want, 1e-5, 1e-5)).toEqual([]);
  });

  test("a materialized reduction computes the right values", async () => {
    const xs = data(48, 2);
    const ys = data(18, 3);
    const x = await tensor(xs, [6, 8]);
    const y = await tensor(ys, [3, 6]);
    const got = await y.add(x.sum(false).reshape(1, 6)).toArray();
    const sums = Array.from({ length: 6 }, (_, r) => xs.slice(r * 8, r * 8 + 8).reduce((a, b) => a + b, 0));
    expect(closeTo(got, ys.map((v, i) => v + sums[i % 6]), 1e-6, 1e-6)).toEqual([]);
  });

  test("the map kernel's WGSL (golden)", () => {
    const x = Tensor.input(0, "x", [10]);
    const g = Tensor.input(1, "g", [10]);
    const y = x.sub(g.mul(Tensor.uniform("lr"))).named("p_new");
    const s = schedule([{ node: y.node, name: "p" }], "golden_update");
    const wgsl = emitWgsl(s.kernels[0].kernel);
    expect(wgsl.replace(/key: [0-9a-f]+/, "key: <key>")).toMatchInlineSnapshot(`
"// octet kernel: golden_update
// key: <key>
// map kernel over rows of 1 element, vec4 access, workgroup 256
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, lr: f32)
//   @binding(1) x: f32 elem read
//   @binding(2) g: f32 elem read
//   @binding(3) p: f32 elem write
// source graph:
//   {
//     %0_x:f32[10] = input #0
//     %1_g:f32[10] = input #1
//     %2_lr:f32[] = uniform lr
//     %3:f32[10] = mul %1_g $lr
//     %4_p_new:f32[10] = sub %0_x %3
//     return p=%4_p_new
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  lr: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> p: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid; // this thread's vec4 element
  if (i >= params.count) { return; }
  let e = i * 4u;
  let x_1 = x[e >> 2u];
  let g_3 = g[e >> 2u];
  let mul_2 = (g_3 * vec4<f32>(params.lr));
  let p_new_0 = (x_1 - mul_2);
  p[e >> 2u] = p_new_0;
}
"
`);
  });
});

describe("layer norm", () => {
  // D = 37: scalar rows; D = 64: vec4 rows; D = 300: wider than a workgroup (256), so each thread keeps two
  // steps of its row between the phases.
  for (const [rows, D] of [
    [13, 37],
    [7, 64],
    [3, 300],
  ]) {
    test(`[${rows}, ${D}] is one row kernel and matches plain TS`, async () => {
      const f = jit(`layer_norm_${D}`, { x: { shape: [rows, D] }, g: { shape: [D] }, b: { shape: [D] } }, ({ x, g, b }) => ({
        y: layerNorm(x, g, b),
      }));
      expect(f.schedule.kernels).toHaveLength(1);
      expect(f.schedule.kernels[0].kernel.kind).toBe("row");
      expect(f.schedule.kernels[0].kernel.vec).toBe(D % 4 ? 1 : 4);

      const xs = data(rows * D).map((v, i) => v * (1 + (i % 7)) + (i % D === 0 ? 50 : 0)); // an offset to cancel
      const gs = data(D, 5).map((v) => 1 + v * 0.1);
      const bs = data(D, 7).map((v) => v * 0.01);
      const before = compileStats().compiles;
      const out = await f.run({ x: await tensor(xs, [rows, D]), g: await tensor(gs), b: await tensor(bs) });
      expect(compileStats().compiles - before).toBe(1);
      const got = await out.y.toArray();
      const want = layerNormRef(xs.map(fl), rows, D, gs, bs);
      expect(closeTo(got, want, 1e-5, 1e-5)).toEqual([]);

      // The interpreter evaluates the same kernel IR on the host: it agrees with the GPU.
      const host = interpretSchedule(f.schedule, [xs, gs, bs], {})[f.schedule.results[0]];
      expect(closeTo(got, host, 1e-5, 1e-6)).toEqual([]);
    });
  }
});

describe("gather", () => {
  const V = 11;
  const idx = [3, 0, 10, 5, 5, 1, 9];
  for (const D of [8, 5]) {
    test(`embedding lookup: table [${V}, ${D}] by an i32 index, fused with the op after it`, async () => {
      const f = jit(`embed_${D}`, { table: { shape: [V, D] }, index: { shape: [idx.length], dtype: "i32" } }, ({ table, index }) => ({
        y: table.gather(index).mul(2).add(1),
      }));
      expect(f.schedule.kernels).toHaveLength(1); // the table is read in place, not copied
      const ts = data(V * D);
      const out = await f.run({ table: await tensor(ts, [V, D]), index: await tensor(Int32Array.from(idx)) });
      const got = await out.y.toArray();
      const want = idx.flatMap((i) => ts.slice(i * D, i * D + D).map((v) => fl(fl(v * 2) + 1)));
      expect(Array.from(got)).toEqual(want);
      expect(interpretSchedule(f.schedule, [ts, idx], {})[f.schedule.results[0]]).toEqual(want);
    });
  }

  test("a 1-D table gathered by u32 and i32 indices", async () => {
    const ts = data(V);
    for (const dtype of ["i32", "u32"] as const) {
      const f = jit(`gather1d_${dtype}`, { table: { shape: [V] }, index: { shape: [idx.length], dtype } }, ({ table, index }) => ({
        y: table.gather(index).sub(0.5),
      }));
      const ix = dtype === "i32" ? Int32Array.from(idx) : Uint32Array.from(idx);
      const got = await (await f.run({ table: await tensor(ts), index: await tensor(ix) })).y.toArray();
      const want = idx.map((i) => fl(ts[i] - 0.5));
      expect(Array.from(got)).toEqual(want);
      expect(interpretSchedule(f.schedule, [ts, idx], {})[f.schedule.results[0]]).toEqual(want);
    }
  });

  test("a computed table is materialized first", async () => {
    const ts = data(V * 4);
    const t = await tensor(ts, [V, 4]);
    const got = await t.mul(3).gather(await tensor(Int32Array.from(idx))).toArray();
    expect(Array.from(got)).toEqual(idx.flatMap((i) => ts.slice(i * 4, i * 4 + 4).map((v) => fl(v * 3))));
  });
});

describe("iota", () => {
  test("row and column indices, including rows of one element on the vec4 path", async () => {
    expect(Array.from(await Tensor.iota([3, 5], 1).toArray())).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(Array.from(await Tensor.iota([3, 4], 0).toArray())).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // [n, 1]: a kernel over rows of one element, four rows per vec4 lane group.
    expect(Array.from(await Tensor.iota([10, 1], 1).toArray())).toEqual(Array(10).fill(0));
    expect(Array.from(await Tensor.iota([10, 1], 0).toArray())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(await Tensor.iota([7], 0, "f32").toArray())).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
