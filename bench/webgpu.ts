// `bun run bench webgpu` / `deno task bench bench/webgpu.ts`: what one WebGPU implementation costs, apart
// from octet: where Bun + Dawn and Deno + wgpu differ on the same work. Runs the same raw WebGPU calls
// under any runtime and prints one JSON line and a table:
//   roundtrip   an empty submit + onSubmittedWorkDone (the wait every step ends with: polling cost)
//   dispatch    N dispatches of a 1-workgroup kernel in one pass, one submit (encode + per-dispatch cost)
//   submits     N submits of one tiny dispatch each (per-submit cost)
//   readback    mapAsync of 4 bytes after a copy (the loss readback)
//   stream      y = a * x + b over 16M f32 (memory-bound kernel time: codegen and robustness checks)
//   stream-idx  the same with an index computed per element and an explicit bounds test, as octet emits
//   (both streams are timed awaited plainly and with octet's nap wait, src/runtime/wait.ts, rounds interleaved)
// Flags: --impl native|dawn (default: the runtime's navigator.gpu, else Dawn), --dawn TOGGLE,... (Dawn toggles
// to enable, e.g. disable_robustness; needs allow_unsafe_apis, added for you), --reps N, --n ELEMENTS.
import { defineCommand, flag, parseCommand } from "../src/cli/args.ts";
import { GpuWaiter, napUnavailable } from "../src/runtime/wait.ts";

