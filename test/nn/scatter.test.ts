// The embedding gradient as a deterministic scatter-add (issue #8 item 2): Tensor.scatterAdd and F.embedding's
// backward against the plain-TS reference of test/reference/scatter.ts. The scatter sums each table row's
// contributions in position order in f32, as the reference does, so results must be equal, not close.
// Structure (kernels, buffers, the into target, row windows of a table larger than a binding) is checked on
// the schedule and under a lowered binding cap.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { mk, numel, substitute, type Node } from "../../src/dsl/node.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { emitWgsl } from "../../src/codegen/wgsl.ts";
import { setStorageBindingCap } from "../../src/runtime/device.ts";
import { paddedBytes } from "../../src/runtime/storage.ts";
import { kernelKindOf } from "../../src/codegen/lowerings/index.ts";
import { backward, leaf } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import { StableEmbedding } from "../../src/nn/layers.ts";
import { Parameter } from "../../src/nn/parameter.ts";
import { embeddingRef, maxRelErr } from "../reference/nn.ts";
import { seededRandom } from "../reference/quant.ts";
import { scatterAddRef } from "../reference/scatter.ts";

await octet.device();
setDefaultTimeout(30_000);

/** Seeded f32 values in [-2, 2). */
function values(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => 4 * r() - 2);
}
/** Seeded ids in [0, V). */
function ids(n: number, V: number, seed: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * V));
}

async function scatterOnGpu(src: Float32Array, D: number, idx: ArrayLike<number>, dtype: "i32" | "u32", V: number): Promise<Float32Array> {
  const N = idx.length;
  const s = await octet.tensor(src, D === 1 ? [N] : [N, D]);
  const i = await octet.tensor(dtype === "i32" ? Int32Array.from(idx) : Uint32Array.from(idx), [N], { dtype });
  return (await s.scatterAdd(i, V).toArray()) as Float32Array;
}

describe("Tensor.scatterAdd against the position-ordered f32 reference", () => {
  const cases: { name: string; N: number; V: number; D: number; dtype: "i32" | "u32"; idx: (N: number, V: number) => number[] }[] = [
    // repeated ids; V = 7 and D = 6 are not multiples of 4 (scalar lanes); -1, V and V + 5 are out of range
    { name: "repeated and out-of-range i32 ids, V=7, D=6", N: 12, V: 7, D: 6, dtype: "i32", idx: () => [3, 0, 2, 3, 5, 2, 0, 3, -1, 7, 12, 6] },
    // 700 positions: two sort blocks, so the global compare-exchange step runs; D = 8: vec4 lanes
    { name: "all-same u32 ids over two sort blocks, D=8", N: 700, V: 5, D: 8, dtype: "u32", idx: (N) => Array(N).fill(3) },
    // 2500 positions: 4096 keys, global steps at three stages; V = 37 rows, some never hit
    { name: "random u32 ids, N=2500, V=37, D=4", N: 2500, V: 37, D: 4, dtype: "u32", idx: (N, V) => ids(N, V, 5) },
    { name: "1-D values, i32 ids", N: 33, V: 9, D: 1, dtype: "i32", idx: (N, V) => ids(N, V, 6) },
  ];
  for (const c of cases)
    test(c.name, async () => {
      const src = values(c.N * c.D, c.N);
      const idx = c.idx(c.N, c.V);
      const got = await scatterOnGpu(src, c.D, idx, c.dtype, c.V);
      expect(Array.from(got)).toEqual(Array.from(scatterAddRef(src, idx, c.V, c.D)));
    });

  test("the kernel-IR interpreter computes the same (the OCTET_VALIDATE path)", () => {
    const N = 1500, V = 11, D = 5;
    const src = values(N * D, 3);
    const idx = ids(N, V, 4);
    const s = schedule([{ node: Tensor.input(0, "g", [N, D]).scatterAdd(Tensor.input(1, "ids", [N], "u32"), V).node, name: "out" }], "scatter_interp");
    const slots = interpretSchedule(s, [src, idx], {});
    expect(Array.from(slots[s.results[0]])).toEqual(Array.from(scatterAddRef(src, idx, V, D)));
  });

  test("OCTET_VALIDATE runs the interpreter beside the GPU and agrees", async () => {
    process.env.OCTET_VALIDATE = "1";
    try {
      const idx = ids(600, 13, 8);
      const src = values(600 * 12, 9);
      expect(Array.from(await scatterOnGpu(src, 12, idx, "i32", 13))).toEqual(Array.from(scatterAddRef(src, idx, 13, 12)));
    } finally {
      delete process.env.OCTET_VALIDATE;
    }
  });

  test("refuses what it cannot do, naming the problem", () => {
    const g = Tensor.input(0, "g", [4, 3]);
    expect(() => g.scatterAdd(Tensor.input(1, "i", [4], "f32"), 5)).toThrow(/index must be i32 or u32, got f32/);
    expect(() => g.scatterAdd(Tensor.input(1, "i", [3], "i32"), 5)).toThrow(/3 indices for 4 rows/);
    expect(() => g.cast("i32").scatterAdd(Tensor.input(1, "i", [4], "i32"), 5)).toThrow(/values must be f32/);
    expect(() => g.scatterAdd(Tensor.input(1, "i", [4], "i32"), 0)).toThrow(/rows must be an integer/);
    const n = 2 ** 24 + 1; // past the sort's key limit: refused when scheduled, before anything is allocated
    const big = Tensor.input(0, "g", [n]).scatterAdd(Tensor.input(1, "i", [n], "u32"), 5);
    expect(() => schedule([{ node: big.node, name: "out" }], "too_many")).toThrow(/scatter over 16777217 positions; at most 16777216/);
  });
});

