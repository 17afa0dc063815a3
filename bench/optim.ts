// `bun run bench optim`: one optimizer step of octet's Adam (32-bit states) and Adam8bit at several sizes,
// against a hand-written fused fp32 Adam WGSL kernel and TF.js `tf.train.adam` on the same Dawn device, all
// in one process. Reports ms/step, ns/param, effective GB/s (28 bytes/param, the fp32 ideal), time ratios,
// and optimizer-state bytes per parameter from octet's allocator accounting.
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { benchArgs, environment, gbps, paramSizes, pinLavapipeThreads, positive, report, timeGpu, type Stats } from "./harness.ts";
import { ADAM_BYTES_PER_PARAM, checkHandAdam, checkTfjsAdam, setupTfjs, stepColumns, timeHandAdam, timeTfjsAdam, type StepTiming } from "./optim-baselines.ts";

const USAGE = "bun run bench optim [--params 4M,16M,64M] [--reps N] [--warmup N] [--no-tfjs] [--json] [--out FILE]";

type Row = StepTiming & { stateBytesPerParam?: number };

async function timeOctet(Cls: typeof octet.optim.Adam, label: string, n: number, reps: number, warmup: number): Promise<Row> {
  const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(0.11 * i)), [n], { category: "parameters" }));
  const opt = new Cls([p], { lr: 1e-3 });
  // Gradients written straight into the optimizer's arena slot (as training code can): the step is the kernel.
  const g = await opt.gradientSlot(p);
  const dev = await octet.device();
  const slot = storageOf(g);
  dev.queue.writeBuffer(slot.buffer, slot.offset, Float32Array.from({ length: n }, (_, i) => 0.01 * Math.sin(0.37 * i) * ((i % 7) + 1)));
  p.grad = g;
  await opt.step(); // compiles the kernel and allocates the state
  await dev.queue.onSubmittedWorkDone();
  const stateBytes = opt.stateBytes(); // its own count (a global delta sees earlier optimizers being collected)
  const d0 = opt.dispatchCount;
  let steps = 0;
  const s: Stats = await timeGpu(() => (steps++, opt.step()), { warmup, reps });
  return {
    impl: label,
    params: n,
    msPerStep: s.medianMs,
    nsPerParam: (s.medianMs * 1e6) / n,
    effectiveGbps: gbps(n * ADAM_BYTES_PER_PARAM, s.medianMs),
    dispatchesPerStep: (opt.dispatchCount - d0) / steps,
    stats: s,
    detail: `kernel ${opt.kernels().map((k) => k.name).join("+")}, ${(stateBytes / n).toFixed(4)} state B/param`,
    stateBytesPerParam: stateBytes / n,
  };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, { params: { type: "string" }, "no-tfjs": { type: "boolean", default: false } }, USAGE);
  const sizes = paramSizes(v.params, "4M,16M,64M", 256);
  const reps = positive("reps", v.reps, 5);
  const warmup = v.warmup === "0" ? 0 : positive("warmup", v.warmup, 2);
  await octet.device();
  const env = await environment();
  const notes: string[] = [];
  const handErr = await checkHandAdam();
  if (!(handErr <= 2e-6)) throw new Error(`bench: hand-written Adam differs from the reference by ${handErr}`);
  if (!v["no-tfjs"]) {
    const tfErr = await checkTfjsAdam();
    if (!(tfErr <= 2e-6)) throw new Error(`bench: TF.js Adam differs from the reference by ${tfErr}`);
    notes.push((await setupTfjs()).deviceShared ? "TF.js runs on octet's GPUDevice" : "TF.js runs on its own device on the same adapter");
  }
  const rows: Row[] = [];
  for (const n of sizes) {
    rows.push(await timeHandAdam(n, { reps, warmup }));
    rows.push(await timeOctet(octet.optim.Adam32bit, "octet Adam (32-bit states)", n, reps, warmup));
    rows.push(await timeOctet(octet.optim.Adam8bit, "octet Adam8bit", n, reps, warmup));
    if (!v["no-tfjs"]) rows.push(await timeTfjsAdam(n, { reps, warmup: Math.min(warmup, 1) }));
  }
  const find = (n: number, pre: string) => rows.find((r) => r.params === n && r.impl.startsWith(pre))!;
  for (const n of sizes) {
    const hand = find(n, "hand"), o32 = find(n, "octet Adam (32"), o8 = find(n, "octet Adam8bit");
    notes.push(
      `${+(n / (1 << 20)).toFixed(2)}M: octet fp32 / hand-written = ${(o32.msPerStep / hand.msPerStep).toFixed(3)}x time; ` +
        `octet 8-bit / octet fp32 = ${(o8.msPerStep / o32.msPerStep).toFixed(3)}x time; 8-bit state ${o8.stateBytesPerParam!.toFixed(4)} B/param (2 + 8/256 = 2.0313)`,
    );
  }
  await report({
    bench: "optim",
    env,
    config: { params: sizes.join(","), reps, warmup, tfjs: !v["no-tfjs"] },
    rows: rows.map((r) => ({ ...r, timeVsHand: r.msPerStep / find(r.params, "hand").msPerStep })),
    columns: [
      { label: "impl", value: (r) => r.impl },
      { label: "params", value: (r) => `${+(r.params / (1 << 20)).toFixed(2)}M` },
      ...stepColumns<Row & { timeVsHand: number }>(),
      { label: "time vs hand", value: (r) => r.timeVsHand, digits: 3 },
      { label: "detail", value: (r) => r.detail },
    ],
    notes,
    json: v.json,
    out: v.out,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
