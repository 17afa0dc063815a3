// Traced programs: in-place updates, 8-bit packed storage, and the errors a wrong call gets.
import { describe, expect, test } from "bun:test";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { storageOf, tensor } from "../../src/runtime/realize.ts";
import { device, deviceInfo } from "../../src/runtime/device.ts";

await device();
const HAS_F16 = deviceInfo().hasF16;
const fl = Math.fround;
const ramp = (n: number, k = 1) => Array.from({ length: n }, (_, i) => fl(Math.cos(i * 0.37 * k) * (2 + (i % 3))));

describe("in-place updates", () => {
  test("p <- p - lr * g writes into p's own buffer", async () => {
    const n = 1003;
    const sgd = jit("jit_sgd", { p: { shape: [n] }, g: { shape: [n] } }, ({ p, g }) => ({ p: p.sub(g.mul(Tensor.uniform("lr"))) }), {
      inPlace: { p: "p" },
    });
    expect(sgd.schedule.kernels).toHaveLength(1);
    const ps = ramp(n);
    const gs = ramp(n, 2);
    const p = await tensor(ps);
    const g = await tensor(gs);
    const buffer = storageOf(p).buffer;
    let want = ps;
    for (const lr of [0.1, 0.01]) {
      const out = await sgd.run({ p, g }, { lr });
      expect(out.p).toBe(p); // the input tensor itself, updated
      want = want.map((v, i) => fl(v - fl(gs[i] * fl(lr))));
    }
    expect(storageOf(p).buffer).toBe(buffer);
    expect(Array.from(await p.toArray())).toEqual(want);
  });

  test("several in-place outputs and a new one in one kernel (momentum)", async () => {
    const n = 517;
    const step = jit(
      "jit_momentum",
      { p: { shape: [n] }, m: { shape: [n] }, g: { shape: [n] } },
      ({ p, m, g }) => {
        const m1 = m.mul(0.9).add(g);
        return { p: p.sub(m1.mul(Tensor.uniform("lr"))), m: m1, norm: m1.square() };
      },
      { inPlace: { p: "p", m: "m" } },
    );
    expect(step.schedule.kernels).toHaveLength(1);
    const [ps, ms, gs] = [ramp(n), ramp(n, 3), ramp(n, 5)];
    const p = await tensor(ps);
    const m = await tensor(ms);
    const out = await step.run({ p, m, g: await tensor(gs) }, { lr: 0.5 });
    const m1 = ms.map((v, i) => fl(fl(v * fl(0.9)) + gs[i]));
    expect(Array.from(await m.toArray())).toEqual(m1);
    expect(Array.from(await p.toArray())).toEqual(ps.map((v, i) => fl(v - fl(m1[i] * 0.5))));
    expect(Array.from(await out.norm.toArray())).toEqual(m1.map((v) => fl(v * v)));
  });

  test("in-place kernels are ordered so that a read of an old value comes before its overwrite", async () => {
    // Two in-place kernels over different domains: q's needs the old p, so it runs before p's kernel.
    const f = jit("jit_hazard", { p: { shape: [4, 8] }, q: { shape: [8] } }, ({ p, q }) => ({ p: p.mul(2), q: q.add(p.reshape(8, 4).sum(false)) }), {
      inPlace: { p: "p", q: "q" },
    });
    expect(f.schedule.kernels.map((k) => k.kernel.bindings.filter((b) => b.write).map((b) => b.name))).toEqual([["q"], ["p"]]);
    const pv = Array.from({ length: 32 }, (_, i) => i * 0.5 - 3);
    const qv = Array.from({ length: 8 }, (_, i) => i + 1);
    const p = await tensor(pv, [4, 8]);
    const q = await tensor(qv, [8]);
    await f.run({ p, q });
    expect(Array.from(await p.toArray())).toEqual(pv.map((x) => x * 2));
    expect(Array.from(await q.toArray())).toEqual(qv.map((x, r) => x + pv.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)));
    // Other kernels are ordered before the in-place one, so they read the old values.
    const ok = jit("jit_no_hazard", { p: { shape: [4, 8] } }, ({ p }) => ({ p: p.mul(2), s: p.reshape(8, 4).sum(false) }), { inPlace: { p: "p" } });
    expect(ok.schedule.kernels.map((k) => k.kernel.bindings.some((b) => b.write && b.name === "p"))).toEqual([false, true]);
  });
});

