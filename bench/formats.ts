// `bun run bench formats`: AdamW with each state format at 16M parameters (issue #10), in one process: 32-bit,
// 8-bit dynamic (bnb), FP8 E4M3 (torchao AdamWFp8) and 4-bit (AdamW4bit). ms/step of the steady state (the first
// step, which compiles and allocates, is not timed; the four are timed in interleaved rounds so they see the same
// machine drift), dispatches per step, and optimizer-state bytes per parameter (opt.stateBytes(): every buffer
// the optimizer holds, sized exactly). The parameter is one flat tensor (every format blockwise), and once more for
// AdamW4bit as a [n / 4096, 4096] matrix, whose second moment is rank-1 normalized.
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { benchArgs, environment, formatBytes, paramSizes, pinLavapipeThreads, report, settleCollection, timeInterleaved, type Stats, repsAndWarmup, formatParams } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

const USAGE = "bun run bench formats [--params 16M] [--reps N] [--warmup N] [--json] [--out FILE]";
const RUNS = [
  { name: "AdamW32bit", cls: "AdamW32bit", format: "f32" },
  { name: "AdamW8bit", cls: "AdamW8bit", format: "dynamic8" },
  { name: "AdamWFp8", cls: "AdamWFp8", format: "fp8e4m3" },
  { name: "AdamW4bit", cls: "AdamW4bit", format: "fourbit" },
  { name: "AdamW4bit 2-D", cls: "AdamW4bit", format: "fourbit, rank-1 v", matrix: true },
] as const;

interface Row {
  optimizer: string;
  format: string;
  params: number;
  stateBytes: number;
  stateBytesPerParam: number;
  dispatchesPerStep: number;
  msPerStep: number;
  spread: number;
  stats: Stats;
}

async function setUp(cls: (typeof RUNS)[number]["cls"], n: number, matrix: boolean) {
  await settleCollection();
  const shape = matrix ? [n / 4096, 4096] : [n];
  const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(0.11 * i)), shape, { category: "parameters" }));
  const opt = new octet.optim[cls]([p], { lr: 1e-3 });
  // Gradients written straight into the optimizer's arena slot: the timed step is the update alone.
  const g = await opt.gradientSlot(p);
  const slot = storageOf(g);
  const dev = await octet.device();
  dev.queue.writeBuffer(slot.buffer, slot.offset, Float32Array.from({ length: n }, (_, i) => 0.01 * Math.sin(0.37 * i) * ((i % 7) + 1)));
  p.grad = g;
  await opt.step(); // compiles and allocates: not timed
  await dev.queue.onSubmittedWorkDone();
  return { opt, stateBytes: opt.stateBytes(), p };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, { params: flag.string("parameter counts (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "16M" }) }, USAGE);
  const sizes = paramSizes(v.params, "16M", 4096);
  const { reps, warmup } = repsAndWarmup(v, { reps: 5, warmup: 1 });
  await octet.device();
  const env = await environment();
  const rows: Row[] = [];
  for (const n of sizes) {
    const made = [];
    for (const r of RUNS) made.push({ ...r, ...(await setUp(r.cls, n, "matrix" in r)) });
    const d0 = made.map((m) => m.opt.dispatchCount);
    const stats = await timeInterleaved(made.map((m) => () => m.opt.step()), { warmup, reps });
    made.forEach((m, i) =>
      rows.push({
        optimizer: m.name,
        format: m.format,
        params: n,
        stateBytes: m.stateBytes,
        stateBytesPerParam: m.stateBytes / n,
        dispatchesPerStep: (m.opt.dispatchCount - d0[i]) / (warmup + stats[i].runs),
        msPerStep: stats[i].medianMs,
        spread: stats[i].spread,
        stats: stats[i],
      }),
    );
    for (const m of made) m.opt.release();
  }
  await report({
    bench: "formats",
    env,
    config: { params: sizes.join(","), reps, warmup },
    rows,
    columns: [
      { label: "optimizer", value: (r) => r.optimizer },
      { label: "stateFormat", value: (r) => r.format },
      { label: "params", value: (r) => formatParams(r.params) },
      { label: "ms/step (median)", value: (r) => r.msPerStep, digits: 2 },
      { label: "spread", value: (r) => r.spread, digits: 3 },
      { label: "dispatches", value: (r) => r.dispatchesPerStep, digits: 1 },
      { label: "state", value: (r) => formatBytes(r.stateBytes) },
      { label: "state B/param", value: (r) => r.stateBytesPerParam, digits: 4 },
    ],
    notes: ["state bytes: states, scales (absmax), lookup tables, the block -> tensor index and the per-tensor scalar table; not the parameter and gradient arenas"],
    json: v.json,
    out: v.out,
    rowsLine: true,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
