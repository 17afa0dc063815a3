// Streaming elementwise kernels: what fraction of a hand-written vec4 WGSL kernel's bandwidth do octet's
// DSL kernels reach? copy (y = x) and axpy (y = a*x + y, in place, a a uniform) written with octet.jit,
// against hand-written vec4 kernels on the same device and the same buffers, with copyBufferToBuffer as
// the ceiling, and a 4-vec4-per-thread variant that shows the headroom. A small size (16 KiB) shows
// per-call overhead instead of bandwidth.
//
//   bun run bench [elementwise] [--mb 64] [--reps 30] [--warmup 3] [--json] [--out file.json]
import * as octet from "../src/index.ts";
import { storageOf } from "../src/runtime/realize.ts";
import { AXPY_VEC4, AXPY_VEC4_X4, COPY_VEC4, COPY_VEC4_X4, readF32, StreamKernel } from "./handwritten.ts";
import { benchArgs, COMMON_USAGE, environment, formatBytes, gbps, pinLavapipeThreads, positive, report, timeInterleaved, type Stats, repsAndWarmup } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

const USAGE = `bun run bench elementwise [--mb 64] [--small-kib 16]
  --mb N         f32 buffer size in MiB (default 64 = 16 Mi elements); above the storage-binding limit
                 both octet and the hand-written kernels split the dispatch into chunks
  --small-kib N  size of the per-call-overhead rows in KiB (default 16; 0 skips them)
${COMMON_USAGE}`;

interface Row {
  op: "copy" | "axpy";
  impl: "octet.jit" | "hand vec4" | "hand 4 x vec4" | "copyBufferToBuffer";
  bytes: number;
  elements: number;
  dispatches: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  spread: number;
  gbps: number;
  /** This row's GB/s over the hand-written kernel's for the same op and size. */
  vsHand: number | null;
  runs: number;
}

