// A checkpoint whose optimizer file holds poisoned state (written consistently, checksums and all, as a buggy or
// hostile writer would) is refused by loadCheckpoint, naming the file and the field, with the model's parameters
// and the optimizer's state unchanged: the refusal of loadStateDict reaches through the checkpoint layer.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as octet from "../../src/index.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/io/checkpoint.ts";

type SD = octet.optim.OptimizerStateDict;

class Net extends octet.nn.Module {
  constructor(public a: octet.nn.Parameter, public b: octet.nn.Parameter) {
    super();
  }
}

const N = [5000, 300]; // 8-bit and 32-bit state in an AdamW8bit
const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k) * 0.2);

async function trained(k: number) {
  const model = new Net(new octet.nn.Parameter(await octet.tensor(ramp(N[0], k))), new octet.nn.Parameter(await octet.tensor(ramp(N[1], k + 1))));
  const opt = new octet.optim.AdamW8bit(model.parameters(), { lr: 1e-3 });
  for (let t = 0; t < 2; t++) {
    for (const p of model.parameters()) p.grad = await octet.tensor(ramp(p.numel, t + k).map((v) => v * 0.1));
    await opt.step();
  }
  return { model, opt };
}

describe("loadCheckpoint refuses poisoned optimizer state and changes nothing", () => {
  const cases: [string, (sd: SD) => void, RegExp][] = [
    ["NaN absmax", (sd) => void ((sd.state[0].absmax1 as Float32Array)[2] = NaN), /optimizer\.safetensors.*state\[0\]\.absmax1\[2\] is NaN/],
    ["non-finite 32-bit state", (sd) => void ((sd.state[1].state2 as Float32Array)[9] = Infinity), /optimizer\.safetensors.*state\[1\]\.state2\[9\] is Infinity/],
    ["absurd step", (sd) => void (sd.state[1].step = 1e12), /optimizer\.safetensors.*state\[1\]\.step is 1000000000000/],
    ["permuted params", (sd) => void (sd.paramGroups[0].params = [1, 0]), /optimizer\.safetensors.*paramGroups\[0\]\.params/],
  ];
  for (const [name, poison, message] of cases) {
    test(name, async () => {
      const dir = mkdtempSync(join(tmpdir(), "octet-poison-"));
      const src = await trained(1);
      const sd = await src.opt.stateDict();
      poison(sd);
      await saveCheckpoint(dir, { model: src.model, optimizer: { stateDict: async () => sd }, step: 2, config: {} });
      const dst = await trained(7);
      const pBefore = await Promise.all(dst.model.parameters().map(async (p) => Array.from(await p.data.toArray())));
      const sBefore = JSON.stringify(Object.values((await dst.opt.stateDict()).state).map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === "number" ? v : Array.from(v)]))));
      await expect(loadCheckpoint(dir, { model: dst.model, optimizer: dst.opt })).rejects.toThrow(message);
      const pAfter = await Promise.all(dst.model.parameters().map(async (p) => Array.from(await p.data.toArray())));
      expect(pAfter).toEqual(pBefore);
      const sAfter = JSON.stringify(Object.values((await dst.opt.stateDict()).state).map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === "number" ? v : Array.from(v)]))));
      expect(sAfter).toBe(sBefore);
    });
  }
});
