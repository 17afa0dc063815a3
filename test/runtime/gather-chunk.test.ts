// Gathers from tables larger than one storage binding where one chunk of the table per dispatch is not
// enough by itself: a table gathered with two indices, two large tables, a reduction over per-element
// gathers, targets that gather differently. The scheduler computes the extra gathers in kernels of their
// own (codegen/schedule.ts gathersToSplit) so the runtime can chunk each; here every result is compared with
// plain TS. The cap is set before tracing: the scheduler splits for the limit it is given, and a kernel
// scheduled for a larger limit than it runs under is refused by name. Last, the unfused attention of
// src/nn/functional.ts (its head split/merge are lane-varying gathers of whole activations) forward and
// backward under a tiny cap, against test/reference/nn.ts.
import { afterEach, describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { backward, leaf } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import * as ref from "../reference/nn.ts";

const fl = Math.fround;
afterEach(() => setStorageBindingCap(undefined)); // never leak the cap into other tests

const V = 1000, D = 16; // a 64 KB table: 4 chunks of 256 rows under a 16 KiB cap
const CAP = 16384;
const table = Float32Array.from({ length: V * D }, (_, i) => (Math.floor(i / D) % 500) + (i % D) / 32);
const N = 300;
const ids1 = Int32Array.from({ length: N }, (_, i) => (i === 0 ? V - 1 : (i * 7919) % V));
const ids2 = Int32Array.from({ length: N }, (_, i) => (i * 31 + 5) % V);
const rowOf = (t: Float32Array, r: number) => Array.from(t.subarray(r * D, r * D + D));
const idsTensor = (ids: Int32Array) => tensor(ids, [ids.length], { dtype: "i32" });
const inputs = { w: { shape: [V, D] }, a: { shape: [N], dtype: "i32" as const }, b: { shape: [N], dtype: "i32" as const } };

describe("gathers the runtime cannot chunk in one kernel are split by the scheduler", () => {
  test("a table gathered with two indices in one expression: one gather gets a kernel of its own", async () => {
    await octet.device();
    setStorageBindingCap(CAP);
    const f = jit("gather_twice", inputs, ({ w, a, b }) => ({ y: w.gather(a).sub(w.gather(b).mul(0.5)) }));
    expect(f.schedule.kernels).toHaveLength(2);
    const y = await (await f.run({ w: await tensor(table, [V, D]), a: await idsTensor(ids1), b: await idsTensor(ids2) })).y.toArray();
    const want = [...ids1].flatMap((r, i) => rowOf(table, r).map((v, c) => fl(v - fl(table[ids2[i] * D + c] * 0.5))));
    expect(Array.from(y)).toEqual(want);
    expect(f.dispatchCount).toBe(2 * 2 * 4); // each kernel: 2 chunks of its 19 KB of rows x 4 chunks of the table
  });

  test("two targets that gather one table with different indices go to two kernels", async () => {
    await octet.device();
    setStorageBindingCap(CAP);
    const f = jit("gather_two_targets", inputs, ({ w, a, b }) => ({ p: w.gather(a), q: w.gather(b).add(1) }));
    const out = await f.run({ w: await tensor(table, [V, D]), a: await idsTensor(ids1), b: await idsTensor(ids2) });
    expect(Array.from(await out.p.toArray())).toEqual([...ids1].flatMap((r) => rowOf(table, r)));
    expect(Array.from(await out.q.toArray())).toEqual([...ids2].flatMap((r) => rowOf(table, r).map((v) => fl(v + 1))));
  });

  test("two large tables with the same index", async () => {
    await octet.device();
    setStorageBindingCap(CAP);
    const t2 = table.map((v, i) => v * 2 + (i % 3));
    const W = await tensor(table, [V, D]), W2 = await tensor(t2, [V, D]);
    const got = await W.gather(await idsTensor(ids1)).sub(W2.gather(await idsTensor(ids1)).mul(0.25)).toArray();
    const want = [...ids1].flatMap((r) => rowOf(table, r).map((v, c) => fl(v - fl(t2[r * D + c] * 0.25))));
    expect(Array.from(got)).toEqual(want);
  });

  test("a row reduction over per-element gathers of a large 1-D table, and a target beside a reduction", async () => {
    await octet.device();
    const n = 5000; // 20 KB under a 4 KiB cap: 5 chunks
    const t = Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) - 50);
    const [R, L] = [64, 12];
    const idx = Int32Array.from({ length: R * L }, (_, i) => (i * 4243) % n);
    const xs = Float32Array.from({ length: R * L }, (_, i) => (i % 7) - 3);
    setStorageBindingCap(4096);
    const f = jit("gather_reduce", { t: { shape: [n] }, i: { shape: [R, L], dtype: "i32" }, x: { shape: [R, L] } }, ({ t, i, x }) => ({
      m: t.gather(i).max(false), // the row max mixes elements of every chunk: the gather is computed first
      s: x.sum(false),
      y: t.gather(i).mul(x), // a per-element target in the row kernel's domain: a kernel of its own
    }));
    const out = await f.run({ t: await tensor(t), i: await tensor(idx, [R, L], { dtype: "i32" }), x: await tensor(xs, [R, L]) });
    const rows = (r: number) => Array.from(idx.subarray(r * L, r * L + L));
    expect(Array.from(await out.m.toArray())).toEqual(Array.from({ length: R }, (_, r) => Math.max(...rows(r).map((j) => t[j]))));
    expect(Array.from(await out.s.toArray())).toEqual(Array.from({ length: R }, (_, r) => Array.from(xs.subarray(r * L, r * L + L)).reduce((a, b) => fl(a + b), 0)));
    expect(Array.from(await out.y.toArray())).toEqual(Array.from(idx, (j, e) => fl(t[j] * xs[e])));
  });

  test("a kernel scheduled for a larger binding limit than it runs under is refused, saying why", async () => {
    await octet.device();
    const f = jit("gather_twice_late", inputs, ({ w, a, b }) => ({ y: w.gather(a).add(w.gather(b)) })); // traced at the device's limit
    expect(f.schedule.kernels).toHaveLength(1);
    const W = await tensor(table, [V, D]), A = await idsTensor(ids1), B = await idsTensor(ids2);
    setStorageBindingCap(CAP);
    const err = await f.run({ w: W, a: A, b: B }).then(() => undefined, (e) => e as Error);
    expect(err?.message).toContain("gather table w is larger than one storage binding and is gathered with 2 different indices");
    expect(err?.message).toContain("trace it again");
  });
});

