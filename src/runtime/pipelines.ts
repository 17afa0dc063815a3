// The kernel cache: one compiled pipeline per kernel key (a hash of the lowered kernel, never of a size),
// plus the WGSL dump/override knobs and compile errors that show the WGSL lines around the fault.
import { DTYPES } from "../dsl/dtype.ts";
import type { Kernel } from "../codegen/kernel.ts";
import { emitWgsl, workgroupSize } from "../codegen/wgsl.ts";
import { debugLevel, KNOBS, nameFilterMatches } from "./env.ts";
import { hostModule } from "./host.ts";

export interface CompiledKernel {
  kernel: Kernel;
  wgsl: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  workgroup: number;
  /** Bytes each element moves through memory (reads + writes), for GB/s figures. */
  bytesPerElement: number;
}

// Pipelines belong to the device that compiled them: a new device (after a loss) starts an empty cache.
const caches = new WeakMap<GPUDevice, { cache: Map<string, CompiledKernel>; pending: Map<string, Promise<CompiledKernel>> }>();
let latest: Map<string, CompiledKernel> = new Map();
let compileCount = 0;

function cacheOf(dev: GPUDevice) {
  let c = caches.get(dev);
  if (!c) caches.set(dev, (c = { cache: new Map(), pending: new Map() }));
  latest = c.cache;
  return c;
}

export class KernelCompileError extends Error {
  constructor(kernel: Kernel, message: string) {
    super(`octet: kernel ${kernel.name} (key ${kernel.key}) failed to compile:\n${message}`);
    this.name = "KernelCompileError";
  }
}

/** The WGSL lines around `line` (1-based), numbered, with the faulty one marked. */
export function excerpt(wgsl: string, line: number, context = 3): string {
  const lines = wgsl.split("\n");
  const lo = Math.max(1, line - context);
  const hi = Math.min(lines.length, line + context);
  const out: string[] = [];
  for (let i = lo; i <= hi; i++) out.push(`${i === line ? ">" : " "}${String(i).padStart(5)} | ${lines[i - 1]}`);
  return out.join("\n");
}

function bytesPerElement(k: Kernel): number {
  // Only whole-element traffic counts (per-row and per-column reads are amortized away).
  let b = 0;
  for (const bd of k.bindings) {
    if (bd.mode !== "elem") continue;
    const size = DTYPES[bd.dtype].bits / 8;
    b += size * (+bd.read + +bd.write);
  }
  return b;
}

export async function compile(dev: GPUDevice, kernel: Kernel): Promise<CompiledKernel> {
  const { cache, pending } = cacheOf(dev);
  const hit = cache.get(kernel.key);
  if (hit) return hit;
  const inflight = pending.get(kernel.key);
  if (inflight) return inflight;
  const p = compileUncached(dev, kernel, cache).finally(() => pending.delete(kernel.key));
  pending.set(kernel.key, p);
  return p;
}

async function compileUncached(dev: GPUDevice, kernel: Kernel, cache: Map<string, CompiledKernel>): Promise<CompiledKernel> {
  let wgsl = emitWgsl(kernel);
  const file = `${kernel.name}-${kernel.key}.wgsl`;
  // The file knobs reach the file system only when set (a browser has neither knobs nor files).
  const overrideDir = KNOBS.overrideDir.read();
  if (overrideDir) {
    const fs = hostModule("node:fs", "OCTET_OVERRIDE_DIR");
    const path = hostModule("node:path", "OCTET_OVERRIDE_DIR").join(overrideDir, file);
    if (fs.existsSync(path)) {
      wgsl = fs.readFileSync(path, "utf8");
      // Always said: a swapped kernel computes what the file says, not what the graph does.
      console.error(`octet: OCTET_OVERRIDE_DIR: kernel ${kernel.name} (key ${kernel.key}) runs ${path} instead of its generated WGSL`);
    }
  }
  const dumpDir = KNOBS.dumpDir.read();
  if (dumpDir && nameFilterMatches(kernel.name)) {
    const fs = hostModule("node:fs", "OCTET_DUMP_DIR");
    fs.mkdirSync(dumpDir, { recursive: true });
    fs.writeFileSync(hostModule("node:path", "OCTET_DUMP_DIR").join(dumpDir, file), wgsl);
  }
  const level = debugLevel();
  if (level >= 1 && nameFilterMatches(kernel.name)) {
    console.error(`octet: compile ${kernel.name} key=${kernel.key} (${kernel.kind}, L=${kernel.L}, vec${kernel.vec})`);
    // Level 4's WGSL opens with a banner holding the source graph (codegen/banner.ts): print the graph once, not
    // again before it (an overridden file without the banner gets the graph printed first).
    const inBanner = kernel.source.split("\n").every((l) => wgsl.includes(`//   ${l}`));
    if (level >= 4) console.error(inBanner ? wgsl : `${kernel.source}\n${wgsl}`);
    else if (level >= 3) console.error(kernel.source);
  }
  dev.pushErrorScope("validation");
  const module = dev.createShaderModule({ code: wgsl, label: kernel.name });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === "error");
  const scoped = await dev.popErrorScope();
  if (errs.length || scoped) {
    const detail = errs.length
      ? errs.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}\n${excerpt(wgsl, m.lineNum)}`).join("\n")
      : scoped!.message;
    throw new KernelCompileError(kernel, detail);
  }
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } },
    ...kernel.bindings.map((b, i) => ({
      binding: i + 1,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: (b.write ? "storage" : "read-only-storage") as GPUBufferBindingType },
    })),
  ];
  dev.pushErrorScope("validation");
  const layout = dev.createBindGroupLayout({ entries, label: kernel.name });
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await dev.createComputePipelineAsync({
      label: kernel.name,
      layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
  } catch (e) {
    await dev.popErrorScope();
    throw new KernelCompileError(kernel, `${(e as Error).message}\n${excerpt(wgsl, 1, 0)}`);
  }
  const err = await dev.popErrorScope();
  if (err) throw new KernelCompileError(kernel, err.message);
  compileCount++;
  const ck: CompiledKernel = { kernel, wgsl, pipeline, layout, workgroup: workgroupSize(kernel), bytesPerElement: bytesPerElement(kernel) };
  cache.set(kernel.key, ck);
  return ck;
}

/** Every kernel compiled so far in this process: name, key, WGSL, bindings, bytes per element. */
export function compiledKernels(): { name: string; key: string; wgsl: string; source: string; bindings: Kernel["bindings"]; bytesPerElement: number }[] {
  return [...latest.values()].map((c) => ({
    name: c.kernel.name,
    key: c.kernel.key,
    wgsl: c.wgsl,
    source: c.kernel.source,
    bindings: c.kernel.bindings,
    bytesPerElement: c.bytesPerElement,
  }));
}

export function compileStats(): { compiles: number; cached: number } {
  return { compiles: compileCount, cached: latest.size };
}
