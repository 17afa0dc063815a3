// Muon and Muon8bit with 16-bit weights (paramDtype, optim/muon.ts): the step runs in f32 and rounds the new
// weight once, to nearest even or stochastically. The oracle is the float64 torch.optim.Muon of
// test/reference/muon.ts with its weights rounded by test/reference/bf16.ts.
import { describe, expect, test } from "bun:test";
import { filled, gaussian, octet, param, read } from "./helpers.ts";
import { muonStep, type MuonHp } from "../reference/muon.ts";
import { bf16Nearest, bf16Stochastic, bf16Value, counterRandom16, f32Bits } from "../reference/bf16.ts";
import { dequantizeBlockwise, quantizeStateBlockwise } from "../reference/quant.ts";
import { SIGNED_DYNAMIC_MAP } from "../../src/optim/maps.ts";
import { MUON_STREAM_BASE } from "../../src/optim/muon.ts";
import { deviceInfo } from "../../src/runtime/device.ts";

await octet.device();

const HP: MuonHp = { lr: 0.02, weightDecay: 0.1, momentum: 0.95, nesterov: true, nsSteps: 5, eps: 1e-7, adjustLrFn: "original" };
const SHAPES: [number, number][] = [[12, 20], [12, 20]]; // one kernel for both; the second starts at element 256 of Muon's stream
const nearest = (v: number) => bf16Value(bf16Nearest(v));
const bf16Ulp = (v: number) => 2 ** (Math.floor(Math.log2(Math.abs(v) || 2 ** -126)) - 7);

/** Steps two weights `steps` times on the GPU and in the oracle; `round(value, t, weight, i)` rounds the oracle's weights. */
async function compare(C: typeof octet.optim.Muon, opts: Record<string, unknown>, steps: number, round: (v: number, t: number, w: number, i: number) => number, quantize = false) {
  const rand = gaussian(3);
  const p0 = SHAPES.map(([r, c]) => filled(r * c, rand).map(nearest));
  const ps = await Promise.all(p0.map(async (v, w) => {
    const p = await param(v);
    p.data = p.data.reshape(SHAPES[w]);
    return p;
  }));
  const opt = new C(ps, { lr: HP.lr, weightDecay: HP.weightDecay, min8bitSize: 0, ...opts });
  const pr = p0.map((v) => Float64Array.from(v));
  const bufs = SHAPES.map(([r, c]) => new Float64Array(r * c));
  for (let t = 1; t <= steps; t++) {
    for (const [w, [r, c]] of SHAPES.entries()) {
      const g = filled(r * c, rand);
      ps[w].grad = await octet.tensor(g, [r, c]);
      muonStep(pr[w], Float64Array.from(g), bufs[w], r, c, HP);
      for (let i = 0; i < pr[w].length; i++) pr[w][i] = round(Math.fround(pr[w][i]), t, w, i);
      // Muon8bit: the oracle's buffer goes through bnb's blockwise quantizer as the GPU's does.
      if (quantize) bufs[w] = Float64Array.from(dequantizeBlockwise(quantizeStateBlockwise(Float32Array.from(bufs[w]), SIGNED_DYNAMIC_MAP, true), SIGNED_DYNAMIC_MAP));
    }
    await opt.step();
  }
  return { got: await Promise.all(ps.map(read)), want: pr, ps, opt };
}

/** Every element within one bf16 ulp of the oracle (f32 against float64 may round the other way near a tie), nearly all equal. */
function expectClose(got: Float32Array[], want: Float64Array[], sameAtLeast: number) {
  let same = 0, n = 0;
  const bad: string[] = [];
  got.forEach((g, w) => g.forEach((v, i) => {
    n++;
    if (v === want[w][i]) same++;
    else if (!(Math.abs(v - want[w][i]) <= bf16Ulp(want[w][i]))) bad.push(`${w}[${i}]: got ${v}, want ${want[w][i]}`);
    expect(f32Bits(v) & 0xffff).toBe(0); // a bf16 value
  }));
  expect(bad.slice(0, 5)).toEqual([]);
  expect(same / n).toBeGreaterThan(sameAtLeast);
}

