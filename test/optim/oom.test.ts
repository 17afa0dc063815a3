// An out-of-memory error in an optimizer's update (issue #7 item 4): lavapipe has no cheap way to run out of
// memory, so the test injects one the way WebGPU reports it. The update program's submission is dropped (a
// command buffer that references a failed allocation is invalid, and none of it runs) and its out-of-memory
// error scope pops a GPUOutOfMemoryError whose message names the compute pass, as Dawn's do. step() must throw
// it as a JS error naming the optimizer, the program and the kernel, and leave parameters, states and step
// counts as they were: the next step is the oracle's second step, not its third.
import { describe, expect, test } from "bun:test";
import { compare32, compareClose, familyOf, filled, gaussian, octet, param, read, ref } from "./helpers.ts";

/** Makes the next program whose encoder label starts with `prefix` fail as out of memory. */
function injectOutOfMemory(dev: GPUDevice, prefix: string): { restore: () => void; fired: () => number } {
  const d = dev as GPUDevice & Record<string, unknown>;
  const q = dev.queue as GPUQueue & Record<string, unknown>;
  const orig = { encoder: dev.createCommandEncoder, submit: dev.queue.submit, pop: dev.popErrorScope };
  let armed = false;
  let pops = 0;
  let fired = 0;
  let pass = "";
  d.createCommandEncoder = function (this: GPUDevice, desc?: GPUCommandEncoderDescriptor) {
    const e = orig.encoder.call(this, desc);
    if (!armed && !fired && desc?.label?.startsWith(prefix)) {
      armed = true;
      const begin = e.beginComputePass;
      e.beginComputePass = function (this: GPUCommandEncoder, pd?: GPUComputePassDescriptor) {
        pass ||= pd?.label ?? "";
        return begin.call(this, pd);
      };
    }
    return e;
  };
  q.submit = function (this: GPUQueue, cbs: Iterable<GPUCommandBuffer>) {
    if (!armed) return orig.submit.call(this, cbs);
    armed = false; // the invalid command buffer does not run
    fired++;
    pops = 2; // octet pops the validation scope, then the out-of-memory one
  };
  d.popErrorScope = function (this: GPUDevice) {
    const r = orig.pop.call(this);
    if (!pops || --pops) return r;
    const message = `Out of memory (injected by the test) allocating a buffer.\n - While encoding [ComputePassEncoder "${pass}"]`;
    const G = (globalThis as { GPUOutOfMemoryError?: new (m: string) => GPUError }).GPUOutOfMemoryError;
    return r.then(() => (G ? new G(message) : ({ message } as GPUError)));
  };
  return {
    restore: () => {
      d.createCommandEncoder = orig.encoder;
      q.submit = orig.submit;
      d.popErrorScope = orig.pop;
    },
    fired: () => fired,
  };
}

describe("an out-of-memory error in an optimizer step", () => {
  test("AdamW8bit: step() throws naming the optimizer, program and kernel; nothing changes; the next step is the oracle's", async () => {
    const dev = await octet.device();
    const fam = familyOf("AdamW");
    const normal = gaussian(9);
    const sizes = [5000, 300]; // an 8-bit bucket (stepped first) and a 32-bit one
    const bits = sizes.map((n) => (n >= 4096 ? 8 : 32) as 8 | 32);
    const p0 = sizes.map((n) => filled(n, () => normal() * 0.2));
    const params = await Promise.all(p0.map(param));
    params[0].name = "w";
    const opt = new octet.optim.AdamW8bit(params, fam.opts);
    const refP = p0.map((x) => x.slice());
    const refS = sizes.map((n, i) => ref.createState("adamw", n, bits[i]));
    const stepOnce = async (t: number, inject: boolean) => {
      const grads = sizes.map((n) => filled(n, () => normal() * 0.02));
      for (let i = 0; i < sizes.length; i++) params[i].grad = await octet.tensor(grads[i]);
      if (inject) return opt.step();
      await opt.step();
      for (let i = 0; i < sizes.length; i++) fam.rule({ p: refP[i], g: grads[i], state: refS[i], step: t, hp: fam.hp, bits: bits[i] });
    };
    await stepOnce(1, false);
    const before = { p: await Promise.all(params.map(read)), sd: await opt.stateDict() };

    const oom = injectOutOfMemory(dev, "adam8bit");
    let err: unknown;
    try {
      await stepOnce(2, true);
    } catch (e) {
      err = e;
    } finally {
      oom.restore();
    }
    expect(oom.fired()).toBe(1);
    expect(err).toBeInstanceOf(octet.GpuError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^AdamW8bit\.step \(AdamW8bit #\d+\): octet: the GPU reported an out-of-memory error in program adam8bit\w*, kernel adam8bit\w* \(/);
    expect(msg).toMatch(/update of parameters 'w', #\d+ was not applied/);

    // Nothing moved: parameters, states, absmax, step counts.
    const after = { p: await Promise.all(params.map(read)), sd: await opt.stateDict() };
    for (let i = 0; i < sizes.length; i++) {
      expect(Array.from(after.p[i])).toEqual(Array.from(before.p[i]));
      for (const [k, v] of Object.entries(before.sd.state[i])) expect(after.sd.state[i][k], `param ${i} ${k}`).toEqual(v);
    }
    // The next step is the second one (bias corrections of t = 2), checked against the oracle.
    await stepOnce(2, false);
    for (let i = 0; i < sizes.length; i++) {
      const got = await read(params[i]);
      const w = bits[i] === 32 ? compare32(got, refP[i]) : compareClose(got, refP[i]);
      expect(w.bad, `param ${i}: ${w.first}`).toBe(0);
    }
    expect((await opt.stateDict()).state[0].step).toBe(2);
  });
});
