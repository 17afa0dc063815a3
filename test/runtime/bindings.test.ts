// Never bind what was not checked: operands larger than one storage binding are chunked (matmul over batches,
// M, N and K; elementwise by rows) and give the plain-TS reference's numbers; bindings that cannot be cut are
// refused with an error naming the kernel, the binding and the sizes. A reduced cap (setStorageBindingCap,
// as OCTET_MAX_BINDING does) keeps the shapes small; one test runs the issue's own shape at the real limit.
import { afterEach, describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import type { MatmulVariant } from "../../src/codegen/matmul.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { matmulReference, rnd } from "../reference/matmul.ts";


function worstError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return got.length === want.length ? worst : Infinity;
}

afterEach(() => setStorageBindingCap(undefined)); // never leak the cap into other tests
/** maxStorageBufferBindingSize on lavapipe (and WebGPU's default): the shapes are sized against it. */
const LAVAPIPE_LIMIT = 128 * 1024 * 1024;

// [M, K, N, transA, transB, batch, sharedB, cap bytes]: each cap is below at least one operand, so the
// product is cut over batches, rows (M), columns (N) and K (with accumulation) in turn.
const cases: [number, number, number, boolean, boolean, number, boolean, number][] = [
  [300, 40, 20, false, false, 1, false, 8192], // A 48 KB: rows of A and C
  [70, 300, 9, false, false, 1, false, 4096], // A rows of 1200 B: M and K (B [300,9] 10.8 KB: K)
  [40, 300, 70, true, false, 1, false, 8192], // A^T [300,40]: K slices of A and B, accumulated
  [9, 64, 500, false, true, 1, false, 16384], // B^T [500,64] 128 KB: rows of B^T = columns of C (an LM head)
  [33, 100, 90, true, true, 1, false, 4096], // both transposed
  [50, 20, 30, false, false, 6, false, 4096], // batched: batches, then rows
  [64, 48, 40, false, true, 5, true, 4096], // a weight shared by every batch (B^T [40,48] 7.7 KB: N)
  [20, 300, 100, false, false, 1, false, 8192], // two large operands of different sizes: A 24 KB, B 120 KB (K, then N)
];

describe.each(["tiled", "direct"] as MatmulVariant[])("matmul past the binding limit (%s kernel)", (variant) => {
  test.each(cases)("M=%i K=%i N=%i transA=%p transB=%p batch=%i sharedB=%p under a %i-byte cap", async (M0, K, N, ta, tb, batch, sharedB, cap) => {
    const M = M0 + (variant === "direct" ? 1 : 0);
    await octet.device();
    const target = { ...deviceTarget(), matmulVariant: variant };
    const ash = ta ? [K, M] : [M, K], bsh = tb ? [N, K] : [K, N];
    const a = rnd(batch * M * K, M * 7 + K + batch);
    const b = rnd((sharedB ? 1 : batch) * K * N, N * 13 + K);
    const f = jit(`mm_${variant}_${M}_${K}_${N}`, { a: { shape: batch > 1 ? [batch, ...ash] : ash }, b: { shape: batch > 1 && !sharedB ? [batch, ...bsh] : bsh } }, ({ a, b }) => ({
      c: a.matmul(b, { transA: ta, transB: tb }),
    }), { target });
    expect(f.wgsl().join("\n")).toContain(`matmul kernel (${variant})`);
    const A = await tensor(a, batch > 1 ? [batch, ...ash] : ash);
    const B = await tensor(b, batch > 1 && !sharedB ? [batch, ...bsh] : bsh);
    setStorageBindingCap(cap);
    const got = await (await f.run({ a: A, b: B })).c.toArray();
    expect(f.dispatchCount).toBeGreaterThan(1); // really chunked
    expect(worstError(got, matmulReference(a, b, M, K, N, ta, tb, batch, sharedB))).toBeLessThan(1e-5 * Math.sqrt(K));
  }, 30_000);
});

