// `npm run compare -- [flags]`: the paper's ablation, small. The same GPT, seed and batches trained with each run
// of RUNS (AdamW 32-bit, AdamW8bit with the dynamic and the linear map, each with a plain and a stable embedding).
// Writes a table (final train / held-out loss, time per step, optimizer-state bytes: logical and allocated), JSON,
// and a figure of the loss curves over each run's difference from the 32-bit baseline, as SVG and PNG.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TrainConfigInput } from "../train/config.ts";
import { runTraining, type TrainResult } from "../train/trainer.ts";
import { defineCommand, runCommand, flag, parseCommand, UsageError } from "./args.ts";
import { acquireDeviceQuietly } from "./dawn-stderr.ts";
import { compareChartSpec, saveChart, saveLossChart } from "./plot.ts";

/** One run of the comparison: its label and what it changes in the shared config. Add a row to add a run. */
export interface CompareRunSpec {
  name: string;
  config: Partial<TrainConfigInput> & { optim: string };
}

export const RUNS: CompareRunSpec[] = [
  { name: "AdamW 32-bit, plain", config: { optim: "adamw_torch", embedding: "plain" } },
  { name: "AdamW 32-bit, stable", config: { optim: "adamw_torch", embedding: "stable" } },
  { name: "AdamW8bit dynamic, plain", config: { optim: "adamw_8bit", embedding: "plain", stateFormat: "dynamic8" } },
  { name: "AdamW8bit dynamic, stable", config: { optim: "adamw_8bit", embedding: "stable", stateFormat: "dynamic8" } },
  { name: "AdamW8bit linear, plain", config: { optim: "adamw_8bit", embedding: "plain", stateFormat: "linear8" } },
  { name: "AdamW8bit linear, stable", config: { optim: "adamw_8bit", embedding: "stable", stateFormat: "linear8" } },
  // FlashOptim's companding (optim/companded.ts): decoded and encoded arithmetically, no map lookups.
  { name: "AdamW8bit companded, plain", config: { optim: "adamw_8bit", embedding: "plain", stateFormat: "companded8" } },
  { name: "AdamW8bit companded, stable", config: { optim: "adamw_8bit", embedding: "stable", stateFormat: "companded8" } },
  { name: "AdamW4bit, stable", config: { optim: "adamw_8bit", embedding: "stable", stateFormat: "fourbit" } },
  { name: "AdamW fp8 states, stable", config: { optim: "adamw_8bit", embedding: "stable", stateFormat: "fp8e4m3" } },
  // bf16 weights (and, as a torch .grad, bf16 gradients) without an f32 master copy (optim/paramstorage.ts):
  // rounded to nearest, stochastically, or to nearest with a Kahan compensation buffer (optim/compensation.ts).
  { name: "AdamW8bit bf16 weights, stable", config: { optim: "adamw_8bit", embedding: "stable", paramDtype: "bf16" } },
  { name: "AdamW8bit bf16 weights + SR, stable", config: { optim: "adamw_8bit", embedding: "stable", paramDtype: "bf16", stochasticRound: true } },
  { name: "AdamW8bit bf16 weights + Kahan, stable", config: { optim: "adamw_8bit", embedding: "stable", paramDtype: "bf16", compensation: "kahan" } },
  // Muon for the hidden matrices, AdamW (8-bit for Muon8bit) for embeddings, head and 1-D parameters.
  { name: "Muon + AdamW, stable", config: { optim: "muon", embedding: "stable" } },
  { name: "Muon8bit + AdamW8bit, stable", config: { optim: "muon_8bit", embedding: "stable" } },
];

/** The run every other is measured against in the difference panel and the table's evalVs32bit column. */
export const BASELINE = "AdamW 32-bit, plain";

export const COMPARE_FLAGS = {
  steps: flag.int("optimizer steps of each run", { default: 200 }),
  lr: flag.number("learning rate of every run", { positive: true, default: 3e-3 }),
  seed: flag.int("seed of the weights and batches (the same for every run)", { min: 0, default: 0 }),
  batch: flag.int("sequences per step", { default: 16 }),
  seq: flag.int("tokens per sequence", { min: 2, default: 64 }),
  "eval-every": flag.int("steps between held-out evaluations", { defaultText: "steps/10" }),
  runs: flag.list("only the runs whose name contains one of these (case-insensitive)", { defaultText: "all" }),
  out: flag.string("where the table, JSON and plots go", { placeholder: "DIR", default: "runs/compare" }),
} as const;

export const COMPARE = defineCommand({
  name: "compare",
  usage: "npm run compare -- [flags]",
  summary:
    "Trains the same small GPT with each optimizer and embedding below (same seed, same batches) and writes a table,\n" +
    "results.json and loss.svg/.png: the loss curves over each run's difference from the 32-bit baseline.",
  flags: COMPARE_FLAGS,
  epilog: `runs: ${RUNS.map((r) => r.name).join("; ")}\nbaseline of the difference panel: ${BASELINE}`,
});

type Result = TrainResult & { name: string };

