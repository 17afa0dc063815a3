// Every differentiable op of src/nn/functional.ts against the float64 oracles of test/reference/nn.ts: the GPU
// forward against the reference forward, and the GPU backward rule (autograd, seeded with a fixed random R so
// the "loss" is sum(out ⊙ R)) against central differences of sum(ref(x) ⊙ R) for every input that takes a
// gradient. Shapes are tiny and odd (N=5, C=6, V=7, B=2, T=3, H=2) so no size happens to be a block multiple.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { backward, constant, leaf, type Var } from "../../src/autograd/var.ts";
import * as F from "../../src/nn/functional.ts";
import * as ref from "../reference/nn.ts";
import { seededRandom } from "../reference/quant.ts";

await octet.device();
// Kernel compiles dominate and the CI box is shared: a per-test limit above bun's 5 s default.
setDefaultTimeout(30_000);

const FWD_RTOL = 1e-5; // f32 forward vs f64 reference, relative to the output's largest magnitude
const GRAD_RTOL = 1e-3; // f32 backward vs f64 central differences, relative to the gradient's largest magnitude

const N = 5, C = 6, V = 7, B = 2, T = 3, H = 2;

/** Seeded N(0, 1) values, rounded to f32 (what the GPU sees is what the reference sees). */
function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

interface Input {
  data: Float32Array;
  shape: number[];
  /** A trainable leaf (its gradient is checked) or a constant. */
  grad: boolean;
}
const P = (data: Float32Array, shape: number[]): Input => ({ data, shape, grad: true });
const K = (data: Float32Array, shape: number[]): Input => ({ data, shape, grad: false });

type RefFn = (xs: Float64Array[]) => ArrayLike<number>;

interface Check {
  inputs: Input[];
  gpu: (vs: Var[]) => Var;
  ref: RefFn;
  /** The function whose finite differences are the expected gradient, built at the point xs (default: ref). */
  linearized?: (xs: Float64Array[]) => RefFn;
  /** Adjusts the finite-difference gradient of input i (e.g. zero the embedding's padding row). */
  fixGrad?: (i: number, g: Float64Array) => void;
  seed?: number;
}

const measured: { name: string; fwd: number; grads: number[] }[] = [];

/** Runs one op check; returns the GPU gradients by input (undefined for constants). */
async function check(name: string, c: Check): Promise<(Float32Array | undefined)[]> {
  const params = await Promise.all(c.inputs.map(async (inp) => (inp.grad ? new octet.nn.Parameter(await octet.tensor(inp.data.slice(), inp.shape)) : undefined)));
  const vars = await Promise.all(c.inputs.map(async (inp, i) => (params[i] ? leaf(params[i]!) : constant(await octet.tensor(inp.data.slice(), inp.shape)))));
  const out = c.gpu(vars);
  const xs = c.inputs.map((inp) => Float64Array.from(inp.data));
  const want = c.ref(xs);
  const got = (await out.value.toArray()) as Float32Array;
  expect(got.length, `${name}: output size`).toBe(want.length);
  const fwd = ref.maxRelErr(got, want);
  expect(fwd, `${name}: forward error`).toBeLessThan(FWD_RTOL);

  const R = randn(out.value.numel, c.seed ?? 99);
  backward(out, await octet.tensor(R, [...out.shape]));
  await octet.realize(params.flatMap((p) => (p?.grad ? [p.grad] : []))); // one program for every gradient
  const f = (c.linearized ?? (() => c.ref))(xs);
  const grads: (Float32Array | undefined)[] = [];
  const errs: number[] = [];
  for (let i = 0; i < c.inputs.length; i++) {
    if (!params[i]) {
      grads.push(undefined);
      continue;
    }
    const g = params[i]!.grad;
    expect(g, `${name}: input ${i} got no gradient`).not.toBeNull();
    const gpuG = (await g!.toArray()) as Float32Array;
    const fd = ref.finiteDiff((x) => ref.dot(f(xs.map((v, j) => (j === i ? x : v))), R), xs[i]);
    c.fixGrad?.(i, fd);
    const err = ref.maxRelErr(gpuG, fd);
    errs.push(err);
    expect(err, `${name}: gradient of input ${i}`).toBeLessThan(GRAD_RTOL);
    grads.push(gpuG);
  }
  measured.push({ name, fwd, grads: errs });
  return grads;
}

