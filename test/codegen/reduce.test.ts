// Reductions of any length and axis: rows longer than one workgroup handles are split into partial and
// final passes by the scheduler (codegen/lowerings/reduce.ts); reductions over leading axes are column
// reductions. Results against plain TS; the structure (passes, no full-size temporaries) against the schedule.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { numel } from "../../src/dsl/node.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import * as F from "../../src/nn/functional.ts";
import { backward, constant, leaf } from "../../src/autograd/var.ts";
import { Parameter } from "../../src/nn/parameter.ts";
import { crossEntropyRef } from "../reference/nn.ts";

const fl = Math.fround;
/** Deterministic data without randomness: mixed signs and magnitudes. */
const data = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => fl(Math.sin(i * 0.731 * k + 0.3) * (1 + (i % 7)) + (i % 3) * 0.25));

/** Row reductions in f64 (the oracle); `rows` x `L`. */
function rowRef(x: ArrayLike<number>, rows: number, L: number, op: "sum" | "max" | "min"): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let v = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
    for (let c = 0; c < L; c++) {
      const x0 = x[r * L + c];
      v = op === "sum" ? v + x0 : op === "max" ? Math.max(v, x0) : Math.min(v, x0);
    }
    return v;
  });
}
function colRef(x: ArrayLike<number>, rows: number, C: number, op: "sum" | "max" | "min"): number[] {
  return Array.from({ length: C }, (_, c) => {
    let v = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
    for (let r = 0; r < rows; r++) {
      const x0 = x[r * C + c];
      v = op === "sum" ? v + x0 : op === "max" ? Math.max(v, x0) : Math.min(v, x0);
    }
    return v;
  });
}
/** A sum of n f32 terms is within n * eps * sum|x| of the exact one (any order); max and min are exact. */
function sumBound(x: ArrayLike<number>, n: number, from: number, stride: number, count: number): number {
  let a = 0;
  for (let i = 0; i < count; i++) a += Math.abs(x[from + i * stride]);
  return 2 ** -23 * Math.log2(n + 1) * 4 * a + 1e-30;
}

