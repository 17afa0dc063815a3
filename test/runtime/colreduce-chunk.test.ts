// Column reductions (sum/max/min/mean over leading axes: bias and layer-norm-gain gradients) of operands
// larger than one storage binding: each pass is cut into dispatches over windows of rows, and a block of rows
// that does not fit one binding is continued by the next dispatch. A reduced cap (setStorageBindingCap, as
// OCTET_MAX_BINDING does) keeps the shapes small. The reference follows the documented summation order
// (codegen/lowerings/colreduce.ts: rows in order within blocks of 256, then the block partials in order), so
// sums are compared bit for bit; max and min are exact in any order.
import { afterEach, describe, expect, test } from "bun:test";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";

const fl = Math.fround;
const BLOCK = 256;

afterEach(() => setStorageBindingCap(undefined)); // never leak the cap into other tests

/** Values with a spread of magnitudes and signs, so a change of summation order shows in the low bits. */
const data = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => fl((((i * 7919 + seed * 104729) % 2003) - 1001) / 37 + ((i % 11) - 5) * 1e-3));

/** The column reduction of x [R, C] in the kernels' order: blocks of 256 rows, then blocks of partials. */
function colReference(x: Float32Array, R: number, C: number, op: "sum" | "max" | "min"): Float32Array {
  let rows = R;
  let cur = x;
  do {
    const blocks = Math.ceil(rows / BLOCK);
    const next = new Float32Array(blocks * C);
    for (let b = 0; b < blocks; b++)
      for (let c = 0; c < C; c++) {
        let acc = op === "sum" ? 0 : op === "max" ? -Infinity : Infinity;
        for (let r = b * BLOCK; r < Math.min(rows, (b + 1) * BLOCK); r++) {
          const v = cur[r * C + c];
          acc = op === "sum" ? fl(acc + v) : op === "max" ? Math.max(acc, v) : Math.min(acc, v);
        }
        next[b * C + c] = acc;
      }
    cur = next;
    rows = blocks;
  } while (rows > 1);
  return cur;
}

describe("column reductions past the binding limit", () => {
  // [R, C, cap]: a width that is not a multiple of 4 (scalar kernel) and one that is (vec4); row counts that
  // are not multiples of the window; caps that hold whole blocks of 256 rows, and caps that hold less than
  // one block (a block's partial is continued across dispatches).
  const cases: [number, number, number][] = [
    [1500, 13, 16384], // 78 KB, 5 bindings: windows of one block (256 rows of 52 B)
    [1500, 13, 4096], // 73 rows a window: blocks continued over 4 dispatches
    [3001, 64, 16384], // vec4, 768 KB: 62 rows a window
    [70001, 5, 4096], // three passes; the 274 x 5 partials (5.5 KB) are cut too
  ];
  test.each(cases)("[%i, %i] under a %i-byte cap: sum, max and min against the reference", async (R, C, cap) => {
    const xs = data(R * C, R + C);
    const f = jit(`colchunk_${R}_${C}_${cap}`, { x: { shape: [R, C] } }, ({ x }) => ({ s: x.sum(0), mx: x.max(0, false), mn: x.min(0) }));
    const X = await tensor(xs, [R, C]);
    setStorageBindingCap(cap);
    const out = await f.run({ x: X });
    expect(f.dispatchCount).toBeGreaterThan(f.schedule.kernels.length); // really chunked
    expect(Array.from(await out.s.toArray())).toEqual(Array.from(colReference(xs, R, C, "sum")));
    expect(Array.from(await out.mx.toArray())).toEqual(Array.from(colReference(xs, R, C, "max")));
    expect(Array.from(await out.mn.toArray())).toEqual(Array.from(colReference(xs, R, C, "min")));
  }, 30_000);

  test("mean over two leading axes of a computed operand (a bias gradient of a [B, T, C] activation)", async () => {
    const [B, T, C] = [3, 700, 24]; // 2100 rows of 96 B: 197 KB against an 8 KiB cap
    const gs = data(B * T * C, 3);
    const hs = data(B * T * C, 4).map((v) => v / 8);
    const g = await tensor(gs, [B, T, C]);
    const h = await tensor(hs, [B, T, C]);
    setStorageBindingCap(8192);
    const got = await g.mul(h).mean([0, 1], false).toArray();
    const prod = Float32Array.from(gs, (v, i) => fl(v * hs[i]));
    const want = Array.from(colReference(prod, B * T, C, "sum"), (v) => fl(v / (B * T)));
    expect(got.length).toBe(C);
    expect(Array.from(got)).toEqual(want);
  });

  test("a row wider than one binding is refused, naming the kernel, the operand and the sizes", async () => {
    const f = jit("colchunk_wide", { x: { shape: [300, 1100] } }, ({ x }) => ({ s: x.sum(0) }));
    const X = await tensor(data(300 * 1100, 1), [300, 1100]);
    setStorageBindingCap(4096);
    const err = await f.run({ x: X }).then(() => undefined, (e) => e as Error);
    expect(err?.name).toBe("BindingLimitError");
    expect(err?.message).toContain("colchunk_wide");
    expect(err?.message).toContain("one row of x (f32[300, 1100]) is 4400 bytes");
    expect(err?.message).toContain("4096 bytes");
  });
});
