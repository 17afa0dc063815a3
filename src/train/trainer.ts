// The training loop shared by `bun run train` and `bun run compare`: a small GPT on the State of the Union
// corpus, deterministic for a seed (batches are a pure function of (seed, step); every kernel is
// deterministic), with held-out evaluation, atomic checkpoints and bit-identical resume.
import * as octet from "../index.ts";
import { backward } from "../autograd/var.ts";
import { evalBatches, sampleBatch } from "../data/batches.ts";
import { loadSotuCorpus, type Corpus } from "../data/corpus.ts";
import { loadTokenizer, tokenizerChoice, tokenizerRecord, type Tokenizer } from "../data/tokenizer.ts";
import { checkpointIn, loadCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { readPretrainedConfig } from "../io/hf.ts";
import { makeOptimizer, type TrainOptimizer } from "./optimizer.ts";
import { upload } from "../runtime/storage.ts";
import { storageOf } from "../runtime/realize.ts";
import { ARCHS, TrainConfig, type ArchPreset, type TrainConfigInput } from "./config.ts";
import { checkVocabulary, prepareFineTune, pretrainedInput } from "./finetune.ts";
import { exportProblem } from "../nn/pretrained.ts";

export interface StepRecord {
  step: number;
  trainLoss: number;
  evalLoss?: number;
}

export interface TrainResult {
  config: TrainConfig;
  history: StepRecord[];
  finalEval: number;
  msPerStep: number;
  tokensPerSec: number;
  /** The optimizer state's GPU bytes as the allocator counts them (opt.stateBytes()). */
  optimizerStateBytes: number;
  /** The state's bytes as a checkpoint holds them: codes + absmax + 32-bit fallbacks (opt.logicalStateBytes()). */
  optimizerLogicalBytes: number;
  parameterCount: number;
  /** The tokenizer's vocabulary (a uniform guess's loss is ln of it). */
  vocabSize: number;
  resumedFrom: number;
}

export interface TrainHooks {
  log?: (line: string) => void;
  onStep?: (r: StepRecord, cfg: TrainConfig, elapsedMs: number) => void;
  /** Stop after this step (to test resume); the checkpoint is still written. */
  stopAfter?: number;
  /** Train on this corpus instead of the State of the Union; its tokenizer must be the config's. */
  corpus?: Corpus;
  /** Runs after the last step with the trained model (e.g. to print a sample), before the result returns. */
  onFinish?: (model: octet.nn.GPT, tokenizer: Tokenizer, optimizer: TrainOptimizer) => Promise<void>;
  /** Warnings (a fine-tuning choice that hurts); default console.warn. */
  warn?: (line: string) => void;
}

// Tokenized corpora by tokenizer: BPE over the 10.8 MB corpus takes ~2 s, so `compare`'s runs share one.
const cachedCorpora = new Map<string, Corpus>();
async function corpusFor(choice: string): Promise<Corpus> {
  let c = cachedCorpora.get(choice);
  if (!c) cachedCorpora.set(choice, (c = loadSotuCorpus({ tokenizer: await loadTokenizer(choice) })));
  return c;
}

/**
 * A step's buffers, reused every step: the batch's token ids and targets (uploaded into), and the loss
 * (written by the step), so a steady-state step creates no GPU buffers or bind groups.
 */
export class StepBuffers {
  private constructor(readonly inputs: octet.Tensor, readonly targets: octet.Tensor, readonly loss: octet.Tensor, readonly B: number, readonly T: number) {}
  static async create(B: number, T: number): Promise<StepBuffers> {
    // Token ids are u32 end to end (a 50257-id vocabulary and beyond).
    return new StepBuffers(await octet.zeros([B, T], { dtype: "u32" }), await octet.zeros([B * T], { dtype: "u32" }), await octet.zeros([1]), B, T);
  }
  async load(b: { inputs: ArrayLike<number>; targets: ArrayLike<number> }): Promise<void> {
    // In place: the upload bumps the buffers' version, so a lazy graph built over the last batch is refused.
    await upload(storageOf(this.inputs), b.inputs);
    await upload(storageOf(this.targets), b.targets);
  }
}

/**
 * One training step: forward, backward, and the update, with the loss realized in the same program as the
 * gradients (so the forward runs once) from the weights before the update. Returns that loss, realized in
 * `buffers.loss` (the next step overwrites it: read it first).
 */
export async function trainStep(model: octet.nn.GPT, opt: TrainOptimizer, buffers: StepBuffers): Promise<octet.Tensor> {
  const loss = model.loss(buffers.inputs, buffers.targets, buffers.B, buffers.T);
  backward(loss);
  await opt.step({ with: [loss.value], withInto: [buffers.loss] });
  opt.zeroGrad();
  return loss.value;
}

export function buildModel(cfg: TrainConfig, vocab: number): octet.nn.GPT {
  const tieWordEmbeddings = (ARCHS[cfg.arch] as ArchPreset).tieWordEmbeddings ?? false;
  return new octet.nn.GPT({ vocabSize: vocab, contextLength: cfg.context, layers: cfg.layers, heads: cfg.heads, width: cfg.width, embedding: cfg.embedding, seed: cfg.seed, tieWordEmbeddings });
}

/** What a checkpoint from before a key existed was trained with (the only arch, tokenizer and context then). */
const LEGACY: Partial<Record<keyof TrainConfig, (saved: Partial<TrainConfig>) => unknown>> = {
  arch: () => "default",
  tokenizer: () => "char",
  context: (saved) => saved.seq,
  paramDtype: () => "f32",
  stochasticRound: () => false,
  gradDtype: () => "f32", // gradients were f32 before the option
  compensation: () => "none",
};

/** The keys a resumed run must share with its checkpoint: the model's shape, its data and its optimizer. */
const RESUME_KEYS = ["init", "optim", "embedding", "arch", "tokenizer", "layers", "heads", "width", "context", "seq", "batch", "seed", "stateFormat", "paramDtype", "stochasticRound", "gradDtype", "compensation"] as const;

/**
 * Whether this run continues the checkpoint in `cfg.out`, decided before anything is built or written: an
 * explicit resume that has nothing to resume from is an error naming the directory, never a fresh run.
 */
async function shouldResume(cfg: TrainConfig): Promise<boolean> {
  if (cfg.resume && !cfg.out) throw new Error("--resume needs --out DIR (the directory holding the checkpoint)");
  if (!cfg.out) return false;
  const found = await checkpointIn(cfg.out);
  if (cfg.resume === true && found === "no-directory") throw new Error(`--resume: ${cfg.out} does not exist (no such directory), so there is no checkpoint to resume`);
  if (cfg.resume === true && found === "empty") throw new Error(`--resume: ${cfg.out} holds no checkpoint (none of model.safetensors, optimizer.safetensors, trainer.json)`);
  if (cfg.resume === false && found === "checkpoint") throw new Error(`${cfg.out} already holds a checkpoint; pass --resume to continue it or choose another --out`);
  return found === "checkpoint";
}

/** A config's problems, one line each, naming the flag: "--eval-every: Too small: expected number to be >0". */
export function configIssues(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const flagOf = (key: PropertyKey) => `--${String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return error.issues.map((i) => (i.path.length ? `${flagOf(i.path[0])}: ${i.message}` : i.message)).join("\n");
}

/**
 * The run in one line, as `train` prints it first:
 *   adamw_8bit (AdamW8bit, dynamic8 state), embedding stable, --arch default: 2 layers x 4 heads x width 64, 64
 *   positions, tokenizer char96 (96 ids), 116,608 parameters; batch 16 x seq 64, steps 300, lr 0.003, seed 0
 */
export function configSummary(cfg: TrainConfig, m: { parameterCount: number; tokenizer: string; vocab: number; optimizer: string }): string {
  const state = cfg.optim.includes("8bit") ? `, ${cfg.stateFormat} state` : "";
  const shape = cfg.init ? `--init ${cfg.init}` : `--arch ${cfg.arch}`;
  return `config: ${cfg.optim} (${m.optimizer}${state}), embedding ${cfg.embedding}, ${shape}: ${cfg.layers} layers x ${cfg.heads} heads x width ${cfg.width}, ` +
    `${cfg.context} positions, tokenizer ${m.tokenizer} (${m.vocab} ids), ${m.parameterCount.toLocaleString("en-US")} parameters; ` +
    `batch ${cfg.batch} x seq ${cfg.seq}, steps ${cfg.steps}, lr ${cfg.lr}, seed ${cfg.seed}` + (cfg.out ? `; checkpoints to ${cfg.out}/` : "; no checkpoint (no --out)");
}

export async function runTraining(input: Partial<TrainConfigInput> & { optim: string }, hooks: TrainHooks = {}): Promise<TrainResult> {
  // --init: the shape, embedding and tokenizer defaults come from the pretrained folder (src/train/finetune.ts).
  const parsed = TrainConfig.safeParse(input.init ? await pretrainedInput({ ...input, init: input.init }) : input);
  if (!parsed.success) throw new Error(configIssues(parsed.error));
  const cfg = parsed.data;
  const log = hooks.log ?? (() => {});
  const resuming = await shouldResume(cfg);
  await octet.device();
  const corpus = hooks.corpus ?? (await corpusFor(cfg.tokenizer));
  if (tokenizerChoice(corpus.tokenizer) !== cfg.tokenizer)
    throw new Error(`--tokenizer ${cfg.tokenizer}: the corpus given was tokenized with ${corpus.tokenizer.name}`);
  const V = corpus.tokenizer.vocabSize;
  const tokenizer = tokenizerRecord(corpus.tokenizer);
  octet.optim.GlobalOptimManager.getInstance().initialize();
  let model: octet.nn.GPT;
  if (cfg.init) {
    checkVocabulary({ vocabSize: (await readPretrainedConfig(cfg.init)).vocabSize }, cfg.init, corpus.tokenizer);
    model = await octet.nn.GPT.fromPretrained(cfg.init);
    prepareFineTune(model, cfg.embedding, cfg.init, hooks.warn ?? ((l) => console.warn(l)));
    const dropout = ["embd_pdrop", "attn_pdrop", "resid_pdrop"].filter((k) => Number(model.pretrained?.config[k] ?? 0) > 0);
    if (dropout.length) log(`note: octet trains without dropout; ${cfg.init}/config.json's ${dropout.join(", ")} are kept for --save-pretrained but not applied`);
  } else model = buildModel(cfg, V);
  // Refused before training, not after it: a model with no GPT-2 equivalent cannot be written as one.
  const unexportable = cfg.savePretrained ? exportProblem(model) : undefined;
  if (unexportable) throw new Error(`--save-pretrained ${cfg.savePretrained}: ${unexportable}`);
  const opt = makeOptimizer(cfg, model);
  const B = cfg.batch, T = cfg.seq;
  const parameterCount = model.parameters().reduce((a, p) => a + p.numel, 0);
  log(configSummary(cfg, { parameterCount, tokenizer: corpus.tokenizer.name, vocab: V, optimizer: opt.constructor.name }));

  let start = 1;
  if (resuming) {
    const info = await loadCheckpoint(cfg.out!, { model, optimizer: opt, tokenizer });
    const saved = info.config as Partial<TrainConfig>;
    for (const k of RESUME_KEYS) {
      const was = saved[k] ?? LEGACY[k]?.(saved);
      if (was !== cfg[k]) throw new Error(`--resume: checkpoint in ${cfg.out} was trained with ${k}=${was}, not ${cfg[k]}`);
    }
    start = info.step + 1;
    log(`resumed from ${cfg.out} at step ${info.step}`);
  }

  const evalSet = [...evalBatches(corpus.val, B, T)].slice(0, cfg.evalBatches);
  const evaluate = async (): Promise<number> => {
    let total = 0;
    for (const b of evalSet) {
      const idx = await octet.tensor(b.inputs, [B, T], { dtype: "u32" });
      const tgt = await octet.tensor(b.targets, [B * T], { dtype: "u32" });
      total += (await model.loss(idx, tgt, B, T).value.toArray())[0];
    }
    return total / evalSet.length;
  };

  const batch = await StepBuffers.create(B, T);
  const history: StepRecord[] = [];
  let t0 = performance.now();
  let timedSteps = 0;
  for (let step = start; step <= cfg.steps; step++) {
    await batch.load(sampleBatch(corpus.train, step, { batchSize: B, seqLen: T, seed: cfg.seed }));
    // The loss of the weights this step's gradients come from (before the update), as PyTorch loops log it.
    const rec: StepRecord = { step, trainLoss: (await (await trainStep(model, opt, batch)).toArray())[0] };
    // The first step compiles every kernel: time the steady state from the second step on.
    if (step === start) t0 = performance.now();
    else timedSteps++;
    if (step % cfg.evalEvery === 0 || step === cfg.steps) rec.evalLoss = await evaluate();
    history.push(rec);
    hooks.onStep?.(rec, cfg, performance.now() - t0);
    const stopping = hooks.stopAfter === step;
    if (cfg.out && ((cfg.checkpointEvery && step % cfg.checkpointEvery === 0) || step === cfg.steps || stopping))
      await saveCheckpoint(cfg.out, { model, optimizer: opt, step, config: cfg, tokenizer });
    if (stopping) break;
  }
  const elapsed = performance.now() - t0;
  const finalEval = history.at(-1)?.evalLoss ?? (await evaluate());
  if (cfg.savePretrained) {
    await model.savePretrained(cfg.savePretrained);
    log(`saved the model as a Hugging Face GPT-2 folder in ${cfg.savePretrained}`);
  }
  await hooks.onFinish?.(model, corpus.tokenizer, opt);
  return {
    config: cfg,
    history,
    finalEval,
    msPerStep: elapsed / Math.max(1, timedSteps),
    tokensPerSec: (timedSteps * B * T) / (elapsed / 1000),
    optimizerStateBytes: opt.stateBytes(), // its own count: another run's optimizer may be collected meanwhile
    optimizerLogicalBytes: opt.logicalStateBytes(),
    parameterCount,
    vocabSize: V,
    resumedFrom: start - 1,
  };
}
