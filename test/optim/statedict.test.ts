// Optimizer state dicts (api.md "Optimizers", bnb-algorithms.md §6, §8.2): an exact round trip, a step after a
// load equal to a step without it, and refusals that change nothing.
import { describe, expect, test } from "bun:test";
import { classOf, familyOf, filled, gaussian, octet, param, read, ref, stateDictBits } from "./helpers.ts";

type SD = octet.optim.OptimizerStateDict;

const bits = stateDictBits; // compared bit for bit

interface Setup {
  params: octet.nn.Parameter[];
  opt: octet.optim.Optimizer;
  next: () => Float32Array[];
}

/** An optimizer over params of `sizes`, stepped `steps` times; `next()` draws the next gradients. */
async function setup(name: string, sizes: number[], steps: number, seed = 3, opts: Record<string, unknown> = {}): Promise<Setup> {
  const normal = gaussian(seed);
  const params = await Promise.all(sizes.map((n) => param(filled(n, () => normal() * 0.2))));
  const opt = new (classOf(name))(params, { lr: 1e-3, ...opts });
  const next = () => sizes.map((n) => filled(n, () => normal() * 0.02));
  for (let t = 0; t < steps; t++) await stepWith(params, opt, next());
  return { params, opt, next };
}

async function stepWith(params: octet.nn.Parameter[], opt: octet.optim.Optimizer, grads: Float32Array[]): Promise<void> {
  for (let i = 0; i < params.length; i++) params[i].grad = await octet.tensor(grads[i]);
  await opt.step();
}

/** A fresh optimizer of the same class over copies of the parameters' current values. */
async function fresh(name: string, params: octet.nn.Parameter[], opts: Record<string, unknown> = {}) {
  const copies = await Promise.all(params.map(async (p) => param(await read(p))));
  return { params: copies, opt: new (classOf(name))(copies, { lr: 1e-3, ...opts }) };
}

const CASES: [string, number[]][] = [
  ["AdamW8bit", [12305, 1000]], // 8-bit + 32-bit buckets; 12305 % 4 = 1 (the codes' u32 packing has a ragged end)
  ["AdEMAMix8bit", [4096 + 300]], // state1 holds two parts, absmax1 two rows
  ["Lion8bit", [5000 + 2]],
  ["RMSprop8bit", [4099]],
  ["SGD32bit", [777]],
];

describe("state dict round trip", () => {
  for (const [name, sizes] of CASES) {
    test(`${name}: stateDict -> loadStateDict (fresh optimizer) -> stateDict is bit-exact, and the next steps are identical`, async () => {
      const a = await setup(name, sizes, 3);
      const sd = await a.opt.stateDict();
      expect(sd.format.version).toBe(octet.optim.STATE_DICT_VERSION);
      expect(sd.format.blockSize).toBe(256);
      const b = await fresh(name, a.params);
      await b.opt.loadStateDict(sd);
      expect(bits(await b.opt.stateDict())).toEqual(bits(sd));
      // Two more steps on both with the same gradients: every parameter and state bit for bit the same (the
      // load must also restore what the kernels see beyond the tensor's end: the last block's padded lanes).
      for (let t = 0; t < 2; t++) {
        const g = a.next();
        await stepWith(a.params, a.opt, g);
        await stepWith(b.params, b.opt, g);
      }
      for (let i = 0; i < sizes.length; i++) expect(await read(b.params[i])).toEqual(await read(a.params[i]));
      expect(bits(await b.opt.stateDict())).toEqual(bits(await a.opt.stateDict()));
    });
  }

  test("after a load, the last block's padded lanes hold what a normal step leaves there (zero states)", async () => {
    // All real lanes of the last block get a NaN gradient: the 8-bit guard zeroes their states, so the block's
    // new absmax comes from the padded lanes alone. They must be 0 in both optimizers (a load used to pad the
    // codes with byte 0, i.e. code[0]·absmax = -0.99·absmax, which then became the block's absmax).
    const n = 4096 + 5;
    const a = await setup("Adam8bit", [n], 2, 13);
    const b = await fresh("Adam8bit", a.params);
    await b.opt.loadStateDict(await a.opt.stateDict());
    const g = a.next();
    for (let i = 4096; i < n; i++) g[0][i] = NaN;
    await stepWith(a.params, a.opt, g);
    await stepWith(b.params, b.opt, g);
    const [sa, sb] = [await a.opt.stateDict(), await b.opt.stateDict()];
    expect((sa.state[0].absmax1 as Float32Array)[16]).toBe(0);
    expect(bits(sb)).toEqual(bits(sa));
    expect(await read(b.params[0])).toEqual(await read(a.params[0]));
  });

  test("the state dict is a snapshot: later steps or edits of it do not alias the optimizer", async () => {
    const a = await setup("AdamW8bit", [5000], 2);
    const sd = await a.opt.stateDict();
    const saved = bits(sd);
    await stepWith(a.params, a.opt, a.next());
    expect(bits(sd)).toEqual(saved);
    (sd.paramGroups[0].betas as number[])[0] = 0.5;
    (sd.state[0].state1 as Uint8Array)[0] ^= 1;
    expect(a.opt.paramGroups[0].betas).toEqual([0.9, 0.999]);
    const b = await fresh("AdamW8bit", a.params);
    await b.opt.loadStateDict(await a.opt.stateDict());
    (a.opt.paramGroups[0].betas as number[])[1] = 0.9;
    expect(b.opt.paramGroups[0].betas).toEqual([0.9, 0.999]);
  });

  test("loading restores the param groups' hyper-parameters and step counts", async () => {
    const a = await setup("AdamW8bit", [5000], 2);
    a.opt.paramGroups[0].lr = 0.02;
    const sd = await a.opt.stateDict();
    const b = await fresh("AdamW8bit", a.params);
    await b.opt.loadStateDict(sd);
    expect(b.opt.paramGroups[0].lr).toBe(0.02);
    expect((await b.opt.stateDict()).state[0].step).toBe(2);
  });

  test("a parameter without state in the dict starts fresh after the load", async () => {
    // The dict of an optimizer where only p0 stepped, loaded into one where both did: p1 must behave as new.
    const normal = gaussian(9);
    const v = [filled(5000, () => normal() * 0.2), filled(5000, () => normal() * 0.2)];
    const g = [filled(5000, () => normal() * 0.02), filled(5000, () => normal() * 0.02)];
    const src = [await param(v[0]), await param(v[1])];
    const a = new octet.optim.Adam8bit(src, { lr: 1e-3 });
    src[0].grad = await octet.tensor(g[0]);
    await a.step();
    const sd = await a.stateDict();
    expect(sd.state[1]).toBeUndefined();
    const dst = [await param(await read(src[0])), await param(v[1])];
    const b = new octet.optim.Adam8bit(dst, { lr: 1e-3 });
    for (let i = 0; i < 2; i++) dst[i].grad = await octet.tensor(g[1]);
    await b.step();
    await b.step();
    await b.loadStateDict(sd);
    expect((await b.stateDict()).state[1]).toBeUndefined();
    // one step of p1 now equals the oracle's first step from zero state
    const rp = v[1].slice();
    const gg = filled(5000, () => normal() * 0.02);
    dst[0].grad = null;
    dst[1].grad = await octet.tensor(gg);
    const before = await read(dst[1]);
    await b.step();
    ref.adam({ p: rp, g: gg, state: ref.createState("adam", 5000, 8), step: 1, hp: ref.DEFAULTS.adam, bits: 8 });
    // p1 had moved by two steps before the load; compare the step itself
    const after = await read(dst[1]);
    const want = rp.map((x, i) => x - v[1][i]);
    for (let i = 0; i < 5000; i += 97) expect(Math.abs(after[i] - before[i] - want[i])).toBeLessThan(1e-7);
    expect((await b.stateDict()).state[1].step).toBe(1);
  });
});