describe("u8 packed storage", () => {
  test("read u8 codes as f32, write u8 codes (vec4 words), with an odd tail", async () => {
    const n = 1001; // 250 words and one code in a 251st
    const f = jit("jit_u8", { c: { shape: [n], dtype: "u8" }, scale: { shape: [n] } }, ({ c, scale }) => ({
      x: c.cast("f32").mul(scale),
      c2: c.cast("f32").mul(2).add(1).cast("u8"),
    }));
    expect(f.schedule.kernels).toHaveLength(1);
    expect(f.schedule.kernels[0].kernel.vec).toBe(4);
    const codes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) % 256);
    const scale = ramp(n);
    const c = await tensor(codes);
    const out = await f.run({ c, scale: await tensor(scale) });
    expect(Array.from(await out.x.toArray())).toEqual(Array.from(codes, (v, i) => fl(v * scale[i])));
    expect(Array.from(await out.c2.toArray())).toEqual(Array.from(codes, (v) => (2 * v + 1) & 255));
    // Round trip: the codes written are read back unchanged by a second program.
    const back = await out.c2.cast("u32").toArray();
    expect(Array.from(back)).toEqual(Array.from(codes, (v) => (2 * v + 1) & 255));
  });

  test("u8 codes updated in place keep their neighbours in the same word", async () => {
    const n = 13;
    const bump = jit("jit_u8_inplace", { c: { shape: [n], dtype: "u8" } }, ({ c }) => ({ c: c.cast("u32").add(1).cast("u8") }), {
      inPlace: { c: "c" },
    });
    const codes = Uint8Array.from({ length: n }, (_, i) => 250 + (i % 6));
    const c = await tensor(codes);
    await bump.run({ c });
    await bump.run({ c });
    expect(Array.from(await c.toArray())).toEqual(Array.from(codes, (v) => (v + 2) & 255));
  });

  test("u8 outputs need rows that are a multiple of 4 elements", () => {
    expect(() =>
      jit("jit_u8_rows", { x: { shape: [5, 6] } }, ({ x }) => ({ c: x.add(Tensor.iota([5, 6], 1, "f32")).cast("u8") })),
    ).toThrow("8-bit outputs need rows that are a multiple of 4 elements");
  });
});

describe("uniforms", () => {
  test("a uniform of each dtype reaches the kernel (bool and f16 travel as u32 and f32)", async () => {
    const f = jit("jit_uniforms", { x: { shape: [5] }, i: { shape: [5], dtype: "i32" }, u: { shape: [5], dtype: "u32" } }, ({ x, i, u }) => ({
      a: x.mul(Tensor.uniform("scale")),
      b: i.mul(Tensor.uniform("k", "i32")),
      c: u.add(Tensor.uniform("m", "u32")),
      d: Tensor.uniform("flag", "bool").where(x, x.neg()),
    }));
    const xs = [1, -2, 3.5, 4, 5];
    const inputs = { x: await tensor(xs), i: await tensor(Int32Array.from([1, -2, 3, 4, 5])), u: await tensor(Uint32Array.from([0, 1, 2, 3, 4])) };
    for (const [flag, k] of [
      [1, -3],
      [0, 7],
    ]) {
      const out = await f.run(inputs, { scale: 0.5, k, m: 4294967295, flag });
      expect(Array.from(await out.a.toArray())).toEqual(xs.map((v) => v * 0.5));
      expect(Array.from(await out.b.toArray())).toEqual([1, -2, 3, 4, 5].map((v) => v * k));
      expect(Array.from(await out.c.toArray())).toEqual([4294967295, 0, 1, 2, 3]);
      expect(Array.from(await out.d.toArray())).toEqual(xs.map((v) => (flag ? v : -v)));
    }
  });

  test.skipIf(!HAS_F16)("an f16 uniform in an f16 kernel", async () => {
    const f = jit("jit_uniform_f16", { x: { shape: [5], dtype: "f16" } }, ({ x }) => ({ y: x.mul(Tensor.uniform("s", "f16")) }));
    const out = await f.run({ x: await tensor([1, 2, 3, 4, 5], [5], { dtype: "f16" }) }, { s: 1.5 });
    expect(Array.from(await out.y.toArray())).toEqual([1.5, 3, 4.5, 6, 7.5]);
  });
});

describe("calling a traced program wrongly", () => {
  const f = jit("jit_checked", { x: { shape: [6] }, y: { shape: [6] } }, ({ x, y }) => ({ z: x.add(y) }));

  test("a missing input", async () => {
    const x = await tensor(ramp(6));
    await expect(f.run({ x } as never)).rejects.toThrow("octet.jit(jit_checked): missing input y");
  });

  test("an input of the wrong size or dtype", async () => {
    const x = await tensor(ramp(6));
    await expect(f.run({ x, y: await tensor(ramp(7)) })).rejects.toThrow("octet: jit_checked: input y wants f32[6], got f32[7]");
    await expect(f.run({ x, y: await tensor(Int32Array.from([1, 2, 3, 4, 5, 6])) })).rejects.toThrow("input y wants f32[6], got i32[6]");
  });

  test("an inPlace target that is not an input", () => {
    expect(() => jit("jit_bad_inplace", { x: { shape: [3] } }, ({ x }) => ({ y: x.mul(2) }), { inPlace: { y: "w" } })).toThrow(
      "octet.jit(jit_bad_inplace): inPlace target of y is not an input",
    );
  });
});
