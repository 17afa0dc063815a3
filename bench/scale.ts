// `bun run bench scale`: one AdamW8bit and one AdamW32bit step at 16M, 64M and 256M parameters: ms/step of
// the steady state (the first step, which compiles and allocates, is not timed; the two optimizers are timed
// in interleaved rounds so both see the same machine drift; median and spread), and optimizer-state bytes
// per parameter as octet's allocator accounts them (opt.stateBytes(): the buffers the optimizer holds, as
// allocated; an optimizer's buffers are sized exactly, so this is the format's own figure).
// Targets: 8-bit <= 2.04 B/param (two u8 states + one f32 absmax per 256-block each), 32-bit 8.
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { benchArgs, environment, formatBytes, gbps, paramSizes, pinLavapipeThreads, report, settleCollection, timeInterleaved, type Stats, repsAndWarmup, formatParams } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

const USAGE = "bun run bench scale [--params 16M,64M,256M] [--reps N] [--warmup N] [--json] [--out FILE]";
const TARGET = { AdamW8bit: 2.04, AdamW32bit: 8 } as const;
type Name = keyof typeof TARGET;

interface Row {
  optimizer: Name;
  params: number;
  stateBytes: number;
  stateBytesPerParam: number;
  /** The update program's own temporaries (after sharing by liveness). */
  tempBytes: number;
  dispatchesPerStep: number;
  target: number;
  msPerStep: number;
  spread: number;
  effectiveGbps: number;
  stats: Stats;
}

/** Bytes a step moves at best: p read+write, g read, and each state read+write (8-bit: 1 B, 32-bit: 4 B each). */
const idealBytes = (name: Name, n: number) => n * (4 * 3 + (name === "AdamW8bit" ? 2 * 2 : 2 * 8));

async function setUp(name: Name, n: number) {
  // The previous size's optimizers are garbage by now; their finalizers should run BEFORE the "before" reading
  // of the temporaries, or the buffers they return show up as negative temporaries of the next optimizer.
  await settleCollection();
  const before = octet.memoryStats();
  const p = new octet.nn.Parameter(await octet.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(0.11 * i)), [n], { category: "parameters" }));
  const opt = new octet.optim[name]([p], { lr: 1e-3 });
  // Gradients written straight into the optimizer's arena slot: the timed step is the update kernel alone.
  const g = await opt.gradientSlot(p);
  const slot = storageOf(g);
  const dev = await octet.device();
  dev.queue.writeBuffer(slot.buffer, slot.offset, Float32Array.from({ length: n }, (_, i) => 0.01 * Math.sin(0.37 * i) * ((i % 7) + 1)));
  p.grad = g;
  await opt.step(); // compiles and allocates: not timed
  await dev.queue.onSubmittedWorkDone();
  const after = octet.memoryStats();
  return { opt, stateBytes: opt.stateBytes(), tempBytes: after.temporaries - before.temporaries, p };
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, { params: flag.string("parameter counts (k/M/G suffixes are powers of two)", { placeholder: "LIST", defaultText: "16M,64M,256M" }) }, USAGE);
  const sizes = paramSizes(v.params, "16M,64M,256M", 256);
  const { reps, warmup } = repsAndWarmup(v, { reps: 7, warmup: 1 });
  await octet.device();
  const env = await environment();
  const rows: Row[] = [];
  for (const n of sizes) {
    const made = [];
    for (const name of ["AdamW8bit", "AdamW32bit"] as const) made.push({ name, ...(await setUp(name, n)) });
    const d0 = made.map((m) => m.opt.dispatchCount);
    const stats = await timeInterleaved(made.map((m) => () => m.opt.step()), { warmup, reps });
    made.forEach((m, i) =>
      rows.push({
        optimizer: m.name,
        params: n,
        stateBytes: m.stateBytes,
        stateBytesPerParam: m.stateBytes / n,
        tempBytes: m.tempBytes,
        dispatchesPerStep: (m.opt.dispatchCount - d0[i]) / (warmup + stats[i].runs),
        target: TARGET[m.name],
        msPerStep: stats[i].medianMs,
        spread: stats[i].spread,
        effectiveGbps: gbps(idealBytes(m.name, n), stats[i].medianMs),
        stats: stats[i],
      }),
    );
  }
  await report({
    bench: "scale",
    env,
    config: { params: sizes.join(","), reps, warmup },
    rows,
    columns: [
      { label: "optimizer", value: (r) => r.optimizer },
      { label: "params", value: (r) => formatParams(r.params) },
      { label: "ms/step (median)", value: (r) => r.msPerStep, digits: 2 },
      { label: "spread", value: (r) => r.spread, digits: 3 },
      { label: "GB/s (ideal bytes)", value: (r) => r.effectiveGbps, digits: 2 },
      { label: "dispatches", value: (r) => r.dispatchesPerStep, digits: 1 },
      { label: "temps", value: (r) => formatBytes(r.tempBytes) },
      { label: "state", value: (r) => formatBytes(r.stateBytes) },
      { label: "state B/param", value: (r) => r.stateBytesPerParam, digits: 4 },
      { label: "target", value: (r) => `<= ${r.target}` },
      { label: "ok", value: (r) => (r.stateBytesPerParam <= r.target ? "yes" : "NO") },
    ],
    notes: [
      "state bytes include everything the optimizer allocates besides the parameter and gradient arenas: states, absmax, lookup tables, the block -> tensor index and the per-tensor scalar table",
    ],
    json: v.json,
    out: v.out,
    rowsLine: true,
  });
}

if (import.meta.main) {
  pinLavapipeThreads();
  await main(process.argv.slice(2));
}
