// `npm run train` as a person sees it: run in a tmux pane (a real terminal: the progress bar redraws in place),
// then read the screen tmux shows. A 20-step run of a tiny model must end with the summary line, show no Dawn
// warnings, and have saved its checkpoint and plots where it says; a resumed run's bar starts at its checkpoint
// and reports the same tokens/s as its summary (it used to count from step 0).
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const haveTmux = Bun.spawnSync(["sh", "-c", "command -v tmux"]).exitCode === 0;
const dir = mkdtempSync(join(tmpdir(), "octet-screen-"));
const out = join(dir, "run");
const sockets: string[] = [];
afterAll(() => {
  for (const socket of sockets) Bun.spawnSync(["tmux", "-L", socket, "kill-server"]);
  rmSync(dir, { recursive: true, force: true });
});

const TINY = ["--layers", "1", "--heads", "2", "--width", "32", "--batch", "2", "--seq", "16", "--eval-every", "10", "--sample", "12", "--out", out];
const sh = (args: string[]) => args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");

/** Runs `cmd` in a fresh tmux window 160 columns wide and returns the screen once it printed `DONE <status>`. */
async function screenOf(args: string[], timeoutMs = 90_000): Promise<{ screen: string[]; status: number }> {
  const socket = `octet-test-${process.pid}-${sockets.length}`; // a server of its own: a new one right after kill-server may fail
  sockets.push(socket);
  const cmd = `cd ${sh([ROOT])} && ${sh([process.execPath, "src/cli/train.ts", ...args])}; echo "DONE $?"; sleep 600`;
  const started = Bun.spawnSync(["tmux", "-L", socket, "new-session", "-d", "-x", "160", "-y", "60", "-s", `s${Date.now()}`, cmd]);
  expect(started.exitCode, started.stderr.toString()).toBe(0);
  const t0 = Date.now();
  for (;;) {
    // -J joins lines the terminal wrapped, so a long line reads whole.
    const text = Bun.spawnSync(["tmux", "-L", socket, "capture-pane", "-p", "-J", "-S", "-200"]).stdout.toString();
    const m = /^DONE (\d+)$/m.exec(text);
    if (m) {
      Bun.spawnSync(["tmux", "-L", socket, "kill-server"]);
      const lines = text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
      return { screen: lines.slice(0, lines.findIndex((l) => l.startsWith("DONE "))), status: Number(m[1]) };
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`train did not finish in ${timeoutMs} ms; screen:\n${text}`);
    await Bun.sleep(250);
  }
}

const rateOf = (s: string) => {
  const m = /([\d.]+)(k|M)? tok\/s/.exec(s);
  return m ? Number(m[1]) * (m[2] === "k" ? 1e3 : m[2] === "M" ? 1e6 : 1) : NaN;
};

test.skipIf(!haveTmux)("a 20-step run's screen: config line first, bar at 20/20, sample, the summary line last", async () => {
  const { screen, status } = await screenOf(["--steps", "20", ...TINY]);
  expect(status, screen.join("\n")).toBe(0);
  expect(screen[0]).toMatch(/^config: adamw_8bit \(AdamW8bit, dynamic8 state\), embedding stable, --arch default: 1 layers x 2 heads x width 32/);
  expect(screen[0]).toContain(`checkpoints to ${out}/`);
  expect(screen.join("\n")).not.toContain("artificially reduced"); // Dawn's two start-up warnings are filtered
  const bar = screen.filter((l) => /step \d+\/20/.test(l));
  expect(bar.at(-1)).toMatch(/█+ step 20\/20 \| loss \d+\.\d{4} \| [\d.]+k? tok\/s \| ETA 0s$/);
  expect(screen).toContain("sample (temperature 0.8, top-k 200):");
  expect(screen.some((l) => l.startsWith(`saved: checkpoint ${out}/`) && l.includes(join(out, "loss.png")))).toBe(true);
  const last = screen.at(-1)!;
  expect(last).toMatch(/^summary: 20 steps, train loss \d+\.\d{4} \(mean of last 10\), held-out \d+\.\d{4}, [\d.]+k? tok\/s, [\d,]+ params, optimizer state [\d.]+ KiB \([\d.]+ KiB allocated\), checkpoint /);
  expect(last).toEndWith(`checkpoint ${out}/`);
  for (const f of ["model.safetensors", "optimizer.safetensors", "trainer.json", "loss.svg", "loss.png", "history.json"]) expect(existsSync(join(out, f)), f).toBe(true);
  expect(JSON.parse(readFileSync(join(out, "history.json"), "utf8")).history.map((h: { step: number }) => h.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
}, 120_000);

test.skipIf(!haveTmux)("a resumed run's bar starts at its checkpoint and its tok/s is the summary's", async () => {
  const { screen, status } = await screenOf(["--steps", "26", "--resume", ...TINY]);
  expect(status, screen.join("\n")).toBe(0);
  expect(screen).toContain(`resumed from ${out} at step 20`);
  const last = screen.at(-1)!;
  expect(last).toMatch(/^summary: 6 steps \(21-26\), /);
  const bar = screen.filter((l) => /step \d+\/26/.test(l)).at(-1)!;
  expect(bar, screen.join("\n")).toBeDefined();
  expect(bar).toMatch(/step 26\/26 \| loss .* tok\/s \| ETA 0s$/);
  // The bar's rate and the summary's count the same steps (those after this run's first); the summary's clock also
  // covers the last evaluation and checkpoint, so it reads a little lower. Counting from step 0 read 4x higher.
  const ratio = rateOf(bar) / rateOf(last);
  expect(ratio, `${bar}\n${last}`).toBeGreaterThan(0.6);
  expect(ratio, `${bar}\n${last}`).toBeLessThan(1.8);
  // The plot covers the whole run, the checkpoint's 20 steps and these 6.
  expect(JSON.parse(readFileSync(join(out, "history.json"), "utf8")).history.length).toBe(26);
}, 120_000);
