// Training checkpoints: one directory holding
//
//   model.safetensors      the model's parameters, named as `model.namedParameters()` names them, so any
//                          safetensors reader (Python `safetensors`, candle, ...) can load the weights;
//   optimizer.safetensors  every optimizer state tensor as `state.<i>.<key>` (U8 codes, F32 otherwise), with
//                          the step counts, param groups and the state dict's format record in __metadata__;
//   trainer.json           step, run config, RNG state, the tokenizer (name and vocabulary size), and the
//                          sha256 of both safetensors files.
//
// A save is atomic as a whole: the files are written (and fsynced) into a hidden sibling directory, which
// is then renamed into place. POSIX cannot rename a directory over a non-empty one, so an existing
// checkpoint is first renamed aside (`.<name>.old-*`) and removed after the swap. A crash in the window
// between those two renames leaves no `dir`, only the previous, complete checkpoint aside: the next
// saveCheckpoint or loadCheckpoint renames it back. A reader therefore always sees a whole checkpoint.
//
// A load checks everything before it changes anything: the files' checksums against trainer.json, the
// tensor names, shapes and dtypes against the model, and the optimizer dict (whose loadStateDict itself
// refuses a mismatch with nothing changed). Parameters are written only after all of that passed.
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import type { TokenizerRecord } from "../data/tokenizer.ts";
import type { Module } from "../nn/module.ts";
import type { Parameter } from "../nn/parameter.ts";
import type { OptimizerStateDict } from "../optim/optimizer.ts";
import { realize, storageOf, tensor } from "../runtime/realize.ts";
import { upload } from "../runtime/storage.ts";
import { writeFileAtomic } from "./atomic.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor, type Safetensors } from "./safetensors.ts";

/** File names inside a checkpoint directory. */
export const CHECKPOINT_FILES = {
  model: "model.safetensors",
  optimizer: "optimizer.safetensors",
  trainer: "trainer.json",
} as const;

/** Version of this directory layout (trainer.json `version`, safetensors `__metadata__.version`). */
export const CHECKPOINT_VERSION = 1;

/** What saveCheckpoint needs of an optimizer (octet's Optimizer, or anything with the same state dict). */
export interface CheckpointSaveOptimizer {
  stateDict(): Promise<OptimizerStateDict>;
}
/** What loadCheckpoint needs of an optimizer. */
export interface CheckpointLoadOptimizer {
  loadStateDict(sd: OptimizerStateDict): Promise<void>;
}

export interface SaveCheckpointOptions {
  model: Module;
  optimizer?: CheckpointSaveOptimizer;
  /** Training step the checkpoint was taken after. */
  step: number;
  /** The run's configuration; must be plain JSON (no NaN, Infinity, functions, class instances). */
  config: object;
  /** RNG state to resume the data order with; plain JSON. */
  rng?: object;
  /** The tokenizer the model's ids belong to, so that loading (and sampling) can restore it. */
  tokenizer?: TokenizerRecord;
}

export interface LoadCheckpointOptions {
  model: Module;
  optimizer?: CheckpointLoadOptimizer;
  /**
   * The tokenizer this run uses: a checkpoint that recorded another one is refused before anything changes.
   * (A checkpoint saved without a record, as before tokenizers were recorded, is not checked.)
   */
  tokenizer?: TokenizerRecord;
}

export interface CheckpointInfo {
  step: number;
  config: Record<string, unknown>;
  /** The saved RNG state, or null when the checkpoint was saved without one. */
  rng: Record<string, unknown> | null;
  /** The tokenizer recorded with the model, or null when the checkpoint was saved without one. */
  tokenizer: TokenizerRecord | null;
}

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

// --- saving -------------------------------------------------------------------------------------------------