describe("the issue's shape at lavapipe's own limit", () => {
  test("[8193,4096] @ [4096,1]: a 134 MB A on a 128 MiB binding limit gives every row", async () => {
    const M = 8193, K = 4096;
    await octet.device();
    setStorageBindingCap(LAVAPIPE_LIMIT); // the device's own limit on lavapipe; a GPU with a larger one gets lavapipe's
    const a = new Float32Array(M * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k += 97) a[m * K + k] = ((m % 13) - 6) * 0.25 + (k % 5) * 0.125;
    const b = Float32Array.from({ length: K }, (_, k) => ((k * 31) % 17) / 16 - 0.5);
    const want = new Float64Array(M);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k += 97) want[m] += a[m * K + k] * b[k];
    const got = await (await octet.tensor(a, [M, K])).matmul(await octet.tensor(b, [K, 1])).toArray();
    expect(got.length).toBe(M);
    expect(worstError(got, want)).toBeLessThan(1e-3);
    let rowsAboveLimit = 0; // rows whose A lies past the first 128 MiB: these came back as zeros before
    for (let m = 0; m < M; m++) if ((m + 1) * K * 4 > LAVAPIPE_LIMIT && want[m] !== 0) rowsAboveLimit++;
    expect(rowsAboveLimit).toBeGreaterThan(0);
  }, 60_000); // uploads of 134-154 MB: seconds on lavapipe, more on a loaded machine
});

describe("gather from a table larger than one binding: one pass per chunk of table rows", () => {
  const V = 1000, D = 16; // a 64 KB embedding table under a 16 KiB cap: 4 chunks of 256 rows
  const table = Float32Array.from({ length: V * D }, (_, i) => (Math.floor(i / D) % 500) + (i % D) / 32);
  const ids = Int32Array.from({ length: 300 }, (_, i) => (i === 0 ? 0 : i === 1 ? V - 1 : (i * 7919) % V));
  const rowOf = (r: number) => Array.from(table.subarray(r * D, r * D + D));

  test("an embedding lookup fused with elementwise work, chunked by output rows and by table rows", async () => {
    const pos = rnd(ids.length * D, 9);
    const f = jit("gather_chunk", { w: { shape: [V, D] }, ids: { shape: [ids.length], dtype: "i32" }, pos: { shape: [ids.length, D] } }, ({ w, ids, pos }) => ({
      h: w.gather(ids).mul(2).add(pos),
    }));
    const out = await f.run({ w: await tensor(table, [V, D]), ids: await tensor(ids, [ids.length], { dtype: "i32" }), pos: await tensor(pos, [ids.length, D]) }).then(async (o) => o);
    const whole = Array.from(await out.h.toArray());
    setStorageBindingCap(16384);
    const before = f.dispatchCount;
    const got = Array.from(await (await f.run({ w: await tensor(table, [V, D]), ids: await tensor(ids, [ids.length], { dtype: "i32" }), pos: await tensor(pos, [ids.length, D]) })).h.toArray());
    expect(f.dispatchCount - before).toBe(2 * 4); // 2 chunks of output rows x 4 chunks of the table
    const want = [...ids].flatMap((r, i) => rowOf(r).map((v, c) => Math.fround(Math.fround(v * 2) + pos[i * D + c])));
    expect(got).toEqual(want);
    expect(whole).toEqual(want);
  });

  test("a gathered row reduced in a row kernel (per-row index), chunked", async () => {
    const f = jit("gather_chunk_sum", { w: { shape: [V, D] }, ids: { shape: [ids.length], dtype: "i32" } }, ({ w, ids }) => ({ s: w.gather(ids).max(false) }));
    setStorageBindingCap(16384);
    const got = Array.from(await (await f.run({ w: await tensor(table, [V, D]), ids: await tensor(ids, [ids.length], { dtype: "i32" }) })).s.toArray());
    expect(f.dispatchCount).toBe(4);
    expect(got).toEqual([...ids].map((r) => Math.max(...rowOf(r))));
  });

  test("a 1-D table with an index per element, in a scalar kernel and in a vectorized one (lanes in different chunks), chunked", async () => {
    const n = 5000; // 20 KB
    const t1 = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 7);
    const idx = Int32Array.from({ length: 111 * 3 }, (_, i) => (i * 4243) % n);
    const scalar = jit("gather_chunk_1d", { t: { shape: [n] }, i: { shape: [111, 3], dtype: "i32" } }, ({ t, i }) => ({ y: t.gather(i).add(1) }));
    setStorageBindingCap(4096);
    const got = Array.from(await (await scalar.run({ t: await tensor(t1), i: await tensor(idx, [111, 3], { dtype: "i32" }) })).y.toArray());
    expect(got).toEqual(Array.from(idx, (j) => Math.fround(t1[j] + 1)));
    expect(scalar.dispatchCount).toBe(Math.ceil(n / 1024));
    // vec4: each thread's 4 lanes gather 4 unrelated elements; each dispatch merges in the lanes its chunk holds
    // (f32, bool and packed u8 outputs).
    const N = 400;
    const vi = Int32Array.from({ length: N }, (_, j) => (j * 4243) % n);
    const vec = jit("gather_chunk_vec", { t: { shape: [n] }, i: { shape: [N], dtype: "i32" } }, ({ t, i }) => ({
      y: t.gather(i),
      pos: t.gather(i).gt(0),
      code: i.cast("u32").add(t.gather(i).gt(100).cast("u32")).and(255).cast("u8"),
    }));
    expect(vec.schedule.kernels.map((k) => k.kernel.vec)).toEqual([4]);
    const out = await vec.run({ t: await tensor(t1), i: await tensor(vi, [N], { dtype: "i32" }) });
    expect(vec.dispatchCount).toBe(Math.ceil(n / 1024));
    expect(Array.from(await out.y.toArray())).toEqual(Array.from(vi, (j) => t1[j]));
    expect(Array.from(await out.pos.toArray(), Boolean)).toEqual(Array.from(vi, (j) => t1[j] > 0));
    expect(Array.from(await out.code.toArray())).toEqual(Array.from(vi, (j) => (j + (t1[j] > 100 ? 1 : 0)) & 255));
  });

  test("GPT-2's embedding (50257 x 768 f32, 154 MB) at lavapipe's own binding limit", async () => {
    const V2 = 50257, D2 = 768;
    await octet.device();
    setStorageBindingCap(LAVAPIPE_LIMIT);
    expect(V2 * D2 * 4).toBeGreaterThan(LAVAPIPE_LIMIT);
    const w = new Float32Array(V2 * D2);
    for (let r = 0; r < V2; r++) for (let c = 0; c < D2; c++) w[r * D2 + c] = (r % 1000) + c / 1024;
    const rows = [0, 100, 43690, 43691, 45000, 50256, 7];
    const got = await (await octet.tensor(w, [V2, D2])).gather(await octet.tensor(Int32Array.from(rows), [rows.length], { dtype: "i32" })).toArray();
    expect(Array.from(got)).toEqual(rows.flatMap((r) => Array.from(w.subarray(r * D2, r * D2 + D2))));
  }, 60_000); // uploads of 134-154 MB: seconds on lavapipe, more on a loaded machine
});