afterAll(() => {
  const worst = measured.reduce((m, r) => Math.max(m, ...r.grads), 0);
  console.log(
    "nn grad check (max error relative to max |ref|):\n" +
      measured.map((r) => `  ${r.name.padEnd(28)} fwd ${r.fwd.toExponential(1)}  grads ${r.grads.map((e) => e.toExponential(1)).join(" ")}`).join("\n") +
      `\n  worst gradient error ${worst.toExponential(2)}`,
  );
});

const ew = (f: (a: number, b: number) => number) => (xs: Float64Array[], bShape: "same" | "row" | "col" | "scalar") => {
  const [a, b] = xs;
  return a.map((v, i) => f(v, bShape === "same" ? b[i] : bShape === "row" ? b[i % C] : bShape === "col" ? b[Math.floor(i / C)] : b[0]));
};

describe("elementwise and structural ops", () => {
  const shapes = { same: [N, C], row: [C], col: [N, 1], scalar: [1] } as const;
  const sizes = { same: N * C, row: C, col: N, scalar: 1 } as const;
  for (const kind of ["same", "row", "col", "scalar"] as const) {
    test(`add [${N},${C}] + [${shapes[kind]}] (sumTo)`, async () => {
      await check(`add ${kind}`, {
        inputs: [P(randn(N * C, 1), [N, C]), P(randn(sizes[kind], 2), [...shapes[kind]])],
        gpu: ([a, b]) => F.add(a, b),
        ref: (xs) => ew((x, y) => x + y)(xs, kind),
      });
    });
    test(`mul [${N},${C}] * [${shapes[kind]}] (sumTo)`, async () => {
      await check(`mul ${kind}`, {
        inputs: [P(randn(N * C, 3), [N, C]), P(randn(sizes[kind], 4), [...shapes[kind]])],
        gpu: ([a, b]) => F.mul(a, b),
        ref: (xs) => ew((x, y) => x * y)(xs, kind),
      });
    });
  }
  test("mul of a value by itself accumulates both paths", async () => {
    await check("mul self", { inputs: [P(randn(N * C, 5), [N, C])], gpu: ([a]) => F.mul(a, a), ref: ([a]) => a.map((v) => v * v) });
  });
  test("scale", async () => {
    await check("scale", { inputs: [P(randn(N * C, 6), [N, C])], gpu: ([a]) => F.scale(a, -1.75), ref: ([a]) => a.map((v) => -1.75 * v) });
  });
  test("reshape then contiguous", async () => {
    // [N, C] -> [C, N] (a view; row-major order kept), then a materialized copy; the seed R has shape [C, N].
    await check("reshape+contiguous", {
      inputs: [P(randn(N * C, 7), [N, C])],
      gpu: ([a]) => F.contiguous(F.reshape(a, [C, N])),
      ref: ([a]) => a,
    });
  });
  test("a constant input gets no gradient and stops the backward pass", async () => {
    const grads = await check("add const", {
      inputs: [P(randn(N * C, 8), [N, C]), K(randn(N * C, 9), [N, C])],
      gpu: ([a, b]) => F.add(a, b),
      ref: (xs) => ew((x, y) => x + y)(xs, "same"),
    });
    expect(grads[1]).toBeUndefined();
  });
});

describe("linear", () => {
  const In = C, Out = V;
  test("with bias: x, w and b", async () => {
    await check("linear x,w,b", {
      inputs: [P(randn(N * In, 10), [N, In]), P(randn(In * Out, 11, 0.5), [In, Out]), P(randn(Out, 12), [Out])],
      gpu: ([x, w, b]) => F.linear(x, w, b),
      ref: ([x, w, b]) => ref.linearRef(x, w, N, In, Out, b),
    });
  });
  test("without bias, constant input", async () => {
    await check("linear w (x const)", {
      inputs: [K(randn(N * In, 13), [N, In]), P(randn(In * Out, 14, 0.5), [In, Out])],
      gpu: ([x, w]) => F.linear(x, w),
      ref: ([x, w]) => ref.linearRef(x, w, N, In, Out),
    });
  });
});

