// Muon's and Muon8bit's state dicts (optim/muon-statedict.ts): an exact round trip with the AdamW groups, a
// resumed run equal bit for bit to the uninterrupted one (and, for f32 Muon, to the float64 oracle of
// torch.optim.Muon, test/reference/muon.ts), checkpoints through octet.save / octet.load, and refusals that
// change nothing.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filled, gaussian, octet, param, read, stateDictBits } from "./helpers.ts";
import { muonStep, type MuonHp } from "../reference/muon.ts";

await octet.device();

type SD = octet.optim.OptimizerStateDict;
type Ctor = typeof octet.optim.Muon;

const bits = stateDictBits; // compared bit for bit

// A 2-D weight of 1300 elements (six 256-blocks, a ragged last one), a small one that Muon8bit keeps in f32
// (under min8bitSize), and a 1-D bias in the AdamW group (8-bit under Muon8bit: two blocks, a ragged one).
const SHAPES: [number, number][] = [[26, 50], [6, 10]];
const BIAS = 300;

interface Run {
  ws: octet.nn.Parameter[];
  bias: octet.nn.Parameter;
  opt: InstanceType<Ctor>;
}

async function make(C: Ctor, values: Float32Array[], opts: Record<string, unknown> = {}): Promise<Run> {
  const ws = await Promise.all(SHAPES.map(async ([r, c], i) => {
    const p = await param(values[i]);
    p.data = p.data.reshape([r, c]);
    return p;
  }));
  const bias = await param(values[SHAPES.length]);
  const opt = new C([{ params: ws }, { params: [bias], useMuon: false, lr: 1e-2, min8bitSize: 256 }], { lr: 0.02, min8bitSize: 1000, ...opts });
  return { ws, bias, opt };
}

const sizes = [...SHAPES.map(([r, c]) => r * c), BIAS];
const draw = (rand: () => number, scale: number) => sizes.map((n) => filled(n, () => rand() * scale));

async function stepWith(r: Run, g: Float32Array[]): Promise<void> {
  for (const [i, p] of r.ws.entries()) p.grad = await octet.tensor(g[i], SHAPES[i]);
  r.bias.grad = await octet.tensor(g[SHAPES.length]);
  await r.opt.step();
}

const values = async (r: Run) => Promise.all([...r.ws, r.bias].map(read));