async function measureSize(n: number, reps: number, warmup: number): Promise<{ rows: Row[] }> {
  const dev = await octet.device();
  const bytes = n * 4;
  const { Tensor } = octet;

  // The DSL versions. copy cannot write in place into a `y` input: an input the function never reads gets
  // no slot of its shape in schedule(), so inPlace: { y: "y" } is refused. Its output is a fresh slot,
  // and we hand our y buffer to that slot through runStorages (as the optimizers do) to avoid allocating.
  const copy = octet.jit("bench_copy", { x: { shape: [n] } }, ({ x }) => ({ y: x }));
  const axpy = octet.jit("bench_axpy", { x: { shape: [n] }, y: { shape: [n] } }, ({ x, y }) => ({ y: Tensor.uniform("a").mul(x).add(y) }), {
    inPlace: { y: "y" },
  });

  const xHost = new Float32Array(n);
  const yHost = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    xHost[i] = 1 + (i % 1000) / 1000; // normal numbers only: denormals are slow on the CPU lavapipe runs on
    yHost[i] = 1 + (i % 777) / 777;
  }
  const x = await octet.tensor(xHost);
  const y = await octet.tensor(yHost);
  const xs = storageOf(x);
  const ys = storageOf(y);

  const hCopy = await StreamKernel.create(dev, COPY_VEC4);
  const hAxpy = await StreamKernel.create(dev, AXPY_VEC4);
  const hCopy4 = await StreamKernel.create(dev, COPY_VEC4_X4);
  const hAxpy4 = await StreamKernel.create(dev, AXPY_VEC4_X4);
  const a = 1e-3;

  const copyB2B = () => {
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(xs.buffer, xs.offset, ys.buffer, ys.offset, bytes);
    dev.queue.submit([enc.finish()]);
  };
  const cases: { op: Row["op"]; impl: Row["impl"]; bytes: number; dispatches: number; run: () => unknown }[] = [
    { op: "copy", impl: "octet.jit", bytes: 2 * bytes, dispatches: 0, run: () => copy.runStorages([xs, ys], {}) },
    { op: "copy", impl: "hand vec4", bytes: 2 * bytes, dispatches: hCopy.dispatches(n), run: () => hCopy.run([xs.buffer, ys.buffer], n) },
    { op: "copy", impl: "hand 4 x vec4", bytes: 2 * bytes, dispatches: hCopy4.dispatches(n), run: () => hCopy4.run([xs.buffer, ys.buffer], n) },
    { op: "copy", impl: "copyBufferToBuffer", bytes: 2 * bytes, dispatches: 1, run: copyB2B },
    { op: "axpy", impl: "octet.jit", bytes: 3 * bytes, dispatches: 0, run: () => axpy.run({ x, y }, { a }) },
    { op: "axpy", impl: "hand vec4", bytes: 3 * bytes, dispatches: hAxpy.dispatches(n), run: () => hAxpy.run([xs.buffer, ys.buffer], n, [a]) },
    { op: "axpy", impl: "hand 4 x vec4", bytes: 3 * bytes, dispatches: hAxpy4.dispatches(n), run: () => hAxpy4.run([xs.buffer, ys.buffer], n, [a]) },
  ];

  // Round-robin over the cases so that drift on this shared machine hits octet and hand-written alike.
  const before = [copy.dispatchCount, axpy.dispatchCount];
  const stats: Stats[] = await timeInterleaved(cases.map((c) => c.run), { warmup, reps, budgetMs: 30_000 });
  const calls = stats[0].runs + warmup;
  for (const c of cases)
    if (c.impl === "octet.jit") c.dispatches = ((c.op === "copy" ? copy : axpy).dispatchCount - before[c.op === "copy" ? 0 : 1]) / calls;
  const rows: Row[] = cases.map((c, i) => ({
    op: c.op,
    impl: c.impl,
    bytes: c.bytes,
    elements: n,
    dispatches: c.dispatches,
    medianMs: stats[i].medianMs,
    minMs: stats[i].minMs,
    maxMs: stats[i].maxMs,
    spread: stats[i].spread,
    gbps: gbps(c.bytes, stats[i].medianMs),
    vsHand: null,
    runs: stats[i].runs,
  }));
  for (const r of rows) {
    const hand = rows.find((h) => h.op === r.op && h.impl === "hand vec4")!;
    r.vsHand = r.gbps / hand.gbps;
  }

  await verify(dev, n, x, y, yHost, xHost, { copy, axpy, hCopy, hAxpy, hCopy4, hAxpy4, copyB2B });
  return { rows };
}

