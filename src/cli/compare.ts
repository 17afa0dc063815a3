// `bun run compare`: the paper's ablation, small. The same GPT, seed and batches trained with AdamW 32-bit,
// AdamW8bit (dynamic blockwise map) and AdamW8bit with the linear map, each with a plain and a stable
// embedding. Writes a table (final train / held-out loss, time per step, optimizer-state bytes), JSON, and
// a loss-curve plot as SVG and PNG.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runTraining, type TrainResult } from "../train/trainer.ts";
import { saveLossChart } from "./plot.ts";

let values: Record<string, string | undefined>;
try {
  values = parseArgs({ args: process.argv.slice(2), strict: true, options: { steps: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, lr: { type: "string" }, runs: { type: "string" } } }).values;
} catch (e) {
  console.error(`compare: ${(e as Error).message}\nflags: --steps N --seed S --lr X --out DIR --runs name,name`);
  process.exit(2);
}
const steps = Number(values.steps ?? 200);
const seed = Number(values.seed ?? 0);
const lr = Number(values.lr ?? 3e-3);
const out = values.out ?? "runs/compare";
const RUNS = [
  { name: "AdamW 32-bit, plain", optim: "adamw_torch", embedding: "plain" },
  { name: "AdamW 32-bit, stable", optim: "adamw_torch", embedding: "stable" },
  { name: "AdamW8bit dynamic, plain", optim: "adamw_8bit", embedding: "plain" },
  { name: "AdamW8bit dynamic, stable", optim: "adamw_8bit", embedding: "stable" },
  { name: "AdamW8bit linear, plain", optim: "adamw_8bit", embedding: "plain", stateFormat: "linear8" },
  { name: "AdamW8bit linear, stable", optim: "adamw_8bit", embedding: "stable", stateFormat: "linear8" },
  { name: "AdamW4bit, stable", optim: "adamw_8bit", embedding: "stable", stateFormat: "fourbit" },
  { name: "AdamW fp8 states, stable", optim: "adamw_8bit", embedding: "stable", stateFormat: "fp8e4m3" },
] as const;
const chosen = values.runs ? RUNS.filter((r) => values.runs!.split(",").some((n) => r.name.toLowerCase().includes(n.trim().toLowerCase()))) : RUNS;
if (!chosen.length || !Number.isInteger(steps) || steps < 1) {
  console.error("compare: nothing to run (check --runs and --steps)");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const results: (TrainResult & { name: string })[] = [];
for (const run of chosen) {
  const t0 = performance.now();
  const r = await runTraining({ optim: run.optim, embedding: run.embedding, stateFormat: "stateFormat" in run ? run.stateFormat : "dynamic8", steps, seed, lr, evalEvery: Math.max(1, Math.floor(steps / 10)) });
  console.log(`${run.name}: final held-out loss ${r.finalEval.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  results.push({ ...r, name: run.name });
}

const base = results.find((r) => r.name.startsWith("AdamW 32-bit, plain"));
const rows = results.map((r) => ({
  run: r.name,
  finalTrain: +(r.history.slice(-10).reduce((a, h) => a + h.trainLoss, 0) / Math.min(10, r.history.length)).toFixed(4),
  finalEval: +r.finalEval.toFixed(4),
  evalVs32bit: base ? `${(((r.finalEval - base.finalEval) / base.finalEval) * 100).toFixed(2)}%` : "",
  msPerStep: +r.msPerStep.toFixed(1),
  optimizerStateBytes: r.optimizerStateBytes,
  stateBytesPerParam: +(r.optimizerStateBytes / r.parameterCount).toFixed(3),
}));
writeFileSync(join(out, "results.json"), JSON.stringify({ steps, seed, lr, rows, histories: results.map((r) => ({ name: r.name, history: r.history })) }, null, 2));
// The data first: a plot that fails must not lose a run's numbers.
const smooth = (xs: { step: number; trainLoss: number }[], k = 10) =>
  xs.map((x, i) => ({ step: x.step, loss: xs.slice(Math.max(0, i - k + 1), i + 1).reduce((a, y) => a + y.trainLoss, 0) / Math.min(k, i + 1) }));
// The y axis stops a little above the loss of a uniform guess (ln V): a diverged run leaves the plot (and
// says so in the legend) instead of flattening every other curve.
const yMax = Math.log(96) + 0.5;
const label = (r: TrainResult & { name: string }) => (r.finalEval > yMax ? `${r.name} (diverged: held-out loss ${r.finalEval.toFixed(0)})` : `${r.name} (held-out ${r.finalEval.toFixed(3)})`);
const title = `Training loss (10-step mean), GPT ${results[0].parameterCount} params, ${steps} steps, seed ${seed}`;
const curves = results.map((r) => ({ name: label(r), points: smooth(r.history) }));
await saveLossChart(join(out, "loss.svg"), curves, title, { yMax });
await saveLossChart(join(out, "loss.png"), curves, title, { yMax });
await saveLossChart(join(out, "eval.png"), results.map((r) => ({ name: label(r), points: r.history.filter((h) => h.evalLoss !== undefined).map((h) => ({ step: h.step, loss: h.evalLoss! })) })), "Held-out loss", { yMax });

console.log(JSON.stringify(rows));
console.table(rows);
console.log(`plots: ${join(out, "loss.png")}, ${join(out, "loss.svg")}, ${join(out, "eval.png")}; data: ${join(out, "results.json")}`);
process.exit(0);
