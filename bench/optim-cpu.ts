// CPU time of lavapipe's worker threads, for the optimizer benches: a figure that holds under load.
//
// On lavapipe the "GPU" is a pool of CPU threads. When other processes share the cores, a kernel's wall time
// swells with their share, but the CPU time the pool's threads spend running it does not (to first order:
// caches and hyperthreads are still shared). So the optim benches report, beside the fenced wall time, the
// median CPU ms per run of every thread of this process except the main JS thread (which busy-polls Dawn) and
// Bun's own named threads (JIT, GC, pools): what is left are lavapipe's compute workers (unnamed: their comm is
// the executable's, inherited; the rasterizer's are "llvmpipe-N") and Dawn's, read from each one's schedstat
// (nanoseconds on the CPU). The workers sleep between dispatches, so idle time is not counted. Where there is
// no /proc the figure is absent.
import { existsSync, readdirSync, readFileSync } from "node:fs";

const TASKS = "/proc/self/task";

/** Nanoseconds the device's worker threads have run so far, or undefined when there is no /proc to read. */
export function lavapipeCpuNs(): number | undefined {
  if (!existsSync(TASKS)) return undefined;
  let total = 0;
  let found = false;
  const own = readFileSync("/proc/self/comm", "utf8").trim(); // the executable's name: "bun", "bun.exe", ...
  for (const tid of readdirSync(TASKS)) {
    try {
      if (tid === String(process.pid)) continue;
      const comm = readFileSync(`${TASKS}/${tid}/comm`, "utf8").trim();
      if (comm !== own && !comm.startsWith("llvmpipe")) continue;
      total += Number(readFileSync(`${TASKS}/${tid}/schedstat`, "utf8").split(" ")[0]);
      found = true;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return found ? total : undefined;
}

/**
 * Wraps each run so that it also fences itself and records the pool's CPU ms (pass the wrapped runs to
 * timeInterleaved with a no-op fence). `cpuMs[i]` then holds run i's samples, warmup included (dropped by
 * medianCpuMs).
 */
export function withCpuTime(runs: (() => unknown)[], fence: () => Promise<unknown>): { runs: (() => Promise<void>)[]; cpuMs: number[][] } {
  const cpuMs = runs.map(() => [] as number[]);
  const wrapped = runs.map((run, i) => async () => {
    const c0 = lavapipeCpuNs();
    await run();
    await fence();
    const c1 = lavapipeCpuNs();
    if (c0 !== undefined && c1 !== undefined) cpuMs[i].push((c1 - c0) / 1e6);
  });
  return { runs: wrapped, cpuMs };
}

/** The median of the last `reps` samples (the timed ones), or undefined without samples. */
export function medianCpuMs(samples: number[], reps: number): number | undefined {
  const s = samples.slice(-reps).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