/** Each implementation, run once on fresh data, must produce the right answer (timings of wrong kernels are worthless). */
async function verify(
  dev: GPUDevice,
  n: number,
  x: octet.Tensor,
  y: octet.Tensor,
  yHost: Float32Array,
  xHost: Float32Array,
  k: { copy: octet.JitFunction<"x", "y">; axpy: octet.JitFunction<"x" | "y", "y">; hCopy: StreamKernel; hAxpy: StreamKernel; hCopy4: StreamKernel; hAxpy4: StreamKernel; copyB2B: () => void },
): Promise<void> {
  const xs = storageOf(x);
  const ys = storageOf(y);
  const a = 0.5;
  const reset = () => dev.queue.writeBuffer(ys.buffer, ys.offset, yHost);
  const check = async (what: string, expect: (i: number) => number, ulps: number) => {
    await dev.queue.onSubmittedWorkDone();
    const got = await readF32(dev, ys.buffer, ys.offset / 4, n);
    for (let i = 0; i < n; i++) {
      const e = expect(i);
      if (Math.abs(got[i] - e) > ulps * 2 ** -23 * Math.abs(e)) throw new Error(`bench: ${what} is wrong at ${i}: got ${got[i]}, want ${e}`);
    }
  };
  const axpyRef = (i: number) => Math.fround(Math.fround(a * xHost[i]) + yHost[i]);
  reset();
  await k.copy.runStorages([xs, ys], {});
  await check("octet copy", (i) => xHost[i], 0);
  reset();
  k.hCopy.run([xs.buffer, ys.buffer], n);
  await check("hand copy", (i) => xHost[i], 0);
  reset();
  k.hCopy4.run([xs.buffer, ys.buffer], n);
  await check("hand copy x4", (i) => xHost[i], 0);
  reset();
  k.copyB2B();
  await check("copyBufferToBuffer", (i) => xHost[i], 0);
  reset();
  await k.axpy.run({ x, y }, { a });
  await check("octet axpy", axpyRef, 2); // 2 ulps: an fma contraction rounds once instead of twice
  reset();
  k.hAxpy.run([xs.buffer, ys.buffer], n, [a]);
  await check("hand axpy", axpyRef, 2);
  reset();
  k.hAxpy4.run([xs.buffer, ys.buffer], n, [a]);
  await check("hand axpy x4", axpyRef, 2);
}

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    mb: flag.string("f32 buffer size in MiB (above the storage-binding limit, dispatches are chunked)", { placeholder: "N", defaultText: "64" }),
    "small-kib": flag.string("size of the per-call-overhead rows in KiB (0 skips them)", { placeholder: "N", defaultText: "16" }),
  }, USAGE);
  const mb = positive("mb", v.mb, 64);
  const smallKib = v["small-kib"] === "0" ? 0 : positive("small-kib", v["small-kib"], 16);
  const { reps, warmup } = repsAndWarmup(v, { reps: 30, warmup: 3 });
  const n = Math.floor((mb * (1 << 20)) / 4 / 1024) * 1024;
  const env = await environment();

  const rows: Row[] = [];
  const big = await measureSize(n, reps, warmup);
  rows.push(...big.rows);
  if (smallKib > 0) {
    const ns = Math.max(1024, Math.floor((smallKib * 1024) / 4 / 1024) * 1024);
    rows.push(...(await measureSize(ns, Math.max(reps, 200), Math.max(warmup, 10))).rows);
  }

  const notes: string[] = [
    "GB/s counts bytes read + written (copy 2 x size, axpy 3 x size); vsHand = GB/s / the hand-written kernel's GB/s for the same op and size (target >= 0.9)",
    "hand 4 x vec4 (4 vec4s per thread, same workgroup of 256) is not the baseline of the target: it shows what lavapipe's per-invocation cost leaves on the table",
    "each run is fenced (onSubmittedWorkDone), so the small rows are per-call latency (encode + submit + fence), not bandwidth",
  ];
  if (n * 4 > env.maxStorageBindingBytes) notes.push(`${formatBytes(n * 4)} exceeds the ${formatBytes(env.maxStorageBindingBytes)} binding limit: every implementation chunks (see dispatches)`);
  for (const o of big.rows.filter((r) => r.impl === "octet.jit"))
    if (o.vsHand! < 0.9) notes.push(`octet ${o.op} reaches only ${(o.vsHand! * 100).toFixed(0)}% of the hand-written kernel's GB/s (target 90%)`);

  await report({
    bench: "elementwise",
    env,
    config: { mb, elements: n, reps, warmup, smallKib },
    rows,
    columns: [
      { label: "op", value: (r) => r.op },
      { label: "impl", value: (r) => r.impl },
      { label: "size", value: (r) => formatBytes(r.elements * 4) },
      { label: "disp", value: (r) => r.dispatches, digits: 0 },
      { label: "median ms", value: (r) => r.medianMs, digits: 3 },
      { label: "min ms", value: (r) => r.minMs, digits: 3 },
      { label: "max ms", value: (r) => r.maxMs, digits: 3 },
      { label: "spread", value: (r) => r.spread, digits: 3 },
      { label: "GB/s", value: (r) => r.gbps, digits: 2 },
      { label: "vs hand", value: (r) => r.vsHand, digits: 3 },
      { label: "runs", value: (r) => r.runs, digits: 0 },
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
