// A lost device (device.destroy() stands in for a driver reset or a GPU taken away) makes every later call
// throw a DeviceLostError that says what survives; `octet.device()` then acquires a new device, on which new
// tensors work while the old ones keep throwing. Runs in a child process (child/device-lost.ts): bun runs
// every test file in one process with one device, which a destroy would take from the files after this one.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

interface Outcome {
  ok: boolean;
  name?: string;
  message?: string;
  ms: number;
}

describe("a lost device", () => {
  test("opt.step() and toArray() reject with an error that says so and what survives; a new device works", () => {
    const child = spawnSync(process.execPath, [join(import.meta.dir, "child", "device-lost.ts")], { encoding: "utf8", timeout: 60_000 });
    const line = child.stdout.trim().split("\n").at(-1) ?? "";
    if (child.status !== 0 || !line.startsWith("{")) throw new Error(`child failed (${child.status}):\n${child.stdout}\n${child.stderr}`);
    const r = JSON.parse(line) as Record<string, Outcome> & { reacquired: boolean; fresh: number[]; hostCopyLength: number };
    for (const what of ["step", "toArray", "lazy", "newTensor", "oldAfter", "stepAfter"]) {
      const o = r[what];
      expect({ what, ok: o.ok, name: o.name }).toEqual({ what, ok: false, name: "DeviceLostError" });
      expect(o.message).toContain("GPU device was lost (destroyed");
      expect(o.message).toContain("checkpoints already written to disk");
      expect(o.message).toContain("host copies you kept");
      expect(o.message).toContain("optimizer state");
    }
    expect(r.reacquired).toBe(true);
    expect(r.fresh).toEqual([2, 4, 6]);
    // After the failed step on the new device, the next unrelated call is not poisoned by it.
    expect(r.nextCall.ok).toBe(true);
    expect(r.hostCopyLength).toBe(32);
  });
});
