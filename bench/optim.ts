// `bun run bench optim`: one optimizer step of octet's AdamW, Lion and SGD (momentum) with 32-bit and 8-bit
// states at several sizes, against a hand-written fused fp32 AdamW WGSL kernel (and, with --tfjs, TF.js
// `tf.train.adam`) on the same Dawn device, in one process.
//
// Rounds are interleaved within each group whose ratio a target is set on (hand / AdamW32 / AdamW8bit, Lion32 /
// Lion8bit, SGD32 / SGD8bit), so the ratios see the same drift of clock and neighbours; a group's buffers are
// freed before the next one is built (all of them at 64M would not fit beside other work). Reports the median
// ms/step with its spread ((p90 - p10) / median), ns/param, the bytes each step moves per parameter as the
// compiled kernels' bindings say (elementwise bindings once per read and once per write, per-block absmax
// divided by the block; lookup tables are 4 KiB and stay in cache), the GB/s that makes, and the state bytes
// per parameter from octet's allocator. On lavapipe it also reports the CPU ms its worker threads spent per step
// and the ratios of those (bench/optim-cpu.ts): under load the wall-time ratios drift, the CPU ones much less.
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { DTYPES } from "../src/dsl/dtype.ts";
import type { Binding } from "../src/codegen/kernel.ts";
import { f32Buffer, fillF32, StreamKernel } from "./handwritten.ts";
import { medianCpuMs, withCpuTime } from "./optim-cpu.ts";
import { benchArgs, environment, gbps, paramSizes, pinLavapipeThreads, report, settleCollection, timeInterleaved, type Stats, repsAndWarmup, formatParams } from "./harness.ts";
import { flag } from "../src/cli/args.ts";
import { ADAM_BYTES_PER_PARAM, ADAM_DEFAULTS, ADAM_VEC4, adamScalars, checkHandAdam, checkTfjsAdam, setupTfjs, timeTfjsAdam } from "./optim-baselines.ts";

const USAGE = "bun run bench optim [--params 4M,16M,64M] [--reps N] [--warmup N] [--only adamw,lion,sgd] [--companded] [--tfjs] [--json] [--out FILE]";

/** A case to time: its step, what it moves per parameter, and how to free it. */
export interface Case {
  impl: string;
  family: string;
  bits: 8 | 32 | "hand";
  run: () => unknown;
  bytesPerParam: number;
  stateBytesPerParam?: number;
  /** Dispatches issued so far (octet's counter), or the fixed count per step (the hand-written kernel's chunks). */
  dispatches?: () => number;
  fixedDispatches?: number;
  kernel: string;
  free: () => void;
}

export interface Row {
  impl: string;
  family: string;
  params: number;
  msPerStep: number;
  nsPerParam: number;
  bytesPerParam: number;
  gbps: number;
  stateBytesPerParam?: number;
  dispatchesPerStep?: number;
  stats: Stats;
  ratio?: number;
  ratioOf?: string;
  /** Median CPU ms the device's worker threads spent per step (lavapipe; bench/optim-cpu.ts): holds under load. */
  cpuMs?: number;
  /** The same ratio as `ratio`, of cpuMs. */
  cpuRatio?: number;
  kernel: string;
}

/** Bytes one step moves per element through a kernel's bindings (see the file comment). */
export function bindingBytesPerElement(bindings: Binding[], rowLength: number): number {
  const bytes = (b: Binding) => (DTYPES[b.dtype].bits / 8) * (+b.read + +b.write);
  return bindings.reduce((a, b) => a + (b.mode === "elem" ? bytes(b) : b.mode === "row" ? bytes(b) / rowLength : 0), 0);
}

const gradAt = (i: number) => 0.01 * Math.sin(0.37 * i) * ((i % 7) + 1);
const paramAt = (i: number) => Math.cos(0.11 * i);

/** Fills a host array in windows (64M-element JS arrays built by Float32Array.from take seconds). */
function hostArray(n: number, f: (i: number) => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return a;
}

export async function handCase(n: number): Promise<Case> {
  const dev = await octet.device();
  const k = await StreamKernel.create(dev, ADAM_VEC4);
  const bufs = ["g", "p", "m", "v"].map((l) => f32Buffer(dev, n, `hand ${l}`));
  fillF32(dev, bufs[0], n, gradAt);
  fillF32(dev, bufs[1], n, paramAt);
  await dev.queue.onSubmittedWorkDone();
  const h = { ...ADAM_DEFAULTS, weightDecay: 1e-2 }; // AdamW's defaults, as octet's AdamW below
  let t = 0;
  return {
    impl: "hand-written fused fp32 AdamW",
    family: "adamw",
    bits: "hand",
    run: () => k.run(bufs, n, adamScalars(h, ++t)),
    bytesPerParam: ADAM_BYTES_PER_PARAM,
    fixedDispatches: k.dispatches(n),
    kernel: `${ADAM_VEC4.name} (${k.dispatches(n)} dispatch(es))`,
    free: () => bufs.forEach((b) => b.destroy()),
  };
}

