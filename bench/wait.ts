// `bun run bench wait`: octet's wait modes (src/runtime/wait.ts) against each other, rounds interleaved in one
// process (each case runs once per mode per round, the mode switched just before it), so the ratio sees the same
// load and drift. The cases are what a user waits for:
//   readback 4 B   a one-element result read back (toArray): the short-wait cost of a mode
//   kernel         an elementwise kernel and its sum over --kernel elements (one fused kernel), the sum read back
//   AdamW / AdamW8bit at each of --params: one optimizer step, fenced (queue drained)
//   train          one step of the default GPT (adamw_8bit, the trainer's step: forward, backward, update, loss read)
// Reports the median and spread per case and mode, and each mode's median over the first mode's (await by
// default): below 1 is faster. On lavapipe under Bun + Dawn the gain is the core that Dawn's busy-polling took.
import * as octet from "../src/index.ts";
import { gpuWait, setWaitMode, waitNaps } from "../src/runtime/device.ts";
import { chooseWaitMode, type WaitMode } from "../src/runtime/wait.ts";
import { sampleBatch } from "../src/data/batches.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { optimizerByName } from "../src/optim/names.ts";
import { TrainConfig } from "../src/train/config.ts";
import { buildModel, StepBuffers, trainStep } from "../src/train/trainer.ts";
import { flag } from "../src/cli/args.ts";
import { benchArgs, environment, formatParams, paramSizes, pinLavapipeThreads, positive, report, repsAndWarmup, settleCollection, timeInterleaved, type Stats } from "./harness.ts";
import { octetCase } from "./optim.ts";

const USAGE = `usage: bun run bench wait [--modes await,nap] [--params 4M,16M] [--kernel 8M] [--cases readback,kernel,optim,train] [--reps N] [--warmup N] [--json]
Times octet's wait modes (src/runtime/wait.ts, OCTET_WAIT) against each other, rounds interleaved in one process:
a 4-byte readback, a kernel, AdamW / AdamW8bit steps, a default-GPT training step; each mode's median over the first's.`;

interface Row {
  what: string;
  mode: WaitMode;
  msPerRun: number;
  stats: Stats;
  /** This mode's median over the first mode's, for the same case. */
  ratio: number;
  /** Tokens per second (the train case). */
  tokensPerSec?: number;
  /** Naps per run (0 in await mode). */
  napsPerRun: number;
}

interface Case {
  what: string;
  run: () => Promise<unknown>;
  tokens?: number;
  free?: () => void;
}

async function readbackCase(): Promise<Case> {
  const x = await octet.tensor([1, 2, 3, 4]);
  // The same graph every run (a changing constant would be a new program): its cached program reruns.
  return { what: "readback 4 B", run: async () => (await x.sum().toArray())[0] };
}

async function kernelCase(n: number): Promise<Case> {
  const x = await octet.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
  return {
    what: `kernel ${formatParams(n)} (exp, mul, add, sum)`,
    run: async () => (await x.exp().mul(1.5).add(0.5).sum().toArray())[0],
    free: () => x.dispose(),
  };
}

async function trainCase(): Promise<Case> {
  const corpus = loadSotuCorpus();
  const cfg = TrainConfig.parse({ optim: "adamw_8bit" });
  const model = buildModel(cfg, corpus.tokenizer.vocabSize);
  const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr });
  const buffers = await StepBuffers.create(cfg.batch, cfg.seq);
  let s = 1;
  return {
    what: `train step, default GPT (${cfg.optim}, batch ${cfg.batch} x ${cfg.seq})`,
    tokens: cfg.batch * cfg.seq,
    run: async () => {
      await buffers.load(sampleBatch(corpus.train, s++, { batchSize: cfg.batch, seqLen: cfg.seq, seed: 0 }));
      await (await trainStep(model, opt, buffers)).toArray();
    },
  };
}

