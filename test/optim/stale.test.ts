// Stale lazy reads of optimizer-owned tensors name what the user did: the optimizer's class and the call that
// wrote (AdamW8bit.step, not the kernel's name), and the parameter (its name, or #id). Every write the
// optimizer makes outside a kernel is versioned like one: the raw copy that adopts a replaced Parameter.data,
// and loadStateDict (which writes states, never parameters: a lazy value over a parameter survives it).
import { describe, expect, test } from "bun:test";
import { filled, octet, param, read } from "./helpers.ts";

const fl = Math.fround;

describe("stale-read errors name the optimizer's call and the parameter", () => {
  test("a named parameter: 'w' and AdamW8bit.step", async () => {
    const p = await param(filled(5000, () => 0.25));
    p.name = "w";
    const opt = new octet.optim.AdamW8bit([p], { lr: 0.01 });
    p.grad = await octet.tensor(filled(5000, () => 0.1));
    await opt.step();
    const q = p.data.mul(2);
    await opt.step();
    await expect(q.toArray()).rejects.toThrow(new RegExp(`reads parameter 'w' \\(f32\\[5000\\], parameters\\), which AdamW8bit\\.step \\(${opt.ownerName.replace(/[#]/g, "\\$&")}\\) overwrote in place`));
  });

  test("the raw copy adopting a replaced Parameter.data names the optimizer and the parameter (#id)", async () => {
    const p = await param(filled(300, () => 0.5));
    const opt = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor(filled(300, () => 1));
    await opt.step();
    const q = p.data.mul(2); // over the arena
    p.data = await octet.tensor(filled(300, () => 3));
    p.grad = null; // no kernel runs: only the copy writes the arena
    await opt.step();
    await expect(q.toArray()).rejects.toThrow(new RegExp(`reads parameter #${p.id} .*which SGD32bit #\\d+ \\(adopting a replaced Parameter\\.data\\) overwrote`));
  });

  test("loadStateDict writes states only: a lazy value over the parameters still computes from them", async () => {
    const p = await param(filled(5000, (() => { let i = 0; return () => fl(Math.sin(i++)); })()));
    const opt = new octet.optim.AdamW8bit([p], { lr: 0.01 });
    p.grad = await octet.tensor(filled(5000, () => 0.1));
    await opt.step();
    const sd = await opt.stateDict();
    const now = Float32Array.from(await read(p));
    const q = p.data.mul(2);
    await opt.loadStateDict(sd);
    expect(Array.from(await q.toArray())).toEqual(Array.from(now, (v) => fl(2 * v)));
  });
});