describe("gelu", () => {
  test("tanh approximation over [-4, 4]-ish", async () => {
    await check("gelu", { inputs: [P(randn(N * C, 15, 2), [N, C])], gpu: ([x]) => F.gelu(x), ref: ([x]) => ref.geluRef(x) });
  });
});

describe("layerNorm", () => {
  test("with gain and bias: x, gain, bias", async () => {
    await check("layerNorm x,w,b", {
      inputs: [P(randn(N * C, 16, 3), [N, C]), P(randn(C, 17).map((v) => 1 + 0.5 * v), [C]), P(randn(C, 18), [C])],
      gpu: ([x, w, b]) => F.layerNorm(x, w, b),
      ref: ([x, w, b]) => ref.layerNormRef(x, N, C, w, b),
    });
  });
  test("without gain and bias, offset rows", async () => {
    // A large common offset: the centered variance must not cancel catastrophically.
    await check("layerNorm x", {
      inputs: [P(randn(N * C, 19).map((v) => v + 4), [N, C])],
      gpu: ([x]) => F.layerNorm(x),
      ref: ([x]) => ref.normalizeRef(x, N, C),
    });
  });
});

describe("adaNorm", () => {
  test("C=1, k=0.1, factor detached", async () => {
    await check("adaNorm", {
      inputs: [P(randn(N * C, 20, 2), [N, C])],
      gpu: ([x]) => F.adaNorm(x),
      ref: ([x]) => ref.adaNormRef(x, N, C),
      // The gradient treats C (1 - k y) as a constant: differentiate z = factor(x0) ⊙ y(x).
      linearized: ([x0]) => {
        const factor = ref.adaNormFactorRef(x0, N, C);
        return ([x]) => ref.adaNormRef(x, N, C, factor);
      },
    });
  });
  test("C=2 (the authors' IWSLT setting), k=0.1", async () => {
    await check("adaNorm C=2", {
      inputs: [P(randn(N * C, 32, 2), [N, C])],
      gpu: ([x]) => F.adaNorm(x, 2, 0.1),
      ref: ([x]) => ref.adaNormRef(x, N, C, undefined, 2, 0.1),
      linearized: ([x0]) => {
        const factor = ref.adaNormFactorRef(x0, N, C, 2, 0.1);
        return ([x]) => ref.adaNormRef(x, N, C, factor);
      },
    });
  });
  test("differs from the undetached polynomial's gradient (the detach is real)", async () => {
    const x = randn(N * C, 20, 2);
    const p = new octet.nn.Parameter(await octet.tensor(x.slice(), [N, C]));
    const out = F.adaNorm(leaf(p));
    const R = randn(N * C, 99);
    backward(out, await octet.tensor(R, [N, C]));
    const g = (await p.grad!.toArray()) as Float32Array;
    const full = ref.finiteDiff((v) => ref.dot(ref.adaNormRef(v, N, C), R), Float64Array.from(x));
    expect(ref.maxRelErr(g, full)).toBeGreaterThan(1e-2);
  });
});

