// The one shared WebGPU device, acquired lazily on first use. A lost device stays lost: every later call that
// needs it throws a DeviceLostError (errors.ts), until `octet.device()` acquires a new one; buffers of the lost
// device keep throwing (ownership is tracked per buffer), so nothing silently runs on a dead device.
//
// Which WebGPU: the runtime's own `navigator.gpu` where it has one (Deno's wgpu, a browser's), else Dawn from
// the `webgpu` npm package (Bun, Node), imported dynamically so that Deno and browsers never load Dawn.
// OCTET_WEBGPU=native|dawn forces one; deviceInfo().implementation says which is in use.
//
// Under Bun the object returned by Dawn's `create([...])` must stay strongly referenced for the whole process:
// if it is garbage-collected, the process segfaults inside ProcessEvents while awaiting GPU work. `gpuRoot`
// below holds it for the life of the module (and so of the process).
import { debugLevel, KNOBS } from "./env.ts";
import { DeviceLostError, ErrorSink, GpuError } from "./errors.ts";
import { defaultHostEnv, hostEnv } from "./host.ts";
import { DRIVER_VARS, noAdapterHelp, NoAdapterError } from "./adapter-help.ts";
import { chooseWaitMode, GpuWaiter, type WaitMode } from "./wait.ts";

/** The message when no adapter is found and the environment does not point the Vulkan loader anywhere. */
export const NO_ADAPTER_HELP = noAdapterHelp({});

/** native = the runtime's own navigator.gpu (Deno: wgpu; a browser: its WebGPU); dawn = the `webgpu` npm package. */
export type WebGpuImplementation = "native" | "dawn";

export interface DeviceInfo {
  /** Which WebGPU octet runs on (OCTET_WEBGPU forces one). */
  implementation: WebGpuImplementation;
  adapter: string;
  features: string[];
  maxStorageBindingBytes: number;
  maxBufferBytes: number;
  maxWorkgroupStorageBytes: number;
  maxWorkgroupInvocations: number;
  maxWorkgroupsPerDimension: number;
  minStorageOffsetAlignment: number;
  hasF16: boolean;
  hasSubgroups: boolean;
  /** Fewest invocations one subgroup has (the adapter's subgroupMinSize); 0 without subgroups. */
  subgroupMinSize: number;
  hasTimestamps: boolean;
  /** Storage buffers one kernel may bind (maxStorageBuffersPerShaderStage). */
  maxStorageBuffersPerStage: number;
  /** A CPU adapter (lavapipe/llvmpipe, SwiftShader): the scheduler picks the barrier-free matmul for it. */
  cpu: boolean;
  /** How the JS thread waits for GPU work (wait.ts; OCTET_WAIT forces one). */
  wait: WaitMode;
}

let gpuRoot: GPU | undefined; // held forever: see the comment at the top of this file
let devicePromise: Promise<GPUDevice> | undefined;
let current: Acquired | undefined;
let bindingCap: number | undefined;

/** One acquired device: its facts, the GPU errors found on it, and why it was lost (once it is). */
interface Acquired {
  device: GPUDevice;
  info: DeviceInfo;
  errors: ErrorSink;
  /** Waits for this device's promises (readbacks, fences) in info.wait's mode; `chosen` is the mode picked at acquisition. */
  waiter: GpuWaiter;
  chosen: WaitMode;
  lost?: { reason: string; message: string };
}

/** The device each GPU buffer octet allocated belongs to, so a buffer of a lost device is refused by name. */
const owners = new WeakMap<GPUBuffer, Acquired>();
const lostHooks: (() => void)[] = [];
/** The last loss, if any: errors about buffers of another device are then that loss showing through. */
let lostBefore: { reason: string; message: string } | undefined;

const OPTIONAL_FEATURES = ["shader-f16", "subgroups", "timestamp-query"] as const;

/** The WebGPU to use: OCTET_WEBGPU's choice, else the runtime's own where it has one, else Dawn. */
export function chooseImplementation(forced: string | undefined, hasNative: boolean): WebGpuImplementation {
  if (forced === undefined || forced === "") return hasNative ? "native" : "dawn";
  if (forced !== "native" && forced !== "dawn")
    throw new Error(`octet: OCTET_WEBGPU=${forced} is not a WebGPU implementation: use native (the runtime's navigator.gpu) or dawn (the webgpu npm package)`);
  if (forced === "native" && !hasNative)
    throw new Error("octet: OCTET_WEBGPU=native, but this runtime has no navigator.gpu (Bun and Node have none: unset OCTET_WEBGPU to use Dawn)");
  return forced;
}

let implementation: WebGpuImplementation | undefined;