/** Write a checkpoint of model (+ optimizer) to `dir`, replacing any checkpoint there as a whole. */
export async function saveCheckpoint(dir: string, opts: SaveCheckpointOptions): Promise<void> {
  const where = `saveCheckpoint(${dir})`;
  const fail = (message: string): never => {
    throw new CheckpointError(`${where}: ${message}`);
  };
  if (!Number.isSafeInteger(opts.step) || opts.step < 0) fail(`step must be a non-negative integer, got ${opts.step}`);
  const config = plainJson(opts.config, "config", fail);
  if (config === null || typeof config !== "object" || Array.isArray(config)) fail("config must be a JSON object");
  const rng = opts.rng === undefined ? null : plainJson(opts.rng, "rng", fail);
  const tokenizer = opts.tokenizer === undefined ? null : tokenizerSchema.safeParse(opts.tokenizer);
  if (tokenizer && !tokenizer.success) fail(`tokenizer must be { name, vocabSize }, got ${JSON.stringify(opts.tokenizer)}`);
  const configJson = JSON.stringify(config);

  // Everything is read back and encoded in memory first: a failure here leaves the disk untouched.
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, p] of opts.model.namedParameters()) tensors[name] = await readParameter(p, name, fail);
  const modelBytes = encodeSafetensors(tensors, {
    format: "octet",
    kind: "model",
    version: String(CHECKPOINT_VERSION),
    step: String(opts.step),
    config: configJson,
  });
  const optimizerBytes = opts.optimizer ? encodeOptimizerState(await opts.optimizer.stateDict(), { step: opts.step }) : undefined;
  const files: Record<string, { bytes: number; sha256: string }> = { [CHECKPOINT_FILES.model]: digest(modelBytes) };
  if (optimizerBytes) files[CHECKPOINT_FILES.optimizer] = digest(optimizerBytes);
  const trainer = { format: "octet", version: CHECKPOINT_VERSION, step: opts.step, config, rng, tokenizer: tokenizer?.data ?? null, files };
  const trainerBytes = new TextEncoder().encode(`${JSON.stringify(trainer, null, 2)}\n`);

  const target = resolve(dir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await recoverInterruptedSave(target);
  await removeStale(target);

  const tag = `${process.pid}-${randomBytes(6).toString("hex")}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  const old = join(parent, `.${basename(target)}.old-${tag}`);
  try {
    await mkdir(tmp);
    await writeFileAtomic(join(tmp, CHECKPOINT_FILES.model), modelBytes);
    if (optimizerBytes) await writeFileAtomic(join(tmp, CHECKPOINT_FILES.optimizer), optimizerBytes);
    await writeFileAtomic(join(tmp, CHECKPOINT_FILES.trainer), trainerBytes); // last: marks tmp complete
  } catch (error) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    fail(`writing ${tmp}: ${(error as Error).message}`);
  }
  // The swap. Between these two renames `dir` is absent and `old` holds the previous checkpoint whole.
  const hadOld = existsSync(target);
  try {
    if (hadOld) await rename(target, old);
    await rename(tmp, target);
  } catch (error) {
    if (hadOld && !existsSync(target)) await rename(old, target).catch(() => {});
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    fail(`moving the new checkpoint into place: ${(error as Error).message}`);
  }
  await syncDirectory(parent);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** A parameter's values as a safetensors tensor (F32, or F16 raw bits for half parameters). */
async function readParameter(p: Parameter, name: string, fail: (m: string) => never): Promise<SafeTensor> {
  const values = await p.data.toArray();
  const shape = [...p.shape];
  if (p.dtype === "f32") return { dtype: "F32", shape, data: Float32Array.from(values) };
  if (p.dtype === "f16") {
    const v = values as unknown as ArrayBufferView;
    return { dtype: "F16", shape, data: new Uint16Array(v.buffer.slice(v.byteOffset, v.byteOffset + p.numel * 2)) };
  }
  return fail(`parameter '${name}' has dtype ${p.dtype}; checkpoints hold f32 or f16 parameters`);
}

/**
 * An optimizer state dict as safetensors bytes: `state.<i>.<key>` tensors (1-D; U8 for 8-bit codes, F32 for
 * 32-bit states and absmax) and __metadata__ { format, kind, version, step, steps, paramGroups, stateFormat }.
 */
export function encodeOptimizerState(sd: OptimizerStateDict, extra: { step?: number } = {}): Uint8Array {
  const fail = (message: string): never => {
    throw new CheckpointError(`encodeOptimizerState: ${message}`);
  };
  const tensors: Record<string, SafeTensor> = {};
  const steps: Record<string, number> = {};
  for (const i of Object.keys(sd.state).sort((a, b) => Number(a) - Number(b))) {
    for (const [key, v] of Object.entries(sd.state[Number(i)])) {
      const name = `state.${i}.${key}`;
      if (key === "step") {
        if (typeof v !== "number") fail(`${name} is a ${typeof v}, expected a number`);
        steps[i] = v as number;
      } else if (v instanceof Uint8Array) tensors[name] = { dtype: "U8", shape: [v.length], data: v };
      else if (v instanceof Float32Array) tensors[name] = { dtype: "F32", shape: [v.length], data: v };
      else fail(`${name} is a ${v?.constructor?.name ?? typeof v}; state entries must be Float32Array, Uint8Array or the step count`);
    }
    if (!(i in steps)) fail(`state ${i} has no step count`);
  }
  const metadata: Record<string, string> = {
    format: "octet",
    kind: "optimizer",
    version: String(CHECKPOINT_VERSION),
    steps: JSON.stringify(steps),
    paramGroups: JSON.stringify(plainJson(sd.paramGroups, "paramGroups", fail)),
    stateFormat: JSON.stringify(plainJson(sd.format, "format", fail)),
  };
  if (extra.step !== undefined) metadata.step = String(extra.step);
  return encodeSafetensors(tensors, metadata);
}

/** The inverse of encodeOptimizerState; checks names, dtypes and metadata, not the optimizer's own rules. */
export function decodeOptimizerState(file: Safetensors, where = "decodeOptimizerState"): OptimizerStateDict {
  const fail = (message: string): never => {
    throw new CheckpointError(`${where}: ${message}`);
  };
  const meta = file.metadata;
  if (meta.format !== "octet" || meta.kind !== "optimizer") fail(`not an octet optimizer file (__metadata__ format=${meta.format}, kind=${meta.kind})`);
  if (meta.version !== String(CHECKPOINT_VERSION)) fail(`layout version ${meta.version}, this octet reads ${CHECKPOINT_VERSION}`);
  const steps = parseMeta(meta, "steps", z.record(z.string().regex(/^\d+$/), z.number().int()), fail);
  const paramGroups = parseMeta(meta, "paramGroups", z.array(z.record(z.string(), z.unknown())), fail);
  const format = parseMeta(meta, "stateFormat", z.record(z.string(), z.unknown()), fail) as unknown as OptimizerStateDict["format"];
  const state: OptimizerStateDict["state"] = {};
  for (const [i, step] of Object.entries(steps)) state[Number(i)] = { step };
  for (const name of file.names) {
    const m = /^state\.(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(name);
    if (!m) fail(`tensor '${name}' is not named state.<index>.<key>`);
    const [, i, key] = m!;
    const t = file.tensors[name];
    if (t.dtype !== "U8" && t.dtype !== "F32") fail(`tensor '${name}' has dtype ${t.dtype}; optimizer states are U8 or F32`);
    if (t.shape.length !== 1) fail(`tensor '${name}' has shape [${t.shape.join(",")}]; optimizer states are 1-D`);
    if (key === "step") fail(`tensor '${name}': the step count belongs in __metadata__.steps`);
    if (!state[Number(i)]) fail(`tensor '${name}' belongs to parameter ${i}, which has no step count in __metadata__.steps`);
    state[Number(i)][key] = t.data as Float32Array | Uint8Array;
  }
  return { state, paramGroups, format };
}

// --- loading ------------------------------------------------------------------------------------------------

/**
 * What `dir` holds: no directory, a directory without any checkpoint file, or a checkpoint (possibly a broken
 * one: loadCheckpoint then says what is wrong). A save interrupted between its two renames is recovered first,
 * as loadCheckpoint would, so a crash in that window does not read as "no checkpoint".
 */
export async function checkpointIn(dir: string): Promise<"no-directory" | "empty" | "checkpoint"> {
  const target = resolve(dir);
  await recoverInterruptedSave(target);
  if (!existsSync(target)) return "no-directory";
  return Object.values(CHECKPOINT_FILES).some((f) => existsSync(join(target, f))) ? "checkpoint" : "empty";
}

/**
 * Restore model parameters (and optimizer state) from `dir`. Validates the whole checkpoint against the model
 * and optimizer first; on any mismatch throws a CheckpointError naming the file and tensor, having changed
 * nothing. Returns the saved step, config and RNG state.
 */
export async function loadCheckpoint(dir: string, opts: LoadCheckpointOptions): Promise<CheckpointInfo> {
  const where = `loadCheckpoint(${dir})`;
  const fail = (message: string): never => {
    throw new CheckpointError(`${where}: ${message}`);
  };
  const target = resolve(dir);
  const trainer = await readTrainer(target, fail);
  const saved = trainer.tokenizer ?? null;
  const want = opts.tokenizer;
  if (saved && want && (saved.name !== want.name || saved.vocabSize !== want.vocabSize)) {
    fail(`the checkpoint's model was trained with tokenizer ${saved.name} (${saved.vocabSize} ids), not ${want.name} (${want.vocabSize} ids); its token ids mean other text`);
  }

  // model.safetensors against the model: every name, shape and dtype, all problems at once.
  const model = await readChecked(target, CHECKPOINT_FILES.model, trainer.files, fail);
  if (model.metadata.format !== "octet" || model.metadata.kind !== "model") {
    fail(`${CHECKPOINT_FILES.model}: not an octet model file (__metadata__ format=${model.metadata.format}, kind=${model.metadata.kind})`);
  }
  if (model.metadata.step !== String(trainer.step)) {
    fail(`${CHECKPOINT_FILES.model} is from step ${model.metadata.step} but ${CHECKPOINT_FILES.trainer} says step ${trainer.step}: files of different checkpoints mixed`);
  }
  const params = opts.model.namedParameters();
  const problems: string[] = [];
  const wanted = new Set(params.map(([n]) => n));
  for (const [name, p] of params) {
    const t = model.tensors[name];
    if (!t) {
      problems.push(`'${name}' missing from the checkpoint`);
      continue;
    }
    const dtype = p.dtype === "f16" ? "F16" : "F32";
    const same = t.shape.length === p.shape.length && t.shape.every((d, k) => d === p.shape[k]);
    if (!same) problems.push(`'${name}' has shape [${t.shape.join(",")}] in the checkpoint, the model's is [${p.shape.join(",")}]`);
    else if (t.dtype !== dtype) problems.push(`'${name}' is ${t.dtype} in the checkpoint, the model's parameter is ${p.dtype}`);
  }
  for (const name of model.names) if (!wanted.has(name)) problems.push(`'${name}' in the checkpoint is not a parameter of the model`);
  if (problems.length) {
    const shown = problems.slice(0, 8).join("; ") + (problems.length > 8 ? `; and ${problems.length - 8} more` : "");
    fail(`${CHECKPOINT_FILES.model} does not match the model: ${shown}`);
  }

  // optimizer.safetensors: decoded and checked here; the optimizer's own checks run in loadStateDict.
  let sd: OptimizerStateDict | undefined;
  if (opts.optimizer) {
    if (!trainer.files[CHECKPOINT_FILES.optimizer]) fail(`the checkpoint was saved without optimizer state; load it without an optimizer`);
    const file = await readChecked(target, CHECKPOINT_FILES.optimizer, trainer.files, fail);
    sd = decodeOptimizerState(file, `${where}: ${CHECKPOINT_FILES.optimizer}`);
    if (file.metadata.step !== undefined && file.metadata.step !== String(trainer.step)) {
      fail(`${CHECKPOINT_FILES.optimizer} is from step ${file.metadata.step} but ${CHECKPOINT_FILES.trainer} says step ${trainer.step}: files of different checkpoints mixed`);
    }
  }

  // Commit. loadStateDict is the last check that can refuse (and refuses with nothing changed), so it runs
  // before the parameters are written; the parameter writes themselves cannot fail after the checks above.
  if (opts.optimizer && sd) {
    try {
      await opts.optimizer.loadStateDict(sd);
    } catch (error) {
      fail(`${CHECKPOINT_FILES.optimizer}: ${(error as Error).message}`);
    }
  }
  // Storages are looked up only now: loading the optimizer may have moved parameters into its arenas. A
  // parameter an optimizer holds in 16 bits (paramDtype) is a lazy decoding of its storage: realizing it would
  // copy it, and the upload would miss what the optimizer steps (a resumed bf16 run restarted from the initial
  // weights). It gets new data instead, which its owner takes in at its next step (rounded to nearest: the saved
  // values are 16-bit values already, so exactly; a compensation buffer the optimizer state just loaded is kept).
  const held = params.filter(([, p]) => p.owner && p.data.node.op !== "buffer");
  for (const [name, p] of held) p.data = await tensor(model.tensors[name].data as Float32Array, [...p.shape]);
  const plain = params.filter((x) => !held.includes(x));
  await realize(plain.map(([, p]) => p.data));
  for (const [name, p] of plain) await upload(storageOf(p.data), model.tensors[name].data as Float32Array | Uint16Array);

  return { step: trainer.step, config: trainer.config, rng: trainer.rng, tokenizer: saved };
}