describe("embedding", () => {
  const D = C;
  // Repeated ids (3 three times, 0 twice) and the padding id 2 twice.
  const ids = Int32Array.from([3, 0, 2, 3, 5, 2, 0, 3]);
  const PAD = 2;
  test("lookup forward; table gradient is a scatter-add with a zero padding row", async () => {
    const idx = await octet.tensor(ids, [ids.length], { dtype: "i32" });
    const [g] = await check("embedding (padding 2)", {
      inputs: [P(randn(V * D, 21), [V, D])],
      gpu: ([w]) => F.embedding(w, idx, PAD),
      ref: ([w]) => ref.embeddingRef(w, D, ids),
      fixGrad: (_, fd) => fd.fill(0, PAD * D, (PAD + 1) * D), // torch: the padding row gets no gradient
    });
    const R = randn(ids.length * D, 99);
    for (let j = 0; j < D; j++) {
      expect(g![PAD * D + j]).toBe(0);
      // row 3 collects the seeds of positions 0, 3 and 7; rows never looked up (1, 4, 6) stay zero
      expect(g![3 * D + j]).toBeCloseTo(R[0 * D + j] + R[3 * D + j] + R[7 * D + j], 5);
      for (const r of [1, 4, 6]) expect(g![r * D + j]).toBe(0);
    }
  });
  test("without padding, 2-D index, through a downstream op", async () => {
    const ids2 = Int32Array.from([6, 1, 1, 4, 0, 6]);
    const idx = await octet.tensor(ids2, [B, T], { dtype: "i32" });
    await check("embedding->gelu", {
      inputs: [P(randn(V * D, 22), [V, D])],
      gpu: ([w]) => F.gelu(F.embedding(w, idx)),
      ref: ([w]) => ref.geluRef(ref.embeddingRef(w, D, ids2)),
    });
  });
});

describe("crossEntropy", () => {
  const targets = Int32Array.from([0, 6, 3, 3, 1]);
  test("mean over rows; gradient w.r.t. logits", async () => {
    const t = await octet.tensor(targets, [N], { dtype: "i32" });
    await check("crossEntropy", {
      inputs: [P(randn(N * V, 23, 2), [N, V])],
      gpu: ([l]) => F.crossEntropy(l, t),
      ref: ([l]) => [ref.crossEntropyRef(l, N, V, targets)],
    });
  });
  test("large logits stay finite (max subtracted)", async () => {
    const t = await octet.tensor(targets, [N], { dtype: "i32" });
    await check("crossEntropy (logits+80)", {
      inputs: [P(randn(N * V, 24).map((v) => v + 80), [N, V])],
      gpu: ([l]) => F.crossEntropy(l, t),
      ref: ([l]) => [ref.crossEntropyRef(l, N, V, targets)],
    });
  });
  test("default seed: a scalar loss through linear", async () => {
    // loss = CE(x W + b): the default backward seed (1) on a [1, 1] loss, gradients through two ops.
    const x = randn(N * C, 25), w = randn(C * V, 26, 0.5), b = randn(V, 27);
    const pw = new octet.nn.Parameter(await octet.tensor(w.slice(), [C, V]));
    const pb = new octet.nn.Parameter(await octet.tensor(b.slice(), [V]));
    const loss = F.crossEntropy(F.linear(constant(await octet.tensor(x, [N, C])), leaf(pw), leaf(pb)), await octet.tensor(targets, [N], { dtype: "i32" }));
    expect(loss.shape).toEqual([1, 1]);
    backward(loss);
    const X = Float64Array.from(x);
    const fw = ref.finiteDiff((v) => ref.crossEntropyRef(ref.linearRef(X, v, N, C, V, b), N, V, targets), w);
    const fb = ref.finiteDiff((v) => ref.crossEntropyRef(ref.linearRef(X, w, N, C, V, v), N, V, targets), b);
    const ew = ref.maxRelErr((await pw.grad!.toArray()) as Float32Array, fw);
    const eb = ref.maxRelErr((await pb.grad!.toArray()) as Float32Array, fb);
    measured.push({ name: "CE(linear) default seed", fwd: 0, grads: [ew, eb] });
    expect(ew).toBeLessThan(GRAD_RTOL);
    expect(eb).toBeLessThan(GRAD_RTOL);
  });
});

describe("causalSelfAttention", () => {
  test(`B=${B}, T=${T}, H=${H}, C=${C}: forward and d qkv`, async () => {
    await check("causalSelfAttention", {
      inputs: [P(randn(B * T * 3 * C, 28), [B * T, 3 * C])],
      gpu: ([qkv]) => F.causalSelfAttention(qkv, B, T, H),
      ref: ([qkv]) => ref.attentionRef(qkv, B, T, C, H),
    });
  });
  test("B=1, T=5, H=3, C=9 (hd=3): odd head size, longer sequence", async () => {
    await check("causalSelfAttention H=3", {
      inputs: [P(randn(5 * 27, 29, 1.5), [5, 27])],
      gpu: ([qkv]) => F.causalSelfAttention(qkv, 1, 5, 3),
      ref: ([qkv]) => ref.attentionRef(qkv, 1, 5, 9, 3),
    });
  });
});

