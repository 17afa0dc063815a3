// Repeated subgraphs rendered as one WGSL function (codegen/passes/functions.ts): found on twin computations,
// not on similar ones with other constants, and computing what the inlined code computed.
import { describe, expect, test } from "bun:test";
import { DEFAULT_TARGET } from "../../src/codegen/kernel.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { FORMATS } from "../../src/optim/formats.ts";
import { formatTables, updateScalarNames } from "../../src/optim/buckets.ts";
import { traceUpdate } from "../../src/optim/trace.ts";
import * as optim from "../../src/optim/index.ts";
import { jit } from "../../src/runtime/jit.ts";
import { tensor } from "../../src/runtime/realize.ts";
import { device } from "../../src/runtime/device.ts";

await device();

/** A 14-operation chain on x (bit tricks and selects, like the encoder): f32 in, u32 out. */
function chain(x: Tensor, k = 3): Tensor {
  const bits = x.bitcast("u32").named("bits");
  const mag = bits.and(0x7fffffff).named("mag");
  let q: Tensor = mag.shr(20);
  for (let i = 0; i < 4; i++) q = q.add(mag.gt(0x3f000000 + i * 0x100000).where(Tensor.const(i + k, "u32"), Tensor.const(1, "u32")));
  return bits.shr(31).eq(1).where(Tensor.const(511, "u32").sub(q.minimum(511)), q).named("code");
}
/** The same in plain TS. */
function chainRef(x: number, k = 3): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
  const mag = (bits & 0x7fffffff) >>> 0;
  let q = mag >>> 20;
  for (let i = 0; i < 4; i++) q = (q + (mag > 0x3f000000 + i * 0x100000 ? i + k : 1)) >>> 0;
  return bits >>> 31 === 1 ? 511 - Math.min(q, 511) : q;
}

describe("repeated subgraphs as WGSL functions", () => {
  test("a chain computed on two inputs is one function called twice, and computes what plain TS does", async () => {
    const f = jit("twins", { a: { shape: [16] }, b: { shape: [16] } }, ({ a, b }) => ({ qa: chain(a), qb: chain(b.mul(2)) }));
    const [wgsl] = f.wgsl();
    const decl = wgsl.match(/^fn (\w+)\(/m);
    expect(decl?.[1]).toBe("code_fn");
    expect(wgsl.split("code_fn(").length - 1).toBe(3); // the declaration and two calls
    const xa = Array.from({ length: 16 }, (_, i) => (i - 8) * 0.37 + 0.01);
    const xb = Array.from({ length: 16 }, (_, i) => (i % 5) * -0.61 + 0.2);
    const out = await f.run({ a: await tensor(xa, [16]), b: await tensor(xb, [16]) });
    expect(Array.from(await out.qa.toArray())).toEqual(xa.map((v) => chainRef(Math.fround(v))));
    expect(Array.from(await out.qb.toArray())).toEqual(xb.map((v) => chainRef(Math.fround(Math.fround(v) * 2))));
  });

  test("chains that differ in a constant stay two inline computations", () => {
    const f = jit("not_twins", { a: { shape: [16] }, b: { shape: [16] } }, ({ a, b }) => ({ qa: chain(a, 3), qb: chain(b, 4) }));
    expect(f.wgsl()[0]).not.toMatch(/^fn \w+_fn\(/m);
  });

  test("AdEMAMix8bit encodes m1 and m2 through one function (the signed encoder and sign fix)", () => {
    const { def, defaults } = optim.AdEMAMix;
    const fn = traceUpdate(def!, FORMATS.dynamic8, 64, 4, updateScalarNames(def!, defaults!), Object.keys(formatTables(def!, FORMATS.dynamic8)), true, DEFAULT_TARGET);
    const [wgsl] = fn.wgsl();
    const fns = [...wgsl.matchAll(/^fn (\w+)\(/gm)].map((m) => m[1]).filter((n) => n !== "main");
    expect(fns).toHaveLength(1);
    expect(wgsl.split(`${fns[0]}(`).length - 1).toBe(3);
  });
});
