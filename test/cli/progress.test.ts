// Progress reporting (src/cli/progress.ts): plain, timed, rate-bounded lines when not on a TTY. No GPU.
import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { formatEta, formatRate, progress } from "../../src/cli/progress.ts";

/** A stream that records what is written; `isTTY` as asked. */
function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  let out = "";
  const w = new Writable({
    write(chunk, _enc, done) {
      out += chunk.toString();
      done();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  w.isTTY = isTTY;
  w.text = () => out;
  return w;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("progress", () => {
  test("not a TTY: plain timed lines, no escape codes or bar glyphs, a final line at stop()", async () => {
    const stream = sink(false);
    const bar = progress(100, { label: "adamw_8bit", stream, intervalMs: 40 });
    for (let step = 1; step <= 100; step++) {
      bar.update(step, { loss: 5 - step / 50, tokensPerSec: 12_345 });
      if (step % 25 === 0) await sleep(30);
    }
    bar.stop();
    bar.stop(); // idempotent
    const text = stream.text();
    expect(text).not.toMatch(/\x1b/);
    expect(text).not.toMatch(/[█░\r]/);
    const lines = text.split("\n");
    expect(lines.pop()).toBe(""); // ends with a newline, no blank line after it
    for (const line of lines) expect(line).toMatch(/^\[\d\d:\d\d:\d\d\] adamw_8bit step \d+\/100 \| (loss -?\d+\.\d{4} \| 12\.3k tok\/s \| )?ETA (\d+s|\d+m\d\ds|\?)$/);
    expect(lines.at(-1)).toMatch(/step 100\/100 \| loss 3\.0000 \| 12\.3k tok\/s \| ETA 0s$/);
  });

  test("not a TTY: lines at a bounded rate, not one per update", async () => {
    const stream = sink(false);
    const bar = progress(10_000, { stream, intervalMs: 50 });
    const t0 = Date.now();
    for (let step = 1; step <= 10_000; step++) {
      bar.update(step, { loss: 1 });
      if (step % 2000 === 0) await sleep(20);
    }
    bar.stop();
    const elapsed = Date.now() - t0;
    const lines = stream.text().trimEnd().split("\n");
    // One at start, one per interval, one at stop.
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 2);
    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  test("a TTY gets the bar redrawn in place", () => {
    const stream = sink(true);
    const bar = progress(4, { label: "lion_8bit", stream });
    bar.update(2, { loss: 2.5 });
    bar.stop();
    const text = stream.text();
    expect(text).toMatch(/\x1b\[/); // cursor control
    expect(text).toContain("lion_8bit ");
    expect(text).toContain("█");
    expect(text).toMatch(/lion_8bit █+░+ step 2\/4 \| loss 2\.5000 \| ETA /);
  });

  test("formatting helpers", () => {
    expect(formatRate(950)).toBe("950");
    expect(formatRate(12_345)).toBe("12.3k");
    expect(formatRate(2_500_000)).toBe("2.50M");
    expect(formatEta("NULL")).toBe("?");
    expect(formatEta(42)).toBe("42s");
    expect(formatEta(59.6)).toBe("1m00s");
    expect(formatEta(185)).toBe("3m05s");
    expect(formatEta(7620)).toBe("2h07m");
  });
});
