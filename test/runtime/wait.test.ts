// How octet waits for the GPU (src/runtime/wait.ts): the mode chosen per implementation and knob, the nap loop
// on plain promises (values and rejections come through untouched, the event loop keeps turning, the loop stops
// when nothing is pending), and readbacks on the device in both modes against a plain-TS reference.
import { describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { deviceInfo, setWaitMode, waitNaps } from "../../src/runtime/device.ts";
import { KNOBS } from "../../src/runtime/env.ts";
import { chooseWaitMode, GpuWaiter, NAP_MAX_MS, NAP_MIN_MS, napMs, napUnavailable } from "../../src/runtime/wait.ts";

const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe("choosing the wait mode", () => {
  const lavapipe = { implementation: "dawn", cpu: true } as const;
  test("nap under Dawn on a CPU adapter where this thread can nap, await otherwise", () => {
    expect(chooseWaitMode(undefined, lavapipe, undefined)).toBe("nap");
    expect(chooseWaitMode("", lavapipe, undefined)).toBe("nap");
    expect(chooseWaitMode("auto", lavapipe, undefined)).toBe("nap");
    expect(chooseWaitMode(undefined, lavapipe, "no Atomics.wait here")).toBe("await");
    expect(chooseWaitMode(undefined, { implementation: "dawn", cpu: false }, undefined)).toBe("await");
    expect(chooseWaitMode(undefined, { implementation: "native", cpu: true }, undefined)).toBe("await");
  });
  test("OCTET_WAIT forces one, and is refused when unknown or impossible here", () => {
    expect(chooseWaitMode("await", lavapipe, undefined)).toBe("await");
    expect(chooseWaitMode("nap", { implementation: "native", cpu: false }, undefined)).toBe("nap");
    expect(() => chooseWaitMode("spin", lavapipe, undefined)).toThrow(/OCTET_WAIT=spin is not a wait mode: use await .* or nap/);
    expect(() => chooseWaitMode("nap", lavapipe, "Atomics.wait is not allowed on this thread")).toThrow(/OCTET_WAIT=nap, but Atomics.wait is not allowed on this thread/);
  });
  test("Bun can nap", () => {
    expect(napUnavailable()).toBeUndefined();
  });
  test("a nap is an eighth of the time waited, within its bounds", () => {
    expect(napMs(0)).toBe(NAP_MIN_MS);
    expect(napMs(8)).toBeCloseTo(1, 12);
    expect(napMs(1e6)).toBe(NAP_MAX_MS);
  });
});

describe("GpuWaiter", () => {
  test("await mode returns the promise's value and never naps", async () => {
    const w = new GpuWaiter("await");
    expect(await w.until(later(5, 41))).toBe(41);
    expect(w.naps).toBe(0);
  });

  test("nap mode: the value comes through, timers still fire, and it napped", async () => {
    const w = new GpuWaiter("nap");
    let ticked = 0;
    const timer = setInterval(() => ticked++, 2);
    try {
      expect(await w.until(later(30, "done"))).toBe("done");
    } finally {
      clearInterval(timer);
    }
    expect(w.naps).toBeGreaterThan(0);
    expect(ticked).toBeGreaterThan(0); // the event loop turned between naps
  });

  test("nap mode: a promise already settled costs no nap", async () => {
    const w = new GpuWaiter("nap");
    expect(await w.until(Promise.resolve(7))).toBe(7);
    expect(w.naps).toBe(0);
  });

  test("nap mode rethrows a rejection as it came", async () => {
    const w = new GpuWaiter("nap");
    const err = new Error("map failed");
    const p = new Promise<never>((_, rej) => setTimeout(() => rej(err), 10));
    let caught: unknown;
    try {
      await w.until(p);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(err);
  });

  test("concurrent waits all settle, with their own values, and the loop stops after the last", async () => {
    const w = new GpuWaiter("nap");
    const got = await Promise.all([w.until(later(5, 1)), w.until(later(25, 2)), w.until(later(15, 3)), w.until(Promise.resolve(4))]);
    expect(got).toEqual([1, 2, 3, 4]);
    const n = w.naps;
    await later(20, 0);
    expect(w.naps).toBe(n); // nothing pending: no loop left napping
    // A later wait starts a new loop.
    expect(await w.until(later(10, 5))).toBe(5);
  });
});

describe("readbacks in each wait mode", () => {
  test("the same values as the reference, and deviceInfo().wait says which mode is in use", async () => {
    await octet.device();
    const n = 1 << 16;
    const host = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
    const ref = host.map((v) => Math.fround(Math.fround(v * 2) + 1));
    const x = await octet.tensor(host);
    try {
      for (const mode of ["await", "nap"] as const) {
        expect(setWaitMode(mode)).toBe(mode);
        expect(deviceInfo().wait).toBe(mode);
        const n0 = waitNaps();
        const got = (await x.mul(2).add(1).toArray()) as Float32Array;
        expect(Array.from(got)).toEqual(Array.from(ref));
        if (mode === "await") expect(waitNaps()).toBe(n0);
      }
    } finally {
      setWaitMode(undefined);
      x.dispose();
    }
    expect(deviceInfo().wait).toBe(chooseWaitMode(KNOBS.wait.read(), deviceInfo())); // back to the mode chosen at acquisition
  });
});