describe("long row reductions", () => {
  test.each([
    [3, 50257],
    [1, 1_000_003],
  ])("rows of %i x %i: sum, max and min against plain TS", async (rows, L) => {
    const xs = data(rows * L);
    const x = await tensor(xs, [rows, L]);
    for (const op of ["sum", "max", "min"] as const) {
      const got = await x[op]().toArray();
      const want = rowRef(xs, rows, L, op);
      expect(got.length).toBe(rows);
      for (let r = 0; r < rows; r++) {
        const tol = op === "sum" ? sumBound(xs, L, r * L, 1, L) : 0;
        expect(Math.abs(got[r] - want[r])).toBeLessThanOrEqual(tol);
      }
    }
  }, 30000);

  test("a row larger than one storage binding is reduced in chunks (a 16 MiB cap, a 32 MiB row)", async () => {
    const L = 1 << 23; // divides into chunks of 16384 exactly: the partial pass reads x per element, cut by rows
    const xs = data(L, 0.011);
    const x = await tensor(xs, [1, L]);
    setStorageBindingCap(16 * 1024 * 1024);
    try {
      const got = (await x.sum().toArray())[0];
      const [want] = rowRef(xs, 1, L, "sum");
      expect(Math.abs(got - want)).toBeLessThanOrEqual(sumBound(xs, L, 0, 1, L));
      expect((await x.max().toArray())[0]).toBe(rowRef(xs, 1, L, "max")[0]);
    } finally {
      setStorageBindingCap(undefined);
    }
  }, 30000);

  test("a long reduction is a partial and a final pass, with the reduced expression fused into the partial", () => {
    const x = Tensor.input(0, "x", [2, 50257]);
    const s = schedule([{ node: x.sub(x.max()).exp().sum().node, name: "s" }], "long");
    // max: partial + final; sum of exp(x - max): partial (reading x and max) + final. No [2, 50257] temporary.
    expect(s.kernels.map((k) => k.kernel.kind)).toEqual(["row", "row", "row", "row"]);
    expect(s.slots.filter((sl) => sl.kind === "temp" && numel(sl.shape) >= 2 * 50257)).toEqual([]);
  });

  test("softmax over a 50257-wide row matches plain TS", async () => {
    const [N, V] = [2, 50257];
    const xs = data(N * V, 0.37);
    const x = await tensor(xs, [N, V]);
    const e = x.sub(x.max()).exp();
    const got = await e.div(e.sum()).toArray();
    for (let r = 0; r < N; r++) {
      const row = Array.from(xs.subarray(r * V, (r + 1) * V));
      const m = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
      let worst = 0;
      for (let c = 0; c < V; c++) worst = Math.max(worst, Math.abs(got[r * V + c] - Math.exp(row[c] - m) / z) / (Math.exp(row[c] - m) / z));
      expect(worst).toBeLessThan(2e-5);
    }
  }, 30000);

  test("nn cross entropy over 50257 classes matches plain TS", async () => {
    const [N, V] = [3, 50257];
    const xs = data(N * V, 0.61);
    const targets = Int32Array.from([5, 50256, 31000]);
    const loss = F.crossEntropy(constant(await tensor(xs, [N, V])), await tensor(targets, [N], { dtype: "i32" }));
    const got = (await loss.value.toArray())[0];
    const want = crossEntropyRef(xs, N, V, targets);
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.abs(want) + 1e-5);
  }, 30000);

  test("nn cross entropy's gradient over 50257 classes matches plain TS (softmax - onehot) / N", async () => {
    const [N, V] = [2, 50257];
    const xs = data(N * V, 0.29);
    const targets = Int32Array.from([7, 50000]);
    const p = new Parameter(await tensor(xs, [N, V]));
    backward(F.crossEntropy(leaf(p), await tensor(targets, [N], { dtype: "i32" })));
    const got = await p.grad!.toArray();
    for (let r = 0; r < N; r++) {
      const row = Array.from(xs.subarray(r * V, (r + 1) * V));
      const m = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
      let worst = 0;
      for (let c = 0; c < V; c++) worst = Math.max(worst, Math.abs(got[r * V + c] - (Math.exp(row[c] - m) / z - (c === targets[r] ? 1 : 0)) / N));
      expect(worst).toBeLessThan(1e-7);
    }
  }, 30000);

  test("integer reductions of a long row are exact", async () => {
    const L = 70001;
    const xs = Int32Array.from({ length: L }, (_, i) => ((i * 7919) % 2001) - 1000);
    const x = await tensor(xs, [1, L], { dtype: "i32" });
    const want = rowRef(xs, 1, L, "sum")[0];
    expect((await x.sum().toArray())[0]).toBe(want);
    expect((await x.max().toArray())[0]).toBe(1000);
    expect((await x.min().toArray())[0]).toBe(-1000);
  }, 30000);
});

