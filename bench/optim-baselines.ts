// Baselines for the optimizer benchmark (bench/optim.ts imports these):
//   - a hand-written fused fp32 Adam WGSL kernel: g, p, m, v in one pass, vec4, bitsandbytes' 32-bit update
//     form (bnb-algorithms.md section 3.2), bias corrections as uniforms, chunked past the binding limit;
//   - TensorFlow.js 4.22 `tf.train.adam(...).applyGradients()` on the webgpu backend, on octet's GPUDevice.
// Both are checked against a plain-TS f32 Adam before they are timed: a fast wrong baseline is no baseline.
//
// Run alone: bun run bench optim-baselines [--params 16M[,64M]] [--reps 5] [--warmup 2] [--no-tfjs]
import { create, globals } from "webgpu";
import { device } from "../src/runtime/device.ts";
import { f32Buffer, fillF32, readF32, STREAM_ENTRY, STREAM_PROLOGUE, StreamKernel, wgslHeader, type StreamKernelSpec } from "./handwritten.ts";
import { benchArgs, COMMON_USAGE, environment, gbps, paramSizes, pinLavapipeThreads, report, timeGpu, type Column, type Stats, type TimeOptions, repsAndWarmup, formatParams } from "./harness.ts";
import { flag } from "../src/cli/args.ts";

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
export const ADAM_DEFAULTS: AdamHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** Ideal traffic of one fp32 Adam step: read g, p, m, v and write p, m, v, 4 bytes each. */
export const ADAM_BYTES_PER_PARAM = 28;

const f = Math.fround;

/**
 * The host-side scalars of step t (t >= 1) in ADAM_VEC4.scalars order, in f32 as bitsandbytes computes
 * them (bnb-algorithms.md 3.1): c1 = 1 - b1^t, c2 = sqrt(1 - b2^t), step_size = -lr * c2 / c1.
 */
export function adamScalars(h: AdamHyper, t: number): number[] {
  const b1t = f(f(h.beta1) ** t); // the reference's beta^t: a float64 power of the f32 beta, rounded
  const b2t = f(f(h.beta2) ** t);
  const c1 = f(1 - b1t);
  const c2 = f(Math.sqrt(f(1 - b2t)));
  const stepSize = f(f(-h.lr * c2) / c1);
  return [h.beta1, h.beta2, f(1 - h.beta1), f(1 - h.beta2), stepSize, f(h.eps * c2), f(1 - f(h.lr * h.weightDecay))];
}

/** Fused fp32 Adam/AdamW: one thread per vec4 of parameters, every state read and written once. */
export const ADAM_VEC4: StreamKernelSpec = {
  name: "hand_adam32_vec4",
  buffers: ["read", "read_write", "read_write", "read_write"],
  scalars: ["beta1", "beta2", "one_minus_beta1", "one_minus_beta2", "step_size", "eps_c2", "decay"],
  wgsl: `${wgslHeader(
    [
      ["read", "g"],
      ["read_write", "p"],
      ["read_write", "m"],
      ["read_write", "v"],
    ],
    ["beta1", "beta2", "one_minus_beta1", "one_minus_beta2", "step_size", "eps_c2", "decay"],
  )}
${STREAM_ENTRY} {${STREAM_PROLOGUE}
  let g1 = g[i];
  let m1 = m[i] * params.beta1 + params.one_minus_beta1 * g1;        // m <- b1 m + (1 - b1) g
  let v1 = v[i] * params.beta2 + params.one_minus_beta2 * (g1 * g1); // v <- b2 v + (1 - b2) g^2
  // bnb 32-bit: p <- p + step_size * m / (sqrt(v) + eps * c2), step_size = -lr c2 / c1; then AdamW's
  // decoupled decay p <- p (1 - lr wd) on the stepped p (decay = 1 for Adam).
  p[i] = (p[i] + params.step_size * (m1 / (sqrt(v1) + params.eps_c2))) * params.decay;
  m[i] = m1;
  v[i] = v1;
}
`,
};

