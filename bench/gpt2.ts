// `bun run bench gpt2`: GPT-2's 124M shape on this machine (issue #8's benchmark):
//   - seconds per training step (AdamW8bit, batch 1) at seq 256 and 1024 (a length that does not fit is
//     reported with its error, not dropped); the first step, which compiles every kernel, is shown apart;
//   - peak GPU bytes over those steps (memoryStats().peak.total: parameters, gradients, optimizer state,
//     activations and temporaries);
//   - optimizer-state bytes (opt.stateBytes()) of AdamW8bit (bnb's recipe: 32-bit state for the embedding
//     table) against AdamW 32-bit, for the whole model and for the non-embedding weights alone (target <= 0.26x);
//   - generation ms per token (the KV-cached decoding step, first token's compiles excluded);
//   - the default GPT's tokens/s with the step before and after issue #8's items 2-4 (one-hot embedding
//     backward, unfused cross-entropy and matmul attention vs scatter-add, fused cross-entropy and fused
//     attention), in interleaved rounds.
import * as octet from "../src/index.ts";
import { backward } from "../src/autograd/var.ts";
import { withImplementations, type Implementations } from "../src/nn/functional.ts";
import { sampleBatch } from "../src/data/batches.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { loadTokenizer } from "../src/data/tokenizer.ts";
import { Decoder } from "../src/nn/generate.ts";
import type { GPT } from "../src/nn/gpt.ts";
import type { Parameter } from "../src/nn/parameter.ts";
import { optimizerByName } from "../src/optim/names.ts";
import type { Optimizer } from "../src/optim/optimizer.ts";
import { TrainConfig, type ArchName } from "../src/train/config.ts";
import { StepBuffers, buildModel, trainStep } from "../src/train/trainer.ts";
import { benchArgs, environment, formatBytes, formatEnvironment, formatTable, positive, settleCollection, summarize, type Stats } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

const USAGE = `bun run bench gpt2 [--arch gpt2-small|gpt2-mini|default] [--seqs 256,1024] [--steps N] [--gen-tokens N]
  [--rounds N] [--parts train,state,generate,default] [--json] [--out FILE]
  --steps       timed training steps per sequence length after the first (default 2)
  --gen-tokens  tokens generated for the ms/token figure (default 16)
  --rounds      interleaved rounds of the default GPT's before/after step (default 8)`;

const PARTS = ["train", "state", "generate", "default"] as const;
type Part = (typeof PARTS)[number];

const paramCount = (ps: Parameter[]) => ps.reduce((a, p) => a + p.numel, 0);

/** The embedding tables (token and position): bnb's recipe keeps 32-bit state for them. */
function embeddingParams(model: GPT): Set<Parameter> {
  return new Set([model.tokens.weight, model.positions]);
}

/** One optimizer step over `params` with zero gradients (their arena slots), to count the state it allocates. */
async function stateBytesOf(name: "AdamW8bit" | "AdamW32bit", params: Parameter[]): Promise<number> {
  // (The manager keeps the model's Embedding overrides: 32-bit state for the token table under AdamW8bit.)
  const opt = new octet.optim[name](params, { lr: 1e-4 }) as Optimizer;
  for (const p of params) p.grad = await opt.gradientSlot(p);
  await opt.step();
  const bytes = opt.stateBytes();
  opt.zeroGrad();
  opt.release();
  await settleCollection();
  return bytes;
}

