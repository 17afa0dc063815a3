// `bun run bench gpu`: the figures a lent GPU should give, as one JSON document (issue #9 item 5):
//   - the adapter (name, features, limits octet reads);
//   - copy bandwidth: a hand-written vec4 copy kernel (bench/handwritten.ts COPY_VEC4) and copyBufferToBuffer,
//     GB/s counting the bytes read plus the bytes written;
//   - octet's AdamW step with 32-bit and with 8-bit states (and the hand-written fused fp32 AdamW), interleaved
//     rounds, at 64M and 256M parameters: ms/step, GB/s from the bytes the kernels' bindings move, and that as a
//     share of the copy kernel's bandwidth (the GPU target: the 8-bit step at >= 85% of it, and faster
//     than the 32-bit one);
//   - GPT training tokens/s (the trainer's step: loss and gradients in one program, then the optimizer).
// `--quick` shrinks everything (4M and 16M parameters, fewer steps) so that it finishes in a few minutes on a
// CPU adapter (lavapipe); the sizes can be set with --params. Runs on whatever adapter Dawn finds.
import * as octet from "../src/index.ts";
import { flag } from "../src/cli/args.ts";
import { deviceInfo } from "../src/runtime/device.ts";
import { sampleBatch } from "../src/data/batches.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { TrainConfig } from "../src/train/config.ts";
import { StepBuffers, buildModel, trainStep } from "../src/train/trainer.ts";
import { optimizerByName } from "../src/optim/names.ts";
import { COPY_VEC4, f32Buffer, fillF32, StreamKernel } from "./handwritten.ts";
import { benchArgs, environment, gbps, paramSizes, pinLavapipeThreads, positive, settleCollection, summarize, timeInterleaved, repsAndWarmup } from "./harness.ts";
import { handCase, octetCase, timeGroup } from "./optim.ts";

const USAGE = "bun run bench gpu [--quick] [--params 64M,256M] [--copy 64M] [--reps N] [--warmup N] [--gpt-steps N] [--out FILE]";

const round = (x: number, d = 3) => +x.toFixed(d);

async function copyBandwidth(n: number, reps: number, warmup: number) {
  const dev = await octet.device();
  const k = await StreamKernel.create(dev, COPY_VEC4);
  const x = f32Buffer(dev, n, "copy x");
  const y = f32Buffer(dev, n, "copy y");
  fillF32(dev, x, n, (i) => i % 1000);
  await dev.queue.onSubmittedWorkDone();
  const dma = () => {
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(x, 0, y, 0, n * 4);
    dev.queue.submit([enc.finish()]);
  };
  try {
    const [kernel, copy] = await timeInterleaved([() => k.run([x, y], n), dma], { reps, warmup });
    const bytes = 2 * n * 4;
    return {
      floats: n,
      bytesMoved: bytes,
      kernel: { name: COPY_VEC4.name, dispatches: k.dispatches(n), msMedian: round(kernel.medianMs), spread: round(kernel.spread), gbps: round(gbps(bytes, kernel.medianMs), 2) },
      copyBufferToBuffer: { msMedian: round(copy.medianMs), spread: round(copy.spread), gbps: round(gbps(bytes, copy.medianMs), 2) },
    };
  } finally {
    x.destroy();
    y.destroy();
  }
}