describe("bindings that cannot be cut are refused, never bound", () => {
  test("an elementwise op past the cap still runs in chunks (rows), against the reference", async () => {
    const rows = 300, L = 12;
    const x = rnd(rows * L, 5);
    const f = jit("bind_map", { x: { shape: [rows, L] } }, ({ x }) => ({ y: x.mul(x).add(1) }));
    const X = await tensor(x, [rows, L]);
    setStorageBindingCap(4096);
    const got = await (await f.run({ x: X })).y.toArray();
    expect(f.dispatchCount).toBe(Math.ceil((rows * L * 4) / 4096));
    expect(Array.from(got)).toEqual(Array.from(x, (v) => Math.fround(Math.fround(v * v) + 1)));
  });

  test("rows too long for one aligned block under the cap: the error names the kernel, the binding and both sizes", async () => {
    const L = 2048;
    const f = jit("bind_long_rows", { x: { shape: [8, L] }, g: { shape: [L] } }, ({ x, g }) => ({ y: x.mul(g) }));
    const X = await tensor(rnd(8 * L, 1), [8, L]);
    const G = await tensor(rnd(L, 2));
    setStorageBindingCap(4096);
    const err = await f.run({ x: X, g: G }).then(() => undefined, (e) => e as Error);
    expect(err?.name).toBe("BindingLimitError");
    expect(err?.message).toContain("bind_long_rows");
    expect(err?.message).toContain("rows of 8192 bytes");
    expect(err?.message).toContain("(4096 bytes)");
    expect(err?.message).toContain("binding x: f32 elem");
  });
});
