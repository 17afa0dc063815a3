// One training step, one program (issue #7 item 2): the trainer logs the loss of the weights the step's
// gradients came from (the pre-update loss), realized in the same program as the gradients, so the forward
// runs once; a steady-state step of a small GPT creates no GPU buffers or bind groups.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as octet from "../../src/index.ts";
import { sampleBatch } from "../../src/data/batches.ts";
import { loadSotuCorpus } from "../../src/data/corpus.ts";
import { loadCheckpoint } from "../../src/io/checkpoint.ts";
import { optimizerByName } from "../../src/optim/names.ts";
import type { Optimizer } from "../../src/optim/optimizer.ts";
import { TrainConfig } from "../../src/train/config.ts";
import { StepBuffers, buildModel, runTraining, trainStep } from "../../src/train/trainer.ts";
import { countGpuObjects } from "../gpu-objects.ts";

const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 6, evalEvery: 6, evalBatches: 1, lr: 1e-2 };
const corpus = loadSotuCorpus();
const V = corpus.tokenizer.vocabSize;
const batchOf = (cfg: TrainConfig, step: number) => sampleBatch(corpus.train, step, { batchSize: cfg.batch, seqLen: cfg.seq, seed: cfg.seed });

/** A forward alone, realized on the current weights: the independent loss a step must report. */
async function forwardLoss(model: octet.nn.GPT, cfg: TrainConfig, step: number): Promise<number> {
  const b = batchOf(cfg, step);
  const idx = await octet.tensor(b.inputs, [cfg.batch, cfg.seq], { dtype: "u32" });
  const tgt = await octet.tensor(b.targets, [cfg.batch * cfg.seq], { dtype: "u32" });
  return (await model.loss(idx, tgt, cfg.batch, cfg.seq).value.toArray())[0];
}

async function setup() {
  const cfg = TrainConfig.parse(tiny);
  await octet.device();
  octet.optim.GlobalOptimManager.getInstance().initialize();
  const model = buildModel(cfg, V);
  const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr }) as Optimizer;
  return { cfg, model, opt, batch: await StepBuffers.create(cfg.batch, cfg.seq) };
}

// The same weights give the same loss to about an ulp: the forward alone and the forward inside the
// forward+backward program may be cut into kernels differently. One update at lr 1e-2 moves it by far more.
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);

describe("one training step, one program", () => {
  test("the logged loss at step k is the loss of the weights before step k's update", async () => {
    const { cfg, model, opt, batch } = await setup();
    for (let step = 1; step <= 4; step++) {
      const pre = await forwardLoss(model, cfg, step);
      await batch.load(batchOf(cfg, step));
      const logged = (await (await trainStep(model, opt, batch)).toArray())[0];
      const post = await forwardLoss(model, cfg, step);
      expect(close(logged, pre)).toBe(true);
      expect(close(logged, post)).toBe(false); // the update did change the loss: the check can tell them apart
    }
  }, 60_000);

  test("runTraining's history: step k's loss equals a forward on the checkpoint written after step k-1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "octet-step-"));
    const full = await runTraining({ ...tiny });
    await runTraining({ ...tiny, out: dir }, { stopAfter: 3 });
    const cfg = TrainConfig.parse(tiny);
    const model = buildModel(cfg, V);
    await loadCheckpoint(dir, { model });
    expect(close(full.history[3].trainLoss, await forwardLoss(model, cfg, 4))).toBe(true);
  }, 60_000);

  test("a step runs the forward once: one program for loss and gradients, then one dispatch per optimizer bucket", async () => {
    const { cfg, model, opt, batch } = await setup();
    const dev = (await octet.device()) as GPUDevice;
    await batch.load(batchOf(cfg, 1));
    await trainStep(model, opt, batch); // the first step also builds the optimizer's arenas
    for (let step = 2; step <= 4; step++) {
      await batch.load(batchOf(cfg, step));
      const queue = dev.queue as GPUQueue & Record<string, unknown>;
      const submit = queue.submit;
      let submits = 0;
      queue.submit = function (this: GPUQueue, cbs: Iterable<GPUCommandBuffer>) {
        submits++;
        return submit.call(this, cbs);
      };
      const d0 = opt.dispatchCount;
      let loss: octet.Tensor;
      try {
        loss = await trainStep(model, opt, batch);
      } finally {
        queue.submit = submit;
      }
      const buckets = opt.dispatchCount - d0;
      expect(buckets).toBeGreaterThan(0); // one per bucket (one here: every tensor of this GPT is below min8bitSize)
      // Program.run submits once per program: the forward+backward program, then the update kernels.
      expect(submits).toBe(1 + buckets);
      // The loss is already a buffer: reading it runs nothing more.
      expect(loss!.node.op).toBe("buffer");
    }
  }, 60_000);

  test("a steady-state GPT step creates no GPU buffers and no bind groups (steps 3-10)", async () => {
    const { cfg, model, opt, batch } = await setup();
    const counts = { buffers: 0, bindGroups: 0 };
    for (let step = 1; step <= 10; step++) {
      await batch.load(batchOf(cfg, step));
      const c = await countGpuObjects(() => trainStep(model, opt, batch));
      if (step >= 3) {
        counts.buffers += c.buffers;
        counts.bindGroups += c.bindGroups;
      }
    }
    expect(counts).toEqual({ buffers: 0, bindGroups: 0 });
  }, 60_000);
});
