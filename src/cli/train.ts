// `npm run train -- [flags]`: trains the small GPT on the State of the Union corpus (the README's main job).
// Prints the run's config in one line, a progress bar, a sample from the trained model and a summary line;
// checkpoints to runs/<name>/ (or --out) with the loss curve beside it as SVG and PNG. `--help` lists every flag.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { checkpointIn } from "../io/checkpoint.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { HF_OPTIMIZERS, optimizerNameProblem } from "../optim/names.ts";
import { TOKENIZER_CHOICES } from "../data/tokenizer.ts";
import { ARCHS, MUON_OPTIMIZERS, STATE_FORMATS, TrainConfig } from "../train/config.ts";
import { configIssues, runTraining, type StepRecord, type TrainResult } from "../train/trainer.ts";
import { defineCommand, runCommand, flag, parseCommand, UsageError, type Flag } from "./args.ts";
import { acquireDeviceQuietly } from "./dawn-stderr.ts";
import { saveLossChart, type LossSeries } from "./plot.ts";
import { formatBytes } from "./format.ts";
import { formatRate, progress } from "./progress.ts";
import { continueText } from "./textgen.ts";

/** What TrainConfig fills in when a flag is not given: --help shows these, never a copy of them. */
const D = TrainConfig.parse({ optim: "adamw_8bit" });

