// Library ergonomics (issue #11 item 2): octet.save / octet.load as safetensors, Module.stateDict, a synchronous
// tensor constructor for module code, defineOptimizer with a minimal schema, the JSON state-dict error.
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import * as octet from "../../src/index.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import * as ref from "../reference/optimizers.ts";

await octet.device();

/** A custom module with its own Parameter, built synchronously with the public API only. */
class Affine extends octet.nn.Module {
  readonly scale = new octet.nn.Parameter(octet.tensorNow([1, 2, 3], [3]));
  readonly lin = new octet.nn.Linear(3, 2, { seed: 1 });
}

const values = async (m: octet.nn.Module) => Object.fromEntries(await Promise.all(Object.entries(m.stateDict()).map(async ([k, t]) => [k, Array.from(await t.toArray())])));

describe("Module.stateDict / loadStateDict", () => {
  test("names follow namedParameters; Linear.weight is [in, out]; a load sets every parameter", async () => {
    const m = new Affine();
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual(["scale", "lin.weight", "lin.bias"]);
    expect(sd["lin.weight"].shape).toEqual([3, 2]);
    expect(Array.from(await sd.scale.toArray())).toEqual([1, 2, 3]);
    m.loadStateDict({ scale: new Float32Array([4, 5, 6]), "lin.weight": new Float32Array(6).fill(0.5), "lin.bias": [1, -1] });
    expect(await values(m)).toEqual({ scale: [4, 5, 6], "lin.weight": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "lin.bias": [1, -1] });
  });

  test("a refused dict names every problem and changes nothing", async () => {
    const m = new Affine();
    const before = await values(m);
    expect(() => m.loadStateDict({ scale: new Float32Array(4), "lin.weight": new Float32Array(6), extra: new Float32Array(1) })).toThrow(
      /'scale' has 4 values.*'lin.bias' is missing.*'extra' is not a parameter of this module; nothing was loaded/,
    );
    // a dict that went through JSON: the advice says what to use instead
    const json = JSON.parse(JSON.stringify({ scale: new Float32Array(3), "lin.weight": new Float32Array(6), "lin.bias": new Float32Array(2) }));
    expect(() => m.loadStateDict(json)).toThrow(/went through JSON .*octet.save \/ octet.load/);
    expect(await values(m)).toEqual(before);
  });
});

