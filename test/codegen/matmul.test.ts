// Both matmul kernels (tiled through workgroup memory for GPUs, direct for CPU adapters) against a plain-TS
// product: odd sizes (tails in every tile dimension), every transpose combination, batched and shared B.
// The variant is a device fact: each case schedules for the device's target with that variant.
import { describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import type { MatmulVariant } from "../../src/codegen/matmul.ts";
import { jit } from "../../src/runtime/jit.ts";
import { deviceTarget } from "../../src/runtime/target.ts";
import { matmulReference, rnd } from "../reference/matmul.ts";


const cases: [number, number, number, boolean, boolean, number, boolean][] = [
  [5, 7, 3, false, false, 1, false],
  [37, 65, 33, true, false, 1, false],
  [33, 40, 70, false, true, 2, false],
  [31, 33, 35, true, true, 3, false],
  [20, 12, 9, false, false, 4, true], // a weight shared by every batch
];

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
