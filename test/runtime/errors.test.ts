// GPU errors become JS errors: a validation error inside a program rejects the next await (a readback, or the
// opt.step() whose work it was) with a GpuError naming the program and kernel; one outside any program (a raw queue write) is thrown by the next call that
// touches the device; after it is thrown, octet works again. Nothing is left to the console.
// (Out-of-memory errors take the same path, through the out-of-memory scope; lavapipe gives no way to cause one
// cheaply, so no test provokes one.)
import { afterAll, describe, expect, test } from "bun:test";
import * as octet from "../../src/index.ts";
import { storageOf } from "../../src/runtime/realize.ts";
import type { Tensor } from "../../src/dsl/tensor.ts";

// Tensors whose buffers a test destroyed: kept reachable for the whole process, so their buffers never
// return to the pool (a later test would get a destroyed buffer).
const broken: Tensor[] = [];
afterAll(() => void broken.length);

describe("GPU errors as JS errors", () => {
  test("a validation error in a program rejects the awaiting toArray, naming the program and the kernel", async () => {
    const x = await octet.tensor([1, 2, 3, 4]);
    broken.push(x);
    storageOf(x).buffer.destroy(); // a buffer destroyed behind octet's back: the submit is invalid
    const err = await x.mul(3).sub(1).toArray().then(() => undefined, (e) => e as Error);
    expect(err).toBeInstanceOf(octet.GpuError);
    expect(err!.message).toContain("validation error in program mul_sub, kernel mul_sub (map, built at ");
    expect(err!.message).toMatch(/built at [^)]*errors\.test\.ts:\d+/); // the user's call site
    expect(err!.message).toContain("destroyed");
  });

  test("opt.step() rejects with the error of its own submission, not a later call", async () => {
    const p = new octet.nn.Parameter(await octet.tensor([0.5, -1, 2, 3], [4]));
    const opt = new octet.optim.SGD32bit([p], { lr: 0.1 });
    p.grad = await octet.tensor([1, 1, 1, 1], [4]);
    await opt.step(); // a good step first: the optimizer's own buffers and kernels exist
    const g = await octet.tensor([1, 2, 3, 4], [4]);
    broken.push(g);
    storageOf(g).buffer.destroy(); // the step's gradient program reads it
    p.grad = g.mul(2);
    const stepErr = await opt.step().then(() => undefined, (e) => e as Error);
    expect(stepErr).toBeInstanceOf(octet.GpuError);
    expect(stepErr!.message).toMatch(/^SGD32bit\.step .*validation error in program mul/);
    expect(stepErr!.message).toContain("destroyed");
    expect(Array.from(await (await octet.tensor([3])).mul(2).toArray())).toEqual([6]); // thrown once, then gone
  });

  test("an error outside any program is thrown by the next call on the device, then octet works again", async () => {
    const dev = await octet.device();
    const y = await octet.tensor([1, 2, 3, 4]);
    dev.queue.writeBuffer(storageOf(y).buffer, 2, new Uint8Array(4)); // offset not a multiple of 4: invalid
    await expect(y.add(1).toArray()).rejects.toThrow(/uncaptured error.*\n.*not a multiple of 4/);
    expect(Array.from(await y.add(1).toArray())).toEqual([2, 3, 4, 5]); // reported once, then gone
  });

  test("an error in the last program before a readback is thrown by that readback, not a later call", async () => {
    const z = await octet.tensor([5, 6, 7, 8]);
    const w = await octet.tensor([1, 1, 1, 1]);
    broken.push(w);
    storageOf(w).buffer.destroy();
    const lazy = z.add(w);
    const err = await lazy.toArray().then(() => undefined, (e) => e as Error);
    expect(err?.name).toBe("GpuError");
    expect(Array.from(await z.mul(2).toArray())).toEqual([10, 12, 14, 16]);
  });
});
