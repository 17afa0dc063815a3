// Fused cross-entropy (issue #8 item 3): Tensor.logsumexp (one online pass per row, any length) and
// F.crossEntropy's default path against float64 plain-TS references (test/reference/scatter.ts, nn.ts):
// i32 and u32 targets, ignoreIndex, bad targets, GPT-2-wide rows of 50257, and the buffers it needs (no
// [N, V] tensor besides the logits and their gradient).
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { numel } from "../../src/dsl/node.ts";
import { schedule } from "../../src/codegen/schedule.ts";
import { interpretSchedule } from "../../src/codegen/interpret.ts";
import { backward, leaf } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import { Parameter } from "../../src/nn/parameter.ts";
import { crossEntropyRef, finiteDiff, maxRelErr } from "../reference/nn.ts";
import { seededRandom } from "../reference/quant.ts";
import { crossEntropyWithGradRef, logsumexpRef } from "../reference/scatter.ts";

await octet.device();
setDefaultTimeout(30_000);

function values(n: number, seed: number, scale = 3): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * r() - 1));
}

/** Loss and d loss / d logits on the GPU (the default seed 1, as a training step). */
async function ceOnGpu(logits: Float32Array, N: number, V: number, targets: ArrayLike<number>, dtype: "i32" | "u32", opts: F.CrossEntropyOptions = {}) {
  const p = new Parameter(await octet.tensor(logits.slice(), [N, V]));
  const t = await octet.tensor(dtype === "i32" ? Int32Array.from(targets) : Uint32Array.from(targets), [N], { dtype });
  const loss = F.crossEntropy(leaf(p), t, opts);
  backward(loss);
  await octet.realize([loss.value, p.grad!]);
  return { loss: (await loss.value.toArray())[0], grad: (await p.grad!.toArray()) as Float32Array };
}

describe("Tensor.logsumexp: one pass, any row length", () => {
  for (const [R, L] of [[3, 7], [2, 50257], [2, 50256]] as const)
    test(`[${R}, ${L}]`, async () => {
      const x = values(R * L, L, 20);
      const got = await (await octet.tensor(x, [R, L])).logsumexp().toArray();
      expect(maxRelErr(got, logsumexpRef(x, R, L))).toBeLessThan(2e-7);
    });
  test("a row of -inf gives -inf, a NaN gives NaN; the interpreter agrees with the reference", async () => {
    const x = Float32Array.from([...Array(7).fill(-Infinity), 1, NaN, 2, 0, 0, 0, 0]);
    const got = await (await octet.tensor(x, [2, 7])).logsumexp().toArray();
    expect(got[0]).toBe(-Infinity);
    expect(got[1]).toBeNaN();
    const xs = values(3 * 1000, 4, 10);
    const s = schedule([{ node: Tensor.input(0, "x", [3, 1000]).logsumexp().node, name: "lse" }], "lse_interp");
    expect(maxRelErr(interpretSchedule(s, [xs], {})[s.results[0]], logsumexpRef(xs, 3, 1000))).toBeLessThan(2e-7);
  });
});