const CLASSES: Record<string, [string, Record<string, unknown>]> = {
  adamw: ["AdamW", { lr: 1e-3 }],
  lion: ["Lion", { lr: 1e-4 }],
  sgd: ["SGD", { lr: 1e-2, momentum: 0.9 }],
};

/** `stateFormat`: an 8-bit case with another format than bnb's dynamic8 (named after it: "octet AdamW8bit companded8"). */
export async function octetCase(family: string, bits: 8 | 32, n: number, stateFormat?: string): Promise<Case> {
  const [base, opts] = CLASSES[family];
  const Cls = (octet.optim as unknown as Record<string, typeof octet.optim.AdamW>)[`${base}${bits}bit`];
  let p: octet.nn.Parameter | undefined = new octet.nn.Parameter(await octet.tensor(hostArray(n, paramAt), [n], { category: "parameters" }));
  let opt: octet.optim.Optimizer | undefined = new Cls([p], stateFormat ? { ...opts, stateFormat } : opts);
  // Gradients written straight into the optimizer's arena slot (as training code can): the step is the kernel.
  const g = await opt.gradientSlot(p);
  const dev = await octet.device();
  const slot = storageOf(g);
  dev.queue.writeBuffer(slot.buffer, slot.offset, hostArray(n, gradAt));
  p.grad = g;
  await opt.step(); // compiles the kernel and allocates the state
  await dev.queue.onSubmittedWorkDone();
  const kernels = opt.kernels();
  const o = opt;
  return {
    impl: `octet ${base}${bits}bit${stateFormat ? ` ${stateFormat}` : ""}`,
    family,
    bits,
    run: () => o.step(),
    bytesPerParam: kernels.reduce((a, k) => a + bindingBytesPerElement(k.bindings as Binding[], 256), 0),
    stateBytesPerParam: o.stateBytes() / n,
    dispatches: () => o.dispatchCount,
    kernel: kernels.map((k) => k.name).join("+"),
    free: () => {
      p = undefined;
      opt = undefined;
    },
  };
}

