// `bun run bench matmul`: octet's matmul kernel variants against each other (and, with --torch, torch's sgemm)
// at the shapes a GPT training step runs in its linear layers (forward, dx = g W^T, dW = x^T g; the same table
// as `bench train`), rounds interleaved in one process so that load changes hit every variant alike.
// Per shape and variant it reports GFLOP/s from wall time and, on Linux, GFLOP per CPU-second of lavapipe's
// threads (read from /proc: on a machine shared with other work, wall time mostly measures waiting for a
// core, CPU time what the kernel costs), and the first run's time (the pipeline's compile, per transpose pair).
import { flag } from "../src/cli/args.ts";
import { readdirSync, readFileSync } from "node:fs";
import * as octet from "../src/index.ts";
import type { MatmulVariant } from "../src/codegen/matmul.ts";
import { loadSotuCorpus } from "../src/data/corpus.ts";
import { deviceTarget } from "../src/runtime/target.ts";
import { TrainConfig } from "../src/train/config.ts";
import { benchArgs, writeJsonOut, environment, formatEnvironment, formatTable, pinLavapipeThreads, positive, summarize } from "./harness.ts";
import { linearShapes, octetMatmul, TorchPeer, type MatmulShape } from "./train.ts";

const USAGE = `usage: bun run bench matmul [flags]
  --variants=direct,broadcast   octet kernel variants to compare (default: direct,broadcast on a CPU adapter, else tiled)
  --models=default,3m   whose linear-layer shapes (default: default, the default GPT; 3m is width 256, 4 layers)
  --rounds=N            interleaved rounds (default 5); each times every variant (best of 3 runs) at every shape
  --torch               also torch's sgemm at each shape (/usr/bin/python3, or --python=PATH)
  --python=PATH         the python with torch (default /usr/bin/python3)
  --json                JSON only`;

const MODELS: Record<string, { width?: number; layers?: number }> = { default: {}, "3m": { width: 256, layers: 4 } };

