// Row kernels shaped by the target (codegen/kernel.ts rowGeometry, DeviceTarget.rowThreads/subgroupMinSize):
// CPU adapters give a row one SIMD group of threads, and a max/min over a workgroup that is one subgroup is a
// subgroupMax/subgroupMin. Every geometry and both reduction paths against plain TS, on the device.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { rowGeometry, type DeviceTarget } from "../../src/codegen/kernel.ts";

describe("row geometry", () => {
  test("the fewest threads up to rowThreads, more only to keep a thread within 16 vectors", () => {
    expect(rowGeometry(256, 4)).toEqual({ wg: 64, steps: 1 });
    expect(rowGeometry(256, 4, 8)).toEqual({ wg: 8, steps: 8 });
    expect(rowGeometry(768, 4, 8)).toEqual({ wg: 16, steps: 12 }); // 192 vec4: 8 threads would need 24 each
    expect(rowGeometry(20, 4, 8)).toEqual({ wg: 8, steps: 1 });
    expect(rowGeometry(3, 1, 8)).toEqual({ wg: 4, steps: 1 });
    expect(rowGeometry(16384, 4, 8)).toEqual({ wg: 256, steps: 16 });
  });
});

const fl = Math.fround;
const data = (n: number) => Float32Array.from({ length: n }, (_, i) => fl(Math.sin(i * 0.731 + 0.3) * (1 + (i % 7)) - (i % 5) * 0.5));

function rowRef(x: Float32Array, rows: number, L: number, op: "max" | "min" | "sum"): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let v = op === "max" ? -Infinity : op === "min" ? Infinity : 0;
    for (let c = 0; c < L; c++) v = op === "max" ? Math.max(v, x[r * L + c]) : op === "min" ? Math.min(v, x[r * L + c]) : v + x[r * L + c];
    return v;
  });
}

describe("row reductions under each target geometry", async () => {
  await device();
  const here = deviceTarget();
  const targets: [string, DeviceTarget][] = [
    ["64 threads per 256-row, tree", { ...here, rowThreads: 256, subgroupMinSize: 0 }],
    ["8 threads per row, tree (no subgroups)", { ...here, rowThreads: 8, subgroupMinSize: 0 }],
  ];
  if (deviceInfo().hasSubgroups) targets.push(["8 threads per row, subgroupMax/Min", { ...here, rowThreads: 8, subgroupMinSize: Math.max(8, here.subgroupMinSize) }]);
  for (const [label, target] of targets)
    for (const L of [256, 768, 37]) {
      test(`${label}: rows of ${L}, max/min and a sum (and values that use them)`, async () => {
        const rows = 5;
        const x = data(rows * L);
        const f = jit(`rowred_${L}`, { x: { shape: [rows, L] } }, ({ x }) => {
          const mx = x.max(); // [rows, 1]
          const mn = x.min();
          return { mx, mn, sum: x.sum(), centred: x.sub(mx).sub(mn) };
        }, { target });
        const wgsl = f.wgsl().join("\n");
        // Subgroup ops only where the workgroup fits in one subgroup (768 = 192 vec4 needs 16 threads), and
        // never for the sum (its order stays the tree's).
        const { wg } = rowGeometry(L, L % 4 === 0 ? 4 : 1, target.rowThreads);
        expect(wgsl.includes("subgroupMax"), label).toBe(target.subgroupMinSize >= wg);
        expect(wgsl.includes("workgroupBarrier"), label).toBe(true); // the sum
        expect(wgsl.includes("subgroupAdd")).toBe(false);
        const out = await f.run({ x: await tensor(x, [rows, L]) });
        const mx = rowRef(x, rows, L, "max"), mn = rowRef(x, rows, L, "min"), sm = rowRef(x, rows, L, "sum");
        expect(Array.from(await out.mx.toArray())).toEqual(mx);
        expect(Array.from(await out.mn.toArray())).toEqual(mn);
        const s = await out.sum.toArray();
        for (let r = 0; r < rows; r++) expect(Math.abs(s[r] - sm[r])).toBeLessThanOrEqual(1e-5 * L);
        const c = await out.centred.toArray();
        const want = Float32Array.from(x, (v, i) => fl(fl(v - mx[Math.floor(i / L)]) - mn[Math.floor(i / L)]));
        expect(Array.from(c)).toEqual(Array.from(want));
      });
    }
});
