// `bun run bench train`: training throughput of octet's GPT against PyTorch on the CPU (what a user without a GPU
// would pick instead), for the default GPT and the width-256 4-layer 3.2M model:
// - tokens/s of both, steady state, same model, batch, sequence, learning rate and optimizer (AdamW, 32-bit states:
//   torch has no 8-bit Adam without bitsandbytes), rounds interleaved with the torch peer (bench/torch_gpt.py);
// - octet's matmul GFLOP/s against torch's sgemm at the shapes the model's linear layers run (forward, dx and dW),
//   interleaved the same way, and the ratio over a step's worth of them (sum of flops / sum of time);
// - where octet's step time goes (matmuls, attention, optimizer, the rest), from one step with every dispatch
//   timed on its own (serialized), so the throughput figure comes from the unprofiled runs.
// The torch peer runs /usr/bin/python3 (Debian's python3-torch; OPENBLAS_NUM_THREADS and torch's threads set to
// LP_NUM_THREADS, so both use the same cores); where torch is missing it is skipped with a message.
// `--before` also times the step as it was before issue #7 (the loss read after the update, forward twice).
import { flag } from "../src/cli/args.ts";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import * as octet from "../src/index.ts";
import { backward } from "../src/autograd/var.ts";
import { sampleBatch } from "../src/data/batches.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { profiler } from "../src/runtime/execute.ts";
import { gpuWait } from "../src/runtime/device.ts";
import { jit } from "../src/runtime/jit.ts";
import { deviceTarget } from "../src/runtime/target.ts";
import { TrainConfig } from "../src/train/config.ts";
import { StepBuffers, buildModel, trainStep } from "../src/train/trainer.ts";
import { optimizerByName } from "../src/optim/names.ts";
import { benchArgs, writeJsonOut, environment, formatEnvironment, formatTable, pinLavapipeThreads, positive, summarize, type Stats } from "./harness.ts";

const USAGE = `usage: bun run bench train [flags]
  --models=default,3m   which models (default: both); 3m is --width 256 --layers 4 (3.2M parameters)
  --rounds=N            interleaved rounds (default 5); each round times --steps steps of octet, then of torch
  --steps=N             steps per round (default: 3 for default, 1 for 3m)
  --optim=NAME          octet's optimizer (default adamw_torch: 32-bit AdamW, as the torch peer's)
  --torch-threads=N     torch's and OpenBLAS's threads (default: LP_NUM_THREADS, the cores lavapipe uses)
  --python=PATH         the python with torch (default /usr/bin/python3)
  --no-torch            octet only     --no-gemm   skip the matmul table     --before   also the pre-#7 step
  --json                JSON only`;

/** The compared models: TrainConfig overrides over the default arch. */
const MODELS: Record<string, { width?: number; layers?: number; steps: number }> = {
  default: { steps: 3 },
  "3m": { width: 256, layers: 4, steps: 1 },
};

export interface MatmulShape {
  /** Which products run at this shape in one training step (e.g. "fc fwd", "fc dW"). */
  uses: string[];
  M: number;
  N: number;
  K: number;
  ta: boolean;
  tb: boolean;
}

/**
 * The products one step runs in the model's linear layers (GPT blocks and the head), deduplicated by shape: for
 * y = x w with x [R, in], w [in, out]: forward x w (R x out, K = in), dx = g w^T (R x in, K = out) and
 * dW = x^T g (in x out, K = R). Attention's batched per-head products are not in this table (fused kernels).
 */
export function linearShapes(R: number, C: number, V: number): MatmulShape[] {
  const layers: [string, number, number][] = [["qkv", C, 3 * C], ["proj", C, C], ["fc", C, 4 * C], ["fcProj", 4 * C, C], ["head", C, V]];
  const byKey = new Map<string, MatmulShape>();
  const add = (use: string, M: number, N: number, K: number, ta: boolean, tb: boolean) => {
    const key = `${M},${N},${K},${ta},${tb}`;
    const s = byKey.get(key) ?? { uses: [], M, N, K, ta, tb };
    s.uses.push(use);
    byKey.set(key, s);
  };
  for (const [name, In, Out] of layers) {
    add(`${name} fwd`, R, Out, In, false, false);
    add(`${name} dx`, R, In, Out, false, true);
    add(`${name} dW`, In, Out, R, true, false);
  }
  return [...byKey.values()];
}

/** What the torch peer says about itself: its version, threads, the BLAS libraries it mapped, its parameter count. */
interface TorchInfo {
  torch: string;
  threads: number;
  blas: string[];
  params: number;
}

