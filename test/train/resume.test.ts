// `train --resume` must resume or fail: a missing --out directory, or one without a checkpoint, is an error that
// names the directory (it used to train from scratch and exit 0); without --resume an existing checkpoint is
// never overwritten. Checked through runTraining and through the CLI process.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTraining } from "../../src/train/trainer.ts";

const tiny = { optim: "adamw_8bit", layers: 1, heads: 2, width: 16, seq: 16, batch: 2, steps: 2, evalEvery: 2, evalBatches: 1, lr: 1e-2 };
const tmp = () => mkdtempSync(join(tmpdir(), "octet-resume-"));
const cli = (args: string[]) => Bun.spawnSync(["./node_modules/.bin/bun", "src/cli/train.ts", ...args], { cwd: join(import.meta.dir, "../.."), env: { ...process.env } });

describe("resume", () => {
  test("resume: true with a missing directory is an error naming it, and creates nothing", async () => {
    const dir = join(tmp(), "never-made");
    await expect(runTraining({ ...tiny, out: dir, resume: true })).rejects.toThrow(new RegExp(`${dir}.*(no such directory|does not exist)`));
    expect(existsSync(dir)).toBe(false);
  });

  test("resume: true with a directory that holds no checkpoint is an error naming it, and writes nothing", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "notes.txt"), "not a checkpoint");
    await expect(runTraining({ ...tiny, out: dir, resume: true })).rejects.toThrow(new RegExp(`${dir}.*no checkpoint`));
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
  });

  test("resume: true without out is an error", async () => {
    await expect(runTraining({ ...tiny, resume: true })).rejects.toThrow(/--resume needs --out/);
  });

  test("resume: false refuses a directory that already holds a checkpoint; resume: true continues it", async () => {
    const dir = tmp();
    const first = await runTraining({ ...tiny, out: dir, resume: false });
    expect(first.resumedFrom).toBe(0);
    await expect(runTraining({ ...tiny, steps: 3, out: dir, resume: false })).rejects.toThrow(new RegExp(`${dir} already holds a checkpoint`));
    const more = await runTraining({ ...tiny, steps: 3, out: dir, resume: true });
    expect(more.resumedFrom).toBe(2);
    expect(more.history.map((h) => h.step)).toEqual([3]);
  }, 120_000);

  test("the CLI: --resume --out MISSING exits non-zero naming the directory", () => {
    const dir = join(tmp(), "missing");
    const r = cli(["--resume", "--out", dir, "--steps", "1", "--layers", "1", "--width", "16", "--heads", "2", "--seq", "16", "--batch", "2"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain(dir);
    expect(r.stdout.toString()).not.toMatch(/done:/);
    expect(existsSync(dir)).toBe(false);
    const empty = tmp();
    const e = cli(["--resume", "--out", empty, "--steps", "1"]);
    expect(e.exitCode).not.toBe(0);
    expect(e.stderr.toString()).toContain(empty);
    expect(e.stderr.toString()).toMatch(/no checkpoint/);
  });
});
