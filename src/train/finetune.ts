// Fine-tuning a pretrained GPT-2 folder (`--init DIR`): the run's shape comes from the folder's config.json,
// the embedding stays as it was pretrained (plain), and the optimizer follows the bitsandbytes recipe for
// fine-tuning: 8-bit state for every weight except the embeddings (token table wte and position table wpe),
// which keep 32-bit state.
import { readPretrainedConfig } from "../io/hf.ts";
import type { GPT } from "../nn/gpt.ts";
import { replaceEmbeddings } from "../nn/gpt.ts";
import { GlobalOptimManager, useFp32EmbeddingStates } from "../optim/manager.ts";
import type { TrainConfigInput } from "./config.ts";

/** What --embedding stable / adanorm does to a model pretrained without an embedding norm, and why not to. */
export const EMBEDDING_NORM_WARNING =
  "adds a layer norm after the token embedding of a model that was pretrained without one: the pretrained blocks " +
  "were trained on the raw embedding activations, and the new norm changes them, which makes fine-tuning worse. " +
  "StableEmbedding is for pretraining from scratch; to fine-tune, keep the plain embedding (the default with --init), " +
  "whose weights keep 32-bit optimizer state.";

/**
 * The run's input with the shape read from `input.init`'s config.json: layers, heads, width and context are the
 * model's (a conflicting flag is an error naming both), the embedding defaults to the pretrained plain one and
 * the tokenizer to GPT-2's BPE (an HF GPT-2 folder's). The vocabulary is checked once the tokenizer is loaded.
 */
export async function pretrainedInput<I extends Partial<TrainConfigInput>>(input: I & { init: string }): Promise<I> {
  const dir = input.init;
  const model = await readPretrainedConfig(dir);
  if (input.arch !== undefined) throw new Error(`--arch ${input.arch} conflicts with --init ${dir}: the shape comes from ${dir}/config.json`);
  const shape = { layers: model.layers, heads: model.heads, width: model.width, context: model.contextLength };
  const field = { layers: "n_layer", heads: "n_head", width: "n_embd", context: "n_positions" } as const;
  for (const k of Object.keys(shape) as (keyof typeof shape)[])
    if (input[k] !== undefined && input[k] !== shape[k])
      throw new Error(`--${k} ${input[k]} conflicts with --init ${dir}, whose config.json has ${field[k]} ${shape[k]}`);
  return { ...input, ...shape, embedding: input.embedding ?? "plain", tokenizer: input.tokenizer ?? "gpt2" };
}

/** The model's vocabulary must be the tokenizer's: ids past either end would index nothing. */
export function checkVocabulary(model: { vocabSize: number }, dir: string, tokenizer: { name: string; vocabSize: number }): void {
  if (model.vocabSize !== tokenizer.vocabSize)
    throw new Error(
      `--init ${dir}: the model's vocabulary has ${model.vocabSize} ids (config.json vocab_size) but the tokenizer ${tokenizer.name} has ` +
        `${tokenizer.vocabSize}; a GPT-2 folder goes with GPT-2's BPE (--tokenizer gpt2), a model's own vocabulary with its own tokenizer`,
    );
}

/**
 * Prepares a loaded pretrained model for fine-tuning: swaps in the requested embedding (warning when that adds a
 * norm), then registers 32-bit state for the token and position tables. Every other weight gets the optimizer's
 * own bits (8 for an 8-bit optimizer; tensors under min8bitSize stay 32-bit, as in bitsandbytes).
 */
export function prepareFineTune(model: GPT, embedding: "plain" | "stable" | "adanorm", dir: string, warn: (line: string) => void): void {
  if (embedding !== "plain") {
    warn(`warning: --embedding ${embedding} with --init ${dir} ${EMBEDDING_NORM_WARNING}`);
    replaceEmbeddings(model, { kind: embedding });
  }
  useFp32EmbeddingStates(model);
  GlobalOptimManager.getInstance().registerModuleOverride(model, "positions", { optimBits: 32 });
}