describe("unfused causal self-attention past a tiny binding limit", () => {
  test("B=100, T=8, H=2, C=8 under a 24 KiB cap: forward and d qkv against the reference", async () => {
    await octet.device();
    // qkv [800, 24] is 77 KB (4 chunks), each of q, k, v and dQ, dK, dV 26 KB (2 chunks); the head split and
    // merge gather with an index that differs between the lanes of a vector; rows of dqkv (96 B) still fit
    // 256 to a window.
    const [B, T, H, C] = [100, 8, 2, 8];
    const n = B * T * 3 * C;
    const x = Float32Array.from({ length: n }, (_, i) => fl(Math.sin(i * 12.9898) * 1.3));
    const R = Float32Array.from({ length: B * T * C }, (_, i) => fl(Math.cos(i * 7.233)));
    setStorageBindingCap(24576);
    const p = new octet.nn.Parameter(await octet.tensor(x.slice(), [B * T, 3 * C]));
    // The gather-based baseline (the fused default binds q, k, v whole: see test/nn/attention.test.ts).
    const out = F.causalSelfAttention(leaf(p), B, T, H, { impl: "matmul" });
    const xs = Float64Array.from(x);
    expect(ref.maxRelErr(await out.value.toArray(), ref.attentionRef(xs, B, T, C, H))).toBeLessThan(1e-5);
    backward(out, await octet.tensor(R, [B * T, C]));
    const g = await p.grad!.toArray();
    // Central differences at 150 coordinates spread over q, k and v and over every chunk of qkv.
    const at = Array.from({ length: 150 }, (_, i) => (i * 7919) % n);
    const fd = ref.finiteDiff((v) => ref.dot(ref.attentionRef(v, B, T, C, H), R), xs, 1e-5, at);
    expect(ref.maxRelErr(at.map((i) => g[i]), fd)).toBeLessThan(1e-3);
  }, 30_000);
});