describe("Muon state dict", () => {
  for (const C of [octet.optim.Muon, octet.optim.Muon8bit]) {
    test(`${C.name}: stateDict -> loadStateDict (fresh optimizer) -> stateDict is bit-exact; the resumed steps equal the uninterrupted ones bit for bit`, async () => {
      const rand = gaussian(11);
      const a = await make(C, draw(rand, 0.2));
      for (let t = 0; t < 3; t++) await stepWith(a, draw(rand, 0.02));
      const sd = await a.opt.stateDict();
      expect(sd.format.optimizer).toBe("muon+adam");
      expect(Object.keys(sd.state).map(Number)).toEqual([0, 1, 2]);
      expect(sd.format.stateFormats).toEqual(C === octet.optim.Muon8bit ? { 0: "dynamic8", 1: "f32", 2: "dynamic8" } : { 0: "f32", 1: "f32", 2: "f32" });
      expect(sd.paramGroups.map((g) => [g.params, g.useMuon])).toEqual([[[0, 1], undefined], [[2], false]]);
      if (C === octet.optim.Muon8bit) {
        expect(sd.state[0].state1).toBeInstanceOf(Uint8Array);
        expect((sd.state[0].state1 as Uint8Array).length).toBe(1300);
        expect((sd.state[0].absmax1 as Float32Array).length).toBe(6);
      } else expect((sd.state[0].state1 as Float32Array).length).toBe(1300);
      const b = await make(C, await values(a));
      await b.opt.loadStateDict(sd);
      expect(bits(await b.opt.stateDict())).toEqual(bits(sd));
      for (let t = 0; t < 2; t++) {
        const g = draw(rand, 0.02);
        await stepWith(a, g);
        await stepWith(b, g);
      }
      expect(await values(b)).toEqual(await values(a));
      expect(bits(await b.opt.stateDict())).toEqual(bits(await a.opt.stateDict()));
    }, 60_000);
  }

  test("Muon: a run resumed from its state dict follows the float64 oracle of torch.optim.Muon", async () => {
    const [rows, cols] = [12, 20];
    const rand = gaussian(4);
    const p0 = filled(rows * cols, rand);
    const hp: MuonHp = { lr: 0.02, weightDecay: 0.1, momentum: 0.95, nesterov: true, nsSteps: 5, eps: 1e-7, adjustLrFn: "original" };
    const mk = async (v: Float32Array) => {
      const p = await param(v);
      p.data = p.data.reshape([rows, cols]);
      return { p, opt: new octet.optim.Muon([p], { lr: hp.lr, weightDecay: hp.weightDecay }) };
    };
    let { p, opt } = await mk(p0);
    const pr = Float64Array.from(p0), buf = new Float64Array(rows * cols);
    for (let t = 0; t < 4; t++) {
      if (t === 2) {
        const sd = await opt.stateDict();
        ({ p, opt } = await mk(await read(p)));
        await opt.loadStateDict(sd);
      }
      const g = filled(rows * cols, rand);
      p.grad = await octet.tensor(g, [rows, cols]);
      await opt.step();
      muonStep(pr, Float64Array.from(g), buf, rows, cols, hp);
    }
    const got = await read(p);
    let d = 0, m = 0;
    for (let i = 0; i < pr.length; i++) (d = Math.max(d, Math.abs(got[i] - pr[i]))), (m = Math.max(m, Math.abs(pr[i])));
    expect(d / m).toBeLessThan(1e-5);
    // Without the momentum (a fresh optimizer at step 2) the run leaves the oracle: the check can fail.
    let lost = await mk(p0);
    const rand2 = gaussian(4);
    filled(rows * cols, rand2);
    for (let t = 0; t < 4; t++) {
      if (t === 2) lost = await mk(await read(lost.p));
      lost.p.grad = await octet.tensor(filled(rows * cols, rand2), [rows, cols]);
      await lost.opt.step();
    }
    const off = await read(lost.p);
    let d2 = 0;
    for (let i = 0; i < pr.length; i++) d2 = Math.max(d2, Math.abs(off[i] - pr[i]));
    expect(d2 / m).toBeGreaterThan(1e-3);
  }, 60_000);

  test("octet.save / octet.load carry Muon8bit's state (and its AdamW groups') through a checkpoint directory", async () => {
    const rand = gaussian(21);
    const a = await make(octet.optim.Muon8bit, draw(rand, 0.2));
    for (let t = 0; t < 2; t++) await stepWith(a, draw(rand, 0.02));
    const model = new octet.nn.Module();
    Object.assign(model, { w0: a.ws[0], w1: a.ws[1], b: a.bias });
    const dir = join(mkdtempSync(join(tmpdir(), "octet-muon-")), "ckpt");
    await octet.save(dir, { model, optimizer: a.opt });
    const b = await make(octet.optim.Muon8bit, sizes.map((n) => new Float32Array(n)));
    const model2 = new octet.nn.Module();
    Object.assign(model2, { w0: b.ws[0], w1: b.ws[1], b: b.bias });
    await octet.load(dir, { model: model2, optimizer: b.opt });
    expect(bits(await b.opt.stateDict())).toEqual(bits(await a.opt.stateDict()));
    const g = draw(rand, 0.02);
    await stepWith(a, g);
    await stepWith(b, g);
    expect(await values(b)).toEqual(await values(a));
  }, 60_000);

  test("refusals name the problem and change nothing", async () => {
    const rand = gaussian(5);
    const a8 = await make(octet.optim.Muon8bit, draw(rand, 0.2));
    for (let t = 0; t < 2; t++) await stepWith(a8, draw(rand, 0.02));
    const sd8 = await a8.opt.stateDict();
    const b = await make(octet.optim.Muon, await values(a8));
    await stepWith(b, draw(rand, 0.02));
    const before = bits(await b.opt.stateDict());
    const refused = async (sd: unknown, msg: string | RegExp) => {
      await expect(b.opt.loadStateDict(sd as SD)).rejects.toThrow(msg);
      expect(bits(await b.opt.stateDict())).toEqual(before);
    };
    // A Muon8bit dict into Muon: the momentum format differs (the AdamW part is never reached).
    await refused(sd8, /Muon.loadStateDict: param group 0 was saved with optimBits 8, this optimizer's is 32/);
    const sd = await b.opt.stateDict();
    const edit = (f: (x: SD) => void): SD => {
      const x = structuredClone(sd);
      f(x);
      return x;
    };
    await refused(edit((x) => (x.format.stateFormats[0] = "dynamic8")), "parameter 0 was saved with dynamic8 state, this optimizer keeps f32 momentum for it");
    await refused(edit((x) => (x.format.optimizer = "adam")), "state of a adam optimizer, this is muon+adam");
    await refused(edit((x) => x.paramGroups.pop()), "1 param groups, this optimizer has 2 (1 Muon, 1 AdamW)");
    await refused(edit((x) => delete x.paramGroups[1].useMuon), "param group 1 is a Muon group in the dict; here it is an AdamW group");
    await refused(edit((x) => (x.paramGroups[0].nsSteps = 100)), 'param group 0: option "nsSteps": must be < 100');
    await refused(edit((x) => (x.state[0].state1 = new Float32Array(5))), "parameter 0 state1: expected Float32Array(1300) for f32 momentum, got Float32Array(5)");
    await refused(edit((x) => ((x.state[1].state1 as Float32Array)[3] = NaN)), "state[1].state1[3] is NaN");
    await refused(edit((x) => (x.state[0].step = 0)), "state[0].step is 0");
    await refused(edit((x) => (x.state[7] = { step: 1 })), "state for parameter 7, but the optimizer has parameters 0..2");
    // A bad entry in the AdamW part: refused by the side optimizer before either part is written.
    await refused(edit((x) => ((x.state[2].state1 as Float32Array)[0] = Infinity)), /the AdamW groups' state \(the dict's parameters 2\.\., numbered from 0 in what follows\): AdamW.loadStateDict: state\[0\]\.state1\[0\] is Infinity/);
    await refused(JSON.parse(JSON.stringify({ ...sd, toJSON: undefined })), "went through JSON");
    expect(() => JSON.stringify(sd)).toThrow("holds typed arrays");
    // A Muon dict with AdamW groups into a Muon without them.
    const w = await param(new Float32Array(1300));
    w.data = w.data.reshape(SHAPES[0]);
    const lone = new octet.optim.Muon([w]);
    await expect(lone.loadStateDict(sd)).rejects.toThrow("state of a muon+adam optimizer, this is muon (Muon without AdamW groups)");
  }, 60_000);

  test("a parameter without state in the dict restarts fresh after the load", async () => {
    const rand = gaussian(8);
    const v = draw(rand, 0.2);
    const a = await make(octet.optim.Muon, v);
    const g0 = draw(rand, 0.02);
    a.ws[1].grad = null; // only ws[0] (and the bias) steps: ws[1] has no state in the dict
    a.ws[0].grad = await octet.tensor(g0[0], SHAPES[0]);
    a.bias.grad = await octet.tensor(g0[2]);
    await a.opt.step();
    const sd = await a.opt.stateDict();
    expect(Object.keys(sd.state)).toEqual(["0", "2"]);
    const b = await make(octet.optim.Muon, await values(a));
    for (let t = 0; t < 2; t++) await stepWith(b, draw(rand, 0.02)); // ws[1] has momentum in b
    await b.opt.loadStateDict(sd);
    const c = await make(octet.optim.Muon, await values(b)); // ws[1] as new
    const g = draw(rand, 0.02);
    await stepWith(b, g);
    await stepWith(c, g);
    expect(await read(b.ws[1])).toEqual(await read(c.ws[1]));
  }, 60_000);
});
