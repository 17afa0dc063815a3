// Training runs with bf16 weights (--param-dtype bf16, with and without --stochastic-round) and with Muon:
// they learn, stochastic rounding is reproducible by seed, and the trained weights are bf16 values.
import { describe, expect, test } from "bun:test";
import { runTraining } from "../../src/train/trainer.ts";

const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 8, evalEvery: 8, evalBatches: 1, lr: 1e-2 };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const falls = (h: { trainLoss: number }[]) => mean(h.slice(-3).map((x) => x.trainLoss)) < mean(h.slice(0, 3).map((x) => x.trainLoss));

describe("training with 16-bit weights and Muon", () => {
  test("bf16 weights with stochastic rounding: loss falls, the same seed gives the same losses, weights are bf16", async () => {
    let lowBits = -1;
    const run = () =>
      runTraining({ ...tiny, paramDtype: "bf16", stochasticRound: true }, {
        onFinish: async (model) => {
          lowBits = 0;
          for (const p of model.parameters()) for (const v of (await p.data.toArray()) as Float32Array) lowBits |= new Uint32Array(Float32Array.of(v).buffer)[0] & 0xffff;
        },
      });
    const a = await run();
    expect(lowBits).toBe(0);
    const b = await run();
    expect(b.history.map((h) => h.trainLoss)).toEqual(a.history.map((h) => h.trainLoss));
    expect(falls(a.history)).toBe(true);
  }, 120_000);

  test("Muon for the hidden matrices, AdamW for the rest: loss falls; checkpoints are refused up front", async () => {
    const r = await runTraining({ ...tiny, optim: "muon" });
    expect(falls(r.history)).toBe(true);
    expect(r.optimizerStateBytes).toBeGreaterThan(0);
    await expect(runTraining({ ...tiny, optim: "muon", out: "/tmp/octet-muon-never" })).rejects.toThrow("Muon has no state dict yet");
  }, 120_000);
});