describe("structure: no one-hot, O(N*D) memory, few kernels", () => {
  /** The schedule of a graph over realized buffers (replaced by input slots, as realize does). */
  function scheduleOf(nodes: Node[], name: string) {
    let slot = 100;
    const roots = substitute(nodes, (n) => (n.op === "buffer" ? mk("input", n.dtype, n.shape, [], { slot: slot++, name: `b${slot}` }) : undefined));
    return schedule(roots.map((node, i) => ({ node, name: `d${i}` })), name);
  }

  test("GPT-2's table (V=50257, D=768) at N=8192: no buffer of N*V, keys of O(N)", () => {
    const N = 8192, V = 50257, D = 768;
    const w = new Parameter(Tensor.input(0, "wte", [V, D]));
    const y = F.embedding(leaf(w), Tensor.input(1, "ids", [N], "u32"));
    backward(y, Tensor.input(2, "g", [N, D]));
    const s = scheduleOf([w.grad!.node], "wte_grad");
    const kinds = s.kernels.map((k) => k.kernel.kind);
    // 8192 keys: one block sort, then 4 stages of 1-4 global steps and one local merge each; then the sums
    expect(kinds).toEqual(["bitonic_local", ...[1, 2, 3, 4].flatMap((steps) => [...Array(steps).fill("bitonic_step"), "bitonic_local"]), "segment_sum"]);
    const temps = s.slots.filter((sl) => sl.kind === "temp");
    expect(temps.map((t) => [t.dtype, numel(t.shape)])).toEqual([["u32", 2 * N]]); // the sorted (id, position) pairs
    expect(s.slots.every((sl) => numel(sl.shape) < N * V)).toBe(true);
    // the one-hot design it replaces: an [N, V] temporary (1.6 GB) feeding an N*V*D product
    const w2 = new Parameter(Tensor.input(0, "wte", [V, D]));
    backward(F.embedding(leaf(w2), Tensor.input(1, "ids", [N], "u32"), undefined, { backward: "onehot" }), Tensor.input(2, "g", [N, D]));
    const old = scheduleOf([w2.grad!.node], "wte_grad_onehot");
    expect(old.slots.some((sl) => sl.kind === "temp" && numel(sl.shape) === N * V)).toBe(true);
  });

  test("StableEmbedding's backward: layer-norm backward, gain and bias sums, one sort, one segmented sum", () => {
    // Kernels the design allows: the layer-norm backward's dx (a row kernel), g * xhat for the gain's column
    // sum (a row kernel: xhat needs the row statistics), the gain and bias column sums, the sort (one
    // dispatch for N <= 512) and one segment_sum writing the table gradient. The one-hot design had the same
    // count plus an [N, V] one-hot and an N*V*D product in place of the last two.
    const V = 50, D = 16, N = 200;
    const w = new Parameter(Tensor.input(0, "w", [V, D]));
    const emb = new StableEmbedding(V, D, { weight: w });
    backward(emb.forward(Tensor.input(1, "ids", [N], "u32")), Tensor.input(2, "g", [N, D]));
    const s = scheduleOf(emb.parameters().map((p) => p.grad!.node), "stable_bwd");
    const count = (kind: string) => s.kernels.filter((k) => k.kernel.kind === kind).length;
    expect(s.kernels.length).toBe(6);
    expect([count("row"), count("colreduce"), count("bitonic_local"), count("segment_sum")]).toEqual([2, 2, 1, 1]);
    expect(s.slots.filter((sl) => sl.kind === "temp").map((t) => numel(t.shape)).sort((a, b) => a - b)).toEqual([1024, N * D, N * D]);
  });

  test("the gradient is written straight into an into target (an optimizer's arena slot)", () => {
    const V = 9, D = 4, N = 20;
    const g = Tensor.input(0, "g", [N, D]);
    const declared = [
      { kind: "input" as const, name: "g", dtype: "f32" as const, shape: [N, D] },
      { kind: "input" as const, name: "ids", dtype: "u32" as const, shape: [N] },
      { kind: "input" as const, name: "arena_grad", dtype: "f32" as const, shape: [V * D] },
    ];
    const s = schedule([{ node: g.scatterAdd(Tensor.input(1, "ids", [N], "u32"), V).node, name: "grad", into: 2 }], "into", declared);
    const last = s.kernels.at(-1)!.kernel;
    expect(last.kind).toBe("segment_sum");
    expect(last.bindings.find((b) => b.write)!.slot).toBe(2); // no copy kernel after it
    expect(s.results).toEqual([2]);
  });

  test("operands larger than one binding: windows of table rows and of positions, the same bits", async () => {
    // 768 KB of table gradient and 154 KB of values under a 64 KiB cap: 12 windows of rows x 3 of positions.
    // All-same ids make one run that spans every window of positions (later windows continue the sum).
    const V = 3001, D = 64, N = 600;
    const src = values(N * D, 11);
    const spread = [...ids(N - 3, V, 12), 0, V - 1, V - 1];
    const same = Array(N).fill(1234);
    const sched = schedule([{ node: Tensor.input(0, "g", [N, D]).scatterAdd(Tensor.input(1, "ids", [N], "u32"), V).node, name: "out" }], "windows");
    const sk = sched.kernels.at(-1)!;
    const bytes = sk.kernel.bindings.map((b) => paddedBytes(sched.slots[b.slot].dtype, numel(sched.slots[b.slot].shape)));
    const plan = kernelKindOf("segment_sum")!.chunks!(sk, bytes, { maxBinding: 64 * 1024, offsetAlign: 256, maxWorkgroups: 65535 });
    expect([plan.length, plan.filter((d) => d.consts.accumulate === 1).length]).toEqual([12 * 3, 12 * 2]);
    setStorageBindingCap(64 * 1024);
    try {
      for (const idx of [spread, same]) {
        const got = await scatterOnGpu(src, D, idx, "u32", V);
        expect(Array.from(got)).toEqual(Array.from(scatterAddRef(src, idx, V, D)));
      }
      // rows of 24 bytes (D = 6): windows start on rows whose byte offset is aligned
      const small = values(N * 6, 13);
      expect(Array.from(await scatterOnGpu(small, 6, spread, "u32", V))).toEqual(Array.from(scatterAddRef(small, spread, V, 6)));
    } finally {
      setStorageBindingCap(undefined);
    }
  });

  test("the WGSL is readable: a header naming the kernel and its graph, the DSL's binding names", () => {
    const s = schedule([{ node: Tensor.input(0, "dx", [5, 6]).scatterAdd(Tensor.input(1, "token_ids", [5], "i32"), 7).node, name: "wte_grad" }], "wte_scatter");
    const [sort, sum] = s.kernels.map((k) => emitWgsl(k.kernel));
    expect(sort).toStartWith("// octet kernel: wte_scatter\n");
    expect(sort).toContain("var<storage, read> token_ids: array<i32>;");
    expect(sum).toContain("// segment_sum kernel");
    expect(sum).toContain("var<storage, read_write> wte_grad: array<f32>;");
    expect(sum).toContain("= scatter %");
  });
});