describe("octet.save / octet.load", () => {
  test("a directory keeps model and optimizer state; weights are plain safetensors; the state round-trips exactly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "octet-save-"));
    try {
      const m = new Affine();
      const opt = new octet.optim.AdamW8bit(m.parameters(), { lr: 1e-2 });
      for (const p of m.parameters()) p.grad = await octet.tensor(new Float32Array(p.numel).fill(0.1), [...p.shape]);
      await opt.step();
      await octet.save(join(dir, "ckpt"), { model: m, optimizer: opt });
      const file = decodeSafetensors(new Uint8Array(await Bun.file(join(dir, "ckpt", "model.safetensors")).arrayBuffer()));
      expect(file.names.sort()).toEqual(["lin.bias", "lin.weight", "scale"]);
      expect(Array.from(file.tensors["lin.weight"].data as Float32Array)).toEqual((await values(m))["lin.weight"]);

      const m2 = new Affine();
      const opt2 = new octet.optim.AdamW8bit(m2.parameters(), { lr: 1e-2 });
      await octet.load(join(dir, "ckpt"), { model: m2, optimizer: opt2 });
      expect(await values(m2)).toEqual(await values(m));
      const [a, b] = [await opt.stateDict(), await opt2.stateDict()];
      expect(b.state).toEqual(a.state);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a .safetensors path holds the weights alone; a failed load leaves model and optimizer unchanged", async () => {
    const dir = await mkdtemp(join(tmpdir(), "octet-save-"));
    try {
      const m = new Affine();
      await octet.save(join(dir, "w.safetensors"), { model: m });
      const m2 = new Affine();
      m2.loadStateDict({ scale: [0, 0, 0], "lin.weight": new Float32Array(6), "lin.bias": [0, 0] });
      await octet.load(join(dir, "w.safetensors"), { model: m2 });
      expect(await values(m2)).toEqual(await values(m));
      await expect(octet.save(join(dir, "w2.safetensors"), { model: m, optimizer: new octet.optim.Adam(m.parameters()) })).rejects.toThrow(/holds the weights only; give a directory/);

      // a directory saved from another shape: refused, nothing changes (model nor optimizer)
      class Wider extends octet.nn.Module {
        readonly scale = new octet.nn.Parameter(octet.tensorNow([1, 2, 3, 4], [4]));
        readonly lin = new octet.nn.Linear(3, 2, { seed: 1 });
      }
      const w = new Wider();
      await octet.save(join(dir, "wider"), { model: w, optimizer: new octet.optim.Adam(w.parameters()) });
      const opt = new octet.optim.Adam(m2.parameters());
      for (const p of m2.parameters()) p.grad = await octet.tensor(new Float32Array(p.numel).fill(0.3), [...p.shape]);
      await opt.step();
      const [vBefore, sBefore] = [await values(m2), await opt.stateDict()];
      await expect(octet.load(join(dir, "wider"), { model: m2, optimizer: opt })).rejects.toThrow(/'scale' has shape \[4\] in the checkpoint/);
      expect(await values(m2)).toEqual(vBefore);
      expect((await opt.stateDict()).state).toEqual(sBefore.state);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("an optimizer state dict that went through JSON: the load error says what to do instead", async () => {
    const m = new Affine();
    const opt = new octet.optim.Adam(m.parameters());
    for (const p of m.parameters()) p.grad = await octet.tensor(new Float32Array(p.numel).fill(0.1), [...p.shape]);
    await opt.step();
    const sd = await opt.stateDict();
    expect(() => JSON.stringify(sd)).toThrow(/typed arrays .*which JSON turns into plain objects.*octet.save\(path, \{ model, optimizer \}\)/);
    // structuredClone copies it (and loads); a dict mangled by JSON some other way: the load error says what to do
    await opt.loadStateDict(structuredClone(sd));
    const mangled = JSON.parse(JSON.stringify({ ...sd }));
    await expect(opt.loadStateDict(mangled)).rejects.toThrow(/went through JSON.*octet.save\(path, \{ model, optimizer \}\)/);
  });
});

describe("defineOptimizer with a minimal schema", () => {
  test("the shared options are merged: a 2-key schema builds 8-bit and 32-bit classes that step as the oracle", async () => {
    const def = octet.optim.defineOptimizer({
      name: "sgdmin",
      schema: z.object({ lr: z.number(), momentum: z.number() }),
      states: [{ name: "buf", signed: true, key: "state1" }],
      scalars: ({ lr, momentum }) => ({ lr: Math.fround(lr), beta: Math.fround(momentum) }),
      update: ({ p, g, buf }, s) => {
        const b1 = buf.mul(s.beta).add(g);
        return { p: p.sub(s.lr.mul(b1)), buf: b1 };
      },
    });
    const { Min, Min8bit } = octet.optim.optimizerClasses(def, { lr: 0.01, momentum: 0.9 }, "Min");
    const n = 300;
    const p0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const p = new octet.nn.Parameter(await octet.tensor(p0.slice()));
    const opt = new Min([p]);
    expect(() => new Min8bit([p], { optimBits: 32 })).toThrow(/conflicts with the class/);
    expect(() => new Min([p], { min8bitSize: 0, percentileClipping: 100, blockWise: true })).not.toThrow();
    const host = p0.slice();
    const state = ref.createState("momentum", n, 32);
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from({ length: n }, (_, i) => 0.01 * Math.cos(i * t));
      p.grad = await octet.tensor(g);
      await opt.step();
      // the oracle's momentum with a stored buffer from t = 1 (buf starts at 0, so buf = g at t = 1 too)
      ref.momentum({ p: host, g, state, step: t, hp: { lr: 0.01, momentum: 0.9, weightDecay: 0 }, bits: 32 });
    }
    expect(Array.from(await p.data.toArray())).toEqual(Array.from(host));
  });
});