/** The torch peer: one JSON line per command each way. */
export class TorchPeer {
  private lines: AsyncIterableIterator<string>;
  private constructor(private proc: ChildProcessWithoutNullStreams, rl: Interface) {
    this.lines = rl[Symbol.asyncIterator]();
  }
  /** Starts the peer, or returns the reason it cannot run (no python, no torch). */
  static async start(python: string, args: Record<string, number>, threads: number): Promise<TorchPeer | string> {
    if (!existsSync(python)) return `${python} does not exist (pass --python=PATH to a python with torch)`;
    const argv = [join(import.meta.dir, "torch_gpt.py"), ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)])];
    const proc = spawn(python, argv, { env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } });
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += d));
    const peer = new TorchPeer(proc, createInterface({ input: proc.stdout }));
    const info = await peer.ask({ cmd: "info" }).catch((e) => ({ error: `${e.message}${stderr ? `: ${stderr.trim().split("\n").at(-1)}` : ""}` }));
    if (info.error) {
      proc.kill();
      return String(info.error);
    }
    peer.info = info as TorchInfo;
    return peer;
  }
  info: TorchInfo = { torch: "?", threads: 0, blas: [], params: 0 };
  async ask(msg: Record<string, unknown>): Promise<Record<string, any>> {
    this.proc.stdin.write(JSON.stringify(msg) + "\n");
    const { value, done } = await this.lines.next();
    if (done) throw new Error("the torch peer exited");
    const reply = JSON.parse(value);
    if (reply.error && msg.cmd !== "info") throw new Error(`torch peer: ${reply.error}`);
    return reply;
  }
  close(): void {
    this.proc.stdin.write(JSON.stringify({ cmd: "quit" }) + "\n");
    this.proc.stdin.end();
  }
}

const tokensPerSec = (tokens: number, st: Stats) => +(tokens / (st.medianMs / 1000)).toFixed(0);
const gflops = (s: MatmulShape, ms: number) => +((2 * s.M * s.N * s.K) / ms / 1e6).toFixed(2);

/** octet's matmul at one shape for `target` (default: the device's): a jitted product on fixed inputs, each run fenced. */
export async function octetMatmul(s: MatmulShape, target = deviceTarget()): Promise<() => Promise<number>> {
  const dev = await octet.device();
  const aShape = s.ta ? [s.K, s.M] : [s.M, s.K], bShape = s.tb ? [s.N, s.K] : [s.K, s.N];
  const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const a = await octet.tensor(rnd(s.M * s.K), aShape), b = await octet.tensor(rnd(s.K * s.N), bShape);
  const mm = jit("bench_mm", { a: { shape: aShape }, b: { shape: bShape } }, ({ a, b }) => ({ c: a.matmul(b, { transA: s.ta, transB: s.tb }) }), { target });
  const once = async () => {
    const t0 = performance.now();
    const { c } = await mm.run({ a, b });
    await gpuWait(dev.queue.onSubmittedWorkDone()); // as octet's readbacks wait (wait.ts): no core lost to Dawn's polling
    const ms = performance.now() - t0;
    c.dispose();
    return ms;
  };
  await once(); // compiles
  return once;
}

