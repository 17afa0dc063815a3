// A Hugging Face model folder on disk: `config.json` and a single `model.safetensors`, as transformers'
// `save_pretrained` writes them. The mapping onto octet's GPT is src/nn/pretrained.ts; this file only reads
// and writes the two files, with errors that name the folder and the file.
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { GPTConfig } from "../nn/gpt.ts";
import { gptConfigFromHF, type PretrainedFiles } from "../nn/pretrained.ts";
import { writeFileAtomic } from "./atomic.ts";
import { loadSafetensors, saveSafetensors, type SafeTensor } from "./safetensors.ts";

export const HF_FILES = { config: "config.json", weights: "model.safetensors" } as const;

const exists = (path: string) => stat(path).then(() => true, () => false);

async function readConfigJson(dir: string, where: string): Promise<unknown> {
  if (!(await exists(dir))) throw new Error(`${where}: no such directory`);
  const configPath = join(dir, HF_FILES.config);
  if (!(await exists(configPath))) throw new Error(`${where}: no ${HF_FILES.config} (a Hugging Face model folder holds config.json and model.safetensors)`);
  try {
    return JSON.parse(await readFile(configPath, "utf8"));
  } catch (error) {
    throw new Error(`${where}: ${HF_FILES.config} is not valid JSON (${(error as Error).message})`);
  }
}

/** The model shape `dir/config.json` describes, checked as fromPretrained checks it, without reading the weights. */
export async function readPretrainedConfig(dir: string): Promise<GPTConfig> {
  const where = `fromPretrained(${dir})`;
  return gptConfigFromHF(await readConfigJson(dir, where), where);
}

/** Reads `dir/config.json` and `dir/model.safetensors`; a missing folder, file or a sharded/.bin checkpoint is a clear error. */
export async function readPretrainedFolder(dir: string): Promise<PretrainedFiles> {
  const where = `fromPretrained(${dir})`;
  const config = await readConfigJson(dir, where);
  const weightsPath = join(dir, HF_FILES.weights);
  if (!(await exists(weightsPath))) {
    const sharded = await exists(join(dir, "model.safetensors.index.json"));
    const bin = await exists(join(dir, "pytorch_model.bin"));
    throw new Error(
      `${where}: no ${HF_FILES.weights}` +
        (sharded ? " (the folder holds a sharded checkpoint, model.safetensors.index.json: octet reads a single model.safetensors)" : "") +
        (bin ? " (pytorch_model.bin is a pickle, which octet does not read: convert it to safetensors)" : ""),
    );
  }
  const { tensors } = await loadSafetensors(weightsPath);
  return { config, tensors };
}

/** Writes the folder (created if needed); each file is replaced atomically. */
export async function writePretrainedFolder(
  dir: string,
  files: { config: Record<string, unknown>; tensors: Record<string, SafeTensor>; metadata: Record<string, string> },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, HF_FILES.weights), files.tensors, files.metadata);
  await writeFileAtomic(join(dir, HF_FILES.config), new TextEncoder().encode(JSON.stringify(files.config, null, 2) + "\n"));
}