/** Plain-TS f32 Adam (bnb's 32-bit form, the oracle for both baselines): updates p, m, v in place. */
export function referenceAdamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, h: AdamHyper, t: number): void {
  const [b1, b2, a1, a2, stepSize, epsC2, decay] = adamScalars(h, t);
  for (let i = 0; i < p.length; i++) {
    m[i] = f(f(m[i] * b1) + f(a1 * g[i]));
    v[i] = f(f(v[i] * b2) + f(a2 * f(g[i] * g[i])));
    p[i] = f(f(p[i] + f(stepSize * f(m[i] / f(f(Math.sqrt(v[i])) + epsC2)))) * decay);
  }
}

export interface StepTiming {
  impl: string;
  params: number;
  msPerStep: number;
  nsPerParam: number;
  /** GB/s at the ideal 28 bytes per parameter, whatever the implementation really moves. */
  effectiveGbps: number;
  dispatchesPerStep: number;
  stats: Stats;
  /** Implementation details that qualify the figure (device sharing, variable split). */
  detail: string;
}

/** The per-step figures every optimizer benchmark table shows (after impl and params). */
export function stepColumns<R extends StepTiming>(): Column<R>[] {
  return [
    { label: "disp/step", value: (r) => r.dispatchesPerStep, digits: 0 },
    { label: "ms/step", value: (r) => r.msPerStep, digits: 2 },
    { label: "min ms", value: (r) => r.stats.minMs, digits: 2 },
    { label: "spread", value: (r) => r.stats.spread, digits: 3 },
    { label: "ns/param", value: (r) => r.nsPerParam, digits: 3 },
    { label: "eff GB/s", value: (r) => r.effectiveGbps, digits: 2 },
  ];
}

const timing = (impl: string, n: number, s: Stats, dispatches: number, detail: string): StepTiming => ({
  impl,
  params: n,
  msPerStep: s.medianMs,
  nsPerParam: (s.medianMs * 1e6) / n,
  effectiveGbps: gbps(n * ADAM_BYTES_PER_PARAM, s.medianMs),
  dispatchesPerStep: dispatches,
  stats: s,
  detail,
});

// Deterministic, normal-range test data (no denormals: they are slow on the CPU lavapipe runs on).
const gradAt = (i: number, t = 0) => 0.01 * Math.sin(0.37 * i + t) * ((i % 7) + 1);
const paramAt = (i: number) => Math.cos(0.11 * i);

// ------------------------------------------------------------------------------------------------------
// Hand-written fused Adam

let handAdam: Promise<StreamKernel> | undefined;
const handKernel = async () => (handAdam ??= device().then((dev) => StreamKernel.create(dev, ADAM_VEC4)));

/** Times one fused Adam step over n parameters (n rounded up to a multiple of 4) on fresh buffers. */
export async function timeHandAdam(nParams: number, opts: TimeOptions & { hyper?: AdamHyper } = {}): Promise<StepTiming> {
  const dev = await device();
  const k = await handKernel();
  const n = Math.ceil(nParams / 4) * 4;
  const [g, p, m, v] = ["g", "p", "m", "v"].map((l) => f32Buffer(dev, n, `adam ${l}`)); // m, v start at zero
  fillF32(dev, g, n, (i) => gradAt(i));
  fillF32(dev, p, n, paramAt);
  await dev.queue.onSubmittedWorkDone();
  const h = opts.hyper ?? ADAM_DEFAULTS;
  let t = 0;
  try {
    const s = await timeGpu(() => k.run([g, p, m, v], n, adamScalars(h, ++t)), { warmup: 2, reps: 10, ...opts });
    const chunks = k.dispatches(n);
    return timing("hand-written fused WGSL", n, s, chunks, `one kernel, vec4, ${chunks} chunk(s) of <= ${k.chunkElements()} params`);
  } finally {
    for (const b of [g, p, m, v]) b.destroy();
  }
}

/**
 * Runs the hand-written kernel for `steps` steps on small data and returns the worst |p, m, v - reference|,
 * once in one dispatch and once cut into chunks of 1024 params (the path steps over 32M params take).
 */
