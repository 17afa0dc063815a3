// What the command lines report (issue #11): the compare figure (loss curves over a panel of each run's difference
// from the 32-bit baseline, the legend below both, outside the data), numbers in titles taken from the models,
// logical state bytes beside allocated ones, Dawn's two start-up warnings filtered and nothing else, and the
// no-adapter advice when the environment is the cause.
import { describe, expect, test } from "bun:test";
import { chartSvg, compareChartSpec, movingMean } from "../../src/cli/plot.ts";
import { compareLabels, compareRows } from "../../src/cli/compare.ts";
import { withoutDawnLimitWarnings } from "../../src/cli/dawn-stderr.ts";
import { noAdapterHelp } from "../../src/runtime/adapter-help.ts";
import type { TrainResult } from "../../src/train/trainer.ts";
import { octet, param } from "../optim/helpers.ts";

const curve = (a: number, b: number, wiggle: number) => Array.from({ length: 60 }, (_, i) => ({ step: i + 1, loss: a * Math.exp(-i / 15) + b + wiggle * Math.sin(i) }));
const RUNS = [
  { name: "AdamW 32-bit, plain", points: curve(2, 1.5, 0.05) },
  { name: "AdamW8bit dynamic, plain", points: curve(2, 1.52, 0.05) },
  { name: "AdamW8bit linear, stable (diverged)", points: curve(2, 1.5, 0.05).map((p) => ({ ...p, loss: p.step > 30 ? 1e4 : p.loss })) },
];

