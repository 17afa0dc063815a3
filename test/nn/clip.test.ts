// octet.nn.clipGradNorm against a plain-TS model of torch.nn.utils.clip_grad_norm_ (error_if_nonfinite=False):
// total = ‖(‖g_1‖_p, ..., ‖g_k‖_p)‖_p over every gradient; coef = maxNorm / (total + 1e-6), clamped to 1; every
// gradient is multiplied by it. Sizes are odd (not block multiples) and one gradient spans several 256-blocks.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { seededRandom } from "../reference/quant.ts";

await octet.device();
setDefaultTimeout(30_000);

const fl = Math.fround;
const SHAPES = [[5], [3, 7], [613], [2, 129]];

function randn(n: number, seed: number, scale: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

/** torch's clip_grad_norm_ in float64, coefficient rounded to f32 as the f32 kernel holds it. */
function reference(grads: Float32Array[], maxNorm: number, normType: number): { total: number; clipped: Float32Array[] } {
  let total: number;
  if (normType === Infinity) total = Math.max(...grads.map((g) => g.reduce((a, v) => Math.max(a, Math.abs(v)), 0)));
  else {
    const norms = grads.map((g) => g.reduce((a, v) => a + Math.abs(v) ** normType, 0) ** (1 / normType));
    total = norms.reduce((a, v) => a + v ** normType, 0) ** (1 / normType);
  }
  const coef = Math.min(1, fl(fl(maxNorm) / fl(fl(total) + fl(1e-6))));
  return { total, clipped: grads.map((g) => g.map((v) => fl(v * coef))) };
}

async function params(scale: number, seed = 1): Promise<{ ps: octet.nn.Parameter[]; grads: Float32Array[] }> {
  const ps: octet.nn.Parameter[] = [];
  const grads: Float32Array[] = [];
  for (const [i, shape] of SHAPES.entries()) {
    const n = shape.reduce((a, b) => a * b, 1);
    const p = new octet.nn.Parameter(await octet.tensor(new Float32Array(n), shape));
    const g = randn(n, seed * 10 + i, scale);
    p.grad = await octet.tensor(g, shape);
    ps.push(p);
    grads.push(g);
  }
  return { ps, grads };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number): void {
  expect(got.length).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > rtol * Math.max(scale, 1e-30)) throw new Error(`[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

describe("nn.clipGradNorm", () => {
  for (const normType of [2, 1, 3, Infinity]) {
    test(`norm ${normType}: returns the total norm and scales every gradient when it exceeds maxNorm`, async () => {
      const { ps, grads } = await params(1, normType === Infinity ? 9 : normType);
      const want = reference(grads, 0.5, normType);
      expect(want.total).toBeGreaterThan(0.5); // the clipping branch is taken
      const total = octet.nn.clipGradNorm(ps, 0.5, normType);
      expect(total).toBeInstanceOf(octet.Tensor);
      expect(Math.abs((await total.toArray())[0] - want.total)).toBeLessThan(1e-5 * want.total);
      for (let i = 0; i < ps.length; i++) {
        expect(ps[i].grad!.shape).toEqual(SHAPES[i]);
        expectClose(await ps[i].grad!.toArray(), want.clipped[i], 1e-5);
      }
    });
  }

  test("below maxNorm the gradients are left exactly as they were (coef clamped to 1)", async () => {
    const { ps, grads } = await params(1e-3);
    const want = reference(grads, 10, 2);
    expect(want.total).toBeLessThan(10);
    const total = octet.nn.clipGradNorm(ps, 10);
    expect(Math.abs((await total.toArray())[0] - want.total)).toBeLessThan(1e-5 * want.total);
    for (let i = 0; i < ps.length; i++) expect(Array.from(await ps[i].grad!.toArray())).toEqual(Array.from(grads[i]));
  });

  test("parameters without a gradient are skipped; a single Parameter is accepted", async () => {
    const { ps, grads } = await params(1);
    ps[1].grad = null;
    const want = reference([grads[0], grads[2], grads[3]], 0.25, 2);
    const total = octet.nn.clipGradNorm(ps, 0.25);
    expect(Math.abs((await total.toArray())[0] - want.total)).toBeLessThan(1e-5 * want.total);
    expect(ps[1].grad).toBeNull();
    expectClose(await ps[2].grad!.toArray(), want.clipped[1], 1e-5);
    const one = reference([want.clipped[0]], 0.01, 2);
    const t1 = octet.nn.clipGradNorm(ps[0], 0.01);
    expect(Math.abs((await t1.toArray())[0] - one.total)).toBeLessThan(1e-5 * one.total);
    expectClose(await ps[0].grad!.toArray(), one.clipped[0], 1e-5);
  });

  test("no gradients at all: the total is 0 and nothing changes", async () => {
    const { ps } = await params(1);
    for (const p of ps) p.grad = null;
    expect(Array.from(await octet.nn.clipGradNorm(ps, 1).toArray())).toEqual([0]);
  });

  test("non-finite gradients: NaN -> total NaN, Inf -> total Inf (as torch), and the gradients are left as they were", async () => {
    const { ps, grads } = await params(1);
    const bad = grads[2].slice();
    bad[100] = NaN;
    ps[2].grad = await octet.tensor(bad);
    const total = await octet.nn.clipGradNorm(ps, 1).toArray();
    expect(Number.isNaN(total[0])).toBe(true);
    // torch would multiply every gradient by 1 / NaN; octet keeps them, so skipNonFinite (or bnb's 8-bit guard) sees
    // the one bad element instead of a model of NaN gradients.
    for (let i = 0; i < ps.length; i++) {
      const got = Array.from(await ps[i].grad!.toArray());
      expect(got).toEqual(Array.from(i === 2 ? bad : grads[i]));
    }

    for (const normType of [2, 1, 3, Infinity]) {
      const again = await params(1);
      const inf = again.grads[0].slice();
      inf[2] = -Infinity;
      again.ps[0].grad = await octet.tensor(inf, SHAPES[0]);
      const t = await octet.nn.clipGradNorm(again.ps, 1, normType).toArray();
      expect(t[0]).toBe(Infinity);
      expect(Array.from(await again.ps[0].grad!.toArray())).toEqual(Array.from(inf));
      expect(Array.from(await again.ps[3].grad!.toArray())).toEqual(Array.from(again.grads[3]));
    }
  });

  test("bad arguments are refused with what was wrong", () => {
    expect(() => octet.nn.clipGradNorm([], -1)).toThrow(/maxNorm/);
    expect(() => octet.nn.clipGradNorm([], NaN)).toThrow(/maxNorm/);
    expect(() => octet.nn.clipGradNorm([], 1, 0)).toThrow(/normType/);
    expect(() => octet.nn.clipGradNorm([{} as octet.nn.Parameter], 1)).toThrow(/Parameter/);
  });
});
