// `npm run sample -- --from DIR --prompt "..."`: continues a prompt with the GPT saved in a training checkpoint
// (`npm run train` writes one to runs/<name>/), with the tokenizer the checkpoint recorded.
import * as octet from "../index.ts";
import { charTokenizer, tokenizerFromRecord } from "../data/tokenizer.ts";
import { loadCheckpoint, readCheckpointInfo } from "../io/checkpoint.ts";
import { TrainConfig } from "../train/config.ts";
import { buildModel } from "../train/trainer.ts";
import { defineCommand, runCommand, flag, parseCommand, UsageError } from "./args.ts";
import { acquireDeviceQuietly } from "./dawn-stderr.ts";
import { continueText } from "./textgen.ts";

export const SAMPLE_FLAGS = {
  from: flag.string("checkpoint directory written by npm run train (e.g. runs/adamw_8bit-stable); required", { placeholder: "DIR" }),
  prompt: flag.string("the text to continue (empty: the start of a document)", { default: "" }),
  tokens: flag.int("tokens to sample, at most what the model's context leaves", { default: 200 }),
  temperature: flag.number("sampling temperature (0: greedy)", { min: 0, default: 0.8 }),
  "top-k": flag.int("sample among the k likeliest tokens", { default: 200 }),
  seed: flag.int("sampling seed", { min: 0, default: 0 }),
} as const;

export const SAMPLE = defineCommand({
  name: "sample",
  usage: "npm run sample -- --from DIR [flags]",
  summary: "Continues a prompt with the GPT saved in a training checkpoint, with the tokenizer it recorded.",
  flags: SAMPLE_FLAGS,
  epilog: 'example: npm run sample -- --from runs/adamw_8bit-stable --prompt "The Congress"',
});

async function main(argv: string[]): Promise<void> {
  const { values: v } = parseCommand(SAMPLE, argv);
  const from = v.from;
  if (!from) throw new UsageError("--from DIR is required (a checkpoint directory written by npm run train, e.g. runs/adamw_8bit-stable)");
  const info = await readCheckpointInfo(from);
  const parsed = TrainConfig.safeParse(info.config);
  if (!parsed.success) throw new Error(`${from}/trainer.json: its config is not a training run's (${parsed.error.issues[0]?.message})`);
  // Checkpoints from before tokenizers were recorded were all trained with the character tokenizer.
  const tokenizer = info.tokenizer ? await tokenizerFromRecord(info.tokenizer, `sample --from ${from}`) : charTokenizer;
  await acquireDeviceQuietly();
  await octet.device();
  const model = buildModel(parsed.data, tokenizer.vocabSize);
  await loadCheckpoint(from, { model, tokenizer: info.tokenizer ?? undefined });
  process.stdout.write(v.prompt);
  const r = await continueText(model, tokenizer, v.prompt, { maxNewTokens: v.tokens, temperature: v.temperature, topK: v["top-k"], seed: v.seed }, (s) => process.stdout.write(s));
  const cut = r.ids.length < v.tokens ? ` (not ${v.tokens}: the model's context of ${model.config.contextLength} positions is full)` : "";
  console.log(`\n\n[${r.ids.length} tokens${cut} after a ${r.promptTokens}-token prompt, ${r.msPerToken.toFixed(0)} ms/token, step ${info.step} of ${from}, tokenizer ${tokenizer.name}]`);
}

if (import.meta.main) await runCommand(SAMPLE, main);
