// The training loop end to end on a tiny GPT: resume is bit-identical to an uninterrupted run, the same seed
// gives the same result, bad flags and corrupt checkpoints give clear errors and change nothing on disk.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTraining } from "../../src/train/trainer.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";

const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 6, evalEvery: 3, evalBatches: 1, lr: 1e-2 };
const tmp = () => mkdtempSync(join(tmpdir(), "octet-train-"));
const bytes = (dir: string, f: string) => readFileSync(join(dir, f));

describe("training", () => {
  test("loss falls and the same seed gives the same losses", async () => {
    const a = await runTraining({ ...tiny, steps: 12, evalEvery: 12 });
    const b = await runTraining({ ...tiny, steps: 12, evalEvery: 12 });
    expect(a.history.map((h) => h.trainLoss)).toEqual(b.history.map((h) => h.trainLoss));
    const first = a.history.slice(0, 3).reduce((s, h) => s + h.trainLoss, 0) / 3;
    const last = a.history.slice(-3).reduce((s, h) => s + h.trainLoss, 0) / 3;
    expect(last).toBeLessThan(first);
  }, 120_000);

  test("resume continues bit-identically to an uninterrupted run", async () => {
    const full = tmp();
    const split = tmp();
    await runTraining({ ...tiny, out: full });
    const part = await runTraining({ ...tiny, out: split }, { stopAfter: 3 });
    expect(part.history.length).toBe(3);
    const rest = await runTraining({ ...tiny, out: split });
    expect(rest.resumedFrom).toBe(3);
    // Tensors bit-identical (the files' metadata differ: the config records each run's --out).
    for (const f of ["model.safetensors", "optimizer.safetensors"]) {
      const a = decodeSafetensors(new Uint8Array(bytes(full, f)));
      const b = decodeSafetensors(new Uint8Array(bytes(split, f)));
      expect(b.names).toEqual(a.names);
      for (const n of a.names) expect(Buffer.from(b.tensors[n].data.buffer).equals(Buffer.from(a.tensors[n].data.buffer))).toBe(true);
    }
    const model = decodeSafetensors(new Uint8Array(bytes(full, "model.safetensors")));
    expect(model.names).toContain("tokens.weight");
    expect(model.names).toContain("blocks.0.qkv.weight");
    expect(model.tensors["blocks.0.qkv.weight"].shape).toEqual([16, 48]);
  }, 120_000);

  test("a corrupt checkpoint is refused with a clear error and the files stay as they were", async () => {
    const dir = tmp();
    await runTraining({ ...tiny, steps: 2, out: dir });
    const modelFile = join(dir, "model.safetensors");
    const good = readFileSync(modelFile);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    writeFileSync(modelFile, bad);
    const before = readFileSync(join(dir, "optimizer.safetensors"));
    await expect(runTraining({ ...tiny, steps: 4, out: dir })).rejects.toThrow(/model\.safetensors|checksum|sha256|corrupt/i);
    expect(readFileSync(modelFile).equals(bad)).toBe(true);
    expect(readFileSync(join(dir, "optimizer.safetensors")).equals(before)).toBe(true);
  }, 120_000);

  test("bad options name the problem", async () => {
    await expect(runTraining({ ...tiny, optim: "adamw_9bit" })).rejects.toThrow(/unknown optimizer "adamw_9bit"/);
    await expect(runTraining({ ...tiny, steps: -1 })).rejects.toThrow(/--steps/);
    await expect(runTraining({ ...tiny, embedding: "fancy" as never })).rejects.toThrow(/--embedding/);
    await expect(runTraining({ ...tiny, bogus: 1 } as never)).rejects.toThrow(/bogus/);
  });

  test("the CLI rejects unknown flags and --resume of a run that is not there", async () => {
    const run = (args: string[]) => Bun.spawnSync(["./node_modules/.bin/bun", "src/cli/train.ts", ...args], { cwd: join(import.meta.dir, "../.."), env: { ...process.env } });
    const a = run(["--nope"]);
    expect(a.exitCode).toBe(2);
    expect(a.stderr.toString()).toMatch(/nope/);
    const b = run(["--resume", "--name", "no-such-run-here"]);
    expect(b.exitCode).toBe(2);
    expect(b.stderr.toString()).toMatch(/--resume: runs\/no-such-run-here holds no checkpoint to continue \(give the run's directory with --out DIR/);
    expect(existsSync("--out")).toBe(false);
  });
});
