// `bun run train`: the main job. Until the GPT of the training issue lands, it trains a character bigram
// language model (logits = W[previous char], W a [V, V] parameter) on the State of the Union corpus with any
// optimizer, e.g. AdamW8bit vs AdamW 32-bit. Forward, loss and gradient are one fused DSL kernel each step:
//   grad W[v] = (rows_v * softmax(W[v]) - counts[v]) / N,   loss = sum_v rows_v * logsumexp(W[v]) - counts[v] . W[v]
import { parseArgs } from "node:util";
import { z } from "zod";
import * as octet from "../index.ts";
import { loadSotuCorpus } from "../data/corpus.ts";
import { sampleBatch } from "../data/batches.ts";
import { optimizerByName } from "../optim/names.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: { optim: { type: "string" }, steps: { type: "string" }, lr: { type: "string" }, batch: { type: "string" }, seq: { type: "string" }, seed: { type: "string" } },
});
const Flags = z.object({
  optim: z.string().default("adamw_8bit"),
  steps: z.coerce.number().int().positive().default(300),
  lr: z.coerce.number().positive().default(0.05),
  batch: z.coerce.number().int().positive().default(32),
  seq: z.coerce.number().int().positive().default(128),
  seed: z.coerce.number().int().nonnegative().default(0),
});
const parsed = Flags.safeParse(values);
if (!parsed.success) {
  console.error(parsed.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("\n"));
  process.exit(2);
}
const flags = parsed.data;
const Optim = (() => {
  try {
    return optimizerByName(flags.optim);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
})();

const corpus = loadSotuCorpus();
const V = corpus.tokenizer.vocabSize;
function counts(inputs: ArrayLike<number>, targets: ArrayLike<number>): { c: Float32Array; rows: Float32Array } {
  const c = new Float32Array(V * V);
  const rows = new Float32Array(V);
  for (let i = 0; i < inputs.length; i++) {
    c[inputs[i] * V + targets[i]]++;
    rows[inputs[i]]++;
  }
  return { c, rows };
}

class Bigram extends octet.nn.Module {
  constructor(readonly weight: octet.nn.Parameter) {
    super();
  }
}
const model = new Bigram(new octet.nn.Parameter(await octet.tensor(new Float32Array(V * V), [V, V])));
const opt = new Optim(model.parameters(), { lr: flags.lr });

/** Mean loss and gradient of the bigram model for a count matrix. */
function lossAndGrad(W: octet.Tensor, c: octet.Tensor, rows: octet.Tensor, n: number) {
  const m = W.max();
  const z = W.sub(m).exp();
  const s = z.sum();
  const lse = m.add(s.log());
  const grad = z.div(s).mul(rows).sub(c).div(n);
  const lossRows = rows.mul(lse).sub(c.mul(W).sum());
  return { grad, lossRows };
}

const val = counts(corpus.val.subarray(0, -1), corpus.val.subarray(1));
const valC = await octet.tensor(val.c, [V, V]);
const valRows = await octet.tensor(val.rows, [V, 1]);
const valN = corpus.val.length - 1;
async function evalLoss(): Promise<number> {
  const { lossRows } = lossAndGrad(model.weight.data, valC, valRows, valN);
  const r = await lossRows.toArray();
  let t = 0;
  for (let i = 0; i < r.length; i++) t += r[i];
  return t / valN;
}

console.log(`octet train: bigram LM on ${corpus.trainDocs.length} SOTU addresses (${corpus.train.length} chars), vocab ${V}, ${flags.optim} (${Optim.name}), lr ${flags.lr}, ${flags.steps} steps of ${flags.batch}x${flags.seq}`);
console.log(`step 0: val loss ${(await evalLoss()).toFixed(4)} (uniform = ${Math.log(V).toFixed(4)})`);
const t0 = performance.now();
let lastLoss = NaN;
for (let step = 1; step <= flags.steps; step++) {
  const b = sampleBatch(corpus.train, step, { batchSize: flags.batch, seqLen: flags.seq, seed: flags.seed });
  const { c, rows } = counts(b.inputs, b.targets);
  const n = b.inputs.length;
  const { grad, lossRows } = lossAndGrad(model.weight.data, await octet.tensor(c, [V, V]), await octet.tensor(rows, [V, 1]), n);
  model.weight.grad = grad;
  const logNow = step % Math.max(1, Math.floor(flags.steps / 10)) === 0 || step === flags.steps;
  if (logNow) {
    const r = await lossRows.toArray();
    lastLoss = 0;
    for (let i = 0; i < r.length; i++) lastLoss += r[i] / n;
  }
  await opt.step();
  opt.zeroGrad();
  if (logNow) {
    const sec = (performance.now() - t0) / 1000;
    console.log(`step ${step}/${flags.steps}: train loss ${lastLoss.toFixed(4)}, ${((step * n) / sec).toFixed(0)} tokens/s, ${(sec / step * (flags.steps - step)).toFixed(0)} s left`);
  }
}
console.log(`final val loss ${(await evalLoss()).toFixed(4)} after ${((performance.now() - t0) / 1000).toFixed(1)} s; optimizer kernels: ${opt.kernels().map((k) => k.name).join(", ")}`);
process.exit(0);