async function benchModel(name: string, v: ReturnType<typeof benchArgs>, corpus: ReturnType<typeof loadSotuCorpus>) {
  const spec = MODELS[name];
  const optim = (v.optim as string | undefined) ?? "adamw_torch";
  const cfg = TrainConfig.parse({ optim, ...(spec.width && { width: spec.width }), ...(spec.layers && { layers: spec.layers }) });
  const rounds = positive("rounds", v.rounds, 5), steps = positive("steps", v.steps, spec.steps);
  const dev = await octet.device();
  const V = corpus.tokenizer.vocabSize;
  const model = buildModel(cfg, V);
  const opt = new (optimizerByName(cfg.optim))(model.parameters(), { lr: cfg.lr });
  const B = cfg.batch, T = cfg.seq;
  const buffers = await StepBuffers.create(B, T);
  let s = 1;
  // The trainer's step: loss and gradients in one program, the pre-update loss read back.
  const step = async () => {
    await buffers.load(sampleBatch(corpus.train, s++, { batchSize: B, seqLen: T, seed: 0 }));
    await (await trainStep(model, opt, buffers)).toArray();
  };
  // The step as it was before issue #7: gradients realized alone, the loss read after the update, when its lazy
  // graph ran the whole forward a second time on the new weights (now refused as stale, so rebuilt here).
  const stepBefore = async () => {
    const b = sampleBatch(corpus.train, s++, { batchSize: B, seqLen: T, seed: 0 });
    const idx = await octet.tensor(b.inputs, [B, T], { dtype: "u32" });
    const tgt = await octet.tensor(b.targets, [B * T], { dtype: "u32" });
    backward(model.loss(idx, tgt, B, T));
    await octet.realize(model.parameters().flatMap((p) => (p.grad ? [p.grad] : [])));
    await opt.step();
    opt.zeroGrad();
    await model.loss(idx, tgt, B, T).value.toArray();
  };
  const threads = positive("torch-threads", v["torch-threads"], Number(process.env.LP_NUM_THREADS ?? 2));
  const peer = v["no-torch"]
    ? "--no-torch"
    : await TorchPeer.start((v.python as string | undefined) ?? "/usr/bin/python3", { vocab: V, seq: T, width: cfg.width!, layers: cfg.layers!, heads: cfg.heads!, batch: B, lr: cfg.lr, threads }, threads);
  const torch = typeof peer === "string" ? undefined : peer;
  if (typeof peer === "string" && !v["no-torch"]) console.error(`bench train: torch peer skipped: ${peer}`);

  // Rounds interleaved (this machine is noisy): each round times `steps` steps of each side, so load changes hit
  // both alike. The first step of each compiles (octet) or warms the allocator (torch) and is not timed.
  const variants = v.before ? [stepBefore, step] : [step];
  for (const fn of variants) await fn();
  await torch?.ask({ cmd: "train", steps: 1 });
  const times = variants.map(() => [] as number[]);
  const torchMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [i, fn] of variants.entries())
      for (let k = 0; k < steps; k++) {
        const t0 = performance.now();
        await fn();
        await dev.queue.onSubmittedWorkDone();
        times[i].push(performance.now() - t0);
      }
    if (torch) torchMs.push(...(await torch.ask({ cmd: "train", steps })).ms);
  }
  const st = summarize(times.at(-1)!);
  const stTorch = torchMs.length ? summarize(torchMs) : undefined;

  // Attribution: one more step with every dispatch timed.
  profiler.active = true;
  profiler.records.length = 0;
  await step();
  profiler.active = false;
  const optimKernels = new Set(opt.kernels().map((k) => k.name));
  const cat = (r: (typeof profiler.records)[number]) =>
    optimKernels.has(r.name) ? "optimizer" : r.kind === "matmul" ? (r.batched ? "attention" : "matmul") : r.kind === "attention" || (r.kind === "row" && r.L === T) ? "attention" : "other";
  const total = profiler.records.reduce((a, r) => a + r.ms, 0);
  const shares = ["matmul", "attention", "optimizer", "other"].map((c) => {
    const rs = profiler.records.filter((r) => cat(r) === c);
    const ms = rs.reduce((a, r) => a + r.ms, 0);
    return { part: c, ms: +ms.toFixed(2), share: `${((ms / total) * 100).toFixed(1)}%`, dispatches: rs.length };
  });

  // Matmul GFLOP/s at the model's shapes, octet and torch interleaved per round.
  const gemm = v["no-gemm"] ? [] : await matmulTable(linearShapes(B * T, cfg.width!, V), torch, Math.max(3, rounds));
  torch?.close();
  const flops = gemm.reduce((a, r) => a + r.flop * r.uses.length, 0);
  const octetMs = gemm.reduce((a, r) => a + r.octetMs * r.uses.length, 0);
  const torchGemmMs = gemm.reduce((a, r) => a + (r.torchMs ?? NaN) * r.uses.length, 0);
  return {
    model: { name, layers: cfg.layers, heads: cfg.heads, width: cfg.width, vocab: V, seq: T, batch: B, params: model.parameters().reduce((a, p) => a + p.numel, 0), optim: cfg.optim, lr: cfg.lr },
    octet: { msPerStep: st, tokensPerSec: tokensPerSec(B * T, st) },
    before: v.before ? { msPerStep: summarize(times[0]), tokensPerSec: tokensPerSec(B * T, summarize(times[0])) } : undefined,
    torch: stTorch && { msPerStep: stTorch, tokensPerSec: tokensPerSec(B * T, stTorch), ...torch!.info },
    torchSkipped: typeof peer === "string" ? peer : undefined,
    /** octet tokens/s over torch tokens/s (targets: >= 0.5 for the default GPT, >= 0.25 for 3m). */
    tokensPerSecRatio: stTorch ? +(stTorch.medianMs / st.medianMs).toFixed(3) : undefined,
    profiledStepMs: +total.toFixed(2),
    shares,
    matmuls: gemm,
    /** One step's linear-layer products: sum of flops over sum of median times, octet and torch (target >= 0.25). */
    matmulStep: gemm.length ? { octetGflops: +(flops / octetMs / 1e6).toFixed(2), torchGflops: +(flops / torchGemmMs / 1e6).toFixed(2), ratio: +(torchGemmMs / octetMs).toFixed(3) } : undefined,
  };
}

