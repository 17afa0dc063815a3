// A poisoned optimizer state dict is refused, naming the field, with nothing changed (issue 7 item 8): non-finite
// or negative absmax, non-finite 32-bit state, a step that is not an integer in [1, 2^31 - 1], codes/absmax of
// the wrong length, params in paramGroups that are not exactly 0..n-1 in order, and unknown keys in a state
// entry. Each used to be accepted: after one step every parameter was NaN.
import { describe, expect, test } from "bun:test";
import { filled, gaussian, octet, param, read, stateDictBits } from "./helpers.ts";

type SD = octet.optim.OptimizerStateDict;
type Entry = SD["state"][number];

const bits = stateDictBits; // compared bit for bit

// Parameter 0 has 8-bit state (codes + absmax), parameter 1 is below min8bitSize and keeps f32 state.
const SIZES = [5000, 1000];

async function stepped(seed: number, steps: number) {
  const normal = gaussian(seed);
  const params = await Promise.all(SIZES.map((n) => param(filled(n, () => normal() * 0.2))));
  const opt = new octet.optim.AdamW8bit(params, { lr: 1e-3 });
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < params.length; i++) params[i].grad = await octet.tensor(filled(SIZES[i], () => normal() * 0.02));
    await opt.step();
  }
  return { params, opt };
}

/** Loads a mutated copy of a valid dict into another stepped optimizer: refused with `message`, nothing changed. */
async function refuses(mutate: (sd: SD) => void, message: RegExp): Promise<void> {
  const src = await stepped(5, 2);
  const sd = await src.opt.stateDict();
  mutate(sd);
  const dst = await stepped(6, 3);
  const before = bits(await dst.opt.stateDict());
  const pBefore = await Promise.all(dst.params.map(read));
  const groupsBefore = JSON.stringify(dst.opt.paramGroups.map(({ params: _p, ...rest }) => rest));
  await expect(dst.opt.loadStateDict(sd)).rejects.toThrow(message);
  expect(bits(await dst.opt.stateDict())).toEqual(before);
  for (let i = 0; i < dst.params.length; i++) expect(await read(dst.params[i])).toEqual(pBefore[i]);
  expect(JSON.stringify(dst.opt.paramGroups.map(({ params: _p, ...rest }) => rest))).toBe(groupsBefore);
}

const f32 = (e: Entry, key: string) => e[key] as Float32Array;

describe("loadStateDict refuses a poisoned dict, naming the field, and changes nothing", () => {
  test("the valid dict loads (the fixture itself is sound)", async () => {
    const src = await stepped(5, 2);
    const dst = await stepped(6, 3);
    await dst.opt.loadStateDict(await src.opt.stateDict());
    expect(bits(await dst.opt.stateDict())).toEqual(bits(await src.opt.stateDict()));
  });

  test("NaN absmax", async () => {
    await refuses((sd) => void (f32(sd.state[0], "absmax1")[3] = NaN), /state\[0\]\.absmax1\[3\] is NaN/);
  });

  test("Inf absmax", async () => {
    await refuses((sd) => void (f32(sd.state[0], "absmax2")[19] = Infinity), /state\[0\]\.absmax2\[19\] is Infinity/);
  });

  test("negative absmax", async () => {
    await refuses((sd) => void (f32(sd.state[0], "absmax1")[0] = -0.5), /state\[0\]\.absmax1\[0\] is -0\.5.*>= 0/);
  });

  test("non-finite 32-bit state", async () => {
    await refuses((sd) => void (f32(sd.state[1], "state1")[999] = NaN), /state\[1\]\.state1\[999\] is NaN/);
    await refuses((sd) => void (f32(sd.state[1], "state2")[0] = -Infinity), /state\[1\]\.state2\[0\] is -Infinity/);
  });

  for (const step of [0, -2, 2.5, 1e12, NaN, 2 ** 31]) {
    test(`step ${step}`, async () => {
      await refuses((sd) => void (sd.state[1].step = step), /state\[1\]\.step/);
    });
  }

  test("step that is not a number", async () => {
    await refuses((sd) => void ((sd.state[0] as Record<string, unknown>).step = "2"), /state\[0\]\.step/);
  });

  test("codes of the wrong length", async () => {
    await refuses((sd) => void (sd.state[0].state1 = (sd.state[0].state1 as Uint8Array).slice(0, 4999)), /parameter 0 state1/);
  });

  test("absmax of the wrong length", async () => {
    await refuses((sd) => void (sd.state[0].absmax2 = new Float32Array(21)), /parameter 0 absmax2/);
  });

  test("duplicated params in a param group", async () => {
    await refuses((sd) => void (sd.paramGroups[0].params = [0, 0]), /paramGroups\[0\]\.params.*\[0,0\]/);
  });

  test("permuted params in a param group", async () => {
    await refuses((sd) => void (sd.paramGroups[0].params = [1, 0]), /paramGroups\[0\]\.params.*\[1,0\]/);
  });

  test("params that are not indices", async () => {
    await refuses((sd) => void (sd.paramGroups[0].params = [0, 7]), /paramGroups\[0\]\.params/);
    await refuses((sd) => void (sd.paramGroups[0].params = [0, "1"]), /paramGroups\[0\]\.params/);
  });

  test("unknown key in a state entry", async () => {
    await refuses((sd) => void ((sd.state[0] as Record<string, unknown>).exp_avg = new Float32Array(5000)), /state\[0\]: unknown key "exp_avg"/);
    await refuses((sd) => void ((sd.state[1] as Record<string, unknown>).absmax1 = new Float32Array(4)), /state\[1\]: unknown key "absmax1"/);
  });

  test("a state entry that is not an object, and a state index that is not a parameter", async () => {
    await refuses((sd) => void ((sd.state as Record<string, unknown>)[0] = null), /state\[0\]/);
    await refuses((sd) => void ((sd.state as Record<string, unknown>)["1.5"] = sd.state[1]), /state\[1\.5\]|parameter 1\.5/);
  });
});

describe("param groups across several groups", () => {
  test("indices continue across groups: group 1 of a 2-group dict holds 1.., and a swap between groups is refused", async () => {
    const normal = gaussian(2);
    const make = async () => {
      const ps = await Promise.all(SIZES.map((n) => param(filled(n, () => normal() * 0.2))));
      const opt = new octet.optim.AdamW8bit([{ params: [ps[0]] }, { params: [ps[1]], lr: 1e-2 }]);
      for (let i = 0; i < 2; i++) ps[i].grad = await octet.tensor(filled(SIZES[i], () => normal() * 0.02));
      await opt.step();
      return { ps, opt };
    };
    const a = await make();
    const sd = await a.opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1]]);
    const b = await make();
    await b.opt.loadStateDict(sd);
    sd.paramGroups[0].params = [1];
    sd.paramGroups[1].params = [0];
    await expect(b.opt.loadStateDict(sd)).rejects.toThrow(/paramGroups\[0\]\.params/);
  });
});
