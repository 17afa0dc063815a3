// Optimizer-state bytes as the allocator accounts them (issue #7, bench scale's 2.04 B/param target), and each
// optimizer's own count of them (opt.stateBytes(), what the trainer and `compare` report per run). The expected
// counts are derived from the state format here (codes, absmax rows, the packed table's parts), not copied from
// a run: an optimizer's buffers are sized exactly, so no size-class rounding may appear in them.
import { describe, expect, test } from "bun:test";
import { allocateOn, free, memoryStats, paddedBytes, sizeClass, type Storage } from "../../src/runtime/storage.ts";
import { FORMATS, type FormatName } from "../../src/optim/formats.ts";
import type { OptimizerDef } from "../../src/optim/define.ts";
import { buildModel, runTraining } from "../../src/train/trainer.ts";
import { TrainConfig } from "../../src/train/config.ts";
import { loadSotuCorpus } from "../../src/data/corpus.ts";
import { optimizerByName } from "../../src/optim/names.ts";
import { classOf, filled, gaussian, octet, param } from "./helpers.ts";
import { countGpuObjects } from "../gpu-objects.ts";
import { deviceTarget } from "../../src/runtime/target.ts";

const pad16 = (bytes: number) => Math.max(16, Math.ceil(bytes / 16) * 16);
const blocksOf = (n: number) => Math.max(1, Math.ceil(n / 256));

interface ClassInfo {
  def: OptimizerDef;
  defaults: Record<string, unknown>;
}

/**
 * One bucket's state bytes from the format: per state, 1 B codes per arena element + one f32 absmax per
 * 256-block (8-bit) or 4 B per element (f32); plus the packed u32 table: 256 words per lookup table (per
 * signedness the states use), 16 bits per block for the block -> tensor map, one word per tensor and scalar.
 */
