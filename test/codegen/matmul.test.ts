// The matmul kernels (tiled through workgroup memory for GPUs; direct, and broadcast where the device has
// subgroups, for CPU adapters) against a plain-TS product: odd sizes (tails in every tile dimension), every
// transpose combination, batched and shared B, and (broadcast) products cut to fit a lowered binding limit.
// The variant is a device fact: each case schedules for the device's target with that variant.
import { describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import type { MatmulVariant } from "../../src/codegen/matmul.ts";
import { deviceInfo, setStorageBindingCap } from "../../src/runtime/device.ts";
import { jit } from "../../src/runtime/jit.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { matmulReference, rnd } from "../reference/matmul.ts";
import { f16round } from "../../src/dsl/f16round.ts";


const cases: [number, number, number, boolean, boolean, number, boolean][] = [
  [5, 7, 3, false, false, 1, false],
  [37, 65, 33, true, false, 1, false],
  [33, 40, 70, false, true, 2, false],
  [31, 33, 35, true, true, 3, false],
  [20, 12, 9, false, false, 4, true], // a weight shared by every batch
];

// The broadcast kernel's own cases: N (M under transA, K under transB) multiples of 4, as it needs, but not of its 32x64
// block or its 8-step K loop, so every tail is exercised; a shape it cannot take falls back to the direct kernel.
const broadcastCases: [number, number, number, boolean, boolean, number, boolean][] = [
  [37, 65, 36, false, false, 1, false],
  [68, 9, 132, true, false, 1, false],
  [33, 44, 68, false, true, 2, false], // K = 44: the last pass over k is half empty
  [36, 36, 40, true, true, 3, false], // 32 + 4 rows
  [20, 12, 8, false, false, 4, true],
  [3, 4, 4, false, true, 1, false],
];

/** Runs one product for `target` and returns the worst error against the reference and the generated WGSL. */
async function runCase(target: ReturnType<typeof deviceTarget>, [M, K, N, ta, tb, batch, sharedB]: (typeof cases)[number], cap?: number) {
  const a = rnd(batch * M * K, M * 7 + K);
  const b = rnd((sharedB ? 1 : batch) * K * N, N * 13 + K);
  const ash = ta ? [K, M] : [M, K], bsh = tb ? [N, K] : [K, N];
  const aShape = batch > 1 ? [batch, ...ash] : ash;
  const bShape = batch > 1 && !sharedB ? [batch, ...bsh] : bsh;
  const mm = jit(`mm_${M}_${K}_${N}`, { a: { shape: aShape }, b: { shape: bShape } }, ({ a, b }) => ({ c: a.matmul(b, { transA: ta, transB: tb }) }), { target });
  const [A, B] = [await octet.tensor(a, aShape), await octet.tensor(b, bShape)];
  if (cap) setStorageBindingCap(cap);
  try {
    const got = await (await mm.run({ a: A, b: B })).c.toArray();
    const want = matmulReference(a, b, M, K, N, ta, tb, batch, sharedB);
    let worst = got.length === want.length ? 0 : Infinity;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    return { worst, wgsl: mm.wgsl().join("\n"), dispatches: mm.dispatchCount };
  } finally {
    setStorageBindingCap(undefined);
  }
}

describe("matmul (broadcast kernel)", () => {
  const broadcastTarget = async () => {
    await octet.device();
    return { ...deviceTarget(), matmulVariant: "broadcast" as MatmulVariant };
  };
  test.each(broadcastCases)("M=%i K=%i N=%i transA=%p transB=%p batch=%i sharedB=%p", async (M, K, N, ta, tb, batch, sharedB) => {
    const c: (typeof cases)[number] = [M, K, N, ta, tb, batch, sharedB];
    const target = await broadcastTarget();
    if (!deviceInfo().hasSubgroups) return; // the kernel needs subgroupBroadcast (lavapipe has it)
    const { worst, wgsl } = await runCase(target, c);
    expect(wgsl).toContain("matmul kernel (broadcast)");
    expect(worst).toBeLessThan(1e-5 * Math.sqrt(c[1]));
  });

  test("sizes it cannot take (N not a multiple of 4; M under transA; K under transB) get the direct kernel, and the right numbers", async () => {
    const target = await broadcastTarget();
    for (const c of [[9, 8, 6, false, false, 1, false], [9, 8, 8, true, false, 1, false], [9, 6, 8, false, true, 1, false]] as (typeof cases)[number][]) {
      const { worst, wgsl } = await runCase(target, c);
      expect(wgsl).toContain("matmul kernel (direct)");
      expect(worst).toBeLessThan(1e-5 * Math.sqrt(c[1]));
    }
  });

  // Under a lowered binding limit the product is cut over batches, M, N and K (accumulating), the cuts along N
  // and K kept multiples of 4 for the vec4 loads of B.
  test.each([
    [300, 40, 20, false, false, 1, false, 8192], // rows of A and C
    [40, 300, 72, true, false, 1, false, 8192], // K slices of A^T and B, accumulated
    [9, 64, 500, false, true, 1, false, 16384], // rows of B^T = columns of C
    [36, 100, 92, true, true, 1, false, 4096], // both transposed
    [20, 300, 100, false, false, 1, false, 8192], // K, then N
    [64, 48, 40, false, true, 5, true, 4096], // a shared weight
  ] as [number, number, number, boolean, boolean, number, boolean, number][])("M=%i K=%i N=%i transA=%p transB=%p batch=%i sharedB=%p under a %i-byte cap", async (M, K, N, ta, tb, batch, sharedB, cap) => {
    const target = await broadcastTarget();
    if (!deviceInfo().hasSubgroups) return;
    const { worst, wgsl, dispatches } = await runCase(target, [M, K, N, ta, tb, batch, sharedB], cap);
    expect(wgsl).toContain("matmul kernel (broadcast)");
    expect(dispatches).toBeGreaterThan(1); // really chunked
    expect(worst).toBeLessThan(1e-5 * Math.sqrt(K));
  }, 30_000);
});

describe.each(["tiled", "direct"] as MatmulVariant[])("matmul (%s kernel)", (variant) => {
  test.each(cases)("M=%i K=%i N=%i transA=%p transB=%p batch=%i sharedB=%p", async (M, K, N, ta, tb, batch, sharedB) => {
    await octet.device();
    const target = { ...deviceTarget(), matmulVariant: variant };
    const a = rnd(batch * M * K, M * 7 + K);
    const b = rnd((sharedB ? 1 : batch) * K * N, N * 13 + K);
    const ash = ta ? [K, M] : [M, K], bsh = tb ? [N, K] : [K, N];
    const aShape = batch > 1 ? [batch, ...ash] : ash;
    const bShape = batch > 1 && !sharedB ? [batch, ...bsh] : bsh;
    const mm = jit("mm", { a: { shape: aShape }, b: { shape: bShape } }, ({ a, b }) => ({ c: a.matmul(b, { transA: ta, transB: tb }) }), { target });
    expect(mm.wgsl().join("\n")).toContain(`matmul kernel (${variant})`);
    const { c } = await mm.run({ a: await octet.tensor(a, aShape), b: await octet.tensor(b, bShape) });
    const got = await c.toArray();
    const want = matmulReference(a, b, M, K, N, ta, tb, batch, sharedB);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(got.length).toBe(want.length);
    expect(worst).toBeLessThan(1e-5 * Math.sqrt(K)); // f32 accumulation of K products of magnitude <= 0.25
  });
});

// f16 operands: every variant declares f16 arrays, so each must enable f16 (the direct and tiled kernels did not,
// and failed to compile); a device without shader-f16 is refused with the reason, before any shader compile.
describe.each(["tiled", "direct", "broadcast"] as MatmulVariant[])("matmul of f16 matrices (%s kernel)", (variant) => {
  test.each([[9, 12, 8, false, false], [8, 20, 12, true, true]] as [number, number, number, boolean, boolean][])("M=%i K=%i N=%i transA=%p transB=%p against the float64 product of the f16 inputs", async (M, K, N, ta, tb) => {
    await octet.device();
    if (!deviceInfo().hasF16 || (variant === "broadcast" && !deviceInfo().hasSubgroups)) return;
    const target = { ...deviceTarget(), matmulVariant: variant };
    const a = Float32Array.from(rnd(M * K, M + 3 * K), f16round);
    const b = Float32Array.from(rnd(K * N, N + 5 * K), f16round);
    const [aShape, bShape] = [ta ? [K, M] : [M, K], tb ? [N, K] : [K, N]];
    const mm = jit(`mm16_${variant}`, { a: { shape: aShape }, b: { shape: bShape } }, ({ a, b }) => ({ c: a.cast("f16").matmul(b.cast("f16"), { transA: ta, transB: tb }).cast("f32") }), { target });
    const got = await (await mm.run({ a: await octet.tensor(a, aShape), b: await octet.tensor(b, bShape) })).c.toArray();
    expect(mm.wgsl().join("\n")).toContain(`matmul kernel (${variant})`);
    const want = matmulReference(a, b, M, K, N, ta, tb, 1, false);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThan(K * 2 ** -11); // f16 accumulation: at most one half-ulp of a sum below 1 per product
  });

  test("a target without shader-f16 is refused, naming the kernel and the fix", async () => {
    await octet.device();
    const target = { ...deviceTarget(), matmulVariant: variant, f16: false, subgroupMinSize: variant === "broadcast" ? 8 : deviceTarget().subgroupMinSize };
    const mm = jit(`mm16_nof16_${variant}`, { a: { shape: [8, 8] }, b: { shape: [8, 8] } }, ({ a, b }) => ({ c: a.cast("f16").matmul(b.cast("f16")).cast("f32") }), { target });
    expect(() => mm.wgsl()).toThrow(/no shader-f16; cast to f32 first/);
  });
});