export async function checkHandAdam(n = 1028, steps = 3, h: AdamHyper = { ...ADAM_DEFAULTS, lr: 1e-2 }): Promise<number> {
  const dev = await device();
  const kernels = [await handKernel(), await StreamKernel.create(dev, ADAM_VEC4, 4096)];
  let worst = 0;
  for (const k of kernels) {
    const [g, p, m, v] = ["g", "p", "m", "v"].map((l) => f32Buffer(dev, n, `check ${l}`));
    fillF32(dev, p, n, paramAt);
    const ref = { p: Float32Array.from({ length: n }, (_, i) => paramAt(i)), m: new Float32Array(n), v: new Float32Array(n) };
    try {
      for (let t = 1; t <= steps; t++) {
        const gh = Float32Array.from({ length: n }, (_, i) => gradAt(i, t));
        dev.queue.writeBuffer(g, 0, gh);
        k.run([g, p, m, v], n, adamScalars(h, t));
        referenceAdamStep(ref.p, gh, ref.m, ref.v, h, t);
      }
      const [pg, mg, vg] = await Promise.all([p, m, v].map((b) => readF32(dev, b, 0, n)));
      worst = Math.max(worst, maxAbsDiff(pg, ref.p), maxAbsDiff(mg, ref.m), maxAbsDiff(vg, ref.v));
    } finally {
      for (const b of [g, p, m, v]) b.destroy();
    }
  }
  return worst;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) || (Number.isNaN(a[i]) ? Infinity : 0));
  return worst;
};

// ------------------------------------------------------------------------------------------------------
// TensorFlow.js on the same Dawn device

type Tf = typeof import("@tensorflow/tfjs-core");
interface TfBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  runWebGPUProgram: (...a: unknown[]) => unknown;
}
export interface TfjsSetup {
  tf: Tf;
  backend: TfBackend;
  /** true when TF.js runs on octet's own GPUDevice; false when it had to open its own on the same adapter. */
  deviceShared: boolean;
}

let gpuForTfjs: GPU | undefined; // the create() result navigator.gpu points at: held for the process (Bun segfaults if it is collected)
let tfjs: Promise<TfjsSetup> | undefined;

/** TF.js with the webgpu backend, registered on octet's device (set up once per process). */
export function setupTfjs(): Promise<TfjsSetup> {
  return (tfjs ??= (async () => {
    const dev = await device();
    // Import first: with navigator.gpu unset the backend package does not register its own "webgpu" factory
    // (which would open a second device); then install the browser globals it checks for.
    const tf = await import("@tensorflow/tfjs-core");
    const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
    Object.assign(globalThis, globals);
    gpuForTfjs ??= create([]);
    Object.defineProperty(globalThis.navigator, "gpu", { value: gpuForTfjs, configurable: true });
    tf.env().set("IS_TEST", true); // no console banner about the backend being "experimental"
    let deviceShared = true;
    if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
    // The backend's kernels are registered under the name "webgpu", so our factory must use that name.
    tf.registerBackend("webgpu", () => new WebGPUBackend(dev));
    if (!(await tf.setBackend("webgpu"))) {
      // Fallback: a device of TF.js's own on the same adapter, with the limits it would ask for itself.
      deviceShared = false;
      tf.removeBackend("webgpu");
      tf.registerBackend("webgpu", async () => {
        const adapter = (await gpuForTfjs!.requestAdapter({ powerPreference: "high-performance" }))!;
        const l = adapter.limits;
        const own = await adapter.requestDevice({
          requiredLimits: {
            maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
            maxBufferSize: l.maxBufferSize,
            maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
            maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
            maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          },
        });
        return new WebGPUBackend(own);
      });
      if (!(await tf.setBackend("webgpu"))) throw new Error("bench: TF.js could not start its webgpu backend");
    }
    const backend = tf.backend() as unknown as TfBackend;
    if (backend.device !== dev) deviceShared = false;
    return { tf, backend, deviceShared };
  })());
}

