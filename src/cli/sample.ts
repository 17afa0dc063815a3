// `npm run sample -- --from DIR --prompt "..."`: continues a prompt with the GPT saved in a training checkpoint
// (`npm run train -- --out DIR`), with the tokenizer the checkpoint recorded.
//   --tokens N (default 200, at most what the context leaves)  --temperature T (0.8; 0 = greedy)
//   --top-k K (200)  --seed S (0)
import { parseArgs } from "node:util";
import * as octet from "../index.ts";
import { charTokenizer, tokenizerFromRecord } from "../data/tokenizer.ts";
import { loadCheckpoint, readCheckpointInfo } from "../io/checkpoint.ts";
import { TrainConfig } from "../train/config.ts";
import { buildModel } from "../train/trainer.ts";
import { continueText } from "./textgen.ts";

const opts = {
  from: { type: "string" }, prompt: { type: "string" }, tokens: { type: "string" }, temperature: { type: "string" },
  "top-k": { type: "string" }, seed: { type: "string" },
} as const;

function fail(message: string, code = 2): never {
  console.error(`sample: ${message}`);
  process.exit(code);
}

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({ args: process.argv.slice(2), options: opts, strict: true, allowPositionals: false }).values;
} catch (e) {
  fail(`${(e as Error).message}\nflags: ${Object.keys(opts).map((k) => `--${k}`).join(" ")}`);
}
const from = values.from as string | undefined;
if (!from) fail("--from DIR is required (a checkpoint directory written by npm run train -- --out DIR)");
const num = (k: string, dflt: number): number => {
  const raw = values[k];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v)) fail(`--${k} ${raw} is not a number`);
  return v;
};

try {
  const info = await readCheckpointInfo(from);
  const parsed = TrainConfig.safeParse(info.config);
  if (!parsed.success) throw new Error(`${from}/trainer.json: its config is not a training run's (${parsed.error.issues[0]?.message})`);
  // Checkpoints from before tokenizers were recorded were all trained with the character tokenizer.
  const tokenizer = info.tokenizer ? await tokenizerFromRecord(info.tokenizer, `sample --from ${from}`) : charTokenizer;
  await octet.device();
  const model = buildModel(parsed.data, tokenizer.vocabSize);
  await loadCheckpoint(from, { model, tokenizer: info.tokenizer ?? undefined });
  const prompt = (values.prompt as string | undefined) ?? "";
  process.stdout.write(prompt);
  const wanted = num("tokens", 200);
  const r = await continueText(
    model, tokenizer, prompt,
    { maxNewTokens: wanted, temperature: num("temperature", 0.8), topK: values["top-k"] === undefined ? 200 : num("top-k", 200), seed: num("seed", 0) },
    (s) => process.stdout.write(s),
  );
  const cut = r.ids.length < wanted ? ` (not ${wanted}: the model's context of ${model.config.contextLength} positions is full)` : "";
  console.log(`\n\n[${r.ids.length} tokens${cut} after a ${r.promptTokens}-token prompt, ${r.msPerToken.toFixed(0)} ms/token, step ${info.step} of ${from}, tokenizer ${tokenizer.name}]`);
  process.exit(0);
} catch (e) {
  fail((e as Error).message, 1);
}
