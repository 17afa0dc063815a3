// `bun run bench bf16`: AdamW with f32 and bf16 weights (paramDtype, optim/paramstorage.ts) at 16M parameters,
// in one process, for each state format (32-bit, 8-bit dynamic, FP8, 4-bit), and 8-bit with stochastic
// rounding. ms/step of the steady state (the first step compiles and allocates and is not timed; all runs are
// timed in interleaved rounds, so they see the same machine drift), and bytes per parameter: the weights
// (the optimizer's parameter arena: 4 bytes f32, 2 bf16, no master copy), the states (opt.stateBytes(), a
// compensation buffer included) and the gradient arena (f32; the "+bf16 grads" rows keep bf16 gradients, and their
// timed step includes rounding the f32 gradient into that arena, one more kernel, as a training step's backward does).
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { flag } from "../src/cli/args.ts";
import { benchArgs, environment, paramSizes, pinLavapipeThreads, report, settleCollection, timeInterleaved, type Stats, repsAndWarmup, formatParams } from "./harness.ts";

const USAGE = "bun run bench bf16 [--params 16M] [--reps N] [--warmup N] [--json] [--out FILE]";
type Cls = "AdamW32bit" | "AdamW8bit" | "AdamWFp8" | "AdamW4bit";
const RUNS: { name: string; cls: Cls; weights: "f32" | "bf16"; sr?: boolean; grads?: "bf16"; compensation?: "kahan" | "errorbits8" }[] = [
  { name: "AdamW32bit", cls: "AdamW32bit", weights: "f32" },
  { name: "AdamW32bit", cls: "AdamW32bit", weights: "bf16" },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "f32" },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "bf16" },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "bf16", sr: true },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "bf16", grads: "bf16" },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "bf16", grads: "bf16", compensation: "kahan" },
  { name: "AdamW8bit", cls: "AdamW8bit", weights: "bf16", grads: "bf16", compensation: "errorbits8" },
  { name: "AdamWFp8", cls: "AdamWFp8", weights: "f32" },
  { name: "AdamWFp8", cls: "AdamWFp8", weights: "bf16" },
  { name: "AdamW4bit", cls: "AdamW4bit", weights: "f32" },
  { name: "AdamW4bit", cls: "AdamW4bit", weights: "bf16" },
];

interface Row {
  optimizer: string;
  weights: string;
  params: number;
  weightBytesPerParam: number;
  stateBytesPerParam: number;
  gradBytesPerParam: number;
  totalBytesPerParam: number;
  msPerStep: number;
  spread: number;
  stats: Stats;
}

async function setUp(r: (typeof RUNS)[number], n: number) {
  await settleCollection();
  const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(0.11 * i)), [n], { category: "parameters" }));
  const weights = r.weights === "bf16" ? { paramDtype: "bf16", bf16StochasticRound: !!r.sr, gradDtype: r.grads ?? "f32", ...(r.compensation ? { compensation: r.compensation } : {}) } : {};
  const opt = new octet.optim[r.cls]([p], { lr: 1e-3, ...weights });
  const values = Float32Array.from({ length: n }, (_, i) => 0.01 * Math.sin(0.37 * i) * ((i % 7) + 1));
  if (r.grads) {
    // bf16 gradients: each step rounds this f32 gradient into the arena (setGrad puts it back as p.grad).
    const src = await octet.tensor(values);
    const setGrad = () => void (p.grad = src);
    setGrad();
    await opt.step();
    return { opt, p, bytes: opt.arenaBytes(), setGrad };
  }
  // Gradients written straight into the optimizer's arena slot: the timed step is the update alone.
  const g = await opt.gradientSlot(p);
  const slot = storageOf(g);
  const dev = await octet.device();
  dev.queue.writeBuffer(slot.buffer, slot.offset, values);
  p.grad = g;
  await opt.step(); // compiles and allocates: not timed
  await dev.queue.onSubmittedWorkDone();
  return { opt, p, bytes: opt.arenaBytes(), setGrad: () => {} };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, { params: flag.string("parameter counts (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "16M" }) }, USAGE);
  const sizes = paramSizes(v.params, "16M", 2048);
  const { reps, warmup } = repsAndWarmup(v, { reps: 3, warmup: 1 });
  const env = await environment();
  const rows: Row[] = [];
  for (const n of sizes) {
    const made = [];
    for (const r of RUNS) made.push({ ...r, ...(await setUp(r, n)) });
    const stats = await timeInterleaved(made.map((m) => () => (m.setGrad(), m.opt.step())), { warmup, reps });
    made.forEach((m, i) => {
      const state = m.opt.stateBytes() / n;
      const [w, g] = [m.bytes.parameters / n, m.bytes.gradients / n];
      rows.push({ optimizer: m.name, weights: m.weights + (m.sr ? " +SR" : "") + (m.grads ? " +bf16 grads" : "") + (m.compensation ? ` +${m.compensation}` : ""), params: n, weightBytesPerParam: w, stateBytesPerParam: state, gradBytesPerParam: g, totalBytesPerParam: w + state + g, msPerStep: stats[i].medianMs, spread: stats[i].spread, stats: stats[i] });
    });
    for (const m of made) m.opt.release();
  }
  await report({
    bench: "bf16",
    env,
    config: { params: sizes.join(","), reps, warmup },
    rows,
    columns: [
      { label: "optimizer", value: (r) => r.optimizer },
      { label: "weights", value: (r) => r.weights },
      { label: "params", value: (r) => formatParams(r.params) },
      { label: "ms/step (median)", value: (r) => r.msPerStep, digits: 1 },
      { label: "spread", value: (r) => r.spread, digits: 3 },
      { label: "weights B/param", value: (r) => r.weightBytesPerParam, digits: 3 },
      { label: "state B/param", value: (r) => r.stateBytesPerParam, digits: 4 },
      { label: "grad B/param", value: (r) => r.gradBytesPerParam, digits: 3 },
      { label: "total B/param", value: (r) => r.totalBytesPerParam, digits: 3 },
    ],
    notes: ["weights: the optimizer's parameter arena (bf16: 2 bytes, no f32 master copy); gradients f32 in their arena, bf16 in the '+bf16 grads' rows (whose step includes rounding an f32 gradient into it); a compensation buffer counts as state"],
    json: v.json,
    out: v.out,
    rowsLine: true,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