export async function timeGroup(cases: Case[], n: number, reps: number, warmup: number): Promise<Row[]> {
  const d0 = cases.map((c) => c.dispatches?.() ?? 0);
  const dev = await octet.device();
  const timed = withCpuTime(cases.map((c) => c.run), () => dev.queue.onSubmittedWorkDone());
  const stats = await timeInterleaved(timed.runs, { reps, warmup, fence: async () => {} });
  const runs = reps + warmup;
  return cases.map((c, i) => ({
    impl: c.impl,
    family: c.family,
    params: n,
    msPerStep: stats[i].medianMs,
    nsPerParam: (stats[i].medianMs * 1e6) / n,
    bytesPerParam: c.bytesPerParam,
    gbps: gbps(n * c.bytesPerParam, stats[i].medianMs),
    stateBytesPerParam: c.stateBytesPerParam,
    dispatchesPerStep: c.dispatches ? (c.dispatches() - d0[i]) / runs : c.fixedDispatches,
    stats: stats[i],
    cpuMs: medianCpuMs(timed.cpuMs[i], reps),
    kernel: c.kernel,
  }));
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    params: flag.string("parameter counts (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "4M,16M,64M" }),
    only: flag.string("only these optimizer families", { placeholder: "LIST", defaultText: "all" }),
    tfjs: flag.boolean("also time TensorFlow.js's Adam"),
    companded: flag.boolean('also time each family\'s 8-bit step with stateFormat "companded8" (FlashOptim\'s companding, no table lookups), interleaved with the others; its ratio is to the dynamic8 step'),
  }, USAGE);
  const sizes = paramSizes(v.params, "4M,16M,64M", 256);
  const { reps, warmup } = repsAndWarmup(v, { reps: 5, warmup: 1 });
  const families = typeof v.only === "string" ? v.only.split(",") : Object.keys(CLASSES);
  for (const f of families) if (!CLASSES[f]) throw new Error(`bench optim: --only takes ${Object.keys(CLASSES).join(", ")}; got "${f}"`);
  await octet.device();
  const env = await environment();
  const notes: string[] = [];
  const handErr = await checkHandAdam();
  if (!(handErr <= 2e-6)) throw new Error(`bench: hand-written Adam differs from the reference by ${handErr}`);
  if (v.tfjs) {
    const tfErr = await checkTfjsAdam();
    if (!(tfErr <= 2e-6)) throw new Error(`bench: TF.js Adam differs from the reference by ${tfErr}`);
    notes.push((await setupTfjs()).deviceShared ? "TF.js runs on octet's GPUDevice (timed on its own, not interleaved)" : "TF.js runs on its own device on the same adapter");
  }
  const rows: Row[] = [];
  for (const n of sizes) {
    for (const family of families) {
      const cases: Case[] = family === "adamw" ? [await handCase(n)] : [];
      cases.push(await octetCase(family, 32, n), await octetCase(family, 8, n));
      if (v.companded) cases.push(await octetCase(family, 8, n, "companded8"));
      const got = await timeGroup(cases, n, reps, warmup);
      const r32 = got.find((r) => r.impl.endsWith("32bit"))!;
      const hand = got.find((r) => r.impl.startsWith("hand"));
      for (const r of got) {
        const cpuRatio = (of: Row) => (r.cpuMs !== undefined && of.cpuMs ? r.cpuMs / of.cpuMs : undefined);
        if (r === r32 && hand) Object.assign(r, { ratio: r.msPerStep / hand.msPerStep, cpuRatio: cpuRatio(hand), ratioOf: "hand" });
        else if (r.impl.endsWith("8bit")) Object.assign(r, { ratio: r.msPerStep / r32.msPerStep, cpuRatio: cpuRatio(r32), ratioOf: "32-bit" });
        else if (r.impl.endsWith("companded8")) {
          const dyn = got.find((d) => d.impl.endsWith("8bit"))!;
          Object.assign(r, { ratio: r.msPerStep / dyn.msPerStep, cpuRatio: cpuRatio(dyn), ratioOf: "dynamic8" });
        }
      }
      rows.push(...got);
      for (const c of cases) c.free();
      await settleCollection();
    }
    if (v.tfjs) {
      const t = await timeTfjsAdam(n, { reps, warmup: Math.min(warmup, 1) });
      rows.push({ impl: t.impl, family: "adam", params: n, msPerStep: t.msPerStep, nsPerParam: t.nsPerParam, bytesPerParam: ADAM_BYTES_PER_PARAM, gbps: t.effectiveGbps, stats: t.stats, kernel: t.detail, dispatchesPerStep: t.dispatchesPerStep });
    }
  }
  for (const n of sizes) {
    const at = rows.filter((r) => r.params === n && r.ratio !== undefined);
    notes.push(`${formatParams(n)}: ${at.map((r) => `${r.impl.replace("octet ", "")} / ${r.ratioOf} = ${r.ratio!.toFixed(3)}x${r.cpuRatio !== undefined ? ` (CPU ${r.cpuRatio.toFixed(3)}x)` : ""}`).join("; ")}`);
  }
  notes.push("targets on lavapipe (issue #9): AdamW32bit <= 1.0x hand; AdamW8bit <= 1.5x AdamW32bit; Lion8bit, SGD8bit <= 1.2x their 32-bit twins");
  await report({
    bench: "optim",
    env,
    config: { params: sizes.join(","), reps, warmup, families: families.join(","), tfjs: !!v.tfjs, companded: !!v.companded },
    rows,
    columns: [
      { label: "impl", value: (r) => r.impl },
      { label: "params", value: (r) => formatParams(r.params) },
      { label: "ms/step", value: (r) => r.msPerStep, digits: 2 },
      { label: "spread", value: (r) => r.stats.spread, digits: 3 },
      { label: "ns/param", value: (r) => r.nsPerParam, digits: 3 },
      { label: "B/param", value: (r) => r.bytesPerParam, digits: 3 },
      { label: "GB/s", value: (r) => r.gbps, digits: 2 },
      { label: "state B/p", value: (r) => r.stateBytesPerParam, digits: 4 },
      { label: "disp", value: (r) => r.dispatchesPerStep, digits: 0 },
      { label: "ratio", value: (r) => r.ratio, digits: 3 },
      { label: "cpu ms", value: (r) => r.cpuMs, digits: 2 },
      { label: "cpu ratio", value: (r) => r.cpuRatio, digits: 3 },
      { label: "vs", value: (r) => r.ratioOf },
    ],
    notes,
    json: v.json,
    out: v.out,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