function bucketBytes(C: ClassInfo, format: FormatName, sizes: number[], packedCodes = false): number {
  const f = FORMATS[format];
  const blocks = sizes.reduce((a, n) => a + blocksOf(n), 0);
  const signednesses = new Set(C.def.states.map((s) => s.signed));
  const lookups = [...signednesses].reduce((a, s) => a + Object.keys(f.tables(s)).length, 0);
  const scalars = 1 + Object.keys(C.def.scalars(C.defaults as never, 1)).length; // the active flag, then the family's
  const perState = f.quantized ? pad16(blocks * 256) + pad16(blocks * 4) : pad16(blocks * 256 * 4);
  const table = pad16(4 * (256 * lookups + Math.ceil(blocks / 2) + sizes.length * scalars));
  // packed (a budget too small for a u8 buffer per state): one u32 word of codes per element for all states
  if (packedCodes) return pad16(blocks * 256 * 4) + C.def.states.length * pad16(blocks * 4) + table;
  return C.def.states.length * perState + table;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("allocation sizes", () => {
  test('"exact" accounts the padded size itself, is pooled by it, and is reused without a new buffer', async () => {
    const dev = await octet.device();
    const n = 300_001; // 1.2 MB: its size class rounds to whole MiB
    expect(sizeClass(paddedBytes("f32", n))).toBeGreaterThan(paddedBytes("f32", n));
    const before = memoryStats();
    const a = allocateOn(dev, "f32", n, "optimizer", true, false, "exact");
    expect(memoryStats().optimizer - before.optimizer).toBe(paddedBytes("f32", n));
    expect(a.allocatedBytes).toBe(paddedBytes("f32", n));
    const b = allocateOn(dev, "f32", n, "optimizer", true, false);
    expect(b.allocatedBytes).toBe(sizeClass(paddedBytes("f32", n)));
    free(a);
    free(b);
    expect(a.allocatedBytes).toBe(0);
    expect(memoryStats().pooled - before.pooled).toBe(paddedBytes("f32", n) + sizeClass(paddedBytes("f32", n)));
    const again = await countGpuObjects(async () => {
      const c = allocateOn(dev, "f32", n, "optimizer", true, false, "exact");
      expect(c.buffer).toBe(a.buffer);
      free(c);
    });
    expect(again.buffers).toBe(0);
  });
});

describe("optimizer state bytes", () => {
  const SIZES = [12305, 5000, 1000, 300]; // an 8-bit bucket (>= min8bitSize) and a 32-bit one in the *8bit classes
  for (const [name, format] of [["AdamW8bit", "dynamic8"], ["AdEMAMix8bit", "dynamic8"], ["Lion8bit", "linear8"], ["AdamW32bit", "f32"]] as const)
    test(`${name} (${format}): stateBytes() and the allocator's count are the format's bytes exactly`, async () => {
      const C = classOf(name) as unknown as ClassInfo;
      const normal = gaussian(2);
      const params = await Promise.all(SIZES.map((n) => param(filled(n, () => normal() * 0.2))));
      const opt = new (classOf(name))(params, { stateFormat: format === "f32" ? "dynamic8" : format });
      expect(opt.stateBytes()).toBe(0); // nothing allocated before the first step
      for (const p of params) p.grad = await octet.tensor(filled(p.numel, () => normal() * 0.02));
      const big = SIZES.filter((n) => n >= 4096);
      const small = SIZES.filter((n) => n < 4096);
      const want = format === "f32" ? bucketBytes(C, "f32", SIZES) : bucketBytes(C, format, big) + bucketBytes(C, "f32", small);
      await settle(); // earlier tests' optimizers are collected before the reading, not during it
      const before = memoryStats().optimizer;
      await opt.step();
      expect(opt.stateBytes()).toBe(want);
      expect(memoryStats().optimizer - before).toBe(want);
      await opt.step();
      expect(opt.stateBytes()).toBe(want); // a step allocates no state
    });

  test("AdEMAMix8bit at 8 storage buffers: one packed u32 codes buffer for its three states, then absmax and table", async () => {
    const C = classOf("AdEMAMix8bit") as unknown as ClassInfo;
    const normal = gaussian(3);
    const params = await Promise.all(SIZES.map((n) => param(filled(n, () => normal() * 0.2))));
    const opt = new (classOf("AdEMAMix8bit"))(params, { target: { ...deviceTarget(), maxStorageBuffers: 8 } });
    for (const p of params) p.grad = await octet.tensor(filled(p.numel, () => normal() * 0.02));
    await opt.step();
    const want = bucketBytes(C, "dynamic8", SIZES.filter((n) => n >= 4096), true) + bucketBytes(C, "f32", SIZES.filter((n) => n < 4096));
    expect(opt.stateBytes()).toBe(want);
  });

  test("AdamW8bit at 2^24 parameters: 2 + 8/256 + 2/256 B/param plus the lookup tables, under 2.04", async () => {
    const n = 1 << 24;
    const p = await param(new Float32Array(n).fill(0.5));
    const opt = new octet.optim.AdamW8bit([p]);
    p.grad = await octet.tensor(new Float32Array(n).fill(0.01));
    await opt.step();
    const C = octet.optim.AdamW8bit as unknown as ClassInfo;
    expect(opt.stateBytes()).toBe(bucketBytes(C, "dynamic8", [n]));
    // the parts by hand: codes, absmax, the block map, 4 lookup tables of 1 KiB, one row of scalars
    const scalars = 1 + Object.keys(C.def.scalars(C.defaults as never, 1)).length;
    expect(opt.stateBytes()).toBe(2 * n + 2 * 4 * (n / 256) + pad16(2 * (n / 256) + 4 * 1024 + 4 * scalars));
    expect(opt.stateBytes() / n).toBeLessThan(2.04);
  });
});

describe("per-run state bytes", () => {
  test("runTraining reports the optimizer's own bytes, even while another optimizer's state is freed", async () => {
    const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 2, evalEvery: 2, evalBatches: 1, lr: 1e-2 };
    // Another optimizer's state, freed while the run trains (as compare's previous run is collected during the
    // next): a difference of memoryStats().optimizer across the run would drop by it, to 0 or below.
    const other = new octet.optim.AdamW8bit([await param(new Float32Array(1 << 16).fill(1))]);
    other.paramGroups[0].params[0].grad = await octet.tensor(new Float32Array(1 << 16).fill(0.1));
    await other.step();
    expect(other.stateBytes()).toBeGreaterThan(2 << 16);
    const buckets = (other as unknown as { buckets: { states: Record<string, { codes?: Storage; absmax?: Storage }> }[] }).buckets;
    const freeOther = () => buckets.forEach((b) => Object.values(b.states).forEach((st) => [st.codes, st.absmax].forEach((s) => s && free(s))));
    const run = await runTraining(tiny, { onStep: (rec) => void (rec.step === 1 && freeOther()) });
    expect(memoryStats().optimizer).toBeGreaterThanOrEqual(0);
    // The same model and optimizer, stepped once: its own count (checked against the format above).
    const cfg = TrainConfig.parse(tiny);
    octet.optim.GlobalOptimManager.getInstance().initialize();
    const model = buildModel(cfg, loadSotuCorpus().tokenizer.vocabSize);
    const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr, stateFormat: cfg.stateFormat });
    for (const p of model.parameters()) p.grad = await octet.zeros([...p.shape]);
    await opt.step();
    expect(run.optimizerStateBytes).toBeGreaterThan(2 * run.parameterCount);
    expect(run.optimizerStateBytes).toBe(opt.stateBytes());
  }, 60_000);
});