async function gptTokensPerSecond(over: Record<string, number>, optim: string, steps: number) {
  const cfg = TrainConfig.parse({ optim, ...over });
  const corpus = loadSotuCorpus();
  const model = buildModel(cfg, corpus.tokenizer.vocabSize);
  const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr });
  const B = cfg.batch, T = cfg.seq;
  const buffers = await StepBuffers.create(B, T);
  const dev = await octet.device();
  const step = async (s: number) => {
    await buffers.load(sampleBatch(corpus.train, s, { batchSize: B, seqLen: T, seed: 0 }));
    await (await trainStep(model, opt, buffers)).toArray();
  };
  await step(0); // compiles
  const ms: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    await step(s);
    await dev.queue.onSubmittedWorkDone();
    ms.push(performance.now() - t0);
  }
  const st = summarize(ms);
  return {
    model: { layers: cfg.layers ?? null, width: cfg.width ?? null, batch: B, seq: T, params: model.parameters().reduce((a, p) => a + p.numel, 0), optim },
    steps,
    msPerStepMedian: round(st.medianMs, 2),
    spread: round(st.spread),
    tokensPerSec: Math.round((B * T) / (st.medianMs / 1000)),
  };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    quick: flag.boolean("small sizes (4M, 16M) and fewer steps, to finish in minutes on a CPU adapter"),
    params: flag.string("optimizer sizes (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "64M,256M; 4M,16M with --quick" }),
    copy: flag.string("elements of the copy-bandwidth kernel", { placeholder: "N", defaultText: "64M" }),
    "gpt-steps": flag.string("timed GPT training steps", { placeholder: "N", defaultText: "the bench's" }),
  }, USAGE);
  const quick = !!v.quick;
  const sizes = paramSizes(v.params, quick ? "4M,16M" : "64M,256M", 256);
  const copyN = Math.ceil(positive("copy", v.copy, quick ? 16 << 20 : 256 << 20) / 1024) * 1024;
  const { reps, warmup } = repsAndWarmup(v, { reps: quick ? 3 : 7, warmup: quick ? 1 : 2 });
  const gptSteps = positive("gpt-steps", v["gpt-steps"], quick ? 3 : 20);
  await octet.device();
  const env = await environment();
  const info = deviceInfo();
  const t0 = performance.now();
  const copy = await copyBandwidth(copyN, reps, warmup);
  const adam = [];
  for (const n of sizes) {
    const rows = await timeGroup([await handCase(n), await octetCase("adamw", 32, n), await octetCase("adamw", 8, n)], n, reps, warmup);
    const [hand, o32, o8] = rows;
    adam.push({
      params: n,
      results: rows.map((r) => ({ impl: r.impl, msMedian: round(r.msPerStep), spread: round(r.stats.spread), bytesPerParam: round(r.bytesPerParam), gbps: round(r.gbps, 2), ofCopyKernel: round(r.gbps / copy.kernel.gbps), dispatches: r.dispatchesPerStep })),
      octet32VsHand: round(o32.msPerStep / hand.msPerStep),
      octet8VsOctet32: round(o8.msPerStep / o32.msPerStep),
      targets: { "8bit >= 0.85 of copy bandwidth": o8.gbps >= 0.85 * copy.kernel.gbps, "8bit faster than 32bit": o8.msPerStep < o32.msPerStep },
    });
    await settleCollection();
  }
  const gpt = [await gptTokensPerSecond({}, "adamw_8bit", gptSteps)];
  if (!quick) gpt.push(await gptTokensPerSecond({ width: 256, layers: 4, heads: 4 }, "adamw_8bit", gptSteps));
  const doc = {
    bench: "gpu",
    env,
    adapter: {
      name: info.adapter,
      implementation: info.implementation,
      cpu: info.cpu,
      features: info.features,
      subgroupMinSize: info.subgroupMinSize,
      maxStorageBindingBytes: info.maxStorageBindingBytes,
      maxBufferBytes: info.maxBufferBytes,
      maxWorkgroupStorageBytes: info.maxWorkgroupStorageBytes,
      maxWorkgroupInvocations: info.maxWorkgroupInvocations,
      maxStorageBuffersPerStage: info.maxStorageBuffersPerStage,
    },
    config: { quick, params: sizes, copyFloats: copyN, reps, warmup, gptSteps },
    copy,
    adam,
    gpt,
    seconds: round((performance.now() - t0) / 1000, 1),
  };
  const text = JSON.stringify(doc, null, 2);
  if (typeof v.out === "string") await Bun.write(v.out, text + "\n");
  console.log(text);
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