/**
 * The step, config, RNG state and tokenizer of the checkpoint in `dir`, read from trainer.json alone (no
 * tensors): what a caller needs to build the model before loading it (e.g. `npm run sample`).
 */
export async function readCheckpointInfo(dir: string): Promise<CheckpointInfo> {
  const fail = (message: string): never => {
    throw new CheckpointError(`readCheckpointInfo(${dir}): ${message}`);
  };
  const trainer = await readTrainer(resolve(dir), fail);
  return { step: trainer.step, config: trainer.config, rng: trainer.rng, tokenizer: trainer.tokenizer ?? null };
}

/** trainer.json of the checkpoint in `target` (an interrupted save recovered first), validated. */
async function readTrainer(target: string, fail: (m: string) => never): Promise<z.infer<typeof trainerSchema>> {
  await recoverInterruptedSave(target);
  if (!existsSync(target)) fail("no checkpoint directory there");
  const trainerText = await readText(join(target, CHECKPOINT_FILES.trainer), fail);
  let trainerJson: unknown;
  try {
    trainerJson = JSON.parse(trainerText);
  } catch (error) {
    fail(`${CHECKPOINT_FILES.trainer} is not valid JSON (${(error as Error).message})`);
  }
  const parsed = trainerSchema.safeParse(trainerJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`${CHECKPOINT_FILES.trainer}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data!;
}

const fileRecord = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const tokenizerSchema = z.object({ name: z.string().min(1), vocabSize: z.number().int().positive() }).strict();
const trainerSchema = z.object({
  format: z.literal("octet"),
  version: z.literal(CHECKPOINT_VERSION),
  step: z.number().int().nonnegative(),
  config: z.record(z.string(), z.unknown()),
  rng: z.record(z.string(), z.unknown()).nullable(),
  // Absent in checkpoints written before tokenizers were recorded.
  tokenizer: tokenizerSchema.nullable().optional(),
  files: z.record(z.string(), fileRecord),
});

async function readText(path: string, fail: (m: string) => never): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    return fail(`cannot read ${basename(path)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Read a safetensors file of the checkpoint, check its size and sha256 against trainer.json, decode it. */
async function readChecked(
  dir: string,
  name: string,
  files: Record<string, z.infer<typeof fileRecord>>,
  fail: (m: string) => never,
): Promise<Safetensors> {
  const expected = files[name];
  if (!expected) fail(`${CHECKPOINT_FILES.trainer} does not list ${name}`);
  let buffer: Buffer;
  try {
    buffer = await readFile(join(dir, name));
  } catch (error) {
    return fail(`cannot read ${name} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const got = digest(bytes);
  if (got.bytes !== expected.bytes || got.sha256 !== expected.sha256) {
    fail(`${name} is corrupt or from another checkpoint: ${got.bytes} bytes, sha256 ${got.sha256.slice(0, 12)}…; ${CHECKPOINT_FILES.trainer} recorded ${expected.bytes} bytes, sha256 ${expected.sha256.slice(0, 12)}…`);
  }
  try {
    return decodeSafetensors(bytes);
  } catch (error) {
    return fail(`${name}: ${(error as Error).message}`);
  }
}

function parseMeta<T>(meta: Record<string, string>, key: string, schema: z.ZodType<T>, fail: (m: string) => never): T {
  if (meta[key] === undefined) fail(`__metadata__ has no '${key}'`);
  let value: unknown;
  try {
    value = JSON.parse(meta[key]);
  } catch (error) {
    fail(`__metadata__.${key} is not valid JSON (${(error as Error).message})`);
  }
  const r = schema.safeParse(value);
  if (!r.success) fail(`__metadata__.${key}: ${r.error.issues[0].path.join(".") || "(root)"}: ${r.error.issues[0].message}`);
  return r.data as T;
}

// --- helpers ------------------------------------------------------------------------------------------------

function digest(bytes: Uint8Array): { bytes: number; sha256: string } {
  return { bytes: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * `value` checked to survive JSON exactly: numbers finite, only plain objects, arrays, strings, booleans and
 * null (undefined object fields are dropped, as JSON.stringify does). A failure names the path.
 */
function plainJson(value: unknown, path: string, fail: (m: string) => never): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : fail(`${path} is ${value}, which JSON cannot hold`);
  if (Array.isArray(value)) return value.map((v, i) => plainJson(v, `${path}[${i}]`, fail));
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) fail(`${path} is a ${proto?.constructor?.name ?? "non-plain object"}; only plain objects are saved`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plainJson(v, `${path}.${k}`, fail);
    return out;
  }
  return fail(`${path} is a ${typeof value}, which JSON cannot hold`);
}

/** Hidden siblings of `target` left by saves: `.<name>.tmp-<pid>-<hex>` (being written) and `.old-` (set aside). */
async function siblings(target: string): Promise<{ path: string; kind: "tmp" | "old"; pid: number }[]> {
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch {
    return [];
  }
  const out: { path: string; kind: "tmp" | "old"; pid: number }[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(tmp|old)-(\d+)-[0-9a-f]+$/.exec(n.slice(prefix.length));
    if (m) out.push({ path: join(dirname(target), n), kind: m[1] as "tmp" | "old", pid: Number(m[2]) });
  }
  return out;
}

/** A save that crashed between its two renames left `dir` absent and the previous checkpoint aside: restore it. */
async function recoverInterruptedSave(target: string): Promise<void> {
  if (existsSync(target)) return;
  const old = (await siblings(target)).filter((s) => s.kind === "old" && !alive(s.pid));
  if (old.length === 1) await rename(old[0].path, target);
}

/** Temp directories of saves whose process is gone (crashed mid-write), and set-aside copies of finished swaps. */
async function removeStale(target: string): Promise<void> {
  for (const s of await siblings(target)) {
    if (!alive(s.pid) && (s.kind === "tmp" || existsSync(target))) await rm(s.path, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** fsync a directory so renames in it are durable (best effort, as in atomic.ts). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  await handle?.sync().catch(() => {});
  await handle?.close().catch(() => {});
}
