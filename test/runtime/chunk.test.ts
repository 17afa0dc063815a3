// The chunked path: a kernel whose bindings exceed the storage-binding limit runs as several dispatches over
// aligned windows of its buffers. A tiny cap (setStorageBindingCap) forces it on small tensors. Also the
// 2-D dispatch grid for more workgroups than one dimension allows.
import { afterEach, describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import { chunkRows, dispatchGrid } from "../../src/runtime/execute.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";

const fl = Math.fround;
const CAP = 4096; // bytes: 1024 f32 per binding
const ramp = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 8 - 60);

afterEach(() => setStorageBindingCap(undefined)); // never leak the cap into other tests

describe("chunked dispatch", () => {
  test("an elementwise op over 10007 elements runs in 1024-element chunks", async () => {
    const n = 10007;
    const f = jit("chunk_map", { x: { shape: [n] }, y: { shape: [n] } }, ({ x, y }) => ({ z: x.mul(3).add(y) }));
    const xs = ramp(n);
    const ys = ramp(n).reverse();
    const x = await tensor(xs);
    const y = await tensor(ys);
    setStorageBindingCap(CAP);
    const got = await (await f.run({ x, y })).z.toArray();
    expect(f.dispatchCount).toBe(Math.ceil(n / 1024)); // 10: nine full chunks and a tail of 791
    expect(Array.from(got)).toEqual(xs.map((v, i) => fl(fl(fl(v) * 3) + fl(ys[i]))));
  });

  test("a row reduction, with per-row, per-element and per-column bindings, is split by rows", async () => {
    const rows = 1001;
    const L = 4;
    const f = jit("chunk_rows", { x: { shape: [rows, L] }, g: { shape: [L] } }, ({ x, g }) => ({
      s: x.sum(false),
      y: x.sub(x.mean()).mul(g),
    }));
    expect(f.schedule.kernels).toHaveLength(1);
    const xs = ramp(rows * L);
    const gs = [1, -2, 0.5, 4];
    const x = await tensor(xs, [rows, L]);
    const g = await tensor(gs);
    setStorageBindingCap(CAP);
    const out = await f.run({ x, g });
    expect(f.dispatchCount).toBe(Math.ceil(rows / 256)); // 16 bytes a row: 256 rows a chunk
    const s = await out.s.toArray();
    const y = await out.y.toArray();
    for (let r = 0; r < rows; r++) {
      const row = xs.slice(r * L, r * L + L).map(fl);
      const sum = row.reduce((a, b) => a + b, 0);
      expect(s[r]).toBeCloseTo(sum, 3);
      row.forEach((v, j) => expect(y[r * L + j]).toBeCloseTo((v - sum / L) * gs[j], 3));
    }
  });

  test("row indices count from the chunk's first row (iota) and gathers index per row", async () => {
    const rows = 700;
    setStorageBindingCap(CAP);
    const ids = await Tensor.iota([rows, 4], 0).toArray();
    expect(Array.from(ids)).toEqual(Array.from({ length: rows * 4 }, (_, i) => Math.floor(i / 4)));
    const table = ramp(11 * 4);
    const index = Array.from({ length: rows }, (_, i) => (i * 5) % 11);
    const got = await (await tensor(table, [11, 4])).gather(await tensor(Int32Array.from(index))).toArray();
    expect(Array.from(got)).toEqual(index.flatMap((i) => table.slice(i * 4, i * 4 + 4).map(fl)));
  });

  test("an in-place update and u8 codes, chunked", async () => {
    const n = 10007;
    const sgd = jit("chunk_sgd", { p: { shape: [n] }, g: { shape: [n] } }, ({ p, g }) => ({ p: p.sub(g.mul(Tensor.uniform("lr"))) }), {
      inPlace: { p: "p" },
    });
    const ps = ramp(n);
    const gs = ramp(n).map((v) => v / 3);
    const p = await tensor(ps);
    const g = await tensor(gs);
    const codes = Uint8Array.from({ length: n }, (_, i) => (i * 31) % 256);
    const c = await tensor(codes);
    setStorageBindingCap(CAP);
    await sgd.run({ p, g }, { lr: 0.25 });
    expect(Array.from(await p.toArray())).toEqual(ps.map((v, i) => fl(fl(v) - fl(fl(gs[i]) * 0.25))));
    const next = await c.cast("u32").add(7).cast("u8").toArray(); // 4096 codes (one binding) per chunk
    expect(Array.from(next)).toEqual(Array.from(codes, (v) => (v + 7) & 255));
  });

  test("operands of different sizes and types (f32, i32 and u8 per element, f32 per row) each get their own windows", async () => {
    const [R, L] = [3000, 8]; // x 96 KB, k 96 KB, codes 24 KB, scale 12 KB: all past an 8 KiB cap
    const xs = ramp(R * L);
    const ks = Int32Array.from({ length: R * L }, (_, i) => (i * 13) % 17 - 8);
    const codes = Uint8Array.from({ length: R * L }, (_, i) => (i * 31) % 256);
    const scale = ramp(R).map((v) => v / 16);
    const f = jit("chunk_mixed", { x: { shape: [R, L] }, k: { shape: [R, L], dtype: "i32" }, q: { shape: [R, L], dtype: "u8" }, s: { shape: [R, 1] } }, ({ x, k, q, s }) => ({
      y: x.mul(s).add(k.cast("f32")).sub(q.cast("f32")),
      q2: q.cast("u32").add(k.cast("u32")).and(255).cast("u8"),
    }));
    const inputs = { x: await tensor(xs, [R, L]), k: await tensor(ks, [R, L], { dtype: "i32" }), q: await tensor(codes, [R, L]), s: await tensor(scale, [R, 1]) };
    setStorageBindingCap(8192);
    const out = await f.run(inputs);
    expect(f.dispatchCount).toBe(Math.ceil(R / 256)); // 32 B rows of x: 256 rows a window
    expect(Array.from(await out.y.toArray())).toEqual(xs.map((v, i) => fl(fl(fl(v * fl(scale[Math.floor(i / L)])) + ks[i]) - codes[i])));
    expect(Array.from(await out.q2.toArray())).toEqual(Array.from(codes, (c, i) => (c + ks[i]) & 255));
  });

  test("rows of 96 bytes with a per-row output are cut 64 to a chunk (64 f32 row results are 256 bytes); a row longer than the cap is refused", async () => {
    const f = jit("chunk_wide_rows", { x: { shape: [300, 24] } }, ({ x }) => ({ s: x.sum() }));
    const xs = ramp(300 * 24);
    const x = await tensor(xs, [300, 24]);
    setStorageBindingCap(8192);
    const got = await (await f.run({ x })).s.toArray();
    expect(f.dispatchCount).toBe(Math.ceil(300 / 64)); // 85 rows fit 8192 bytes
    for (let r = 0; r < 300; r++) expect(got[r]).toBeCloseTo(xs.slice(r * 24, r * 24 + 24).reduce((a, b) => a + fl(b), 0), 3);
    setStorageBindingCap(CAP);
    const g = jit("chunk_too_long", { x: { shape: [4, 1100] } }, ({ x }) => ({ s: x.sum() }));
    const y = await tensor(ramp(4 * 1100), [4, 1100]);
    await expect(g.run({ x: y })).rejects.toThrow("octet: chunk_too_long: rows of 4400 bytes do not fit the storage-binding limit (4096 bytes) 64 at a time");
  });

  test("chunkRows keeps every window aligned, or takes the whole tensor when it fits", () => {
    const f = jit("chunk_plan", { x: { shape: [5000, 3] } }, ({ x }) => ({ s: x.sum() }));
    const k = f.schedule.kernels[0].kernel;
    expect(chunkRows(k, 5000, 1 << 30)).toBe(5000);
    expect(chunkRows(k, 5000, CAP)).toBe(320); // 12 bytes a row: 341 fit; 64 rows are 768 bytes, 3 x 256
    expect(chunkRows(k, 5000, 10000)).toBe(832);
    expect(chunkRows(k, 5000, 10000, 16)).toBe(832); // 4 rows keep 16-byte alignment: 833 fit
    const u8 = jit("chunk_plan_u8", { q: { shape: [5000, 1], dtype: "u8" }, x: { shape: [5000, 1] } }, ({ q, x }) => ({ y: x.add(q.cast("f32")) }));
    expect(chunkRows(u8.schedule.kernels[0].kernel, 5000, CAP)).toBe(1024); // 1-byte u8 elements: multiples of 256
  });
});

describe("2-D dispatch grid", () => {
  test("the grid covers every workgroup within the per-dimension limit, with little waste", () => {
    for (const n of [1, 255, 65535, 65536, 70001, 65535 * 3 + 1, 4 * 65536 + 12345, 1e7]) {
      const [x, y] = dispatchGrid(n, 65535);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
      expect(x * y - n).toBeLessThan(y); // at most one idle workgroup per grid row
    }
    expect(dispatchGrid(65536, 65535)).toEqual([32768, 2]);
  });

  test("a row kernel over 70001 rows (more workgroups than one dimension) computes every row", async () => {
    const rows = 70001; // ~1.1 MB of f32
    const xs = new Float32Array(rows * 4).map((_, i) => (i % 7) - 3 + Math.floor(i / 4) * 0.5);
    const got = await (await tensor(xs, [rows, 4])).sum(false).toArray();
    let bad = 0;
    for (let r = 0; r < rows; r++) if (got[r] !== fl(fl(xs[4 * r] + xs[4 * r + 1]) + fl(xs[4 * r + 2] + xs[4 * r + 3]))) bad++;
    expect(bad).toBe(0);
  });
});