describe("backward", () => {
  test("accumulates into an existing .grad and sums a parameter used twice", async () => {
    const x = randn(N * C, 30);
    const p = new octet.nn.Parameter(await octet.tensor(x.slice(), [N, C]));
    const R = randn(N * C, 31);
    // y = x + 2x = 3x, run twice: grad = 6 R
    for (let i = 0; i < 2; i++) backward(F.add(leaf(p), F.scale(leaf(p), 2)), await octet.tensor(R, [N, C]));
    const g = (await p.grad!.toArray()) as Float32Array;
    for (let i = 0; i < g.length; i++) expect(g[i]).toBeCloseTo(6 * R[i], 5);
  });
});

describe("backward seed", () => {
  test("the default seed is a literal 1, also when the loss overflows", async () => {
    const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from([1e30]), [1]));
    const y = F.mul(leaf(p), leaf(p)); // 1e60: +inf in f32
    expect((await y.value.toArray())[0]).toBe(Infinity);
    backward(y);
    expect((await p.grad!.toArray())[0]).toBeCloseTo(2e30, -25); // d(x^2)/dx = 2x
  });
});

// The ops a small model needs (issue #11): arithmetic, activations, reductions, softmax, matmul, MSE.
describe("ops for a small MLP", () => {
  const same = (f: (x: number, y: number) => number) => (xs: Float64Array[]) => xs[0].map((v, i) => f(v, xs[1][i]));
  const unary = (f: (x: number) => number) => (xs: Float64Array[]) => xs[0].map(f);
  const away = (x: Float32Array, m: number) => x.map((v) => (Math.abs(v) < m ? (v < 0 ? -m : m) : v)); // no kink within h
  test("sub (and broadcast back to a row)", async () => {
    await check("sub", { inputs: [P(randn(N * C, 31), [N, C]), P(randn(N * C, 32), [N, C])], gpu: ([a, b]) => F.sub(a, b), ref: same((x, y) => x - y) });
    await check("sub row", { inputs: [P(randn(N * C, 33), [N, C]), P(randn(C, 34), [C])], gpu: ([a, b]) => F.sub(a, b), ref: (xs) => ew((x, y) => x - y)(xs, "row") });
  });
  test("div", async () => {
    const b = randn(N * C, 36).map((v) => (v < 0 ? v - 0.5 : v + 0.5)); // away from 0
    await check("div", { inputs: [P(randn(N * C, 35), [N, C]), P(b, [N, C])], gpu: ([x, y]) => F.div(x, y), ref: same((x, y) => x / y) });
  });
  test("neg, relu, sigmoid, tanh, exp, log", async () => {
    await check("neg", { inputs: [P(randn(N * C, 40), [N, C])], gpu: ([a]) => F.neg(a), ref: unary((x) => -x) });
    await check("relu", { inputs: [P(away(randn(N * C, 41), 1e-2), [N, C])], gpu: ([a]) => F.relu(a), ref: unary((x) => Math.max(x, 0)) });
    await check("sigmoid", { inputs: [P(randn(N * C, 42), [N, C])], gpu: ([a]) => F.sigmoid(a), ref: unary((x) => 1 / (1 + Math.exp(-x))) });
    await check("tanh", { inputs: [P(randn(N * C, 43), [N, C])], gpu: ([a]) => F.tanh(a), ref: unary(Math.tanh) });
    await check("exp", { inputs: [P(randn(N * C, 44), [N, C])], gpu: ([a]) => F.exp(a), ref: unary(Math.exp) });
    await check("log", { inputs: [P(randn(N * C, 45).map((v) => Math.abs(v) + 0.5), [N, C])], gpu: ([a]) => F.log(a), ref: unary(Math.log) });
  });
  test("sum and mean: over everything, the last axis, the leading axis (keepdim or not)", async () => {
    const x = () => P(randn(N * C, 50), [N, C]);
    const rowSums = (a: Float64Array) => Float64Array.from({ length: N }, (_, r) => a.slice(r * C, r * C + C).reduce((s, v) => s + v, 0));
    const colSums = (a: Float64Array) => Float64Array.from({ length: C }, (_, c) => a.filter((_, i) => i % C === c).reduce((s, v) => s + v, 0));
    await check("sum all", { inputs: [x()], gpu: ([a]) => F.sum(a), ref: ([a]) => [a.reduce((s, v) => s + v, 0)] });
    await check("mean all", { inputs: [x()], gpu: ([a]) => F.mean(a), ref: ([a]) => [a.reduce((s, v) => s + v, 0) / (N * C)] });
    await check("sum last", { inputs: [x()], gpu: ([a]) => F.sum(a, -1), ref: ([a]) => rowSums(a) });
    await check("mean last, dropped", { inputs: [x()], gpu: ([a]) => F.mean(a, 1, false), ref: ([a]) => rowSums(a).map((v) => v / C) });
    await check("sum leading", { inputs: [x()], gpu: ([a]) => F.sum(a, 0, false), ref: ([a]) => colSums(a) });
  });
  test("softmax over the last axis", async () => {
    await check("softmax", {
      inputs: [P(randn(N * C, 55, 2), [N, C])],
      gpu: ([a]) => F.softmax(a),
      ref: ([a]) => {
        const out = new Float64Array(a.length);
        for (let r = 0; r < N; r++) {
          const row = a.slice(r * C, r * C + C);
          const m = Math.max(...row);
          const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
          row.forEach((v, c) => (out[r * C + c] = Math.exp(v - m) / z));
        }
        return out;
      },
    });
  });
  const mm = (a: Float64Array, b: Float64Array, M: number, K: number, Nn: number, batches = 1, shared = true) => {
    const out = new Float64Array(batches * M * Nn);
    for (let q = 0; q < batches; q++)
      for (let i = 0; i < M; i++)
        for (let j = 0; j < Nn; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[q * M * K + i * K + k] * b[(shared ? 0 : q * K * Nn) + k * Nn + j];
          out[q * M * Nn + i * Nn + j] = s;
        }
    return out;
  };
  test("matmul: 2-D, batched with a shared right operand, batched by batched", async () => {
    await check("matmul", { inputs: [P(randn(N * C, 60), [N, C]), P(randn(C * V, 61), [C, V])], gpu: ([a, b]) => F.matmul(a, b), ref: ([a, b]) => mm(a, b, N, C, V) });
    await check("matmul shared b", { inputs: [P(randn(B * T * C, 62), [B, T, C]), P(randn(C * V, 63), [C, V])], gpu: ([a, b]) => F.matmul(a, b), ref: ([a, b]) => mm(a, b, T, C, V, B) });
    await check("matmul batched", { inputs: [P(randn(B * T * C, 64), [B, T, C]), P(randn(B * C * V, 65), [B, C, V])], gpu: ([a, b]) => F.matmul(a, b), ref: ([a, b]) => mm(a, b, T, C, V, B, false) });
  });
  test("mseLoss (mean reduction) against a constant target and a Var target", async () => {
    const mse = ([a, b]: Float64Array[]) => [a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length];
    await check("mse const", { inputs: [P(randn(N * C, 70), [N, C]), K(randn(N * C, 71), [N, C])], gpu: ([a, b]) => F.mseLoss(a, b.value), ref: mse });
    await check("mse var", { inputs: [P(randn(N * C, 72), [N, C]), P(randn(N * C, 73), [N, C])], gpu: ([a, b]) => F.mseLoss(a, b), ref: mse });
  });
  test("octet.nn.op defines a new differentiable op (softplus, as in the README)", async () => {
    const softplus = (x: Var) => octet.nn.op(x.value.exp().add(1).log(), [x], (g) => [g.mul(x.value.neg().exp().add(1).recip())]);
    await check("nn.op softplus", { inputs: [P(randn(N * C, 80), [N, C])], gpu: ([a]) => softplus(a), ref: unary((x) => Math.log(1 + Math.exp(x))) });
  });
});