async function gpuEntry(): Promise<{ gpu: GPU; implementation: WebGpuImplementation }> {
  const native = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  implementation ??= chooseImplementation(KNOBS.webgpu.read(), native !== undefined);
  if (implementation === "native") return { gpu: native!, implementation };
  if (!gpuRoot) {
    defaultHostEnv("XDG_RUNTIME_DIR", "/tmp"); // Dawn's Vulkan loader warns and may fail without it
    const dawn = await import("webgpu");
    // GPUBufferUsage, GPUMapMode, ... as in a browser; a runtime with its own WebGPU keeps its own.
    for (const [name, value] of Object.entries(dawn.globals)) if (!(name in globalThis)) Object.assign(globalThis, { [name]: value });
    gpuRoot = dawn.create([]);
  }
  return { gpu: gpuRoot, implementation };
}

async function acquire(): Promise<GPUDevice> {
  const entry = await gpuEntry();
  const adapter = await entry.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter)
    throw new NoAdapterError(entry.implementation === "dawn" ? noAdapterHelp(Object.fromEntries(DRIVER_VARS.map((v) => [v, hostEnv(v)])))
      : "octet: navigator.gpu found no WebGPU adapter (a browser may need WebGPU enabled; Deno needs a Vulkan, Metal or D3D12 driver: on a machine without a GPU, Mesa's lavapipe, see bash .ci/install-lavapipe.sh)");
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  // Ask for the adapter's real limits: the defaults (128 MiB bindings, 16 KiB workgroup storage) are lower
  // than what large tensors and fused reductions want.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  const device = await adapter.requestDevice({ requiredFeatures: features as GPUFeatureName[], requiredLimits });
  const info = adapter.info;
  // CPU adapters (lavapipe/llvmpipe, SwiftShader) run barrier-free matmuls faster (codegen/matmul.ts).
  const cpu = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(`${info.description} ${info.architecture} ${info.device}`);
  const wait = chooseWaitMode(KNOBS.wait.read(), { implementation: entry.implementation, cpu });
  const acquired: Acquired = {
    device,
    errors: new ErrorSink(),
    waiter: new GpuWaiter(wait),
    chosen: wait,
    info: {
      implementation: entry.implementation,
      adapter: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") || "unknown",
      features: [...features],
      maxStorageBindingBytes: device.limits.maxStorageBufferBindingSize,
      maxBufferBytes: device.limits.maxBufferSize,
      maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
      maxWorkgroupInvocations: device.limits.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      minStorageOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
      hasF16: features.includes("shader-f16"),
      hasSubgroups: features.includes("subgroups"),
      subgroupMinSize: features.includes("subgroups") ? ((info as { subgroupMinSize?: number }).subgroupMinSize ?? 0) : 0,
      hasTimestamps: features.includes("timestamp-query"),
      maxStorageBuffersPerStage: device.limits.maxStorageBuffersPerShaderStage,
      cpu,
      wait,
    },
  };
  current = acquired;
  device.lost.then((lost) => {
    acquired.lost = { reason: lost.reason ?? "unknown", message: lost.message ?? "" };
    lostBefore = acquired.lost;
    if (debugLevel() >= 1) console.error(`octet: GPU device lost (${lost.reason}): ${lost.message}`);
    for (const hook of lostHooks) hook();
  });
  // Errors outside any error scope (uploads, copies, optimizer commands) are thrown by the next device() call.
  device.addEventListener("uncapturederror", (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    ev.preventDefault(); // it is thrown as a GpuError instead of logged
    // A raw command on a buffer of a device lost earlier (an optimizer's copy into its old arena) fails this way.
    if (lostBefore && /cannot be used with \[Device/.test(e.message)) acquired.errors.record(new DeviceLostError(lostBefore.reason, lostBefore.message, "running a command on one of its buffers"));
    else acquired.errors.record(new GpuError("uncaptured", "work outside any program (an upload, copy or optimizer command)", e.message));
  });
  return device;
}

function acquireOnce(): Promise<GPUDevice> {
  devicePromise ??= acquire().catch((e) => {
    devicePromise = undefined;
    throw e;
  });
  return devicePromise;
}

/**
 * The shared GPUDevice (acquired on first call), for octet's own calls: throws the GPU errors found since the
 * last call (GpuError), and a DeviceLostError once the device is lost. It does not wait for error scopes still
 * in flight (that would cost every program run a task switch); readbacks do (deviceSettled).
 */
export async function device(): Promise<GPUDevice> {
  const dev = await acquireOnce();
  const cur = current!;
  if (cur.lost) throw lostError(cur);
  cur.errors.throwFound();
  return dev;
}