describe("F.embedding: scatter backward (the default) and the one-hot option", () => {
  const V = 7, D = 6;
  const table = values(V * D, 21);
  // repeated ids, the padding id 2 twice, u32 ids
  const idList = [3, 0, 2, 3, 5, 2, 0, 3];
  const PAD = 2;
  async function grads(kind: "scatter" | "onehot", dtype: "i32" | "u32", pad?: number, list = idList): Promise<{ y: Float32Array; g: Float32Array; R: Float32Array }> {
    const p = new Parameter(await octet.tensor(table.slice(), [V, D]));
    const idx = await octet.tensor(dtype === "i32" ? Int32Array.from(list) : Uint32Array.from(list), [list.length], { dtype });
    const y = F.embedding(leaf(p), idx, pad, { backward: kind });
    const R = values(list.length * D, 22);
    backward(y, await octet.tensor(R, [list.length, D]));
    return { y: (await y.value.toArray()) as Float32Array, g: (await p.grad!.toArray()) as Float32Array, R };
  }
  for (const dtype of ["i32", "u32"] as const)
    test(`${dtype} ids with paddingIdx: lookup, and a table gradient without the padding row`, async () => {
      const { y, g, R } = await grads("scatter", dtype, PAD);
      expect(maxRelErr(y, embeddingRef(table, D, idList))).toBe(0);
      const want = scatterAddRef(R, idList.map((i) => (i === PAD ? -1 : i)), V, D);
      expect(Array.from(g)).toEqual(Array.from(want));
    });
  test("the one-hot option computes the same gradient", async () => {
    const a = await grads("onehot", "u32", PAD);
    const want = scatterAddRef(a.R, idList.map((i) => (i === PAD ? -1 : i)), V, D);
    expect(maxRelErr(a.g, want)).toBeLessThan(1e-6);
  });
  test("an id outside the table looks up NaN and adds to no row of the gradient", async () => {
    const list = [1, 9, 1, -3];
    const { y, g, R } = await grads("scatter", "i32", undefined, list);
    for (const n of [1, 3]) expect(Array.from(y.slice(n * D, (n + 1) * D)).every(Number.isNaN)).toBe(true);
    expect(Array.from(y.slice(0, D))).toEqual(Array.from(table.slice(D, 2 * D)));
    expect(Array.from(g)).toEqual(Array.from(scatterAddRef(R, list, V, D)));
  });
  test("withImplementations picks the default for a whole model's graph, and refuses unknown names", async () => {
    const p = new Parameter(await octet.tensor(table.slice(), [V, D]));
    const idx = await octet.tensor(Uint32Array.from(idList), [idList.length], { dtype: "u32" });
    const y = F.withImplementations({ embeddingBackward: "onehot" }, () => F.embedding(leaf(p), idx));
    backward(y, Tensor.const(1).expand([idList.length, D]));
    expect(toposortOps(p.grad!.node)).toContain("matmul");
    expect(() => F.withImplementations({ embeddingBackward: "sparse" as "onehot" }, () => 0)).toThrow(/embeddingBackward must be one of scatter, onehot/);
    expect(() => F.embedding(leaf(p), idx, undefined, { backward: "dense" as "onehot" })).toThrow(/backward must be "scatter" or "onehot"/);
    const y2 = F.embedding(leaf(p), idx); // the default is back
    p.grad = null;
    backward(y2, Tensor.const(1).expand([idList.length, D]));
    expect(toposortOps(p.grad!.node)).toContain("scatter");
  });
});

function toposortOps(n: Node): string[] {
  const seen = new Set<number>();
  const ops: string[] = [];
  const visit = (x: Node) => {
    if (seen.has(x.id)) return;
    seen.add(x.id);
    ops.push(x.op);
    x.src.forEach(visit);
  };
  visit(n);
  return ops;
}
