// Muon and Muon8bit (optim/muon.ts) against the float64 reference of torch.optim.Muon (test/reference/muon.ts).
import { describe, expect, test } from "bun:test";
import { filled, gaussian, octet, param, read } from "./helpers.ts";
import { jit } from "../../src/runtime/jit.ts";
import { newtonSchulz } from "../../src/ops/newtonschulz.ts";
import { muonParamGroups } from "../../src/optim/muon.ts";
import { adjustLr, muonStep, newtonSchulz as refNewtonSchulz, type MuonHp } from "../reference/muon.ts";
import { dequantizeBlockwise, quantizeStateBlockwise } from "../reference/quant.ts";
import { SIGNED_DYNAMIC_MAP } from "../../src/optim/maps.ts";
import { backward } from "../../src/autograd/var.ts";

await octet.device();

/** max |got - want| / max |want|: f32 against float64 through 5 iterations of 3 matmuls each. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
}

describe("Newton-Schulz", () => {
  for (const [rows, cols] of [[6, 10], [10, 6], [8, 8]]) {
    test(`[${rows}, ${cols}]: the DSL iteration equals the float64 reference (transposed work when rows > cols)`, async () => {
      const x = filled(rows * cols, gaussian(rows * 31 + cols));
      const f = jit(`ns_${rows}x${cols}`, { x: { shape: [rows, cols] } }, (a) => ({ y: newtonSchulz(a.x) }));
      const y = await (await f.run({ x: await octet.tensor(x, [rows, cols]) })).y.toArray();
      const want = refNewtonSchulz({ rows, cols, data: Float64Array.from(x) }).data;
      expect(relErr(y, want)).toBeLessThan(1e-4);
      // The iteration's purpose: singular values pushed toward 1 (torch's docs: about Uniform(0.5, 1.5)).
      // Check with the oracle's output: the diagonal of O O^T (or O^T O) is within [0.3, 1.7].
      const k = Math.min(rows, cols);
      for (let i = 0; i < k; i++) {
        let s = 0;
        for (let j = 0; j < Math.max(rows, cols); j++) s += rows <= cols ? want[i * cols + j] ** 2 : want[j * cols + i] ** 2;
        expect(s).toBeGreaterThan(0.3);
        expect(s).toBeLessThan(1.7);
      }
    });
  }
  test("torch's shape rule", () => {
    expect(adjustLr(1, "original", 12, 3)).toBe(2);
    expect(adjustLr(1, "original", 3, 12)).toBe(1);
    expect(adjustLr(1, "match_rms_adamw", 3, 16)).toBeCloseTo(0.8, 12);
  });
});

const HP: MuonHp = { lr: 0.02, weightDecay: 0.1, momentum: 0.95, nesterov: true, nsSteps: 5, eps: 1e-7, adjustLrFn: "original" };

describe("Muon steps end to end", () => {
  for (const [rows, cols, nesterov] of [[12, 20, true], [20, 12, false]] as const) {
    test(`Muon [${rows}, ${cols}] nesterov ${nesterov}: 3 steps equal the oracle`, async () => {
      const rand = gaussian(rows + cols);
      const p0 = filled(rows * cols, rand);
      const p = await param(p0);
      p.data = p.data.reshape([rows, cols]);
      const hp = { ...HP, nesterov };
      const opt = new octet.optim.Muon([p], { lr: hp.lr, weightDecay: hp.weightDecay, momentum: hp.momentum, nesterov });
      const pr = Float64Array.from(p0), buf = new Float64Array(rows * cols);
      for (let t = 0; t < 3; t++) {
        const g = filled(rows * cols, rand);
        p.grad = await octet.tensor(g, [rows, cols]);
        await opt.step();
        muonStep(pr, Float64Array.from(g), buf, rows, cols, hp);
      }
      expect(relErr(await read(p), pr)).toBeLessThan(1e-5);
      expect(opt.stateBytes()).toBe(rows * cols * 4); // 960 bytes: a multiple of 16
    });
  }

  test("Muon8bit: the momentum buffer is 8-bit blockwise (1 byte per element + absmax), steps equal the oracle with the same quantization", async () => {
    const [rows, cols] = [32, 40]; // 1280 elements: five 256-blocks
    const rand = gaussian(5);
    const p0 = filled(rows * cols, rand);
    const p = await param(p0);
    p.data = p.data.reshape([rows, cols]);
    const opt = new octet.optim.Muon8bit([p], { lr: HP.lr, min8bitSize: 0 });
    const pr = Float64Array.from(p0);
    let buf = new Float64Array(rows * cols);
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const g = filled(rows * cols, rand);
      p.grad = await octet.tensor(g, [rows, cols]);
      await opt.step();
      muonStep(pr, Float64Array.from(g), buf, rows, cols, HP);
      // The oracle's buffer goes through bnb's blockwise quantizer as the GPU's does.
      buf = Float64Array.from(dequantizeBlockwise(quantizeStateBlockwise(Float32Array.from(buf), SIGNED_DYNAMIC_MAP, true), SIGNED_DYNAMIC_MAP));
      worst = Math.max(worst, relErr(await read(p), pr));
    }
    expect(worst).toBeLessThan(2e-3); // a code that rounds the other way in f32 vs float64 moves B by one step of the map
    expect(opt.stateBytes()).toBe(rows * cols + 5 * 4 + 12); // codes, 5 absmax (padded to 16 bytes)
  });

  test("options and shapes are checked", async () => {
    const bias = await param(Float32Array.of(1, 2, 3));
    expect(() => new octet.optim.Muon([bias])).toThrow("Muon steps 2-D weights only");
    const w = await param(new Float32Array(4));
    w.data = w.data.reshape([2, 2]);
    expect(() => new octet.optim.Muon([w], { nsSteps: 100 })).toThrow('Muon: option "nsSteps": must be < 100');
    expect(() => new octet.optim.Muon([w], { adjustLrFn: "x" } as never)).toThrow('option "adjustLrFn"');
  });
});

describe("Muon option changes after the first step", () => {
  test("optimBits / min8bitSize that would move a weight's momentum to another format are refused, nothing stepped", async () => {
    const rand = gaussian(12);
    const p = await param(filled(1280, rand));
    p.data = p.data.reshape([32, 40]); // the Muon8bit test's shape: its kernels are compiled already
    const opt = new octet.optim.Muon8bit([p], { lr: HP.lr, min8bitSize: 0 });
    p.grad = await octet.tensor(filled(1280, rand), [32, 40]);
    await opt.step();
    const before = await read(p);
    opt.paramGroups[0].min8bitSize = 4096; // 1280 elements would now keep f32 momentum
    p.grad = await octet.tensor(filled(1280, rand), [32, 40]);
    await expect(opt.step()).rejects.toThrow(/keeps its momentum in 8 bits since its first step, but its group's optimBits 8 and min8bitSize 4096 now ask for f32/);
    expect(await read(p)).toEqual(before);
    opt.paramGroups[0].min8bitSize = 0; // restored: it steps again
    await opt.step();
    expect(await read(p)).not.toEqual(before);
  });
});

describe("Muon.release", () => {
  test("gives the Muon and AdamW groups' parameters up (another optimizer steps them) and refuses to step again", async () => {
    const rand = gaussian(13);
    const w = await param(filled(1280, rand));
    w.data = w.data.reshape([32, 40]);
    const b = await param(filled(40, rand));
    const opt = new octet.optim.Muon([{ params: [w] }, { params: [b], useMuon: false }], { lr: HP.lr });
    w.grad = await octet.tensor(filled(1280, rand), [32, 40]);
    b.grad = await octet.tensor(filled(40, rand));
    await opt.step();
    await expect(new octet.optim.AdamW([w]).step()).rejects.toThrow(/already stepped by Muon #\d+/);
    await expect(new octet.optim.AdamW([b]).step()).rejects.toThrow(/already stepped by AdamW/);
    opt.release();
    const after = await read(w);
    await expect(opt.step()).rejects.toThrow(/Muon #\d+: this optimizer was released/);
    expect(await read(w)).toEqual(after); // values stay where they are
    const next = new octet.optim.AdamW([w, b]);
    await next.step(); // both parameters may now be claimed
    expect(await read(w)).not.toEqual(after);
    next.release();
  });
});

describe("muonParamGroups", () => {
  test("a GPT: hidden Linear weights step with Muon, embeddings, head and 1-D parameters with AdamW; the loss falls", async () => {
    const model = new octet.nn.GPT({ vocabSize: 20, contextLength: 8, width: 16, layers: 1, heads: 2, seed: 0 } as never);
    const groups = muonParamGroups(model, { adamw: { lr: 1e-2 } });
    const names = (ps: octet.nn.Parameter[]) => ps.map((p) => p.name).sort();
    expect(names(groups[0].params)).toEqual(["blocks.0.fc.weight", "blocks.0.fcProj.weight", "blocks.0.proj.weight", "blocks.0.qkv.weight"]);
    expect(groups[1].useMuon).toBe(false);
    expect(groups[1].params.length + groups[0].params.length).toBe(model.parameters().length);
    const opt = new octet.optim.Muon(groups, { lr: 0.02 });
    const B = 2, T = 8;
    const idx = await octet.tensor(Uint32Array.from({ length: B * T }, (_, i) => (i * 7) % 20), [B, T], { dtype: "u32" });
    const tgt = await octet.tensor(Uint32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 20), [B * T], { dtype: "u32" });
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) {
      const loss = model.loss(idx, tgt, B, T);
      backward(loss);
      await opt.step({ with: [loss.value] });
      losses.push((await loss.value.toArray())[0]);
      opt.zeroGrad();
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.1);
  });
});
