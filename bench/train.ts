// `bun run bench train`: training throughput of the default GPT (tokens/s, steady state) and where a step's
// time goes: matmuls (linear layers), attention (the fused attention kernels; with the matmul baseline,
// batched matmuls over heads + softmax rows of the sequence length), the optimizer step, and everything else (layer norms, GELU, embedding, loss: fused elementwise
// and row kernels). The share breakdown times every dispatch on its own (serialized), so the throughput
// figure comes from a separate, unprofiled run. `--no-before` skips timing the step as it was before issue #7.
import * as octet from "../src/index.ts";
import { backward } from "../src/autograd/var.ts";
import { sampleBatch } from "../src/data/batches.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { profiler } from "../src/runtime/execute.ts";
import { TrainConfig } from "../src/train/config.ts";
import { StepBuffers, buildModel, trainStep } from "../src/train/trainer.ts";
import { optimizerByName } from "../src/optim/names.ts";
import { environment, formatEnvironment, formatTable, summarize } from "./harness.ts";

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes("--json");
  const optimName = argv.find((a) => a.startsWith("--optim="))?.slice(8) ?? "adamw_8bit";
  const steps = Number(argv.find((a) => a.startsWith("--steps="))?.slice(8) ?? 20);
  const cfg = TrainConfig.parse({ optim: optimName });
  await octet.device();
  const env = await environment();
  const corpus = loadSotuCorpus();
  const model = buildModel(cfg, corpus.tokenizer.vocabSize);
  const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr });
  const B = cfg.batch, T = cfg.seq;
  const dev = await octet.device();
  const buffers = await StepBuffers.create(B, T);
  // The trainer's step: loss and gradients in one program, the pre-update loss read back.
  const step = async (s: number) => {
    await buffers.load(sampleBatch(corpus.train, s, { batchSize: B, seqLen: T, seed: 0 }));
    await (await trainStep(model, opt, buffers)).toArray();
  };
  // The step as it was before issue #7: gradients realized alone (new buffers, copied into the arena), the loss
  // read after the update, when its lazy graph ran the whole forward a second time on the new weights (a
  // stale read that is now refused, so the second forward is rebuilt here). Kept to measure the gain.
  const stepBefore = async (s: number) => {
    const b = sampleBatch(corpus.train, s, { batchSize: B, seqLen: T, seed: 0 });
    const idx = await octet.tensor(b.inputs, [B, T], { dtype: "u32" });
    const tgt = await octet.tensor(b.targets, [B * T], { dtype: "u32" });
    backward(model.loss(idx, tgt, B, T));
    await octet.realize(model.parameters().flatMap((p) => (p.grad ? [p.grad] : [])));
    await opt.step();
    opt.zeroGrad();
    await model.loss(idx, tgt, B, T).value.toArray();
  };
  // Rounds interleaved (this machine is noisy): each round times one step of each variant, so load changes hit
  // both alike. The first step of each variant compiles everything it uses and is not timed.
  const variants = argv.includes("--no-before") ? [step] : [stepBefore, step];
  let s = 1;
  for (const fn of variants) await fn(s++);
  const times = variants.map(() => [] as number[]);
  for (let round = 0; round < steps; round++)
    for (const [i, fn] of variants.entries()) {
      const t0 = performance.now();
      await fn(s++);
      await dev.queue.onSubmittedWorkDone();
      times[i].push(performance.now() - t0);
    }
  const st = summarize(times.at(-1)!);
  const stBefore = variants.length > 1 ? summarize(times[0]) : undefined;
  // Attribution: one more step with every dispatch timed.
  profiler.active = true;
  profiler.records.length = 0;
  await step(s++);
  profiler.active = false;
  const optimKernels = new Set(opt.kernels().map((k) => k.name));
  const cat = (r: (typeof profiler.records)[number]) =>
    optimKernels.has(r.name) ? "optimizer" : r.kind === "matmul" ? (r.batched ? "attention" : "matmul") : r.kind === "attention" || (r.kind === "row" && r.L === T) ? "attention" : "other";
  const total = profiler.records.reduce((a, r) => a + r.ms, 0);
  const shares = ["matmul", "attention", "optimizer", "other"].map((c) => {
    const ms = profiler.records.filter((r) => cat(r) === c).reduce((a, r) => a + r.ms, 0);
    return { part: c, ms: +ms.toFixed(2), share: `${((ms / total) * 100).toFixed(1)}%`, dispatches: profiler.records.filter((r) => cat(r) === c).length };
  });
  const result = {
    env,
    model: { layers: cfg.layers, heads: cfg.heads, width: cfg.width, seq: T, batch: B, params: model.parameters().reduce((a, p) => a + p.numel, 0), optim: cfg.optim },
    msPerStep: st,
    tokensPerSec: +((B * T) / (st.medianMs / 1000)).toFixed(0),
    /** The same model and optimizer with the step as it was before issue #7 (forward run twice). */
    before: stBefore && { msPerStep: stBefore, tokensPerSec: +((B * T) / (stBefore.medianMs / 1000)).toFixed(0) },
    profiledStepMs: +total.toFixed(2),
    shares,
  };
  if (json) return void console.log(JSON.stringify(result));
  console.log(formatEnvironment(env));
  console.log(`model ${JSON.stringify(result.model)}`);
  console.log(`step: median ${st.medianMs.toFixed(1)} ms (min ${st.minMs.toFixed(1)}, max ${st.maxMs.toFixed(1)}, n=${steps}) -> ${result.tokensPerSec} tokens/s`);
  if (result.before) console.log(`step before issue #7 (loss read after the update, forward twice): median ${result.before.msPerStep.medianMs.toFixed(1)} ms -> ${result.before.tokensPerSec} tokens/s`);
  console.log(formatTable(shares, [
    { label: "part", value: (r) => r.part },
    { label: "ms (serialized)", value: (r) => r.ms, digits: 2 },
    { label: "share", value: (r) => r.share },
    { label: "dispatches", value: (r) => String(r.dispatches) },
  ]));
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main(process.argv.slice(2));
