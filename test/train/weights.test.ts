// Training runs with bf16 weights (--param-dtype bf16, with and without --stochastic-round) and with Muon:
// they learn, stochastic rounding is reproducible by seed, the trained weights are bf16 values, and a Muon run
// resumes from its checkpoint bit for bit.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTraining } from "../../src/train/trainer.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";

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

  test("Muon for the hidden matrices, AdamW for the rest: loss falls", async () => {
    const r = await runTraining({ ...tiny, optim: "muon" });
    expect(falls(r.history)).toBe(true);
    expect(r.optimizerStateBytes).toBeGreaterThan(0);
  }, 120_000);

  test("Muon8bit with bf16 weights (stochastic rounding) checkpoints: a run resumed from --out continues bit-identically to an uninterrupted one", async () => {
    // bf16 weights are held by the optimizers (Muon's storages, AdamW8bit's arena): the load must reach them.
    const cfg = { ...tiny, optim: "muon_8bit", steps: 4, evalEvery: 4, paramDtype: "bf16" as const, stochasticRound: true };
    const full = mkdtempSync(join(tmpdir(), "octet-muon-"));
    const split = mkdtempSync(join(tmpdir(), "octet-muon-"));
    await runTraining({ ...cfg, out: full });
    await runTraining({ ...cfg, out: split }, { stopAfter: 2 });
    const rest = await runTraining({ ...cfg, out: split });
    expect(rest.resumedFrom).toBe(2);
    for (const f of ["model.safetensors", "optimizer.safetensors"]) {
      const a = decodeSafetensors(new Uint8Array(readFileSync(join(full, f))));
      const b = decodeSafetensors(new Uint8Array(readFileSync(join(split, f))));
      expect(b.names).toEqual(a.names);
      for (const n of a.names) expect(Buffer.from(b.tensors[n].data.buffer).equals(Buffer.from(a.tensors[n].data.buffer))).toBe(true);
    }
    // The Muon momentum is in the checkpoint (parameter 0: the first hidden matrix, qkv [16, 48], f32 below
    // min8bitSize), not only the AdamW groups' state.
    const opt = decodeSafetensors(new Uint8Array(readFileSync(join(full, "optimizer.safetensors"))));
    expect(opt.tensors["state.0.state1"].shape).toEqual([16 * 48]);
    expect(JSON.parse(opt.metadata.stateFormat).optimizer).toBe("muon+adam");
  }, 120_000);
});