// The shared flag layer (src/cli/args.ts: node:util's parseArgs and zod load under Bun, Node and Deno alike), so
// --help lists the flags and an unknown or malformed one is refused rather than ignored.
const WEBGPU_BENCH = defineCommand({
  name: "bench webgpu",
  usage: "bun run bench webgpu [flags]   |   deno run -A bench/webgpu.ts [flags]   |   node bench/webgpu.ts [flags]",
  summary: "What one WebGPU implementation costs, apart from octet: the same raw WebGPU calls under any runtime (roundtrip, dispatch, submits, readback, two streams of --n f32 awaited and napping), as one JSON line and a table.",
  flags: {
    impl: flag.choice(["native", "dawn"], "which WebGPU: the runtime's navigator.gpu, or Dawn's Node binding (the webgpu package)", { defaultText: "native where the runtime has navigator.gpu, else dawn" }),
    dawn: flag.list("Dawn toggles to enable, e.g. disable_robustness (allow_unsafe_apis is added for you)", { default: [] as string[], defaultText: "none" }),
    reps: flag.int("timed runs of each case", { default: 30 }),
    n: flag.int("elements of the stream kernels", { default: 16 * 1024 * 1024, placeholder: "ELEMENTS" }),
  },
});
const argv = (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
const { values: opts } = parseCommand(WEBGPU_BENCH, argv);
const reps = opts.reps;
const N = opts.n;
const toggles = opts.dawn;
const nativeGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
const impl = opts.impl ?? (nativeGpu ? "native" : "dawn");

// Dawn's Node binding waits for GPU work by calling wgpuInstanceProcessEvents from setImmediate, again and again
// while anything is pending (AsyncRunner). Counting the calls shows how hard a runtime polls while it waits.
let ticks = 0;
const g = globalThis as { setImmediate?: (f: (...a: unknown[]) => void, ...a: unknown[]) => unknown };
if (typeof g.setImmediate === "function") {
  const orig = g.setImmediate;
  g.setImmediate = (f: (...a: unknown[]) => void, ...a: unknown[]) => (ticks++, orig(f, ...a));
}

let keep: unknown; // Bun: Dawn's create() result must outlive every await (see src/runtime/device.ts)
async function gpu(): Promise<GPU> {
  if (impl === "native") {
    if (!nativeGpu) throw new Error("--impl native: this runtime has no navigator.gpu");
    return nativeGpu;
  }
  const dawn = await import("webgpu");
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.assign(globalThis, { [k]: v });
  const args = toggles.length ? [`enable-dawn-features=allow_unsafe_apis,${toggles.join(",")}`] : [];
  keep = dawn.create(args);
  return keep as GPU;
}

const runtime = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : (globalThis as { Bun?: { version: string } }).Bun ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}` : "node";

const adapter = (await (await gpu()).requestAdapter())!;
const l = adapter.limits;
const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize } });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
async function time(fn: () => Promise<void>, n = reps, warm = 3): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const pipeline = (code: string) => device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code }), entryPoint: "main" } });
const storage = (bytes: number, usage = 0) => device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | usage });

// A one-workgroup kernel: what a dispatch costs with (almost) no work.
const tiny = pipeline(`@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { y[g.x] = y[g.x] + 1.0; }`);
const tinyBuf = storage(256);
const tinyBind = device.createBindGroup({ layout: tiny.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: tinyBuf } }] });

const x = storage(N * 4), y = storage(N * 4);
const uni = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(uni, 0, new Float32Array([1.5, 0.25, 0, 0]));
device.queue.writeBuffer(uni, 8, new Uint32Array([N, 0]));
const WG = 256;
const groups = Math.ceil(N / WG);
const gx = Math.min(groups, 65535), gy = Math.ceil(groups / gx);
const stream = pipeline(`struct U { a: f32, b: f32, n: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  y[g.x + g.y * ${gx * WG}u] = u.a * x[g.x + g.y * ${gx * WG}u] + u.b;
}`);
const streamIdx = pipeline(`struct U { a: f32, b: f32, n: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i >= u.n) { return; }
  y[i] = u.a * x[i] + u.b;
}`);
const bindOf = (p: GPUComputePipeline) => device.createBindGroup({
  layout: p.getBindGroupLayout(0),
  entries: [{ binding: 0, resource: { buffer: uni } }, { binding: 1, resource: { buffer: x } }, { binding: 2, resource: { buffer: y } }],
});
const streamBind = bindOf(stream), streamIdxBind = bindOf(streamIdx);
const readBuf = device.createBuffer({ size: 256, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

const D = 1000; // dispatches per pass
/** Process CPU time in ms (user + system, every thread: lavapipe's workers run in this process). */
const cpu = (): number => {
  const u = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process?.cpuUsage?.();
  return u ? (u.user + u.system) / 1000 : NaN;
};
const rows: { what: string; ms: number; per?: string; ticksPerMs?: number }[] = [];

rows.push({ what: "roundtrip", ms: await time(async () => {
  device.queue.submit([device.createCommandEncoder().finish()]);
  await device.queue.onSubmittedWorkDone();
}) });

/** Submits one command buffer of `n` one-workgroup dispatches of the tiny kernel (bind group set before each). */
function submitTiny(n: number): void {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(tiny);
  for (let i = 0; i < n; i++) {
    pass.setBindGroup(0, tinyBind);
    pass.dispatchWorkgroups(1);
  }
  pass.end();
  device.queue.submit([enc.finish()]);
}

const dispatchMs = await time(async () => {
  submitTiny(D);
  await device.queue.onSubmittedWorkDone();
}, Math.max(5, reps >> 2));
rows.push({ what: `dispatch x${D}`, ms: dispatchMs, per: `${((dispatchMs / D) * 1000).toFixed(1)} us/dispatch` });

const S = 100;
const submitMs = await time(async () => {
  for (let i = 0; i < S; i++) submitTiny(1);
  await device.queue.onSubmittedWorkDone();
}, Math.max(5, reps >> 2));
rows.push({ what: `submits x${S}`, ms: submitMs, per: `${((submitMs / S) * 1000).toFixed(1)} us/submit` });

rows.push({ what: "readback 4 B", ms: await time(async () => {
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(tinyBuf, 0, readBuf, 0, 4);
  device.queue.submit([enc.finish()]);
  await readBuf.mapAsync(GPUMapMode.READ);
  readBuf.unmap();
}) });

// The memory-bound kernels, each waited for two ways, rounds interleaved: awaited plainly (the runtime's own
// waiting: under Dawn, its setImmediate polling) and with octet's nap (src/runtime/wait.ts: the JS thread asleep
// in Atomics.wait between single event-loop turns). If the nap finishes sooner, the runtime's waiting takes CPU
// from the driver (on lavapipe the GPU's threads are CPU threads). Where this thread cannot nap (a browser's
// main thread) only the plain await is timed.
const napper = new GpuWaiter("nap");
const cannotNap = napUnavailable();
const waits: [string, <T>(p: Promise<T>) => Promise<T>][] = [["await", (p) => p], ...(cannotNap ? [] : [["nap", <T>(p: Promise<T>) => napper.until(p)] as [string, <T>(p: Promise<T>) => Promise<T>]])];
for (const [what, p, b] of [["stream", stream, streamBind], ["stream-idx", streamIdx, streamIdxBind]] as const) {
  const once = async (wait: <T>(p: Promise<T>) => Promise<T>) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(p);
    pass.setBindGroup(0, b);
    pass.dispatchWorkgroups(gx, gy);
    pass.end();
    device.queue.submit([enc.finish()]);
    await wait(device.queue.onSubmittedWorkDone());
  };
  const samples = waits.map(() => [] as number[]);
  for (let i = 0; i < 2; i++) for (const [, w] of waits) await once(w);
  for (let i = 0; i < Math.max(5, reps >> 2); i++)
    for (const [j, [, w]] of waits.entries()) {
      const t0 = performance.now();
      await once(w);
      samples[j].push(performance.now() - t0);
    }
  for (const [j, [mode, w]] of waits.entries()) {
    const ms = median(samples[j]);
    // One more, counting setImmediate calls and CPU time while the kernel runs.
    const t0 = ticks, c0 = cpu(), w0 = performance.now();
    await once(w);
    const wall = performance.now() - w0, used = cpu() - c0;
    rows.push({ what: `${what} ${N / 2 ** 20}M f32, ${mode}`, ms, per: `${((N * 8) / (ms * 1e6)).toFixed(2)} GB/s; ${((ticks - t0) / wall).toFixed(1)} setImmediate/ms, process CPU ${(used / wall).toFixed(2)}x wall${j ? `; ${(ms / median(samples[0])).toFixed(2)}x the await` : ""}`, ticksPerMs: (ticks - t0) / wall });
  }
}
if (cannotNap) rows.push({ what: "nap", ms: NaN, per: `not timed: ${cannotNap}` });

const label = `${runtime} + ${impl === "native" ? "native WebGPU" : "Dawn"}${toggles.length ? ` (${toggles.join(",")})` : ""}`;
console.log(JSON.stringify({ runtime, implementation: impl, toggles, adapter: adapter.info.description || adapter.info.device, rows }));
console.log(`\n${label}`);
for (const r of rows) console.log(`  ${r.what.padEnd(22)} ${r.ms.toFixed(3).padStart(9)} ms  ${r.per ?? ""}`);
(globalThis as { process?: { exit(c: number): void } }).process?.exit(0);