describe("the compare figure", () => {
  test("two panels: loss curves, and each run minus the baseline, smoothed; one legend below both with every run", async () => {
    const spec = compareChartSpec(RUNS, RUNS[0].name, "GPT 2x4x64, 116,480-116,608 params", { yMax: 5, window: 5 }) as any;
    expect(spec.vconcat).toHaveLength(2);
    const [top, bottom] = spec.vconcat;
    expect(top.title.text).toBe("training loss (5-step mean)");
    expect(bottom.title.text).toMatch(/^difference from AdamW 32-bit, plain \(5-step mean/);
    // The difference is of the smoothed curves, paired by step; the baseline itself has no line, a zero rule instead.
    const diff = bottom.layer[1].data.values;
    const m0 = movingMean(RUNS[0].points, 5), m1 = movingMean(RUNS[1].points, 5);
    const at10 = diff.find((d: any) => d.series === RUNS[1].name && d.step === 10);
    expect(at10.diff).toBeCloseTo(m1[9].loss - m0[9].loss, 12);
    expect(diff.some((d: any) => d.series === RUNS[0].name)).toBe(false);
    // A diverged run leaves the difference panel where it leaves the loss panel (it would flatten the others).
    expect(Math.max(...diff.filter((d: any) => d.series === RUNS[2].name).map((d: any) => d.step))).toBeLessThan(35);
    expect(top.encoding.color.legend.orient).toBe("bottom");

    const svg = await chartSvg(spec);
    for (const r of RUNS) expect(svg).toContain(`>${r.name}<`); // every legend entry, whole
    expect(svg).toContain("training loss (5-step mean)");
    expect(svg).toContain("difference from AdamW 32-bit, plain");
    // The legend is drawn below both panels (outside the data): its group starts under the 300 + 200 px plots.
    expect(svg.split('class="mark-group role-legend"').length - 1).toBe(1); // one legend for both panels
    const legend = /class="mark-group role-legend"[^>]*><g transform="translate\(([\d.]+),([\d.]+)\)"/.exec(svg);
    expect(legend).not.toBeNull();
    expect(Number(legend![2])).toBeGreaterThan(500);
  });

  test("the title's parameter count comes from the trained models (plain and stable differ)", () => {
    const result = (name: string, params: number, finalEval: number) =>
      ({ name, parameterCount: params, finalEval, config: { layers: 2, heads: 4, width: 64, batch: 16, seq: 64 }, history: [{ step: 1, trainLoss: 3 }], msPerStep: 1, tokensPerSec: 1, optimizerStateBytes: 400, optimizerLogicalBytes: 300, vocabSize: 96, resumedFrom: 0 }) as unknown as TrainResult & { name: string };
    const rs = [result("AdamW 32-bit, plain", 116_480, 2.5), result("AdamW 32-bit, stable", 116_608, 2.4), result("AdamW8bit linear, plain", 116_480, 9e4)];
    const { title, labels } = compareLabels(rs, { steps: 200, seed: 0, yMax: 5 });
    expect(title).toBe("GPT 2x4x64, 116,480-116,608 params, batch 16 x seq 64, 200 steps, seed 0");
    expect(labels).toEqual([
      "AdamW 32-bit, plain (116,480 params, held-out 2.500)",
      "AdamW 32-bit, stable (116,608 params, held-out 2.400)",
      "AdamW8bit linear, plain (116,480 params, diverged: held-out loss 90000)",
    ]);
    const same = compareLabels([rs[0]], { steps: 200, seed: 0, yMax: 5 });
    expect(same.title).toContain("116,480 params");
    expect(same.labels[0]).toBe("AdamW 32-bit, plain (held-out 2.500)");
    const rows = compareRows(rs);
    expect(rows[0].stateBytes).toBe(300);
    expect(rows[0].allocatedBytes).toBe(400);
  });
});

test("logicalStateBytes: codes + one f32 absmax a block + 32-bit fallbacks, what a checkpoint holds; allocated is more", async () => {
  const big = await param(new Float32Array(5000).fill(0.5)); // 8-bit: 5000 codes + 20 blocks of 256
  const small = await param(new Float32Array(100).fill(0.5)); // under min8bitSize: 32-bit state
  const opt = new octet.optim.AdamW8bit([big, small]);
  expect(opt.logicalStateBytes()).toBe(0); // before the first step nothing is allocated
  for (const p of [big, small]) p.grad = await octet.tensor(new Float32Array(p.numel).fill(0.1));
  await opt.step();
  const perState = (5000 + 4 * Math.ceil(5000 / 256)) + 4 * 100;
  expect(opt.logicalStateBytes()).toBe(2 * perState); // m and v
  // The same count as the saved state: its codes, absmax and f32 arrays.
  const sd = await opt.stateDict();
  const saved = Object.values(sd.state).reduce((a: number, s: any) => a + ["state1", "state2", "absmax1", "absmax2"].reduce((b, k) => b + (s[k]?.byteLength ?? 0), 0), 0);
  expect(opt.logicalStateBytes()).toBe(saved);
  expect(opt.stateBytes()).toBeGreaterThan(opt.logicalStateBytes()); // padding to whole blocks, packed tables
});

test("Dawn's two limit warnings are dropped from stderr, every other line kept in order", () => {
  const text = [
    "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.",
    "a driver line",
    "Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.",
    "Warning: something else artificially reduced",
    "",
  ].join("\n");
  expect(withoutDawnLimitWarnings(text)).toBe("a driver line\nWarning: something else artificially reduced\n");
});

describe("no adapter", () => {
  test("without Vulkan variables: how to install lavapipe", () => {
    const m = noAdapterHelp({});
    expect(m).toContain("Dawn found no WebGPU adapter");
    expect(m).toContain("bash .ci/install-lavapipe.sh");
  });
  test("VK_ICD_FILENAMES pointing nowhere: says so and does not send the user to reinstall (which loops)", () => {
    const m = noAdapterHelp({ VK_ICD_FILENAMES: "/nowhere/icd.json" }, () => false);
    expect(m).toContain("VK_ICD_FILENAMES=/nowhere/icd.json names a file that does not exist");
    expect(m).toContain("Installing a driver will not help while VK_ICD_FILENAMES is set");
    expect(m).not.toContain("bash .ci/install-lavapipe.sh");
    const some = noAdapterHelp({ VK_DRIVER_FILES: "/a.json:/b.json" }, (p) => p === "/a.json");
    expect(some).toContain("VK_DRIVER_FILES=/a.json:/b.json: /b.json does not exist.");
  });
  test("the probe (install-lavapipe.sh runs it) and train say what is wrong with the environment", async () => {
    const env = { ...process.env, VK_ICD_FILENAMES: "/nonexistent/octet-icd.json" };
    const run = (args: string[]) => Bun.spawn([process.execPath, ...args], { cwd: `${import.meta.dir}/../..`, env, stdout: "pipe", stderr: "pipe" });
    const [probe, train] = [run(["src/cli/probe.ts"]), run(["src/cli/train.ts", "--steps", "1", "--out", "/nonexistent-dir/x"])];
    for (const p of [probe, train]) {
      const err = await new Response(p.stderr).text();
      expect(await p.exited).toBe(1);
      expect(err).toContain("VK_ICD_FILENAMES=/nonexistent/octet-icd.json names a file that does not exist");
      expect(err).not.toContain("install-lavapipe.sh");
    }
  });
});
