// Run by device-lost.test.ts in a process of its own: destroying the device would take it from every later
// test file (bun runs all files in one process, sharing one device). Prints one JSON line of what happened.
import * as octet from "../../../src/index.ts";

const outcome = async (p: Promise<unknown>) => {
  const t0 = performance.now();
  try {
    await p;
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, name: (e as Error).name, message: (e as Error).message, ms: performance.now() - t0 };
  }
};

await octet.device();
const lin = new octet.nn.Linear(8, 4, { seed: 3 });
const opt = new octet.optim.AdamW8bit(lin.parameters(), { lr: 0.01, min8bitSize: 0 });
const p = lin.parameters()[0];
p.grad = await octet.tensor(new Float32Array(p.numel).fill(0.5), [...p.shape]);
for (const q of lin.parameters().slice(1)) q.grad = await octet.tensor(new Float32Array(q.numel).fill(0.25), [...q.shape]);
await opt.step();
const t = await octet.tensor([1, 2, 3]);
const hostCopy = Array.from(await p.data.toArray()); // a host copy kept before the loss survives it

(await octet.device()).destroy();

const result = {
  step: await outcome(opt.step()),
  toArray: await outcome(t.toArray()),
  lazy: await outcome(t.add(1).toArray()),
  newTensor: await outcome(octet.tensor([1])),
  reacquired: false,
  fresh: [] as number[],
  oldAfter: {} as unknown,
  stepAfter: {} as unknown,
  nextCall: {} as unknown,
  hostCopyLength: hostCopy.length,
};
const dev2 = await octet.device(); // a new device; the old tensors stay dead
result.reacquired = dev2 !== undefined;
result.fresh = Array.from(await (await octet.tensor([1, 2, 3])).mul(2).toArray());
result.oldAfter = await outcome(t.toArray());
result.stepAfter = await outcome(opt.step());
result.nextCall = await outcome((async () => Array.from(await (await octet.tensor(hostCopy.slice(0, 4))).add(0).toArray()))());
console.log(JSON.stringify(result));