/** Nanoseconds on a CPU of every thread of this process but the JS thread and Bun's own (lavapipe's workers); undefined off Linux. */
function workerCpuNs(): number | undefined {
  const dir = `/proc/${process.pid}/task`;
  let tasks: string[];
  try {
    tasks = readdirSync(dir);
  } catch {
    return undefined;
  }
  let sum = 0;
  for (const t of tasks) {
    if (+t === process.pid) continue;
    try {
      if (/Pool|JIT|mi-|JSC|disk/.test(readFileSync(`${dir}/${t}/comm`, "utf8"))) continue;
      sum += Number(readFileSync(`${dir}/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return sum;
}

export async function main(argv: string[]): Promise<void> {
  pinLavapipeThreads();
  const v = benchArgs(argv, {
    variants: { type: "string" }, models: { type: "string" }, rounds: { type: "string" },
    torch: flag.boolean("also torch's sgemm at each shape"), python: { type: "string" },
  }, USAGE, ["json", "out", "wait"]);
  await octet.device();
  const target = deviceTarget();
  const defaultVariants = target.matmulVariant === "tiled" ? ["tiled"] : ["direct", target.matmulVariant];
  const variants = ((v.variants as string | undefined)?.split(",") ?? [...new Set(defaultVariants)]) as MatmulVariant[];
  for (const x of variants) if (!["tiled", "direct", "broadcast"].includes(x)) throw new Error(`bench matmul: unknown variant "${x}" in --variants; known: tiled, direct, broadcast`);
  const rounds = positive("rounds", v.rounds, 5);
  const V = loadSotuCorpus().tokenizer.vocabSize;
  const shapes: (MatmulShape & { model: string })[] = [];
  for (const name of ((v.models as string | undefined) ?? "default").split(",")) {
    if (!MODELS[name]) throw new Error(`bench matmul: unknown model "${name}" in --models; known: ${Object.keys(MODELS).join(", ")}`);
    const cfg = TrainConfig.parse({ optim: "adamw_torch", ...MODELS[name] });
    for (const s of linearShapes(cfg.batch * cfg.seq, cfg.width!, V)) shapes.push({ ...s, model: name });
  }
  const env = await environment();
  let torch: TorchPeer | undefined;
  if (v.torch) {
    const cfg = TrainConfig.parse({ optim: "adamw_torch" });
    const threads = Number(process.env.LP_NUM_THREADS ?? 2);
    const peer = await TorchPeer.start((v.python as string | undefined) ?? "/usr/bin/python3", { vocab: V, seq: cfg.seq, width: cfg.width!, layers: cfg.layers!, heads: cfg.heads!, batch: cfg.batch, lr: cfg.lr, threads }, threads);
    if (typeof peer === "string") console.error(`bench matmul: torch skipped: ${peer}`);
    else torch = peer;
  }

  // Compile (first run) every variant at every shape, then time interleaved rounds.
  const runs: { once: () => Promise<number>; firstMs: number }[][] = [];
  for (const s of shapes) {
    const row = [];
    for (const variant of variants) {
      const t0 = performance.now();
      const once = await octetMatmul(s, { ...target, matmulVariant: variant });
      row.push({ once, firstMs: performance.now() - t0 });
    }
    runs.push(row);
  }
  const wall = shapes.map(() => variants.map(() => [] as number[]));
  const cpu = shapes.map(() => variants.map(() => [] as number[]));
  const torchMs = shapes.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (const [i, s] of shapes.entries()) {
      for (const [j] of variants.entries()) {
        const reps: number[] = [], cpus: number[] = [];
        for (let k = 0; k < 3; k++) {
          const c0 = workerCpuNs();
          reps.push(await runs[i][j].once());
          const c1 = workerCpuNs();
          if (c0 !== undefined && c1 !== undefined) cpus.push((c1 - c0) / 1e6);
        }
        wall[i][j].push(Math.min(...reps));
        if (cpus.length) cpu[i][j].push(Math.min(...cpus));
      }
      if (torch) torchMs[i].push((await torch.ask({ cmd: "gemm", M: s.M, N: s.N, K: s.K, ta: s.ta, tb: s.tb, reps: 5 })).ms);
    }
  torch?.close();

  const gflops = (s: MatmulShape, ms: number) => +((2 * s.M * s.N * s.K) / ms / 1e6).toFixed(2);
  const rows = shapes.map((s, i) => ({
    model: s.model,
    shape: `${s.M}x${s.N}x${s.K}${s.ta ? " A^T" : ""}${s.tb ? " B^T" : ""}`,
    uses: s.uses,
    flop: 2 * s.M * s.N * s.K,
    variants: Object.fromEntries(variants.map((name, j) => {
      const w = summarize(wall[i][j]).medianMs, c = cpu[i][j].length ? summarize(cpu[i][j]).medianMs : undefined;
      return [name, { ms: +w.toFixed(3), gflops: gflops(s, w), cpuMs: c === undefined ? undefined : +c.toFixed(3), gflopsPerCpuS: c === undefined ? undefined : gflops(s, c), firstRunMs: +runs[i][j].firstMs.toFixed(0) }];
    })),
    torch: torchMs[i].length ? { ms: +summarize(torchMs[i]).medianMs.toFixed(3), gflops: gflops(s, summarize(torchMs[i]).medianMs) } : undefined,
  }));
  // One step's worth of each model's products: sum of flops over sum of median times (each shape as often as the step runs it).
  const step = (model: string) => {
    const rs = rows.filter((r) => r.model === model);
    const flops = rs.reduce((a, r) => a + r.flop * r.uses.length, 0);
    const sum = (f: (r: (typeof rows)[number]) => number | undefined) => rs.reduce((a, r) => a + (f(r) ?? NaN) * r.uses.length, 0);
    return {
      model,
      ...Object.fromEntries(variants.map((name) => [name, { gflops: +(flops / sum((r) => r.variants[name].ms) / 1e6).toFixed(2), gflopsPerCpuS: +(flops / sum((r) => r.variants[name].cpuMs) / 1e6).toFixed(2) }])),
      torchGflops: torch ? +(flops / sum((r) => r.torch?.ms) / 1e6).toFixed(2) : undefined,
    };
  };
  const steps = [...new Set(shapes.map((s) => s.model))].map(step);
  const doc = { bench: "matmul", env: { ...env, loadAvg1End: (await import("node:os")).loadavg()[0] }, config: { variants, rounds }, results: rows, steps };
  await writeJsonOut(v.out, doc);
  if (v.json) return void console.log(JSON.stringify(doc));
  console.log(formatEnvironment(env));
  console.log(`variants: ${variants.join(", ")}; ${rounds} interleaved rounds, each the best of 3 runs; "cpu" = GFLOP per CPU-second of lavapipe's threads`);
  const base = variants[0];
  console.log(formatTable(rows, [
    { label: "model", value: (r) => r.model },
    { label: "M x N x K", value: (r) => r.shape },
    ...variants.flatMap((name) => [
      { label: `${name} GFLOP/s`, value: (r: (typeof rows)[number]) => r.variants[name].gflops, digits: 2 },
      { label: `${name} cpu`, value: (r: (typeof rows)[number]) => r.variants[name].gflopsPerCpuS, digits: 2 },
    ]),
    ...variants.slice(1).map((name) => ({ label: `${name}/${base} cpu`, value: (r: (typeof rows)[number]) => (r.variants[name].cpuMs && r.variants[base].cpuMs ? r.variants[base].cpuMs! / r.variants[name].cpuMs! : undefined), digits: 2 })),
    ...(torch ? [{ label: "torch GFLOP/s", value: (r: (typeof rows)[number]) => r.torch?.gflops, digits: 2 }] : []),
    { label: "used by", value: (r) => r.uses.join(", ") },
  ]));
  console.log(`\nfirst run (compile) ms: ${variants.map((name) => `${name} ${rows.map((r) => r.variants[name].firstRunMs).sort((a, b) => b - a).slice(0, 4).join("/")} (slowest 4)`).join("; ")}`);
  for (const s of steps)
    console.log(`one step's linear products (${s.model}): ${variants.map((name) => `${name} ${(s as any)[name].gflops} GFLOP/s (${(s as any)[name].gflopsPerCpuS} per CPU-s)`).join(", ")}${s.torchGflops !== undefined ? `, torch ${s.torchGflops} GFLOP/s` : ""}`);
  console.log(JSON.stringify(doc));
}

if (import.meta.main) await main(process.argv.slice(2));