describe("F.crossEntropy (fused, the default)", () => {
  const N = 5, V = 7;
  const logits = values(N * V, 1);
  const targets = [0, 6, 3, 3, 1];
  for (const dtype of ["i32", "u32"] as const)
    test(`${dtype} targets: loss, and a gradient that matches finite differences`, async () => {
      const { loss, grad } = await ceOnGpu(logits, N, V, targets, dtype);
      expect(Math.abs(loss - crossEntropyRef(logits, N, V, targets))).toBeLessThan(1e-6 * Math.abs(loss));
      const fd = finiteDiff((x) => crossEntropyRef(x, N, V, targets), Float64Array.from(logits));
      expect(maxRelErr(grad, fd)).toBeLessThan(1e-4);
    });
  test("ignoreIndex: -100 by default; ignored rows add no loss and no gradient, the mean is over the rest", async () => {
    const t = [0, -100, 3, -100, 1];
    const { loss, grad } = await ceOnGpu(logits, N, V, t, "i32");
    const want = crossEntropyWithGradRef(logits, N, V, t);
    expect(Math.abs(loss - want.loss)).toBeLessThan(1e-6 * Math.abs(want.loss));
    expect(maxRelErr(grad, want.grad)).toBeLessThan(1e-6);
    for (const n of [1, 3]) expect(Array.from(grad.slice(n * V, (n + 1) * V))).toEqual(Array(V).fill(0));
  });
  test("a chosen ignoreIndex with u32 targets; every row ignored gives NaN, as PyTorch's mean", async () => {
    const t = [3, 6, 3, 3, 1];
    const { loss, grad } = await ceOnGpu(logits, N, V, t, "u32", { ignoreIndex: 3 });
    const want = crossEntropyWithGradRef(logits, N, V, t, 3);
    expect(Math.abs(loss - want.loss)).toBeLessThan(1e-6 * Math.abs(want.loss));
    expect(maxRelErr(grad, want.grad)).toBeLessThan(1e-6);
    expect((await ceOnGpu(logits, N, V, [3, 3, 3, 3, 3], "u32", { ignoreIndex: 3 })).loss).toBeNaN();
  });
  test("a target outside [0, V) makes the loss NaN, never a silent zero-probability class", async () => {
    expect((await ceOnGpu(logits, N, V, [0, 6, 7, 3, 1], "u32")).loss).toBeNaN();
    expect((await ceOnGpu(logits, N, V, [0, 6, -5, 3, 1], "i32")).loss).toBeNaN();
  });
  test("GPT-2 rows: N=3 rows of 50257 logits (not a multiple of 4)", async () => {
    const W = 50257;
    const big = values(3 * W, 7, 8);
    const t = [0, 50256, 12345];
    const { loss, grad } = await ceOnGpu(big, 3, W, t, "u32");
    const want = crossEntropyWithGradRef(big, 3, W, t);
    expect(Math.abs(loss - want.loss)).toBeLessThan(2e-6 * Math.abs(want.loss));
    expect(maxRelErr(grad, want.grad)).toBeLessThan(1e-5);
  });
  test("the unfused option agrees, refuses ignoreIndex, and unknown options are refused", async () => {
    const fused = await ceOnGpu(logits, N, V, targets, "i32");
    const old = await ceOnGpu(logits, N, V, targets, "i32", { impl: "unfused" });
    expect(Math.abs(old.loss - fused.loss)).toBeLessThan(1e-6 * Math.abs(fused.loss));
    expect(maxRelErr(old.grad, fused.grad)).toBeLessThan(1e-5);
    const l = leaf(new Parameter(await octet.tensor(logits.slice(), [N, V])));
    const t = await octet.tensor(Int32Array.from(targets), [N], { dtype: "i32" });
    expect(() => F.crossEntropy(l, t, { impl: "unfused", ignoreIndex: 0 })).toThrow(/ignoreIndex is only supported by impl "fused"/);
    expect(() => F.crossEntropy(l, t, { impl: "online" as "fused" })).toThrow(/impl must be "fused" or "unfused"/);
    expect(() => F.crossEntropy(l, t, { ignoreIndex: 0.5 })).toThrow(/ignoreIndex 0.5 is not an i32/);
  });
});

describe("buffers and passes of a training step's head", () => {
  /** loss and dW of CE(x @ W) over input slots: x [N, C], W [C, V], targets [N]. */
  function headSchedule(N: number, C: number, V: number, impl: "fused" | "unfused") {
    const w = new Parameter(Tensor.input(1, "w", [C, V]));
    const logits = F.linear({ value: Tensor.input(0, "x", [N, C]), parents: [], needsGrad: false, shape: [N, C] } as never, leaf(w));
    const loss = F.crossEntropy(logits, Tensor.input(2, "targets", [N], "u32"), { impl });
    backward(loss);
    return schedule([{ node: loss.value.node, name: "loss" }, { node: w.grad!.node, name: "dw" }], `head_${impl}`);
  }
  test("GPT-2's head (N=8192, V=50257): the logits and their gradient are the only [N, V] buffers", () => {
    const N = 8192, C = 768, V = 50257;
    const s = headSchedule(N, C, V, "fused");
    const wide = s.slots.map((sl, i) => [i, sl] as const).filter(([, sl]) => numel(sl.shape) >= N * V);
    expect(wide.map(([, sl]) => numel(sl.shape))).toEqual([N * V, N * V]);
    // the logits are read by two passes over [N, V]: the one-pass log-sum-exp and the gradient's map kernel
    const logitsSlot = s.kernels.find((k) => k.kernel.kind === "matmul")!.kernel.bindings.find((b) => b.write)!.slot;
    const wideReads = s.kernels.filter((k) => k.kernel.bindings.some((b) => b.slot === logitsSlot && b.read && b.mode === "elem"));
    expect(wideReads.map((k) => k.kernel.kind)).toEqual(["logsumexp", "map"]);
    expect(s.kernels.filter((k) => k.kernel.kind === "logsumexp").length).toBe(1);
  });
});