describe("reductions over leading axes", () => {
  test.each([[[1003, 37]], [[70000, 8]], [[5, 3, 10]]])("column reductions of %p", async (dims: number[]) => {
    const shape = dims;
    const rows = dims.length === 3 ? dims[0] * dims[1] : dims[0];
    const C = dims[dims.length - 1];
    const xs = data(rows * C, 0.13);
    const x = await tensor(xs, shape);
    const axes = dims.length === 3 ? [0, 1] : 0;
    for (const op of ["sum", "max", "min"] as const) {
      const r = x[op](axes);
      expect(r.shape).toEqual(dims.length === 3 ? [1, 1, C] : [1, C]);
      const got = await r.toArray();
      const want = colRef(xs, rows, C, op);
      for (let c = 0; c < C; c++) expect(Math.abs(got[c] - want[c])).toBeLessThanOrEqual(op === "sum" ? sumBound(xs, rows, c, C, rows) : 0);
    }
    expect(x.sum(axes, false).shape).toEqual([C]);
    const mean = await x.mean(axes, false).toArray();
    const wantMean = colRef(xs, rows, C, "sum").map((v) => v / rows);
    for (let c = 0; c < C; c++) expect(Math.abs(mean[c] - wantMean[c])).toBeLessThanOrEqual(sumBound(xs, rows, c, C, rows) / rows + 1e-7);
  }, 30000);

  test("a column reduction is one coalesced pass per 256 rows; a computed source is written out first", () => {
    const g = Tensor.input(0, "g", [70000, 37]);
    const h = Tensor.input(1, "h", [70000, 37]);
    const direct = schedule([{ node: g.sum(0).node, name: "db" }], "colsum");
    expect(direct.kernels.map((k) => [k.kernel.kind, k.grid])).toEqual([
      ["colreduce", [1, 274, 1]], // ceil(70000 / 256) partial rows
      ["colreduce", [1, 2, 1]],
      ["colreduce", [1, 1, 1]],
    ]);
    const computed = schedule([{ node: g.mul(h).sum(0).node, name: "dw" }], "colsum_mul");
    expect(computed.kernels.map((k) => k.kernel.kind)).toEqual(["map", "colreduce", "colreduce", "colreduce"]);
  });

  test("the kernel-IR interpreter runs column and long-row reductions (localises lowering bugs)", () => {
    const [R, C] = [600, 12];
    const xs = data(R * C, 0.7);
    const x = Tensor.input(0, "x", [R, C]);
    const s = schedule([{ node: x.sum(0).node, name: "cs" }, { node: x.reshape([1, R * C]).max().node, name: "mx" }], "interp");
    const slots = interpretSchedule(s, [xs], {});
    const want = colRef(xs, R, C, "sum");
    for (let c = 0; c < C; c++) expect(Math.abs(slots[s.results[0]][c] - want[c])).toBeLessThanOrEqual(sumBound(xs, R, c, C, R));
    expect(slots[s.results[1]][0]).toBe(Math.max(...xs));
  });

  test("the column-sum kernel's WGSL (golden)", () => {
    const g = Tensor.input(0, "g", [300, 8]);
    const s = schedule([{ node: g.sum(0, false).named("db").node, name: "db" }], "golden_colsum");
    expect(s.kernels).toHaveLength(2);
    expect(emitWgsl(s.kernels[0].kernel).replace(/key: [0-9a-f]+/, "key: <key>")).toMatchInlineSnapshot(`
      "// octet kernel: golden_colsum
      // key: <key>
      // column sum kernel: each thread reduces 4 adjacent columns (vec4) over a block of S rows; workgroup 64
      // bindings:
      //   @binding(0) params: uniform (rows, row_base, count, zero, C, S, row_first, row_end, block_first, x_origin, y_origin)
      //   @binding(1) g: f32 read ([R, C]: rows [row_first, row_end), bound from element x_origin)
      //   @binding(2) db_partial: f32 write ([ceil(R / S), C]: the blocks those rows touch, bound from element y_origin)
      // source graph:
      //   {
      //     %0_g:f32[300,8] = input #0
      //     %1:f32[1,8] = colreduce sum %0_g
      //     return db=%1
      //   }

      struct Params {
        rows: u32,
        row_base: u32,
        count: u32,
        zero: u32,
        C: u32,
        S: u32,
        row_first: u32,
        row_end: u32,
        block_first: u32,
        x_origin: u32,
        y_origin: u32,
      }
      @group(0) @binding(0) var<uniform> params: Params;
      @group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
      @group(0) @binding(2) var<storage, read_write> db_partial: array<vec4<f32>>;

      @compute @workgroup_size(64)
      fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
        let c = wid.x * 64u + lid; // this thread's vec4 of columns
        let block = params.block_first + wid.y;
        if (c >= (params.C / 4u)) { return; }
        let r0 = max(params.row_first, block * params.S);
        let r1 = min(params.row_end, block * params.S + params.S);
        let out = block * (params.C / 4u) + c - params.y_origin;
        // A dispatch that starts inside the block continues the partial the previous dispatch wrote.
        var acc: vec4<f32> = vec4<f32>(f32(0));
        if (r0 != block * params.S) { acc = db_partial[out]; }
        for (var r = r0; r < r1; r++) {
          acc = acc + g[r * (params.C / 4u) + c - params.x_origin];
        }
        db_partial[out] = acc;
      }
      "
    `);
  });

  test("axes that are neither leading nor trailing are refused, naming them", () => {
    const x = Tensor.input(0, "x", [2, 3, 4]);
    expect(() => x.sum(1)).toThrow(/axes \[1\] of \[2,3,4\] are neither leading nor trailing/);
    expect(() => x.sum([0, 2])).toThrow(/not one axis or a run of adjacent axes/);
  });
});
