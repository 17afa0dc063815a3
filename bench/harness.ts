// Benchmark plumbing shared by the scripts in bench/: fenced GPU timing with robust statistics, GB/s, an
// environment header, a table printer and JSON output. Benchmarks are not tests: they print figures.
//
// Timing model: one "run" is whatever the caller's function encodes and submits (JS encode + submit + GPU
// work), closed by `await queue.onSubmittedWorkDone()` (waited for as octet waits, src/runtime/wait.ts: under
// Dawn the JS thread naps rather than spinning), so no run overlaps the next. Wall-clock time of
// a fenced run is what a training step waits for; on lavapipe the GPU *is* the CPU, so timestamp queries
// would add nothing but complexity.
import { cpus, loadavg } from "node:os";
import { defineCommand, flag, parseCommand, usageError, type Command, type Flag, type Flags } from "../src/cli/args.ts";
import { device, deviceInfo, gpuWait } from "../src/runtime/device.ts";
import { chooseWaitMode } from "../src/runtime/wait.ts";

// ------------------------------------------------------------------------------------------------------
// LP_NUM_THREADS: lavapipe sizes its rasterizer/compute thread pool from it when the driver loads, i.e. on
// the first `await device()`. Under Bun, assigning process.env does NOT reach the C environment that Mesa
// reads with getenv() (checked with bun:ffi: getenv still returns NULL), so the only reliable way to pin it
// is to start the process with it. Scripts call `pinLavapipeThreads()` first thing; if the variable is
// unset it re-runs the same command with it set. `bun run bench` (main.ts) sets it for its child directly.
export const DEFAULT_LP_NUM_THREADS = "2";
const DEFAULTED_FLAG = "OCTET_BENCH_LP_DEFAULTED";

