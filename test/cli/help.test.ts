// Every command line's --help (src/cli/args.ts): exits 0 and names every flag of the command's table, with its
// default; `kernels --help` used to crash with a stack trace. Run as the user runs them, in child processes.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { COMPARE, COMPARE_FLAGS } from "../../src/cli/compare.ts";
import { KERNELS, KERNELS_FLAGS } from "../../src/cli/kernels.ts";
import { SAMPLE, SAMPLE_FLAGS } from "../../src/cli/sample.ts";
import { TRAIN, TRAIN_FLAGS } from "../../src/cli/train.ts";
import { parseArgv, UsageError, type Command, type Flags } from "../../src/cli/args.ts";
import { TrainConfig } from "../../src/train/config.ts";
import { configIssues } from "../../src/train/trainer.ts";

const ROOT = join(import.meta.dir, "../..");
const BENCHES = ["attention", "bf16", "elementwise", "formats", "gpt2", "gpu", "matmul", "optim", "optim-levers", "optim-baselines", "scale", "soak", "train", "wait", "webgpu"];

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  // LP_NUM_THREADS set: the benches re-run themselves to pin it otherwise (not what --help is about).
  const p = Bun.spawn([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, LP_NUM_THREADS: "2" } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** The --help line of `--name`: the flag, its placeholder, then its meaning (and default) on the same line. */
const lineOf = (help: string, name: string) => help.split("\n").find((l) => new RegExp(`^\\s+(-\\w, )?--${name}\\b`).test(l));

const COMMANDS: [string, string, Flags][] = [
  ["train", "src/cli/train.ts", TRAIN_FLAGS],
  ["compare", "src/cli/compare.ts", COMPARE_FLAGS],
  ["sample", "src/cli/sample.ts", SAMPLE_FLAGS],
  ["kernels", "src/cli/kernels.ts", KERNELS_FLAGS],
];

describe("--help", () => {
  // Spawned together (each is a Bun start-up): the file stays fast on two cores.
  let helps: Promise<Awaited<ReturnType<typeof run>>[]> | undefined;
  test.each(COMMANDS)("%s --help exits 0, names every flag with its meaning and default", async (_name, file, flags) => {
    helps ??= Promise.all(COMMANDS.map(([, f]) => run([f, "--help"])));
    const { code, out, err } = (await helps)[COMMANDS.findIndex(([, f]) => f === file)];
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toStartWith("usage: ");
    for (const [k, f] of Object.entries(flags)) {
      const line = lineOf(out, k);
      expect(line, `--${k} in ${file} --help`).toBeDefined();
      expect(line!).toContain(f.doc);
      const dflt = f.defaultText ?? (f.default === undefined || f.default === false ? undefined : String(f.default).split(",")[0]);
      if (dflt !== undefined) expect(line!).toContain(`(default: `);
    }
    expect(lineOf(out, "help")).toBeDefined();
  });

  test("-h is --help; the defaults shown are the values used (train: TrainConfig's own)", async () => {
    const { code, out } = await run(["src/cli/train.ts", "-h"]);
    expect(code).toBe(0);
    expect(lineOf(out, "steps")).toContain("(default: 300)");
    expect(lineOf(out, "lr")).toContain("(default: 0.003)");
    expect(lineOf(out, "embedding")).toContain("(default: stable)");
    expect(lineOf(out, "prompt")).toContain('(default: "The ")');
    // paged_* are not offered (they can only fail): see optim-names.test.ts for the refusal
    expect(out).not.toContain("paged_");
  });

  test("bench --help (the launcher) and every bench's --help exit 0 and name each flag of their synopsis", async () => {
    const launcher = await run(["bench/main.ts", "--help"]);
    expect(launcher.code).toBe(0);
    for (const b of BENCHES) expect(launcher.out).toContain(b);
    const all = await Promise.all(BENCHES.map((b) => run([`bench/${b}.ts`, "--help"])));
    all.forEach(({ code, out, err }, i) => {
      expect(code, `bench ${BENCHES[i]} --help: ${err}`).toBe(0);
      const [synopsis, flagList] = out.split("\nflags:\n");
      expect(flagList, `bench ${BENCHES[i]}`).toBeDefined();
      for (const m of synopsis.matchAll(/--([a-z][a-z0-9-]*)/g)) expect(lineOf(flagList, m[1]), `bench ${BENCHES[i]} --${m[1]}`).toBeDefined();
      expect(lineOf(flagList, "help")).toBeDefined();
    });
  });
});

// In-process: what the shared parser says about each mistake (spawning every case costs seconds).
const IN_PROCESS: [Command, string[], RegExp][] = [
  [TRAIN, ["--stepz", "3"], /^unknown flag --stepz \(did you mean --steps\?\)$/],
  [TRAIN, ["--steps", "many"], /^--steps "many": expected a number$/],
  [TRAIN, ["--steps", "2.5"], /^--steps "2.5": expected a whole number$/],
  [TRAIN, ["--steps"], /^--steps needs a value \(--steps N; /],
  [TRAIN, ["--resume=yes"], /^--resume takes no value$/],
  [TRAIN, ["extra"], /^unexpected argument extra/],
  [TRAIN, ["--embedding", "fancy"], /^--embedding "fancy": expected one of plain, stable, adanorm$/],
  [TRAIN, ["--eval-every", "0"], /^--eval-every "0": must be at least 1$/],
  [TRAIN, ["--lr=-1"], /^--lr "-1": must be greater than 0$/],
  [TRAIN, ["--lr", "-1"], /^--lr needs a value \(--lr X; a value starting with "-" is written --lr=-1\)$/],
  [TRAIN, ["--optim", "paged_adamw_8bit"], /paged optimizers need unified memory, which WebGPU does not have; use adamw_8bit/],
  [TRAIN, ["--optim", "adamw_9bit"], /^--optim: unknown optimizer "adamw_9bit"; valid: adamw_torch/],
  [COMPARE, ["--steps", "0"], /^--steps "0": must be at least 1$/],
  [SAMPLE, ["--temperature", "hot"], /^--temperature "hot": expected a number$/],
  [KERNELS, ["--grpah"], /^unknown flag --grpah \(did you mean --graph\?\)$/],
];

test.each(IN_PROCESS)("%#: a usage error names the flag", (c, argv, message) => {
  expect(() => parseArgv(c, argv)).toThrow(UsageError);
  expect(() => parseArgv(c, argv)).toThrow(message);
});

test("a config mistake found after parsing names the flag too (--seq past the arch's context)", () => {
  const r = TrainConfig.safeParse({ optim: "adamw_8bit", arch: "gpt2-small", seq: 2048 });
  expect(r.success).toBe(false);
  expect(configIssues(r.error!)).toMatch(/^--seq: 2048 exceeds the model's context of 1024/);
  const e = TrainConfig.safeParse({ optim: "adamw_8bit", evalEvery: 0 });
  expect(configIssues(e.error!)).toMatch(/^--eval-every: /);
});

// As the user runs them: exit status 2 and the message on stderr, before any device or corpus is touched.
const SPAWNED: [string[], RegExp][] = [
  [["src/cli/train.ts", "--optim", "paged_lion_8bit"], /^train: --optim: "paged_lion_8bit": paged optimizers need unified memory, which WebGPU does not have; use lion_8bit/],
  [["src/cli/train.ts", "--arch", "gpt2-small", "--seq", "2048"], /^train: --seq: 2048 exceeds the model's context of 1024/],
  [["src/cli/compare.ts", "--runs", "nothing-like-this"], /^compare: --runs nothing-like-this: matches none of/],
  [["src/cli/sample.ts"], /^sample: --from DIR is required/],
  [["src/cli/kernels.ts", "nope"], /^kernels: unknown kernel "nope"/],
  [["bench/optim.ts", "--bogus"], /^bench optim: unknown flag --bogus/],
  [["bench/train.ts", "--reps", "3"], /^bench train: unknown flag --reps/], // bench train times rounds, not reps: refused, not ignored
  [["bench/train.ts", "--wait", "spin"], /^bench train: --wait spin: is not a wait mode: use await/],
  [["bench/webgpu.ts", "--reps", "x"], /^bench webgpu: --reps "x": expected a number/], // it read flags by hand and ignored what it did not know
];

test("usage errors exit 2 with a message naming the flag (no stack trace)", async () => {
  const results = await Promise.all(SPAWNED.map(([args]) => run(args)));
  results.forEach(({ code, err }, i) => {
    const what = SPAWNED[i][0].join(" ");
    expect(err, what).toMatch(SPAWNED[i][1]);
    expect(err, what).toContain("(run with --help for every flag)");
    expect(err, what).not.toMatch(/^\s+at /m);
    expect(code, what).toBe(2);
  });
});