/** Times `cases` under every mode, interleaved: case 1 in each mode, case 2 in each mode, ..., per round. */
async function timeModes(cases: Case[], modes: WaitMode[], reps: number, warmup: number): Promise<Row[]> {
  // Each run ends with the queue drained, waited for in the mode it set (a step's own readback, if any, is
  // already in that mode): the harness's fence then finds nothing left to wait for.
  const dev = await octet.device();
  const naps = cases.flatMap(() => modes.map(() => 0));
  const runs = cases.flatMap((c, ci) => modes.map((m, mi) => async () => {
    setWaitMode(m);
    const n0 = waitNaps();
    await c.run();
    await gpuWait(dev.queue.onSubmittedWorkDone());
    naps[ci * modes.length + mi] += waitNaps() - n0;
  }));
  const stats = await timeInterleaved(runs, { reps, warmup });
  setWaitMode(undefined);
  return cases.flatMap((c, ci) => modes.map((mode, mi) => {
    const i = ci * modes.length + mi;
    const st = stats[i];
    return {
      what: c.what,
      mode,
      msPerRun: st.medianMs,
      stats: st,
      ratio: st.medianMs / stats[ci * modes.length].medianMs,
      tokensPerSec: c.tokens ? Math.round(c.tokens / (st.medianMs / 1000)) : undefined,
      napsPerRun: naps[i] / (reps + warmup),
    };
  }));
}

export async function main(argv: string[]): Promise<void> {
  pinLavapipeThreads();
  const v = benchArgs(argv, {
    modes: flag.string("wait modes to compare, the first is the ratios' base", { placeholder: "LIST", defaultText: "await,nap" }),
    params: flag.string("optimizer parameter counts (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "4M,16M" }),
    kernel: flag.string("elements of the kernel case", { placeholder: "N", defaultText: "8M" }),
    cases: flag.string("which cases", { placeholder: "LIST", defaultText: "readback,kernel,optim,train" }),
  }, USAGE, ["json", "out", "reps", "warmup"]);
  const modes = String(v.modes ?? "await,nap").split(",").map((m) => chooseWaitMode(m, { implementation: "dawn", cpu: true }));
  const which = new Set(String(v.cases ?? "readback,kernel,optim,train").split(","));
  for (const c of which) if (!["readback", "kernel", "optim", "train"].includes(c)) throw new Error(`bench wait: --cases takes readback, kernel, optim, train; got "${c}"`);
  const sizes = paramSizes(v.params, "4M,16M", 256);
  const { reps, warmup } = repsAndWarmup(v, { reps: 7, warmup: 1 });
  await octet.device();
  const env = await environment();
  const info = octet.deviceInfo();
  for (const m of modes) setWaitMode(m); // refuses a mode this runtime cannot use, before anything is timed
  setWaitMode(undefined);
  const rows: Row[] = [];
  if (which.has("readback")) rows.push(...(await timeModes([await readbackCase()], modes, Math.max(reps, 20), warmup)));
  if (which.has("kernel")) {
    const c = await kernelCase(positive("kernel", v.kernel, 8 << 20));
    rows.push(...(await timeModes([c], modes, reps, warmup)));
    c.free?.();
  }
  if (which.has("optim"))
    for (const n of sizes) {
      const cs = [await octetCase("adamw", 32, n), await octetCase("adamw", 8, n)];
      const got = await timeModes(cs.map((c) => ({ what: `${c.impl.replace("octet ", "")} step, ${formatParams(n)}`, run: async () => c.run() })), modes, reps, warmup);
      rows.push(...got);
      for (const c of cs) c.free();
      await settleCollection();
    }
  if (which.has("train")) rows.push(...(await timeModes([await trainCase()], modes, reps, warmup)));
  const notes = [
    `${info.implementation === "dawn" ? "Dawn" : "native WebGPU"}; default wait mode here: ${info.wait}. ratio = median / the ${modes[0]} median of the same case (below 1: faster)`,
  ];
  await report({
    bench: "wait",
    env,
    config: { modes: modes.join(","), params: sizes.join(","), reps, warmup, implementation: info.implementation },
    rows,
    columns: [
      { label: "case", value: (r) => r.what },
      { label: "mode", value: (r) => r.mode },
      { label: "ms", value: (r) => r.msPerRun, digits: 2 },
      { label: "spread", value: (r) => r.stats.spread, digits: 2 },
      { label: `/ ${modes[0]}`, value: (r) => r.ratio, digits: 3 },
      { label: "tokens/s", value: (r) => r.tokensPerSec, digits: 0 },
      { label: "naps/run", value: (r) => r.napsPerRun, digits: 0 },
    ],
    notes,
    json: v.json,
    out: v.out,
    rowsLine: true,
  });
}

if (import.meta.main) await main(process.argv.slice(2));