describe("loadStateDict refuses a mismatching dict and changes nothing", () => {
  const name = "AdamW8bit";
  const sizes = [5000, 12305];

  async function refuses(mutate: (sd: SD) => SD | void, message: RegExp, target?: () => Promise<Setup>) {
    const src = await setup(name, sizes, 2, 5);
    const sd = await src.opt.stateDict();
    const bad = mutate(sd) ?? sd;
    const dst = target ? await target() : await setup(name, sizes, 3, 6);
    const before = bits(await dst.opt.stateDict());
    const pBefore = await Promise.all(dst.params.map(read));
    await expect(dst.opt.loadStateDict(bad)).rejects.toThrow(message);
    expect(bits(await dst.opt.stateDict())).toEqual(before);
    for (let i = 0; i < dst.params.length; i++) expect(await read(dst.params[i])).toEqual(pBefore[i]);
  }

  test("other parameter count", async () => {
    await refuses(() => undefined, /param group 0 has 2 parameters, expected 1/, () => setup(name, [5000], 1));
    await refuses(() => undefined, /param group 0 has 2 parameters, expected 3/, () => setup(name, [5000, 12305, 64], 1));
  });

  test("other state length (a different parameter size), even when only the second parameter is wrong", async () => {
    await refuses((sd) => void (sd.state[1].state2 = (sd.state[1].state2 as Uint8Array).slice(1)), /parameter 1 state2/);
    await refuses(() => undefined, /parameter 1 state1/, () => setup(name, [5000, 12306], 1));
  });

  test("other dtype of a state (32-bit dict into an 8-bit state)", async () => {
    await refuses((sd) => void (sd.state[0].state1 = new Float32Array(5000)), /parameter 0 state1: expected Uint8Array/);
  });

  test("other block size", async () => {
    await refuses((sd) => void (sd.format.blockSize = 2048), /block size 2048/);
    await refuses((sd) => void (sd.state[1].absmax1 = (sd.state[1].absmax1 as Float32Array).slice(0, 7)), /absmax1.*block size 256/);
  });

  test("other quantization map checksum", async () => {
    await refuses((sd) => void (sd.format.mapChecksum = { ...sd.format.mapChecksum, dynamic8_signed: "deadbeef" }), /checksum/);
  });

  test("other format version", async () => {
    await refuses((sd) => void (sd.format.version = octet.optim.STATE_DICT_VERSION + 1), /version/);
    await refuses((sd) => void delete (sd as Partial<SD>).format, /not an octet optimizer state dict/);
  });

  test("another optimizer's dict", async () => {
    const lion = await setup("Lion8bit", sizes, 1, 8);
    const sd = await lion.opt.stateDict();
    await refuses(() => sd, /lion/);
  });

  test("the same sizes in another 8-bit format (linear-map codes into a dynamic-map optimizer)", async () => {
    const linear = await setup(name, sizes, 1, 8, { stateFormat: "linear8" });
    const sd = await linear.opt.stateDict();
    expect(sd.format.stateFormats).toEqual({ 0: "linear8", 1: "linear8" });
    await refuses(() => sd, /parameter 0 was saved with linear8 state, this optimizer keeps dynamic8/);
  });

  test("invalid hyper-parameters in the param groups", async () => {
    await refuses((sd) => void (sd.paramGroups[0].lr = -1), /"lr"/);
  });
});