export function pinLavapipeThreads(): void {
  if (process.env.LP_NUM_THREADS !== undefined) return;
  console.error(
    `bench: LP_NUM_THREADS is unset; re-running with LP_NUM_THREADS=${DEFAULT_LP_NUM_THREADS} ` +
      `(lavapipe reads it once, at driver load; set it yourself to choose another value)`,
  );
  const r = Bun.spawnSync([process.execPath, ...process.argv.slice(1)], {
    env: { ...process.env, LP_NUM_THREADS: DEFAULT_LP_NUM_THREADS, [DEFAULTED_FLAG]: "1" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  process.exit(r.exitCode ?? 1);
}

/** Environment for a child bench process: LP_NUM_THREADS pinned to the default when the user left it unset. */
export function benchChildEnv(): Record<string, string | undefined> {
  if (process.env.LP_NUM_THREADS !== undefined) return { ...process.env };
  return { ...process.env, LP_NUM_THREADS: DEFAULT_LP_NUM_THREADS, [DEFAULTED_FLAG]: "1" };
}

// ------------------------------------------------------------------------------------------------------
export interface Environment {
  adapter: string;
  lavapipe: boolean;
  lpNumThreads: string | null;
  lpNumThreadsSource: "user" | "bench default" | "unset";
  bun: string;
  cpus: number;
  cpuModel: string;
  maxStorageBindingBytes: number;
  /** 1-minute load average when the bench started: other processes on a 2-vCPU machine swamp these figures. */
  loadAvg1: number;
  date: string;
}

/** Acquires the shared device (if not yet) and describes where the figures come from. */
export async function environment(): Promise<Environment> {
  await device();
  const info = deviceInfo();
  const lavapipe = /llvmpipe|lavapipe/i.test(info.adapter);
  const lp = process.env.LP_NUM_THREADS ?? null;
  const env: Environment = {
    adapter: info.adapter,
    lavapipe,
    lpNumThreads: lp,
    lpNumThreadsSource: lp === null ? "unset" : process.env[DEFAULTED_FLAG] ? "bench default" : "user",
    bun: Bun.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model?.trim() ?? "unknown",
    maxStorageBindingBytes: info.maxStorageBindingBytes,
    loadAvg1: loadavg()[0],
    date: new Date().toISOString(),
  };
  if (env.loadAvg1 > env.cpus / 2)
    console.error(`bench: WARNING: load average ${env.loadAvg1.toFixed(2)} on ${env.cpus} CPUs: other processes are running; expect slow, noisy figures`);
  if (lavapipe && lp === null)
    console.error("bench: WARNING: running on lavapipe with LP_NUM_THREADS unset; figures depend on Mesa's default thread count");
  return env;
}

export function formatEnvironment(e: Environment): string {
  const lp = e.lpNumThreads === null ? "unset" : `${e.lpNumThreads} (${e.lpNumThreadsSource})`;
  return [
    `adapter: ${e.adapter}${e.lavapipe ? " [lavapipe]" : ""}`,
    `LP_NUM_THREADS: ${lp}   bun: ${e.bun}   CPUs: ${e.cpus} x ${e.cpuModel}`,
    `max storage binding: ${formatBytes(e.maxStorageBindingBytes)}   load avg (1 min) at start: ${e.loadAvg1.toFixed(2)}${e.loadAvg1 > e.cpus / 2 ? " (BUSY MACHINE)" : ""}   date: ${e.date}`,
  ].join("\n");
}

// ------------------------------------------------------------------------------------------------------
export interface Stats {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  p10Ms: number;
  p90Ms: number;
  /** (p90 - p10) / median: a scale-free noise figure; above ~0.1 the medians deserve suspicion. */
  spread: number;
}

export interface TimeOptions {
  warmup?: number;
  reps?: number;
  /** Stop early (after at least `minReps`) once the timed runs have taken this long. */
  budgetMs?: number;
  minReps?: number;
  /** What "done" means; defaults to the device's queue draining, waited for in octet's wait mode (OCTET_WAIT). */
  fence?: () => Promise<unknown>;
  /** The device the runs submit to (default: octet's shared device). */
  device?: GPUDevice;
}

/** Linear-interpolated percentile of sorted samples (q in [0, 1]). */
export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export function summarize(samplesMs: number[]): Stats {
  const s = [...samplesMs].sort((a, b) => a - b);
  const median = percentile(s, 0.5);
  const p10 = percentile(s, 0.1);
  const p90 = percentile(s, 0.9);
  return { runs: s.length, medianMs: median, minMs: s[0], maxMs: s[s.length - 1], p10Ms: p10, p90Ms: p90, spread: (p90 - p10) / median };
}

/**
 * Times `run` (which encodes and submits GPU work) `reps` times after `warmup` untimed runs. Every run,
 * warm-up included, is fenced, so each sample is one complete run and queues never pile up.
 */
export async function timeGpu(run: () => unknown, opts: TimeOptions = {}): Promise<Stats> {
  return (await timeInterleaved([run], opts))[0];
}

/**
 * Times several runs round-robin (case A, B, C, A, B, C, ...), each run fenced. Comparisons between the
 * cases (octet vs hand-written) then see the same drift in clock, page cache and neighbours; on a shared
 * 2-vCPU machine that drift is larger than the differences being measured. `budgetMs` bounds all cases.
 */
export async function timeInterleaved(runs: (() => unknown)[], opts: TimeOptions = {}): Promise<Stats[]> {
  const dev = opts.device ?? (await device());
  // A run whose command buffer fails validation does no work and looks fast: refuse to report it.
  dev.pushErrorScope("validation");
  try {
    return await timeRounds(runs, opts, dev);
  } finally {
    const err = await dev.popErrorScope();
    if (err) throw new Error(`bench: a timed run raised a WebGPU validation error; its timing is meaningless:\n${err.message}`);
  }
}

async function timeRounds(runs: (() => unknown)[], opts: TimeOptions, dev: GPUDevice): Promise<Stats[]> {
  const fence = opts.fence ?? (() => gpuWait(dev.queue.onSubmittedWorkDone()));
  const reps = opts.reps ?? 20;
  const minReps = Math.min(opts.minReps ?? 5, reps);
  for (let i = 0; i < (opts.warmup ?? 3); i++)
    for (const run of runs) {
      await run();
      await fence();
    }
  const samples: number[][] = runs.map(() => []);
  let spent = 0;
  for (let i = 0; i < reps; i++) {
    for (const [j, run] of runs.entries()) {
      const t0 = performance.now();
      await run();
      await fence();
      const ms = performance.now() - t0;
      samples[j].push(ms);
      spent += ms;
    }
    if (opts.budgetMs !== undefined && spent >= opts.budgetMs && i + 1 >= minReps) break;
  }
  return samples.map(summarize);
}

/** GB/s (10^9 bytes per second) for `bytes` moved in `ms`. */
export const gbps = (bytes: number, ms: number): number => bytes / ms / 1e6;

export function formatBytes(b: number): string {
  if (b >= 1 << 30) return `${+(b / (1 << 30)).toFixed(2)} GiB`;
  if (b >= 1 << 20) return `${+(b / (1 << 20)).toFixed(2)} MiB`;
  if (b >= 1 << 10) return `${+(b / (1 << 10)).toFixed(2)} KiB`;
  return `${b} B`;
}

// ------------------------------------------------------------------------------------------------------
export interface Column<R> {
  label: string;
  value: (r: R) => string | number | undefined | null;
  /** Digits after the point for numbers (default 3). */
  digits?: number;
}

/** A plain-text table: numbers right-aligned, text left-aligned. */
export function formatTable<R>(rows: R[], cols: Column<R>[]): string {
  const cells = rows.map((r) =>
    cols.map((c) => {
      const v = c.value(r);
      if (v === undefined || v === null || (typeof v === "number" && Number.isNaN(v))) return "-";
      return typeof v === "number" ? v.toFixed(c.digits ?? 3) : v;
    }),
  );
  const numeric = cols.map((c) => rows.some((r) => typeof c.value(r) === "number"));
  const widths = cols.map((c, j) => Math.max(c.label.length, ...cells.map((row) => row[j].length)));
  const pad = (s: string, j: number) => (numeric[j] ? s.padStart(widths[j]) : s.padEnd(widths[j]));
  const line = (xs: string[]) => xs.map(pad).join("  ").trimEnd();
  return [line(cols.map((c) => c.label)), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/** Prints a benchmark's report: header, table and notes, or only JSON with `json`; also writes JSON to `out`. */
export async function report<R>(opts: {
  bench: string;
  env: Environment;
  config: Record<string, unknown>;
  rows: R[];
  columns: Column<R>[];
  notes?: string[];
  json?: boolean;
  out?: string;
  /** Also end the table with one line of JSON holding the rows without their timing samples (for a grep). */
  rowsLine?: boolean;
}): Promise<void> {
  const endLoad = loadavg()[0];
  const notes = [...(opts.notes ?? [])];
  // The bench itself loads the machine (lavapipe's threads + Bun's), so the bar at the end is higher.
  if (opts.env.loadAvg1 > opts.env.cpus / 2 || endLoad > 2 * opts.env.cpus)
    notes.push(`the machine was busy (load average ${opts.env.loadAvg1.toFixed(2)} at start, ${endLoad.toFixed(2)} at end, ${opts.env.cpus} CPUs): these figures understate the hardware; rerun on an idle machine`);
  const doc = { bench: opts.bench, env: { ...opts.env, loadAvg1End: endLoad }, config: opts.config, results: opts.rows, notes };
  const text = JSON.stringify(doc, null, 2);
  await writeJsonOut(opts.out, text);
  if (opts.json) {
    console.log(text);
    return;
  }
  console.log(`== bench ${opts.bench}`);
  console.log(formatEnvironment(opts.env));
  console.log(`config: ${Object.entries(opts.config).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  console.log();
  console.log(formatTable(opts.rows, opts.columns));
  if (notes.length) console.log("\n" + notes.map((n) => `note: ${n}`).join("\n"));
  if (opts.rowsLine) console.log(JSON.stringify({ bench: opts.bench, rows: opts.rows.map((r) => { const { stats: _s, ...rest } = r as R & { stats?: unknown }; return rest; }) }));
}

/** `--out FILE`: the JSON document (or its text) also goes to FILE. */
export async function writeJsonOut(out: string | undefined, doc: unknown): Promise<void> {
  if (out) await Bun.write(out, (typeof doc === "string" ? doc : JSON.stringify(doc, null, 2)) + "\n");
}

// ------------------------------------------------------------------------------------------------------
/** Flags every bench takes (their values stay text: `positive()` reads counts with k/M/G suffixes). */
export const COMMON_FLAGS = {
  json: flag.boolean("print only JSON (for scripts)"),
  out: flag.string("also write the JSON to FILE", { placeholder: "FILE" }),
  reps: flag.string("timed runs per case (each fenced with onSubmittedWorkDone)", { placeholder: "N", defaultText: "the bench's" }),
  warmup: flag.string("untimed runs first", { placeholder: "N", defaultText: "the bench's" }),
  wait: flag.string("how octet waits for the GPU: await or nap (sets OCTET_WAIT; `bench wait` compares them)", { placeholder: "MODE", defaultText: "OCTET_WAIT, else nap under Dawn on a CPU adapter" }),
} as const satisfies Flags;

export type BenchValues = { json: boolean; out?: string; reps?: string; warmup?: string; wait?: string } & Record<string, string | boolean | undefined>;

/** A bench's own flag: an args.ts Flag, or a bare parseArgs option whose meaning is a `--name  doc` line of the usage text. */
type BenchFlag = Flag | { type: "string" | "boolean"; default?: string | boolean };

/** The meaning of `--name` in a usage text: what follows `--name`, `--name=VALUE` or `--name N` up to the next flag. */
function docFromUsage(usage: string, name: string): string {
  const flagDoc = `--${name}(?:=\\S+|\\s+[A-Z][A-Z,.]*)?(?![\\w-])[ \\t]+(.+?)(?=\\s{2,}--|$)`;
  // Only a line of its own: in a synopsis ("[--params 16M] [--reps N]") what follows a flag is the next flag, not a doc.
  const m = new RegExp(`^\\s*${flagDoc}`, "m").exec(usage);
  return m?.[1].trim() || "see the usage line above";
}

/**
 * The bench's command: COMMON_FLAGS plus its own, parsed by the command lines' shared layer (src/cli/args.ts):
 * --help prints `usage` and every flag with its default, exit 0; a usage error names the flag, exit 2.
 */
export function benchCommand(name: string, own: Record<string, BenchFlag>, usage: string, common: readonly (keyof typeof COMMON_FLAGS)[] = COMMON_KEYS): Command {
  // Only the common flags the bench honours: one it would ignore is refused as unknown, not accepted.
  const flags: Flags = Object.fromEntries(common.map((k) => [k, COMMON_FLAGS[k]]));
  for (const [k, f] of Object.entries(own)) {
    if ("schema" in f) flags[k] = f;
    else if (f.type === "boolean") flags[k] = flag.boolean(docFromUsage(usage, k));
    else flags[k] = flag.string(docFromUsage(usage, k), { placeholder: "VALUE", ...(typeof f.default === "string" ? { default: f.default } : {}) });
  }
  // The usage text: its synopsis lines (the first, and continuations starting "  ["), then prose; its per-flag
  // lines and COMMON_USAGE are left out (the flag list says the same, with defaults).
  const lines = usage.replace(/^usage:\s*/, "").split("\n");
  let n = 1;
  while (n < lines.length && /^\s+\[/.test(lines[n])) n++;
  const prose = lines.slice(n).filter((l, i, all) => !/^\s+--|^common flags:|^\s{8,}/.test(l) && !(i > 0 && /^\s+--/.test(all[i - 1]) && /^\s{8,}/.test(l)));
  return defineCommand({ name: `bench ${name}`, usage: lines.slice(0, n).join("\n"), summary: prose.join("\n").trim() || `The ${name} benchmark.`, flags });
}

const COMMON_KEYS = Object.keys(COMMON_FLAGS) as (keyof typeof COMMON_FLAGS)[];

/** Parses a bench's argv (see benchCommand); exits 0 after --help, 2 on a usage error. */
export function benchArgs(argv: string[], own: Record<string, BenchFlag>, usage: string, common?: readonly (keyof typeof COMMON_FLAGS)[]): BenchValues {
  const name = /bench (\S+)/.exec(usage)?.[1] ?? "bench";
  const v = parseCommand(benchCommand(name, own, usage, common), argv).values as BenchValues;
  if (typeof v.wait === "string") {
    // Read when the device is acquired (after this): refused now if it names no mode or one Dawn cannot use here.
    try {
      chooseWaitMode(v.wait, { implementation: "dawn", cpu: true });
    } catch (e) {
      usageError(`bench ${name}`, `--wait ${v.wait}: ${(e as Error).message.replace(/^octet: OCTET_WAIT=\S+ /, "")}`);
    }
    process.env.OCTET_WAIT = v.wait;
  }
  return v;
}

/** `--params 16M,64M`: sizes in elements, each rounded up to a multiple of `multiple` (an optimizer's block). */
export function paramSizes(v: string | boolean | undefined, fallback: string, multiple: number): number[] {
  return String(typeof v === "string" ? v : fallback).split(",").map((s) => Math.ceil(positive("params", s, 0) / multiple) * multiple);
}

/**
 * Lets garbage be collected and finalizers run (three forced collections, 20 ms apart), so that buffers of
 * objects a benchmark dropped are back in the pool before the next memory reading.
 */
export async function settleCollection(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    Bun.gc(true);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A positive number from a flag's string (with a k/M/G suffix for counts: 16M = 16 * 2^20). */
export function positive(flag: string, v: string | boolean | undefined, fallback: number): number {
  if (v === undefined || typeof v === "boolean") return fallback;
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(v.trim());
  const mult = m ? { "": 1, k: 1 << 10, K: 1 << 10, m: 1 << 20, M: 1 << 20, g: 1 << 30, G: 1 << 30 }[m[2]]! : NaN;
  const n = m ? Number(m[1]) * mult : NaN;
  if (!(n > 0)) {
    console.error(`bench: --${flag} wants a positive number (e.g. 64, 16M), got "${v}"`);
    process.exit(2);
  }
  return n;
}

/** `--reps` (timed runs, positive) and `--warmup` (untimed runs first; 0 is allowed), with the bench's defaults. */
export function repsAndWarmup(v: BenchValues, defaults: { reps: number; warmup: number }): { reps: number; warmup: number } {
  return { reps: positive("reps", v.reps, defaults.reps), warmup: v.warmup === "0" ? 0 : positive("warmup", v.warmup, defaults.warmup) };
}

/** A parameter count in the table's unit: 16777216 -> "16M" (powers of two, as --params reads them). */
export const formatParams = (n: number): string => `${+(n / (1 << 20)).toFixed(2)}M`;

export const COMMON_USAGE = `common flags:
  --reps N      timed runs per case (each fenced with onSubmittedWorkDone)
  --warmup N    untimed runs first
  --json        print only JSON (for scripts)
  --out FILE    also write the JSON to FILE`;