async function matmulTable(shapes: MatmulShape[], torch: TorchPeer | undefined, rounds: number) {
  const runs = await Promise.all(shapes.map((s) => octetMatmul(s)));
  const octetMs = shapes.map(() => [] as number[]);
  const torchMs = shapes.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (const [i, s] of shapes.entries()) {
      const reps: number[] = [];
      for (let k = 0; k < 3; k++) reps.push(await runs[i]());
      octetMs[i].push(Math.min(...reps));
      if (torch) torchMs[i].push((await torch.ask({ cmd: "gemm", M: s.M, N: s.N, K: s.K, ta: s.ta, tb: s.tb, reps: 5 })).ms);
    }
  return shapes.map((s, i) => {
    const o = summarize(octetMs[i]).medianMs, t = torchMs[i].length ? summarize(torchMs[i]).medianMs : undefined;
    return {
      uses: s.uses,
      shape: `${s.M}x${s.N}x${s.K}${s.ta ? " A^T" : ""}${s.tb ? " B^T" : ""}`,
      flop: 2 * s.M * s.N * s.K,
      octetMs: +o.toFixed(3),
      octetGflops: gflops(s, o),
      torchMs: t === undefined ? undefined : +t.toFixed(3),
      torchGflops: t === undefined ? undefined : gflops(s, t),
      ratio: t === undefined ? undefined : +(t / o).toFixed(3),
    };
  });
}

export async function main(argv: string[]): Promise<void> {
  pinLavapipeThreads();
  const v = benchArgs(argv, {
    models: { type: "string" }, rounds: { type: "string" }, steps: { type: "string" }, optim: { type: "string" },
    "torch-threads": { type: "string" }, python: { type: "string" }, "no-torch": { type: "boolean" }, "no-gemm": flag.boolean("skip the matmul table"), before: flag.boolean("also time the step as it was before issue #7"),
  }, USAGE, ["json", "out", "wait"]);
  const names = ((v.models as string | undefined) ?? "default,3m").split(",");
  for (const n of names) if (!MODELS[n]) throw new Error(`bench train: unknown model "${n}" in --models; known: ${Object.keys(MODELS).join(", ")}`);
  await octet.device();
  const env = await environment();
  const corpus = loadSotuCorpus();
  const results = [];
  for (const n of names) results.push(await benchModel(n, v, corpus));
  const doc = { bench: "train", env: { ...env, loadAvg1End: (await import("node:os")).loadavg()[0] }, results };
  await writeJsonOut(v.out, doc);
  if (v.json) return void console.log(JSON.stringify(doc));
  console.log(formatEnvironment(env));
  for (const r of results) {
    const m = r.model;
    console.log(`\n== ${m.name}: ${m.layers} layers x ${m.heads} heads x width ${m.width}, vocab ${m.vocab}, ${(m.params / 1e6).toFixed(2)}M parameters; batch ${m.batch} x seq ${m.seq}, ${m.optim} lr ${m.lr}`);
    const line = (who: string, x: { msPerStep: Stats; tokensPerSec: number }) =>
      console.log(`${who}: median ${x.msPerStep.medianMs.toFixed(1)} ms/step (p10 ${x.msPerStep.p10Ms.toFixed(1)}, p90 ${x.msPerStep.p90Ms.toFixed(1)}, n=${x.msPerStep.runs}) -> ${x.tokensPerSec} tokens/s`);
    line("octet", r.octet);
    if (r.before) line("octet, step before issue #7", r.before);
    if (r.torch) line(`torch ${r.torch.torch} (${r.torch.threads} threads, ${r.torch.blas.map((b) => b.split("/").at(-1)).join(", ") || "no BLAS mapped"})`, r.torch);
    else console.log(`torch: skipped (${r.torchSkipped})`);
    if (r.tokensPerSecRatio !== undefined) console.log(`tokens/s ratio octet/torch: ${r.tokensPerSecRatio}x`);
    console.log(formatTable(r.shares, [
      { label: "part", value: (x) => x.part },
      { label: "ms (serialized)", value: (x) => x.ms, digits: 2 },
      { label: "share", value: (x) => x.share },
      { label: "dispatches", value: (x) => String(x.dispatches) },
    ]));
    if (r.matmuls.length) {
      console.log(formatTable(r.matmuls, [
        { label: "M x N x K", value: (x) => x.shape },
        { label: "octet ms", value: (x) => x.octetMs, digits: 3 },
        { label: "octet GFLOP/s", value: (x) => x.octetGflops, digits: 2 },
        { label: "torch ms", value: (x) => x.torchMs, digits: 3 },
        { label: "torch GFLOP/s", value: (x) => x.torchGflops, digits: 2 },
        { label: "octet/torch", value: (x) => x.ratio, digits: 3 },
        { label: "used by", value: (x) => x.uses.join(", ") },
      ]));
      const ms = r.matmulStep!;
      console.log(`one step's linear products: octet ${ms.octetGflops} GFLOP/s, torch ${ms.torchGflops} GFLOP/s, ratio ${ms.ratio}`);
    }
  }
  console.log(JSON.stringify(doc));
}

if (import.meta.main) await main(process.argv.slice(2));