describe("Muon with paramDtype bf16", () => {
  test("Muon: round to nearest matches the oracle; the weights hold bf16 values, 2 bytes each", async () => {
    const before = octet.memoryStats().parameters;
    const { got, want } = await compare(octet.optim.Muon, { paramDtype: "bf16" }, 3, nearest);
    expectClose(got, want, 0.97);
    // Two 16-bit storages (the f32 values the test uploaded are released later).
    expect(octet.memoryStats().parameters - before).toBeLessThanOrEqual(4 * 480 + 2 * 480 + 64);
  });

  test("Muon: stochastic rounding follows the oracle's stream keyed by (seed, step, 2^31 + the weight's offset + element)", async () => {
    const seed = 77;
    const offsets = [0, 256];
    const sr = (v: number, t: number, w: number, i: number) => bf16Value(bf16Stochastic(v, counterRandom16(seed, t, MUON_STREAM_BASE + offsets[w] + i)));
    const { got, want } = await compare(octet.optim.Muon, { paramDtype: "bf16", bf16StochasticRound: true, roundingSeed: seed }, 3, sr);
    expectClose(got, want, 0.97);
    // The stream matters: rounding the oracle to nearest instead leaves many elements a bf16 ulp away.
    const { got: g2, want: w2 } = await compare(octet.optim.Muon, { paramDtype: "bf16", bf16StochasticRound: true, roundingSeed: seed }, 3, nearest);
    let same = 0;
    g2.forEach((g, w) => g.forEach((v, i) => (same += +(v === w2[w][i]))));
    expect(same / 480).toBeLessThan(0.9);
  });

  test("Muon8bit: 8-bit momentum and bf16 weights match the oracle with the same quantization", async () => {
    const { got, want } = await compare(octet.optim.Muon8bit, { paramDtype: "bf16" }, 3, nearest, true);
    let worst = 0, scale = 0;
    got.forEach((g, w) => g.forEach((v, i) => {
      expect(f32Bits(v) & 0xffff).toBe(0);
      worst = Math.max(worst, Math.abs(v - want[w][i]) - bf16Ulp(want[w][i]));
      scale = Math.max(scale, Math.abs(want[w][i]));
    }));
    expect(worst / scale).toBeLessThan(2e-3); // as the f32 Muon8bit test: a code rounding the other way moves B by one step of the map
  });

  test("a state dict round trip with bf16 weights: the next steps are bit-identical; a replaced p.data is taken in", async () => {
    const rand = gaussian(9);
    const mk = async (vals: Float32Array[]) => {
      const ps = await Promise.all(vals.map(async (v, w) => {
        const p = await param(v);
        p.data = p.data.reshape(SHAPES[w]);
        return p;
      }));
      return { ps, opt: new octet.optim.Muon8bit(ps, { paramDtype: "bf16", bf16StochasticRound: true, roundingSeed: 3, min8bitSize: 0 }) };
    };
    const grads = () => SHAPES.map(([r, c]) => filled(r * c, rand));
    const stepWith = async (x: Awaited<ReturnType<typeof mk>>, g: Float32Array[]) => {
      for (const [w, p] of x.ps.entries()) p.grad = await octet.tensor(g[w], SHAPES[w]);
      await x.opt.step();
    };
    const a = await mk(SHAPES.map(([r, c]) => filled(r * c, rand).map(nearest)));
    for (let t = 0; t < 2; t++) await stepWith(a, grads());
    const b = await mk(await Promise.all(a.ps.map(read)));
    await b.opt.loadStateDict(await a.opt.stateDict());
    for (let t = 0; t < 2; t++) {
      const g = grads();
      await stepWith(a, g);
      await stepWith(b, g);
    }
    for (const w of [0, 1]) expect(await read(b.ps[w])).toEqual(await read(a.ps[w]));
    // p.data replaced by the user: the next step starts from the new values (no update lost to the old storage).
    const fresh = filled(240, rand).map(nearest);
    b.ps[0].data = await octet.tensor(fresh, SHAPES[0]);
    a.ps[0].data = await octet.tensor(fresh, SHAPES[0]);
    const g = grads();
    await stepWith(a, g);
    await stepWith(b, g);
    expect(await read(b.ps[0])).toEqual(await read(a.ps[0]));
    expect(Array.from(await read(b.ps[0])).some((v, i) => v !== fresh[i])).toBe(true);
  });

  test("f16 weights need shader-f16; options are checked", async () => {
    const w = await param(new Float32Array(240));
    w.data = w.data.reshape(SHAPES[0]);
    expect(() => new octet.optim.Muon([w], { bf16StochasticRound: true })).toThrow('option "bf16StochasticRound" rounds bf16 parameters; it needs paramDtype "bf16"');
    expect(() => new octet.optim.Muon([w], { paramDtype: "f8" } as never)).toThrow('option "paramDtype" must be one of "f32", "bf16", "f16"');
    if (!deviceInfo().hasF16) {
      const opt = new octet.optim.Muon([w], { paramDtype: "f16" });
      w.grad = await octet.tensor(new Float32Array(240), SHAPES[0]);
      await expect(opt.step()).rejects.toThrow('paramDtype "f16" needs the WebGPU feature "shader-f16"');
    }
  });
});