interface TrainRow {
  seq: number;
  params: number;
  firstStepS?: number;
  msPerStep?: Stats;
  tokensPerSec?: number;
  peakGpuBytes?: number;
  stateBytes?: number;
  error?: string;
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    arch: flag.string("model shape: gpt2-small, gpt2-mini or default", { placeholder: "NAME", defaultText: "gpt2-small" }),
    seqs: flag.string("sequence lengths to train at", { placeholder: "LIST", defaultText: "256,1024" }),
    steps: flag.string("timed training steps per sequence length after the first", { placeholder: "N", defaultText: "2" }),
    "gen-tokens": flag.string("tokens generated for the ms/token figure", { placeholder: "N", defaultText: "16" }),
    rounds: flag.string("interleaved rounds of the default GPT's before/after step", { placeholder: "N", defaultText: "8" }),
    parts: flag.string(`which parts to run (${PARTS.join(", ")})`, { placeholder: "LIST", defaultText: "all" }),
  }, USAGE, ["json", "out"]);
  const arch = (v.arch as ArchName | undefined) ?? "gpt2-small";
  const seqs = String(v.seqs ?? "256,1024").split(",").map((s) => positive("seqs", s, 256));
  const steps = positive("steps", v.steps, 2);
  const genTokens = positive("gen-tokens", v["gen-tokens"], 16);
  const rounds = positive("rounds", v.rounds, 8);
  const parts = new Set(String(v.parts ?? PARTS.join(",")).split(",") as Part[]);
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`bench gpt2: unknown part "${p}"; valid: ${PARTS.join(", ")}`);

  const dev = await octet.device();
  const env = await environment();
  const result: Record<string, unknown> = { bench: "gpt2", env, arch };
  const log = (s: string) => !v.json && console.error(s);

  // --- the 124M shape: training steps, peak memory, state bytes, generation --------------------------------
  const gpt2 = await loadTokenizer("gpt2");
  const needsBig = parts.has("train") || parts.has("state") || parts.has("generate");
  const corpus = needsBig ? loadSotuCorpus({ tokenizer: gpt2 }) : undefined;
  const trainRows: TrainRow[] = [];
  let kept: GPT | undefined;
  for (const T of needsBig ? seqs : []) {
    // One model serves every length: the default arch's context (otherwise --seq) is the longest one.
    const context = arch === "default" ? Math.max(...seqs) : undefined;
    const cfg = TrainConfig.parse({ optim: "adamw_bnb_8bit", arch, seq: T, batch: 1, tokenizer: "gpt2", context });
    const row: TrainRow = { seq: T, params: 0 };
    trainRows.push(row);
    await settleCollection();
    if (!kept) octet.optim.GlobalOptimManager.getInstance().initialize();
    const model = kept ?? buildModel(cfg, gpt2.vocabSize);
    row.params = paramCount(model.parameters());
    if (!parts.has("train")) {
      kept = model;
      break;
    }
    log(`train: ${arch} (${(row.params / 1e6).toFixed(1)}M parameters), batch 1, seq ${T}`);
    const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr }) as Optimizer;
    try {
      const buffers = await StepBuffers.create(1, T);
      octet.resetPeakMemoryStats();
      const times: number[] = [];
      for (let s = 1; s <= steps + 1; s++) {
        await buffers.load(sampleBatch(corpus!.train, s, { batchSize: 1, seqLen: T, seed: 0 }));
        const t0 = performance.now();
        await (await trainStep(model, opt, buffers)).toArray();
        await dev.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        log(`  step ${s}: ${(ms / 1000).toFixed(1)} s${s === 1 ? " (compiles every kernel)" : ""}`);
        if (s === 1) row.firstStepS = +(ms / 1000).toFixed(2);
        else times.push(ms);
      }
      const st = summarize(times);
      row.msPerStep = st;
      row.tokensPerSec = +((T / st.medianMs) * 1000).toFixed(1);
      row.peakGpuBytes = octet.memoryStats().peak.total;
      row.stateBytes = opt.stateBytes();
    } catch (e) {
      row.error = (e as Error).message.split("\n")[0];
      log(`  seq ${T} did not run: ${row.error}`);
    }
    opt.zeroGrad();
    opt.release();
    kept ??= model; // the first length's model serves the state and generation parts
  }
  result.train = trainRows;

  if (kept && parts.has("state")) {
    log("state: AdamW8bit vs AdamW 32-bit (one step with zero gradients each)");
    const all = kept.parameters();
    const emb = embeddingParams(kept);
    const rest = all.filter((p) => !emb.has(p));
    const s8 = await stateBytesOf("AdamW8bit", all), s32 = await stateBytesOf("AdamW32bit", all);
    const r8 = await stateBytesOf("AdamW8bit", rest), r32 = await stateBytesOf("AdamW32bit", rest);
    result.state = {
      params: paramCount(all),
      nonEmbeddingParams: paramCount(rest),
      adamw8bit: s8,
      adamw32bit: s32,
      ratio: +(s8 / s32).toFixed(4),
      nonEmbedding: { adamw8bit: r8, adamw32bit: r32, ratio: +(r8 / r32).toFixed(4), target: 0.26 },
    };
  }

  if (kept && parts.has("generate")) {
    log(`generate: ${genTokens} tokens after <|endoftext|>`);
    const dec = await Decoder.create(kept);
    const c0 = octet.compileStats().compiles;
    let logits = (await dec.step(50256))!;
    const firstCompiles = octet.compileStats().compiles - c0;
    const times: number[] = [];
    for (let i = 0; i < genTokens; i++) {
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
      const t0 = performance.now();
      logits = (await dec.step(best))!;
      times.push(performance.now() - t0);
    }
    dec.dispose();
    const st = summarize(times);
    result.generate = { tokens: genTokens, msPerToken: st, compilesFirstToken: firstCompiles, compilesAfter: octet.compileStats().compiles - c0 - firstCompiles };
  }
  kept = undefined;

  // --- the default GPT, before and after items 2-4 -----------------------------------------------------------
  if (parts.has("default")) {
    await settleCollection();
    const cfg = TrainConfig.parse({ optim: "adamw_8bit" });
    const chars = loadSotuCorpus();
    const variants = ["before", "after"] as const;
    // Before items 2-4: the one-hot embedding backward, the unfused cross-entropy, attention as matmuls.
    const impls: Partial<Implementations>[] = [{ embeddingBackward: "onehot", crossEntropy: "unfused", attention: "matmul" }, {}];
    const made = variants.map(() => {
      octet.optim.GlobalOptimManager.getInstance().initialize();
      const model = buildModel(cfg, chars.tokenizer.vocabSize);
      return { model, opt: new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr }) as Optimizer };
    });
    const buffers = await StepBuffers.create(cfg.batch, cfg.seq);
    const stepOf = (i: number) => async (s: number) => {
      await buffers.load(sampleBatch(chars.train, s, { batchSize: cfg.batch, seqLen: cfg.seq, seed: 0 }));
      // trainer.trainStep with the loss built under the variant's implementations (each op keeps the one it was
      // built with, backward included).
      const { model, opt } = made[i]!;
      const loss = withImplementations(impls[i]!, () => model.loss(buffers.inputs, buffers.targets, buffers.B, buffers.T));
      backward(loss);
      await opt.step({ with: [loss.value], withInto: [buffers.loss] });
      opt.zeroGrad();
      await buffers.loss.toArray();
    };
    log(`default GPT: ${rounds} interleaved rounds of before/after`);
    let s = 1;
    for (const i of [0, 1]) await stepOf(i)(s++); // compiles
    const times: number[][] = [[], []];
    for (let r = 0; r < rounds; r++)
      for (const i of [0, 1]) {
        const t0 = performance.now();
        await stepOf(i)(s++);
        await dev.queue.onSubmittedWorkDone();
        times[i]!.push(performance.now() - t0);
      }
    const tok = cfg.batch * cfg.seq;
    result.default = Object.fromEntries(variants.map((name, i) => {
      const st = summarize(times[i]!);
      return [name, { implementations: impls[i], msPerStep: st, tokensPerSec: +((tok / st.medianMs) * 1000).toFixed(0) }];
    }));
  }

  if (v.out) await Bun.write(v.out, JSON.stringify(result, null, 2) + "\n");
  if (v.json) return void console.log(JSON.stringify(result));
  console.log(formatEnvironment(env));
  const rows: { what: string; value: string }[] = [];
  for (const r of trainRows) {
    if (r.error) rows.push({ what: `train seq ${r.seq}`, value: `did not run: ${r.error}` });
    else if (r.msPerStep)
      rows.push(
        { what: `train seq ${r.seq}: s/step (median of ${r.msPerStep.runs})`, value: `${(r.msPerStep.medianMs / 1000).toFixed(2)} (first step ${r.firstStepS} s, ${r.tokensPerSec} tok/s)` },
        { what: `train seq ${r.seq}: peak GPU bytes`, value: formatBytes(r.peakGpuBytes!) },
      );
  }
  const state = result.state as { adamw8bit: number; adamw32bit: number; ratio: number; nonEmbedding: { adamw8bit: number; adamw32bit: number; ratio: number } } | undefined;
  if (state) {
    rows.push({ what: "optimizer state, whole model: AdamW8bit / AdamW 32-bit", value: `${formatBytes(state.adamw8bit)} / ${formatBytes(state.adamw32bit)} = ${state.ratio}x` });
    rows.push({ what: "optimizer state, non-embedding weights (target <= 0.26x)", value: `${formatBytes(state.nonEmbedding.adamw8bit)} / ${formatBytes(state.nonEmbedding.adamw32bit)} = ${state.nonEmbedding.ratio}x` });
  }
  const gen = result.generate as { msPerToken: Stats; compilesFirstToken: number; compilesAfter: number } | undefined;
  if (gen) rows.push({ what: `generation ms/token (median of ${gen.msPerToken.runs})`, value: `${gen.msPerToken.medianMs.toFixed(0)} (kernels compiled: ${gen.compilesFirstToken} at the first token, ${gen.compilesAfter} after)` });
  const def = result.default as Record<string, { tokensPerSec: number; msPerStep: Stats }> | undefined;
  if (def) for (const [k, d] of Object.entries(def)) rows.push({ what: `default GPT ${k} items 2-4: tokens/s`, value: `${d.tokensPerSec} (${d.msPerStep.medianMs.toFixed(0)} ms/step, spread ${d.msPerStep.spread.toFixed(2)})` });
  console.log(`== bench gpt2 (${arch})`);
  console.log(formatTable(rows, [
    { label: "what", value: (r) => r.what },
    { label: "value", value: (r) => r.value },
  ]));
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main(process.argv.slice(2));
