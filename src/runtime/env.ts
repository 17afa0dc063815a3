// Every environment knob octet reads, declared once with a one-line doc. `bun run kernels --knobs` and the
// README's table are generated from this list, so a knob cannot exist without its documentation. In a
// browser there is no environment: every knob reads as unset.
import { hostEnv } from "./host.ts";

export interface Knob {
  name: string;
  doc: string;
  read(): string | undefined;
}

const knob = (name: string, doc: string): Knob => ({ name, doc, read: () => hostEnv(name) });

export const KNOBS = {
  debug: knob(
    "OCTET_DEBUG",
    "debug ladder: 1 = log each kernel compile; 2 = + per-dispatch time and GB/s; 3 = + traced graph; 4 = + WGSL source",
  ),
  filter: knob("OCTET_FILTER", "only log / dump kernels whose name contains this substring"),
  dumpDir: knob("OCTET_DUMP_DIR", "write every compiled kernel's WGSL to this directory as <name>-<key>.wgsl"),
  overrideDir: knob(
    "OCTET_OVERRIDE_DIR",
    "load hand-edited WGSL from <dir>/<name>-<key>.wgsl instead of the generated source when the file exists",
  ),
  validate: knob(
    "OCTET_VALIDATE",
    "1 = run the kernel-IR interpreter beside the GPU for every dispatch and throw at the first mismatching index",
  ),
  maxBinding: knob(
    "OCTET_MAX_BINDING",
    "cap the storage-binding size in bytes (below the adapter's limit) to exercise the chunked path",
  ),
  webgpu: knob(
    "OCTET_WEBGPU",
    "which WebGPU to run on: native = the runtime's navigator.gpu (Deno's wgpu, a browser's), dawn = the webgpu npm package; default native where it exists, else dawn",
  ),
  wait: knob(
    "OCTET_WAIT",
    "how the JS thread waits for the GPU: nap = sleep between event-loop turns (stops Dawn's busy-polling from taking a core), await = plain await; default nap under Dawn on a CPU adapter (lavapipe) where Atomics.wait is allowed, else await",
  ),
  programCache: knob(
    "OCTET_PROGRAM_CACHE",
    "most lazy-graph programs kept (least recently used evicted, freeing its buffers and bind groups); default 256",
  ),
} as const;

export const DEFAULT_PROGRAM_CACHE = 256;

export function programCacheLimit(): number {
  const raw = KNOBS.programCache.read();
  if (raw === undefined || raw === "") return DEFAULT_PROGRAM_CACHE;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`octet: OCTET_PROGRAM_CACHE=${raw} is not a positive integer`);
  return v;
}

export function debugLevel(): number {
  const v = Number(KNOBS.debug.read() ?? 0);
  return Number.isFinite(v) ? v : 0;
}

export function nameFilterMatches(name: string): boolean {
  const f = KNOBS.filter.read();
  return !f || name.includes(f);
}

export function validateEnabled(): boolean {
  const v = KNOBS.validate.read();
  return v !== undefined && v !== "" && v !== "0";
}
