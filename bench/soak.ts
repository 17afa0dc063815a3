// `bun run bench soak`: a long run of the default GPT (runTraining with TrainConfig's defaults, no
// checkpoints) that samples the process's RSS and octet's GPU accounting every 100 steps, and says whether
// memory is flat after warm-up: every sample from step 100 on within 10% of the step-100 one. The trainer
// disposes nothing by hand, so this measures what a plain loop gets from collection and the pool. Memory,
// not time, is measured: a busy machine slows it down but does not change the figures.
import * as octet from "../src/index.ts";
import { runTraining } from "../src/train/trainer.ts";
import { benchArgs, environment, formatBytes, pinLavapipeThreads, positive, report } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

const USAGE = "bun run bench soak [--steps 2000] [--every 100] [--optim adamw_8bit] [--json] [--out FILE]";
const TOLERANCE = 0.1;

interface Sample {
  step: number;
  rss: number;
  /** Live GPU bytes, all categories (what tensors still hold). */
  gpuLive: number;
  temporaries: number;
  pooled: number;
  ms: number;
}

/** Largest relative deviation from the reference sample over samples from `from` on. */
function drift(samples: Sample[], key: "rss" | "gpuLive", from: number): number {
  const ref = samples.find((s) => s.step >= from);
  if (!ref || ref[key] === 0) return 0;
  return Math.max(...samples.filter((s) => s.step >= from).map((s) => Math.abs(s[key] - ref[key]) / ref[key]));
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    steps: flag.string("training steps", { placeholder: "N", defaultText: "2000" }),
    every: flag.string("steps between memory readings", { placeholder: "N", defaultText: "100" }),
    optim: flag.string("optimizer, by its --optim name", { placeholder: "NAME", defaultText: "adamw_8bit" }),
  }, USAGE, ["json", "out"]);
  const steps = positive("steps", v.steps, 2000);
  const every = positive("every", v.every, 100);
  const optim = typeof v.optim === "string" ? v.optim : "adamw_8bit";
  await octet.device();
  const env = await environment();
  const samples: Sample[] = [];
  const t0 = performance.now();
  const sample = (step: number) => {
    const m = octet.memoryStats();
    samples.push({ step, rss: process.memoryUsage().rss, gpuLive: m.live, temporaries: m.temporaries, pooled: m.pooled, ms: performance.now() - t0 });
    if (!v.json) console.error(`soak: step ${step}: rss ${formatBytes(process.memoryUsage().rss)}, GPU live ${formatBytes(m.live)}, pooled ${formatBytes(m.pooled)}`);
  };
  // One step more than sampled: the trainer evaluates at its last step (before onStep), and the evaluation's
  // own buffers would sit in the last sample.
  const result = await runTraining(
    { optim, steps: steps + 1, evalEvery: steps + 1 },
    { onStep: (r) => (r.step <= steps && (r.step === 1 || r.step % every === 0) ? sample(r.step) : undefined) },
  );
  const from = every;
  const rssDrift = drift(samples, "rss", from);
  const gpuDrift = drift(samples, "gpuLive", from);
  const flat = rssDrift <= TOLERANCE && gpuDrift <= TOLERANCE;
  await report({
    bench: "soak",
    env,
    config: { steps, every, optim, model: `${result.config.layers}x${result.config.width}, seq ${result.config.seq}, batch ${result.config.batch}`, params: result.parameterCount },
    rows: samples,
    columns: [
      { label: "step", value: (r) => String(r.step) },
      { label: "RSS", value: (r) => formatBytes(r.rss) },
      { label: "GPU live", value: (r) => formatBytes(r.gpuLive) },
      { label: "temporaries", value: (r) => formatBytes(r.temporaries) },
      { label: "pooled", value: (r) => formatBytes(r.pooled) },
      { label: "elapsed s", value: (r) => r.ms / 1000, digits: 1 },
    ],
    notes: [
      `after step ${from}: RSS within ${(rssDrift * 100).toFixed(1)}%, GPU live bytes within ${(gpuDrift * 100).toFixed(1)}% of the step-${from} sample; ` +
        `${flat ? "FLAT" : "NOT FLAT"} (target: both within ${TOLERANCE * 100}%)`,
      `peak GPU bytes ${formatBytes(octet.memoryStats().peak.total)}; ${result.msPerStep.toFixed(0)} ms/step; final train loss ${result.history.at(-1)?.trainLoss.toFixed(4)}`,
    ],
    json: v.json,
    out: v.out,
  });
  console.log(JSON.stringify({ bench: "soak", steps, flat, rssDrift, gpuDrift, samples }));
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
