// Training runs with bf16 weights (--param-dtype bf16, with and without --stochastic-round; bf16 gradients, a
// compensation buffer) and with Muon: they learn, stochastic rounding is reproducible by seed, the trained weights
// are bf16 values, and a compensated run and a Muon run resume from their checkpoints bit for bit.
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

  test("bf16 weights and gradients with a kahan compensation buffer: resume continues bit-identically", async () => {
    const tmp = () => mkdtempSync(join(tmpdir(), "octet-lowp-"));
    const run = { ...tiny, steps: 6, evalEvery: 6, paramDtype: "bf16" as const, compensation: "kahan" as const };
    const [full, split] = [tmp(), tmp()];
    const a = await runTraining({ ...run, out: full });
    await runTraining({ ...run, out: split }, { stopAfter: 3 });
    const b = await runTraining({ ...run, out: split });
    expect(b.resumedFrom).toBe(3);
    expect(b.history.map((h) => h.trainLoss)).toEqual(a.history.slice(3).map((h) => h.trainLoss));
    const opt = decodeSafetensors(new Uint8Array(readFileSync(join(full, "optimizer.safetensors"))));
    expect(opt.names.some((n) => n.endsWith(".compensation"))).toBe(true);
    for (const f of ["model.safetensors", "optimizer.safetensors"]) {
      const [x, y] = [full, split].map((d) => decodeSafetensors(new Uint8Array(readFileSync(join(d, f)))));
      for (const n of x.names) expect(Buffer.from(y.tensors[n].data.buffer, y.tensors[n].data.byteOffset, y.tensors[n].data.byteLength).equals(Buffer.from(x.tensors[n].data.buffer, x.tensors[n].data.byteOffset, x.tensors[n].data.byteLength)), `${f} ${n}`).toBe(true);
    }
    await expect(runTraining({ ...run, compensation: "none", out: split, steps: 7 })).rejects.toThrow("was saved with compensation \"kahan\", this optimizer keeps none for it");
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