/**
 * device(), after every error scope still in flight has come back: a readback calls it once its data has
 * arrived, so the errors of the work it waited for are thrown there and not by some later call.
 */
export async function deviceSettled(): Promise<GPUDevice> {
  const dev = await acquireOnce();
  const cur = current!;
  if (cur.lost) throw lostError(cur);
  await cur.errors.check();
  if (cur.lost) throw lostError(cur);
  return dev;
}

/**
 * `octet.device()`: the shared device, acquiring a new one when the previous one was lost (tensors, modules
 * and optimizers built on the lost one keep throwing a DeviceLostError).
 */
export async function acquireDevice(): Promise<GPUDevice> {
  if (current?.lost) {
    devicePromise = undefined;
    current = undefined;
  }
  return device();
}

/** The device if it has been acquired, for synchronous constructors (modules); throws a clear error otherwise. */
export function deviceNow(): GPUDevice {
  if (!current) throw new Error("octet: the GPU device is not acquired yet; `await octet.device()` once before building modules");
  if (current.lost) throw lostError(current);
  current.errors.throwFound();
  return current.device;
}

function lostError(a: Acquired, what = ""): DeviceLostError {
  return new DeviceLostError(a.lost!.reason, a.lost!.message, what);
}

/** The GPU errors of the current device (programs open their error scopes on it). */
export function deviceErrors(): ErrorSink {
  if (!current) throw new Error("octet: deviceErrors() called before the device was acquired");
  return current.errors;
}

/** Records that `buffer` belongs to the current device (storage.ts calls this for every buffer it creates). */
export function adoptBuffer(buffer: GPUBuffer): void {
  if (current) owners.set(buffer, current);
}

/**
 * Throws a DeviceLostError when `buffer` belongs to a device that is lost (or was replaced after a loss);
 * `what` names the tensor or binding, for the message.
 */
export function checkBuffer(buffer: GPUBuffer, what: string): void {
  const owner = owners.get(buffer);
  if (!owner || owner === current) {
    if (owner?.lost) throw lostError(owner, what);
    return;
  }
  if (owner.lost) throw lostError(owner, what);
  throw new Error(`octet: ${what} belongs to another GPU device than the current one`);
}

/** Whether `buffer` belongs to the current device and that device is not lost (only such buffers are pooled). */
export function bufferAlive(buffer: GPUBuffer): boolean {
  const owner = owners.get(buffer);
  return owner === current && !owner?.lost;
}

/** Runs `hook` whenever a device is lost (storage.ts drops its pool of the lost device's buffers). */
export function onDeviceLost(hook: () => void): void {
  lostHooks.push(hook);
}

/** Limits and features of the acquired device; call after `await device()`. */
export function deviceInfo(): DeviceInfo {
  if (!current) throw new Error("octet: deviceInfo() called before the device was acquired (await octet.device())");
  return current.info;
}

/**
 * `promise` (a mapAsync, an onSubmittedWorkDone of the current device), waited for in the device's wait mode
 * (wait.ts): under Dawn the JS thread naps instead of spinning in Dawn's polling. Before a device exists it is
 * a plain await.
 */
export function gpuWait<T>(promise: Promise<T>): Promise<T> {
  return current ? current.waiter.until(promise) : promise;
}

/**
 * Switches the current device's wait mode (benches compare them in one process; tests cover both); undefined
 * goes back to the mode chosen when the device was acquired. Returns the mode now in use.
 */
export function setWaitMode(mode: WaitMode | undefined): WaitMode {
  if (!current) throw new Error("octet: setWaitMode() called before the device was acquired (await octet.device())");
  const m = mode ?? current.chosen;
  if (m === "nap") chooseWaitMode("nap", current.info); // refuses where this thread cannot nap
  current.waiter.mode = m;
  current.info.wait = m;
  return m;
}

/** Naps the current device's waiter has taken (0 in await mode), for tests and benches. */
export const waitNaps = (): number => current?.waiter.naps ?? 0;

/** The largest storage binding kernels may use: the device limit, lowered by OCTET_MAX_BINDING or a test. */
export function storageBindingLimit(): number {
  const dev = current?.info.maxStorageBindingBytes ?? 128 * 1024 * 1024;
  const env = Number(KNOBS.maxBinding.read() ?? NaN);
  let lim = dev;
  if (Number.isFinite(env) && env > 0) lim = Math.min(lim, env);
  if (bindingCap !== undefined) lim = Math.min(lim, bindingCap);
  return lim;
}

/** Lower the binding limit (tests use this to force the chunked path on small tensors); undefined resets. */
export function setStorageBindingCap(bytes: number | undefined): void {
  bindingCap = bytes;
}
