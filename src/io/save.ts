// octet.save / octet.load: a model's weights (and an optimizer's state) on disk as safetensors, readable by any
// safetensors reader. A directory path holds the checkpoint layout of checkpoint.ts (model.safetensors,
// optimizer.safetensors, trainer.json; written atomically, checked as a whole before a load changes anything);
// a path ending in ".safetensors" holds the weights alone, one file.
import type { Module } from "../nn/module.ts";
import type { CheckpointLoadOptimizer, CheckpointSaveOptimizer } from "./checkpoint.ts";
import { CheckpointError, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { loadSafetensors, saveSafetensors, type SafeTensor } from "./safetensors.ts";

export interface SaveOptions {
  model: Module;
  optimizer?: CheckpointSaveOptimizer;
  /** Recorded with a directory checkpoint (default 0). */
  step?: number;
  /** Plain JSON recorded with a directory checkpoint (default {}). */
  config?: object;
}
export interface LoadOptions {
  model: Module;
  optimizer?: CheckpointLoadOptimizer;
}

const isFile = (path: string) => path.endsWith(".safetensors");

function checkArgs(who: string, path: unknown, opts: { model?: unknown; optimizer?: unknown } | undefined): void {
  if (typeof path !== "string" || !path) throw new TypeError(`${who}: path must be a directory or a .safetensors file name, got ${JSON.stringify(path)}`);
  if (!opts || typeof (opts.model as Module | undefined)?.namedParameters !== "function") throw new TypeError(`${who}(${path}, { model, optimizer? }): model must be an octet.nn.Module`);
  if (opts.optimizer !== undefined && isFile(path))
    throw new CheckpointError(`${who}(${path}): a .safetensors file holds the weights only; give a directory to keep the optimizer state with them (model.safetensors + optimizer.safetensors)`);
}

/** Writes the model's parameters (named by namedParameters) and, for a directory, the optimizer's state. */
export async function save(path: string, opts: SaveOptions): Promise<void> {
  checkArgs("octet.save", path, opts);
  if (!isFile(path)) return saveCheckpoint(path, { model: opts.model, optimizer: opts.optimizer, step: opts.step ?? 0, config: opts.config ?? {} });
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, p] of opts.model.namedParameters()) {
    if (p.dtype !== "f32") throw new CheckpointError(`octet.save(${path}): parameter '${name}' is ${p.dtype}; a weights file holds f32 parameters (save to a directory for f16)`);
    tensors[name] = { dtype: "F32", shape: [...p.shape], data: Float32Array.from(await p.data.toArray()) };
  }
  await saveSafetensors(path, tensors, { format: "octet", kind: "model" });
}

/**
 * Reads what save wrote into model (and optimizer). Everything is checked against the model and optimizer before
 * anything changes: a refused load leaves both as they were.
 */
export async function load(path: string, opts: LoadOptions): Promise<void> {
  checkArgs("octet.load", path, opts);
  if (!isFile(path)) return void (await loadCheckpoint(path, { model: opts.model, optimizer: opts.optimizer }));
  const file = await loadSafetensors(path);
  const values: Record<string, Float32Array> = {};
  for (const name of file.names) {
    const t = file.tensors[name];
    if (t.dtype !== "F32") throw new CheckpointError(`octet.load(${path}): tensor '${name}' is ${t.dtype}; octet loads F32 weights`);
    values[name] = t.data as Float32Array;
  }
  try {
    opts.model.loadStateDict(values);
  } catch (e) {
    throw new CheckpointError(`octet.load(${path}): ${(e as Error).message}`);
  }
}
