// Versioned storage (issue 7, item 3): an in-place write (an optimizer step, a jit inPlace output, an upload)
// bumps the storage's version; realizing a lazy value built over the older contents throws, naming the
// tensor and the write, and never returns values computed from the new contents. A bare realized tensor
// stands for its storage's current contents, so graphs built after the write just work. Expected values
// come from host arithmetic over what was read back.
import { describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { Tensor } from "../../src/dsl/tensor.ts";
import { jit } from "../../src/runtime/jit.ts";
import { storageOf, tensor } from "../../src/runtime/realize.ts";
import { upload } from "../../src/runtime/storage.ts";

await octet.device();
const fl = Math.fround;
const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => fl(Math.sin(i * 0.7) * 3));

describe("stale lazy reads are refused", () => {
  test("q = p.data.mul(2); opt.step(); q.toArray() throws naming the tensor and the step", async () => {
    const n = 700;
    const p = new octet.nn.Parameter(await tensor(ramp(n)));
    const opt = new octet.optim.AdamW8bit([p], { lr: 0.05, min8bitSize: 0 });
    p.grad = await tensor(ramp(n).map((v) => v * 0.5 + 0.1));
    await opt.step(); // adopts p into the arena; the first step
    const before = Float32Array.from(await p.data.toArray());
    const q = p.data.mul(2);
    p.grad = await tensor(ramp(n));
    await opt.step();
    await expect(q.toArray()).rejects.toThrow(new RegExp(`this lazy value \\(built at .*version\\.test\\.ts.*\\) reads parameter #${p.id} \\(f32\\[700\\], parameters\\), which AdamW8bit\\.step \\(AdamW8bit #\\d+\\) overwrote in place after the value was built`));
    // A graph built after the step reads the new values (the parameter tensor itself is current).
    const after = Float32Array.from(await p.data.toArray());
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    expect(Array.from(await p.data.mul(2).toArray())).toEqual(Array.from(after, (v) => fl(v * 2)));
  });

  test("a value realized before the step keeps the values it was built over", async () => {
    const p = new octet.nn.Parameter(await tensor(ramp(300)));
    const opt = new octet.optim.AdamW32bit([p], { lr: 0.1 });
    p.grad = await tensor(ramp(300));
    await opt.step();
    const w = Float32Array.from(await p.data.toArray());
    const q = p.data.add(1);
    await octet.realize([q]);
    p.grad = await tensor(ramp(300));
    await opt.step();
    expect(Array.from(await q.toArray())).toEqual(Array.from(w, (v) => fl(v + 1)));
  });

  test("a reshape of a parameter built before the step is refused too", async () => {
    const p = new octet.nn.Parameter(await tensor(ramp(256)));
    const opt = new octet.optim.AdamW32bit([p], { lr: 0.1 });
    p.grad = await tensor(ramp(256));
    await opt.step();
    const r = p.data.reshape(16, 16);
    p.grad = await tensor(ramp(256));
    await opt.step();
    await expect(r.realize()).rejects.toThrow(/overwrote in place/);
    expect((await p.data.reshape(16, 16).toArray()).length).toBe(256);
  });

  test("jit inPlace: a value built over the input before the run is refused; one built after is exact", async () => {
    const n = 97;
    const sgd = jit("ver_sgd", { p: { shape: [n] }, g: { shape: [n] } }, ({ p, g }) => ({ p: p.sub(g.mul(0.5)) }), { inPlace: { p: "p" } });
    const ps = ramp(n), gs = ramp(n).map((v) => v + 1);
    const p = await tensor(ps);
    const g = await tensor(gs);
    const q = p.mul(2);
    const out = await sgd.run({ p, g });
    expect(out.p).toBe(p);
    await expect(q.toArray()).rejects.toThrow(/reads a tensor \(f32\[97\], temporaries\), which ver_sgd overwrote in place/);
    const want = Array.from(ps, (v, i) => fl(v - fl(gs[i] * 0.5)));
    expect(Array.from(await p.toArray())).toEqual(want);
    expect(Array.from(await p.mul(2).toArray())).toEqual(want.map((v) => fl(v * 2)));
  });

  test("an upload into a storage is an in-place write as well", async () => {
    const t = await tensor([1, 2, 3]);
    const q = t.add(1);
    await upload(storageOf(t), [5, 6, 7]);
    await expect(q.toArray()).rejects.toThrow(/which an upload overwrote in place/);
    expect(Array.from(await t.add(1).toArray())).toEqual([6, 7, 8]);
  });

  test("the version is kept on the root: a write through the arena makes views' lazy values stale", async () => {
    const a = await tensor(ramp(512));
    const { view } = await import("../../src/runtime/storage.ts");
    const { bufferNode } = await import("../../src/runtime/realize.ts");
    const half = new Tensor(bufferNode(view(storageOf(a), 1024, "f32", 256, "parameters"), [256]));
    const q = half.mul(3);
    const inc = jit("ver_inc", { a: { shape: [512] } }, ({ a }) => ({ a: a.add(1) }), { inPlace: { a: "a" } });
    await inc.run({ a });
    await expect(q.toArray()).rejects.toThrow(/ver_inc overwrote/);
    const want = Array.from(ramp(512).subarray(256), (v) => fl(fl(v + 1) * 3));
    expect(Array.from(await half.mul(3).toArray())).toEqual(want);
  });
});
