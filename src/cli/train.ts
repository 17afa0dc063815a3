// `bun run train`: trains the small GPT on the State of the Union corpus (the README's main job).
//   --optim adamw_8bit|adamw_torch|lion_8bit|...  --embedding plain|stable|adanorm  --steps N  --lr X
//   --batch B  --seq T  --seed S  --layers L  --heads H  --width C  --out DIR (checkpoints)  --resume
//   --arch default|gpt2-mini|gpt2-small (a shape; --layers/--heads/--width override it)  --tokenizer char|gpt2
//   --sample N (tokens sampled from the trained model at the end; default 64, 0 = none)  --prompt TEXT
//   --init DIR (fine-tune a Hugging Face GPT-2 folder: its shape, embedding plain, 32-bit state for wte/wpe)
//   --save-pretrained DIR (write the result as a Hugging Face GPT-2 folder)
import { parseArgs } from "node:util";
import { runTraining } from "../train/trainer.ts";
import { progress } from "./progress.ts";
import { continueText } from "./textgen.ts";

const opts = {
  optim: { type: "string" }, embedding: { type: "string" }, steps: { type: "string" }, lr: { type: "string" },
  batch: { type: "string" }, seq: { type: "string" }, seed: { type: "string" }, layers: { type: "string" },
  heads: { type: "string" }, width: { type: "string" }, out: { type: "string" }, resume: { type: "boolean" },
  "eval-every": { type: "string" }, "checkpoint-every": { type: "string" }, "state-format": { type: "string" },
  arch: { type: "string" }, tokenizer: { type: "string" }, sample: { type: "string" }, prompt: { type: "string" },
  init: { type: "string" }, "save-pretrained": { type: "string" },
} as const;

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({ args: process.argv.slice(2), options: opts, strict: true, allowPositionals: false }).values;
} catch (e) {
  console.error(`train: ${(e as Error).message}\nflags: ${Object.keys(opts).map((k) => `--${k}`).join(" ")}`);
  process.exit(2);
}
const num = (k: string) => (values[k] === undefined ? undefined : Number(values[k]));
const sampleTokens = values.sample === undefined ? 64 : Number(values.sample);
if (!Number.isInteger(sampleTokens) || sampleTokens < 0) {
  console.error(`train: --sample ${values.sample} must be a whole number of tokens (0 for none)`);
  process.exit(2);
}
if (values.resume && !values.out) {
  console.error("train: --resume needs --out DIR (where the checkpoint is)");
  process.exit(2);
}
// --resume must find a checkpoint in --out, and without --resume --out must hold none (it would be overwritten):
// runTraining checks both, naming the directory, before it builds or writes anything.
const config = Object.fromEntries(
  Object.entries({
    optim: values.optim ?? "adamw_8bit", embedding: values.embedding, steps: num("steps"), lr: num("lr"), batch: num("batch"),
    seq: num("seq"), seed: num("seed"), layers: num("layers"), heads: num("heads"), width: num("width"), out: values.out,
    evalEvery: num("eval-every"), checkpointEvery: num("checkpoint-every"), stateFormat: values["state-format"],
    resume: values.resume ?? false, arch: values.arch, tokenizer: values.tokenizer,
    init: values.init, savePretrained: values["save-pretrained"],
  }).filter(([, v]) => v !== undefined),
) as { optim: string };

let bar: ReturnType<typeof progress> | undefined;
let seen = 0;
try {
  const r = await runTraining(config, {
    log: (l) => console.log(l),
    onStep: (rec, cfg, ms) => {
      bar ??= progress(cfg.steps, { label: `${cfg.optim} ${cfg.embedding}` });
      // The trainer's clock starts after the first step of this run (which compiles): rate over the steps since.
      seen++;
      bar.update(rec.step, { loss: rec.trainLoss, tokensPerSec: seen > 1 ? ((seen - 1) * cfg.batch * cfg.seq) / (ms / 1000) : undefined });
      if (rec.evalLoss !== undefined)
        console.log(`${process.stdout.isTTY ? "\n" : ""}step ${rec.step}: train loss ${rec.trainLoss.toFixed(4)}, held-out loss ${rec.evalLoss.toFixed(4)}`);
    },
    onFinish: async (model, tokenizer) => {
      bar?.stop();
      bar = undefined;
      if (sampleTokens === 0) return;
      const prompt = (values.prompt as string | undefined) ?? "The ";
      process.stdout.write(`sample (temperature 0.8, top-k 200):\n${prompt}`);
      const r = await continueText(model, tokenizer, prompt, { maxNewTokens: sampleTokens, temperature: 0.8, topK: 200, seed: (config as { seed?: number }).seed ?? 0 }, (s) => process.stdout.write(s));
      console.log(`\n[${r.ids.length} tokens, ${r.msPerToken.toFixed(0)} ms/token]`);
    },
  });
  bar?.stop();
  console.log(
    `done: ${r.history.length} steps (from ${r.resumedFrom}), final eval loss ${r.finalEval.toFixed(4)}, ${r.msPerStep.toFixed(0)} ms/step, ` +
      `${r.tokensPerSec.toFixed(0)} tok/s, ${r.parameterCount} parameters, optimizer state ${(r.optimizerStateBytes / 1024).toFixed(1)} KiB`,
  );
  process.exit(0);
} catch (e) {
  console.error(`train: ${(e as Error).message}`);
  process.exit(1);
}