const optimFlag = {
  type: "string" as const,
  schema: z.string().superRefine((s, ctx) => {
    const problem = (MUON_OPTIMIZERS as readonly string[]).includes(s) ? undefined : optimizerNameProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  doc: "optimizer, by its Hugging Face Trainer --optim name",
  default: "adamw_8bit",
  placeholder: "NAME",
  choices: [...Object.keys(HF_OPTIMIZERS), ...MUON_OPTIMIZERS],
} satisfies Flag<string>;

/**
 * The flags, in --help's order. Each one whose camelCase name is a TrainConfig key (eval-every -> evalEvery) is
 * passed to the trainer as that key; the others are the command line's own (CLI_ONLY). Unset flags stay unset
 * so TrainConfig's defaults (and the arch's) apply.
 */
export const TRAIN_FLAGS = {
  optim: optimFlag,
  "state-format": flag.choice(STATE_FORMATS, "quantized state of an 8bit --optim: bitsandbytes' dynamic map, the linear map, fp8 (E4M3), companded (FlashOptim's softsign / sqrt) or 4-bit", { defaultText: D.stateFormat }),
  "param-dtype": flag.choice(["f32", "bf16", "f16"], "how the optimizer stores the weights: f32, or bf16 / f16 without an f32 master copy", { defaultText: D.paramDtype }),
  "stochastic-round": flag.boolean("bf16 weights: round each update stochastically (unbiased) instead of to nearest"),
  "grad-dtype": flag.choice(["f32", "bf16", "f16"], "how the optimizer stores the gradients (rounded to nearest once per step)", { defaultText: "--param-dtype's" }),
  compensation: flag.choice(["none", "kahan", "errorbits8"], "bf16 weights: keep what rounding drops in a bf16 (kahan, 2 B) or 8-bit (errorbits8, 1 B) buffer", { defaultText: D.compensation }),
  embedding: flag.choice(["plain", "stable", "adanorm"], "token embedding: plain, StableEmbedding (layer norm after the lookup) or adanorm", { defaultText: D.embedding }),
  steps: flag.int("optimizer steps to train for (with --resume: the last step)", { defaultText: String(D.steps) }),
  lr: flag.number("learning rate", { positive: true, defaultText: String(D.lr) }),
  batch: flag.int("sequences per step", { defaultText: String(D.batch) }),
  seq: flag.int("tokens per sequence", { min: 2, defaultText: String(D.seq) }),
  seed: flag.int("seed of the initial weights and of the batches", { min: 0, defaultText: String(D.seed) }),
  arch: flag.choice(Object.keys(ARCHS) as [keyof typeof ARCHS, ...(keyof typeof ARCHS)[]], "model shape preset (--layers/--heads/--width override it)", { defaultText: D.arch }),
  layers: flag.int("transformer blocks", { defaultText: "the arch's" }),
  heads: flag.int("attention heads per block", { defaultText: "the arch's" }),
  width: flag.int("embedding width", { defaultText: "the arch's" }),
  tokenizer: flag.choice(TOKENIZER_CHOICES, "tokenizer", { defaultText: "the arch's" }),
  "eval-every": flag.int("steps between held-out evaluations", { defaultText: String(D.evalEvery) }),
  "checkpoint-every": flag.int("steps between checkpoints (0: only at the end)", { min: 0, defaultText: String(D.checkpointEvery) }),
  name: flag.string("the run's name: it checkpoints to runs/<name>/", { placeholder: "NAME", defaultText: "<optim>-<embedding>" }),
  out: flag.string("checkpoint directory (model, optimizer state, loss plot)", { placeholder: "DIR", defaultText: "runs/<name>" }),
  resume: flag.boolean("continue the checkpoint in --out (or runs/<name>) up to --steps"),
  sample: flag.int("tokens to sample from the trained model at the end (0: none)", { min: 0, default: 64 }),
  prompt: flag.string("what the sample continues", { default: "The " }),
  init: flag.string("fine-tune a Hugging Face GPT-2 folder (its shape; 32-bit state for wte/wpe)", { placeholder: "DIR" }),
  "save-pretrained": flag.string("also write the result as a Hugging Face GPT-2 folder", { placeholder: "DIR" }),
} as const satisfies Record<string, Flag>;

/** Flags that are the command line's own, not TrainConfig keys. */
const CLI_ONLY = new Set<keyof typeof TRAIN_FLAGS>(["name", "sample", "prompt"]);

export const TRAIN = defineCommand({
  name: "train",
  usage: "npm run train -- [flags]",
  summary:
    "Trains the small GPT on the State of the Union corpus (a character model by default). Prints the config, a\n" +
    "progress bar, a sample from the trained model and a summary line; checkpoints to runs/<name>/ with the loss\n" +
    "curve as loss.svg and loss.png beside it.",
  flags: TRAIN_FLAGS,
  epilog: "example: npm run train -- --optim adamw_torch --steps 200 --name baseline\nenvironment knobs (OCTET_DEBUG, ...): npm run kernels -- --knobs",
});

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Where the run checkpoints: --out, or runs/<name>; a fresh run never overwrites, it takes the next free name. */
async function chooseOut(out: string | undefined, name: string, resume: boolean): Promise<{ out: string; note?: string }> {
  if (out !== undefined) return { out };
  const base = join("runs", name);
  if (resume || (await checkpointIn(base)) !== "checkpoint") return { out: base };
  for (let i = 2; ; i++) {
    const dir = `${base}-${i}`;
    if ((await checkpointIn(dir)) !== "checkpoint") return { out: dir, note: `${base}/ already holds a run; this one goes to ${dir}/` };
  }
}

/** The losses of every step so far, written beside the last checkpoint so a resumed run plots its whole curve. */
const HISTORY_FILE = "history.json";
function earlierHistory(out: string): StepRecord[] {
  const path = join(out, HISTORY_FILE);
  if (!existsSync(path)) return [];
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as { history?: StepRecord[] };
    return h.history ?? [];
  } catch {
    return [];
  }
}

/** The mean of the last `k` records' training loss (one step's loss is noisy). */
export const meanTrainLoss = (h: StepRecord[], k = 10) => h.slice(-k).reduce((a, r) => a + r.trainLoss, 0) / Math.max(1, Math.min(k, h.length));

/** The last line `train` prints. */
export function summaryLine(r: TrainResult, out: string): string {
  const steps = r.history.length;
  const evalPart = Number.isFinite(r.finalEval) ? `held-out ${r.finalEval.toFixed(4)}` : `held-out ${r.finalEval}`;
  return (
    `summary: ${steps} step${steps === 1 ? "" : "s"}${r.resumedFrom ? ` (${r.resumedFrom + 1}-${r.resumedFrom + steps})` : ""}, ` +
    `train loss ${meanTrainLoss(r.history).toFixed(4)} (mean of last ${Math.min(10, steps)}), ${evalPart}, ` +
    `${formatRate(r.tokensPerSec)} tok/s, ${r.parameterCount.toLocaleString("en-US")} params, ` +
    `optimizer state ${formatBytes(r.optimizerLogicalBytes)} (${formatBytes(r.optimizerStateBytes)} allocated), checkpoint ${out}/`
  );
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseCommand(TRAIN, argv);
  const name = values.name ?? `${values.optim}-${values.embedding ?? D.embedding}`;
  if (!/^[\w.-]+$/.test(name)) throw new UsageError(`--name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (it names a directory)`);
  const { out, note } = await chooseOut(values.out, name, values.resume);
  if (values.resume && (await checkpointIn(out)) !== "checkpoint")
    throw new UsageError(`--resume: ${out} holds no checkpoint to continue (give the run's directory with --out DIR, or its --name)`);
  const config: Record<string, unknown> = { out };
  for (const [k, v] of Object.entries(values)) if (v !== undefined && !CLI_ONLY.has(k as keyof typeof TRAIN_FLAGS) && k !== "out") config[camel(k)] = v;
  if (values["state-format"] !== undefined && !values.optim.includes("8bit"))
    throw new UsageError(`--state-format ${values["state-format"]}: ${values.optim} keeps 32-bit state; the state format applies to an 8bit --optim (e.g. adamw_8bit)`);
  // Config mistakes are usage errors too (exit 2), found before the device or the corpus is touched.
  if (!config.init) {
    const parsed = TrainConfig.safeParse(config);
    if (!parsed.success) throw new UsageError(configIssues(parsed.error));
  }
  if (note) console.log(note);
  // Read now: every checkpoint replaces the directory whole (io/checkpoint.ts), so the file is gone after the run.
  const earlier = values.resume ? earlierHistory(out) : [];
  await acquireDeviceQuietly();

  let bar: ReturnType<typeof progress> | undefined;
  let first: number | undefined;
  const r = await runTraining(config as { optim: string }, {
    log: (l) => console.log(l),
    onStep: (rec, cfg, ms) => {
      // The bar starts where this run starts (a resumed run at its checkpoint's step, not 0).
      first ??= rec.step;
      bar ??= progress(cfg.steps, { label: `${cfg.optim} ${cfg.embedding}`, start: rec.step - 1 });
      // The trainer's clock starts after this run's first step (which compiles): the rate counts the steps since.
      const timed = rec.step - first;
      bar.update(rec.step, { loss: rec.trainLoss, tokensPerSec: timed > 0 ? (timed * cfg.batch * cfg.seq) / (ms / 1000) : undefined });
      if (rec.evalLoss !== undefined) bar.log(`step ${rec.step}: train loss ${rec.trainLoss.toFixed(4)}, held-out loss ${rec.evalLoss.toFixed(4)}`);
    },
    onFinish: async (model, tokenizer) => {
      bar?.stop();
      bar = undefined;
      if (values.sample === 0) return;
      const prompt = values.prompt;
      process.stdout.write(`sample (temperature 0.8, top-k 200):\n${prompt}`);
      const s = await continueText(model, tokenizer, prompt, { maxNewTokens: values.sample, temperature: 0.8, topK: 200, seed: values.seed ?? D.seed }, (t) => process.stdout.write(t));
      console.log(`\n[${s.ids.length} tokens, ${s.msPerToken.toFixed(0)} ms/token]`);
    },
  });
  bar?.stop();

  const history = [...earlier.filter((h) => h.step <= r.resumedFrom), ...r.history];
  await writeFileAtomic(join(out, HISTORY_FILE), new TextEncoder().encode(JSON.stringify({ config: r.config, history }, null, 1)));
  const plots = await plotRun(out, history, r);
  console.log(`saved: checkpoint ${out}/ (continue it: ${trainCommand()} --out ${out} --resume --steps N), loss curve ${plots.join(", ")}, losses ${join(out, HISTORY_FILE)}`);
  console.log(summaryLine(r, out));
}

/** How this runtime starts this command line: `deno task train` is the Deno twin of `npm run train --`. */
function trainCommand(): string {
  return "Deno" in globalThis ? "deno task train" : "npm run train --";
}

/** loss.svg and loss.png in `out`: the training loss (10-step mean) and the held-out loss against the step. */
async function plotRun(out: string, history: StepRecord[], r: TrainResult): Promise<string[]> {
  const mean = history.map((h, i) => ({ step: h.step, loss: meanTrainLoss(history.slice(0, i + 1)) }));
  const series: LossSeries[] = [
    { name: "training loss (10-step mean)", points: mean },
    { name: "held-out loss", dots: true, points: history.filter((h) => h.evalLoss !== undefined).map((h) => ({ step: h.step, loss: h.evalLoss! })) },
  ];
  const c = r.config;
  const title = `${c.optim}, embedding ${c.embedding}: GPT ${c.layers}x${c.heads}x${c.width}, ${r.parameterCount.toLocaleString("en-US")} params, ${history.length} steps, seed ${c.seed}`;
  const paths = [join(out, "loss.svg"), join(out, "loss.png")];
  for (const p of paths) await saveLossChart(p, series, title);
  return paths;
}

if (import.meta.main) await runCommand(TRAIN, main);
