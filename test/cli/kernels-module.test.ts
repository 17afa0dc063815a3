// `npm run kernels -- --module ./my-optimizer.ts` prints a user optimizer's kernels; opt.kernels() compiles on
// demand before the first step, and lists the same kernels the first step then runs.
import { expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { SignSGD8bit } from "./fixtures/my-optimizer.ts";

test("kernels --module prints a user-defined optimizer's WGSL (8-bit and 32-bit) without a GPU", async () => {
  const run = Bun.spawnSync(["bun", "src/cli/kernels.ts", "--module", "test/cli/fixtures/my-optimizer.ts"], { stderr: "pipe" });
  const out = run.stdout.toString();
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  expect(out).toContain("// octet kernel: signsgd8bit");
  expect(out).toContain("// octet kernel: signsgd32bit");
  expect(out).toMatch(/m1/); // the DSL's names survive into the WGSL
  const bad = Bun.spawnSync(["bun", "src/cli/kernels.ts", "--module", "package.json"], { stderr: "pipe" });
  expect(bad.exitCode).toBe(2); // a usage error: the module given exports no optimizer
  expect(bad.stderr.toString()).toMatch(/exports no optimizer class/);
});

test("opt.kernels() before the first step traces the kernels the first step runs", async () => {
  const p = new octet.nn.Parameter(await octet.tensor(new Float32Array(5000).fill(0.5)));
  const q = new octet.nn.Parameter(await octet.tensor(new Float32Array(100).fill(0.5)));
  const opt = new SignSGD8bit([p, q]);
  const before = opt.kernels();
  expect(before.length).toBeGreaterThan(0);
  expect(before.map((k) => k.name).sort()).toEqual(["signsgd32bit", "signsgd8bit"]); // q is below min8bitSize
  p.grad = await octet.tensor(new Float32Array(5000).fill(0.1));
  q.grad = await octet.tensor(new Float32Array(100).fill(0.1));
  await opt.step();
  expect(opt.kernels().map((k) => k.key).sort()).toEqual(before.map((k) => k.key).sort());
});