/** The table's rows: what each run reached and what its optimizer state costs. */
export function compareRows(results: Result[]) {
  const base = results.find((r) => r.name === BASELINE);
  return results.map((r) => ({
    run: r.name,
    finalTrain: +(r.history.slice(-10).reduce((a, h) => a + h.trainLoss, 0) / Math.min(10, r.history.length)).toFixed(4),
    finalEval: +r.finalEval.toFixed(4),
    evalVs32bit: base ? `${(((r.finalEval - base.finalEval) / base.finalEval) * 100).toFixed(2)}%` : "",
    msPerStep: +r.msPerStep.toFixed(1),
    parameters: r.parameterCount,
    // Logical: what a checkpoint holds (codes + absmax + 32-bit fallbacks). Allocated: GPU buffers, padded to blocks.
    stateBytes: r.optimizerLogicalBytes,
    stateBytesPerParam: +(r.optimizerLogicalBytes / r.parameterCount).toFixed(3),
    allocatedBytes: r.optimizerStateBytes,
    allocatedBytesPerParam: +(r.optimizerStateBytes / r.parameterCount).toFixed(3),
  }));
}

/** The figure's title and legend labels, with every number taken from the trained models. */
export function compareLabels(results: Result[], opts: { steps: number; seed: number; yMax: number }): { title: string; labels: string[] } {
  const counts = [...new Set(results.map((r) => r.parameterCount))].sort((a, b) => a - b);
  const n = (x: number) => x.toLocaleString("en-US");
  const c = results[0].config;
  const params = counts.length === 1 ? `${n(counts[0])} params` : `${n(counts[0])}-${n(counts.at(-1)!)} params`;
  const title = `GPT ${c.layers}x${c.heads}x${c.width}, ${params}, batch ${c.batch} x seq ${c.seq}, ${opts.steps} steps, seed ${opts.seed}`;
  const labels = results.map((r) => {
    const own = counts.length > 1 ? `${n(r.parameterCount)} params, ` : "";
    const end = r.finalEval > opts.yMax || !Number.isFinite(r.finalEval) ? `diverged: held-out loss ${r.finalEval.toFixed(0)}` : `held-out ${r.finalEval.toFixed(3)}`;
    return `${r.name} (${own}${end})`;
  });
  return { title, labels };
}

async function main(argv: string[]): Promise<void> {
  const { values: v } = parseCommand(COMPARE, argv);
  const chosen = v.runs ? RUNS.filter((r) => v.runs!.some((n) => r.name.toLowerCase().includes(n.toLowerCase()))) : RUNS;
  if (!chosen.length) throw new UsageError(`--runs ${v.runs!.join(",")}: matches none of ${RUNS.map((r) => r.name).join("; ")}`);
  const out = v.out;
  mkdirSync(out, { recursive: true });
  await acquireDeviceQuietly();
  const results: Result[] = [];
  for (const run of chosen) {
    const t0 = performance.now();
    const r = await runTraining({ ...run.config, steps: v.steps, seed: v.seed, lr: v.lr, batch: v.batch, seq: v.seq, evalEvery: v["eval-every"] ?? Math.max(1, Math.floor(v.steps / 10)) });
    console.log(`${run.name}: final held-out loss ${r.finalEval.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    results.push({ ...r, name: run.name });
  }

  const rows = compareRows(results);
  // The data first: a plot that fails must not lose a run's numbers.
  writeFileSync(join(out, "results.json"), JSON.stringify({ steps: v.steps, seed: v.seed, lr: v.lr, rows, histories: results.map((r) => ({ name: r.name, history: r.history })) }, null, 2));
  // The loss axis stops a little above a uniform guess's loss (ln V): a diverged run leaves the plot (and its
  // label says so) instead of flattening every other curve. V: the vocabulary of the first run's tokenizer.
  const yMax = Math.log(results[0].vocabSize) + 0.5;
  const { title, labels } = compareLabels(results, { steps: v.steps, seed: v.seed, yMax });
  const curves = results.map((r, i) => ({ name: labels[i], points: r.history.map((h) => ({ step: h.step, loss: h.trainLoss })) }));
  const baseIndex = results.findIndex((r) => r.name === BASELINE);
  const plots: string[] = [];
  if (baseIndex >= 0) {
    const spec = compareChartSpec(curves, labels[baseIndex], title, { yMax, baselineTitle: BASELINE });
    for (const f of ["loss.svg", "loss.png"]) await saveChart(join(out, f), spec), plots.push(join(out, f));
  } else {
    // Without the baseline there is nothing to take differences from: the curves alone, said so in the title.
    for (const f of ["loss.svg", "loss.png"]) await saveLossChart(join(out, f), curves, `${title} (no ${BASELINE} run: no difference panel)`, { yMax }), plots.push(join(out, f));
  }
  await saveLossChart(join(out, "eval.png"), results.map((r, i) => ({ name: labels[i], dots: true, points: r.history.filter((h) => h.evalLoss !== undefined).map((h) => ({ step: h.step, loss: h.evalLoss! })) })), `Held-out loss: ${title}`, { yMax });
  plots.push(join(out, "eval.png"));

  console.log(JSON.stringify(rows));
  console.table(rows);
  console.log(`plots: ${plots.join(", ")}; data: ${join(out, "results.json")}`);
}

if (import.meta.main) await runCommand(COMPARE, main);