/**
 * Submits what TF.js has recorded. It batches dispatches in one open compute pass and submits every
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (15) dispatches or on a read, so a timed step must end the pass and
 * submit itself, as TF.js does before a readback (submitQueue alone leaves the pass open: invalid encoder).
 */
function flushTfjs(backend: TfBackend): void {
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/** One Adam step's worth of TF.js state: variables no larger than one storage binding (TF.js binds whole buffers). */
async function tfjsProblem(n: number, maxVarElements: number, init: (tf: Tf, len: number, start: number) => { p: unknown; g: unknown }) {
  const { tf } = await setupTfjs();
  const vars: import("@tensorflow/tfjs-core").Variable[] = [];
  const grads: Record<string, import("@tensorflow/tfjs-core").Tensor> = {};
  for (let start = 0, j = 0; start < n; start += maxVarElements, j++) {
    const len = Math.min(maxVarElements, n - start);
    const { p, g } = init(tf, len, start) as { p: import("@tensorflow/tfjs-core").Tensor; g: import("@tensorflow/tfjs-core").Tensor };
    const v = tf.variable(p, true, `bench_adam_${uid}_${j}`);
    p.dispose();
    vars.push(v);
    grads[v.name] = g;
  }
  uid++;
  return { vars, grads, dispose: () => [...vars, ...Object.values(grads)].forEach((t) => t.dispose()) };
}
let uid = 0;

/** Times TF.js `adam.applyGradients` over n parameters, each step flushed and fenced. */
export async function timeTfjsAdam(n: number, opts: TimeOptions & { hyper?: AdamHyper } = {}): Promise<StepTiming & { deviceShared: boolean }> {
  const { tf, backend, deviceShared } = await setupTfjs();
  const h = opts.hyper ?? ADAM_DEFAULTS;
  const maxVar = Math.floor(backend.device.limits.maxStorageBufferBindingSize / 4 / 1024) * 1024;
  // Values do not change the speed of these kernels; fill keeps a 64M-parameter setup off the host.
  const prob = await tfjsProblem(n, maxVar, (tf, len) => ({ p: tf.fill([len], 0.5), g: tf.fill([len], 0.01) }));
  const opt = tf.train.adam(h.lr, h.beta1, h.beta2, h.eps);
  let dispatches = 0;
  const realRun = backend.runWebGPUProgram;
  const grads = prob.grads as unknown as Parameters<typeof opt.applyGradients>[0]; // TF.js types want Variables; it reads tensors
  const step = () => {
    opt.applyGradients(grads);
    flushTfjs(backend);
  };
  try {
    step(); // creates the moment variables and compiles the pipelines
    await backend.device.queue.onSubmittedWorkDone();
    backend.runWebGPUProgram = (...a: unknown[]) => (dispatches++, realRun.apply(backend, a));
    step();
    backend.runWebGPUProgram = realRun;
    await backend.device.queue.onSubmittedWorkDone();
    const s = await timeGpu(step, { warmup: 1, reps: 10, ...opts, device: backend.device });
    const detail = `${prob.vars.length} variable(s) of <= ${maxVar} params; ${deviceShared ? "octet's GPUDevice" : "its own GPUDevice on the same adapter"}`;
    return { ...timing("TF.js 4.22 tf.train.adam", n, s, dispatches, detail), deviceShared };
  } finally {
    backend.runWebGPUProgram = realRun;
    opt.dispose();
    prob.dispose();
  }
}

/** Runs TF.js Adam for `steps` steps on small data and returns the worst |p - reference| (TF.js does not expose m, v by index). */
export async function checkTfjsAdam(n = 1028, steps = 3, h: AdamHyper = { ...ADAM_DEFAULTS, lr: 1e-2 }): Promise<number> {
  const { tf } = await setupTfjs();
  const p0 = Float32Array.from({ length: n }, (_, i) => paramAt(i));
  const v = tf.variable(tf.tensor1d(p0), true, `bench_adam_check_${uid++}`);
  const opt = tf.train.adam(h.lr, h.beta1, h.beta2, h.eps);
  const ref = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
  try {
    for (let t = 1; t <= steps; t++) {
      const gh = Float32Array.from({ length: n }, (_, i) => gradAt(i, t));
      const g = tf.tensor1d(gh);
      opt.applyGradients({ [v.name]: g } as unknown as Parameters<typeof opt.applyGradients>[0]);
      g.dispose();
      referenceAdamStep(ref.p, gh, ref.m, ref.v, h, t);
    }
    return maxAbsDiff(await v.data(), ref.p);
  } finally {
    opt.dispose();
    v.dispose();
  }
}

// ------------------------------------------------------------------------------------------------------
const USAGE = `bun run bench optim-baselines [--params 16M[,64M,...]] [--no-tfjs]
  --params LIST  parameter counts (k/M suffixes are powers of two); default 16M
  --no-tfjs      skip TensorFlow.js (hand-written kernel only)
${COMMON_USAGE}`;

export async function main(argv: string[]): Promise<void> {
  const v = benchArgs(argv, {
    params: flag.string("parameter counts (k/M suffixes are powers of two)", { placeholder: "LIST", defaultText: "16M" }),
    "no-tfjs": flag.boolean("skip TensorFlow.js (hand-written kernel only)"),
  }, USAGE);
  const sizes = paramSizes(v.params, "16M", 4);
  const { reps, warmup } = repsAndWarmup(v, { reps: 5, warmup: 2 });
  const env = await environment();
  const notes: string[] = [];

  // A baseline that is fast and wrong is no baseline: both must match the plain-TS Adam first.
  const TOL = 2e-6; // p ~ 1 after 3 steps of lr 1e-2: a few f32 ulps; a wrong bias correction is off by ~1e-3
  const handErr = await checkHandAdam();
  if (!(handErr <= TOL)) throw new Error(`bench: hand-written Adam differs from the reference by ${handErr}`);
  notes.push(`hand-written Adam matches the plain-TS f32 Adam (3 steps, 1028 params, whole and in 2 chunks): max |diff| of p, m, v = ${handErr.toExponential(2)}`);
  let tfShared: boolean | undefined;
  if (!v["no-tfjs"]) {
    const tfErr = await checkTfjsAdam();
    if (!(tfErr <= TOL)) throw new Error(`bench: TF.js Adam differs from the reference by ${tfErr}`);
    tfShared = (await setupTfjs()).deviceShared;
    notes.push(`TF.js Adam matches the plain-TS f32 Adam (3 steps, 1028 params): max |p diff| = ${tfErr.toExponential(2)}`);
    notes.push(tfShared ? "TF.js runs on octet's GPUDevice (shared)" : "TF.js could not share octet's GPUDevice: it runs on its own device on the same adapter");
  }

  const rows: StepTiming[] = [];
  for (const n of sizes) {
    rows.push(await timeHandAdam(n, { reps, warmup }));
    if (!v["no-tfjs"]) rows.push(await timeTfjsAdam(n, { reps, warmup: Math.min(warmup, 1) }));
  }
  notes.push(`GB/s is effective: ${ADAM_BYTES_PER_PARAM} bytes/param (g, p, m, v read; p, m, v written) over the step time, whatever an implementation really moves`);
  const handOf = (n: number) => rows.find((r) => r.params === n && r.impl.startsWith("hand"))!;

  await report({
    bench: "optim-baselines",
    env,
    config: { params: sizes.join(","), reps, warmup, tfjs: !v["no-tfjs"], tfjsDeviceShared: tfShared ?? null, hyper: JSON.stringify(ADAM_DEFAULTS) },
    rows: rows.map((r) => ({ ...r, vsHand: handOf(r.params).msPerStep / r.msPerStep })),
    columns: [
      { label: "impl", value: (r) => r.impl },
      { label: "params", value: (r) => formatParams(r.params) },
      ...stepColumns<StepTiming & { vsHand: number }>(),
      { label: "speed vs hand", value: (r) => r.vsHand, digits: 3 },
      { label: "runs", value: (r) => r.stats.runs, digits: 0 },
      { label: "detail", value: (r) => r.detail },
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
